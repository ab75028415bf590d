/* Recursive-descent JSON parser; see json.h. Values are appended to one
 * growing array (its size bounded by the text length: every value takes at
 * least one byte), strings unescaped into one buffer of the text's size
 * (an escaped string never grows: "\uXXXX" is 6 bytes for at most 3, a
 * surrogate pair 12 for 4, and the quotes pay for the NUL). */
#include "json.h"

#include "tokenizer.h" /* mkv_utf8_valid_prefix */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

typedef struct parser {
    const char *p;
    size_t pos, len;
    const char *what;
    mkv_json *j;
    uint32_t cap;
    size_t sused;
    mkv_error *err;
} parser;

static mkv_status perr(parser *ps, const char *problem)
{
    return mkv_fail(ps->err, MKV_ERR_FORMAT, "%s: JSON byte %zu: %s", ps->what, ps->pos, problem);
}

static void skip_ws(parser *ps)
{
    while (ps->pos < ps->len) {
        char c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->pos++;
    }
}

static mkv_status new_value(parser *ps, mkv_json_type type, uint32_t *idx)
{
    mkv_json *j = ps->j;
    if (j->n == ps->cap) {
        uint32_t cap = ps->cap ? ps->cap * 2 : 64;
        if (ps->cap >= MKV_JSON_MAX_VALUES) return perr(ps, "more than 2^20 values");
        if (cap > MKV_JSON_MAX_VALUES) cap = MKV_JSON_MAX_VALUES;
        mkv_json_value *v = mkv_realloc(j->v, (size_t)cap * sizeof *v);
        if (!v) return mkv_fail(ps->err, MKV_ERR_NO_MEMORY, "%s: out of memory for %u JSON values", ps->what, cap);
        j->v = v;
        ps->cap = cap;
    }
    *idx = j->n++;
    j->v[*idx] = (mkv_json_value){.type = type, .first = MKV_JSON_NONE, .next = MKV_JSON_NONE, .offset = ps->pos};
    return MKV_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(parser *ps, uint32_t *cp)
{
    if (ps->len - ps->pos < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(ps->p[ps->pos + (size_t)i]);
        if (h < 0) return false;
        v = v << 4 | (uint32_t)h;
    }
    ps->pos += 4;
    *cp = v;
    return true;
}

static void put_utf8(char *o, size_t *k, uint32_t cp)
{
    if (cp < 0x80) {
        o[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*k)++] = (char)(0xc0 | cp >> 6);
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xe0 | cp >> 12);
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*k)++] = (char)(0xf0 | cp >> 18);
        o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* At the opening quote. Unescapes into the string buffer. */
static mkv_status parse_string(parser *ps, const char **out, size_t *out_len)
{
    ps->pos++; /* '"' */
    char *o = ps->j->strings + ps->sused;
    size_t k = 0;
    for (;;) {
        if (ps->pos >= ps->len) return perr(ps, "unterminated string");
        unsigned char c = (unsigned char)ps->p[ps->pos];
        if (c == '"') { ps->pos++; break; }
        if (c < 0x20) return perr(ps, "control character in string");
        if (c != '\\') { o[k++] = (char)c; ps->pos++; continue; }
        if (++ps->pos >= ps->len) return perr(ps, "unterminated escape");
        char e = ps->p[ps->pos++];
        switch (e) {
        case '"': o[k++] = '"'; break;
        case '\\': o[k++] = '\\'; break;
        case '/': o[k++] = '/'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (!read_hex4(ps, &cp)) return perr(ps, "bad \\u escape");
            if (cp >= 0xdc00 && cp <= 0xdfff) return perr(ps, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (ps->len - ps->pos < 2 || ps->p[ps->pos] != '\\' || ps->p[ps->pos + 1] != 'u')
                    return perr(ps, "high surrogate without its low half");
                ps->pos += 2;
                if (!read_hex4(ps, &lo) || lo < 0xdc00 || lo > 0xdfff) return perr(ps, "bad low surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(o, &k, cp);
            break;
        }
        default: ps->pos--; return perr(ps, "unknown escape");
        }
    }
    o[k] = '\0';
    ps->sused += k + 1;
    *out = o;
    *out_len = k;
    return MKV_OK;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static mkv_status parse_number(parser *ps, mkv_json_value *v)
{
    size_t start = ps->pos, i = ps->pos;
    bool neg = false, integer = true;
    if (i < ps->len && ps->p[i] == '-') { neg = true; i++; }
    if (i >= ps->len || !is_digit(ps->p[i])) { ps->pos = i; return perr(ps, "expected a digit"); }
    if (ps->p[i] == '0') {
        i++;
        if (i < ps->len && is_digit(ps->p[i])) { ps->pos = i; return perr(ps, "leading zero in number"); }
    } else {
        while (i < ps->len && is_digit(ps->p[i])) i++;
    }
    if (i < ps->len && ps->p[i] == '.') {
        integer = false;
        i++;
        if (i >= ps->len || !is_digit(ps->p[i])) { ps->pos = i; return perr(ps, "expected a digit after '.'"); }
        while (i < ps->len && is_digit(ps->p[i])) i++;
    }
    if (i < ps->len && (ps->p[i] == 'e' || ps->p[i] == 'E')) {
        integer = false;
        i++;
        if (i < ps->len && (ps->p[i] == '+' || ps->p[i] == '-')) i++;
        if (i >= ps->len || !is_digit(ps->p[i])) { ps->pos = i; return perr(ps, "expected a digit in exponent"); }
        while (i < ps->len && is_digit(ps->p[i])) i++;
    }
    size_t n = i - start;
    char *t = ps->j->strings + ps->sused; /* the number's text, NUL-terminated for strtod */
    memcpy(t, ps->p + start, n);
    t[n] = '\0';
    ps->sused += n + 1;
    v->str = t;
    v->len = n;
    v->num = strtod(t, NULL);
    if (integer && !neg) {
        uint64_t u = 0;
        bool fits = true;
        for (size_t k = 0; k < n; k++) {
            uint64_t d = (uint64_t)(t[k] - '0');
            if (u > (UINT64_MAX - d) / 10) { fits = false; break; }
            u = u * 10 + d;
        }
        v->is_uint = fits;
        v->u = fits ? u : 0;
    }
    ps->pos = i;
    return MKV_OK;
}

static bool literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if (ps->len - ps->pos < n || memcmp(ps->p + ps->pos, word, n) != 0) return false;
    ps->pos += n;
    return true;
}

static mkv_status parse_value(parser *ps, uint32_t depth, uint32_t *idx);

static mkv_status parse_container(parser *ps, uint32_t depth, bool object, uint32_t self)
{
    const char close = object ? '}' : ']';
    ps->pos++;
    skip_ws(ps);
    if (ps->pos < ps->len && ps->p[ps->pos] == close) { ps->pos++; return MKV_OK; }
    uint32_t prev = MKV_JSON_NONE;
    for (;;) {
        const char *key = NULL;
        size_t key_len;
        mkv_status st;
        if (object) {
            if (ps->pos >= ps->len || ps->p[ps->pos] != '"') return perr(ps, "expected a string key");
            if ((st = parse_string(ps, &key, &key_len)) != MKV_OK) return st;
            skip_ws(ps);
            if (ps->pos >= ps->len || ps->p[ps->pos] != ':') return perr(ps, "expected ':'");
            ps->pos++;
            skip_ws(ps);
        }
        uint32_t child;
        if ((st = parse_value(ps, depth + 1, &child)) != MKV_OK) return st;
        mkv_json_value *v = ps->j->v; /* parse_value may have moved the array */
        v[child].key = key;
        if (prev == MKV_JSON_NONE) v[self].first = child;
        else v[prev].next = child;
        prev = child;
        v[self].n++;
        skip_ws(ps);
        if (ps->pos >= ps->len) return perr(ps, object ? "unterminated object" : "unterminated array");
        char c = ps->p[ps->pos];
        if (c == close) { ps->pos++; return MKV_OK; }
        if (c != ',') return perr(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        ps->pos++;
        skip_ws(ps);
        if (ps->pos < ps->len && ps->p[ps->pos] == close) return perr(ps, "trailing comma");
    }
}

static mkv_status parse_value(parser *ps, uint32_t depth, uint32_t *idx)
{
    if (depth > MKV_JSON_MAX_DEPTH) return perr(ps, "nesting deeper than 64");
    if (ps->pos >= ps->len) return perr(ps, "expected a value, found the end");
    char c = ps->p[ps->pos];
    mkv_status st;
    mkv_json_type type;
    switch (c) {
    case '{': type = MKV_JSON_OBJECT; break;
    case '[': type = MKV_JSON_ARRAY; break;
    case '"': type = MKV_JSON_STRING; break;
    case 't': type = MKV_JSON_TRUE; break;
    case 'f': type = MKV_JSON_FALSE; break;
    case 'n': type = MKV_JSON_NULL; break;
    default:
        if (c == '-' || is_digit(c)) { type = MKV_JSON_NUMBER; break; }
        return perr(ps, "expected a value");
    }
    if ((st = new_value(ps, type, idx)) != MKV_OK) return st;
    mkv_json_value *v = &ps->j->v[*idx];
    switch (type) {
    case MKV_JSON_OBJECT: return parse_container(ps, depth, true, *idx);
    case MKV_JSON_ARRAY: return parse_container(ps, depth, false, *idx);
    case MKV_JSON_STRING: return parse_string(ps, &v->str, &v->len);
    case MKV_JSON_NUMBER: return parse_number(ps, v);
    case MKV_JSON_TRUE: return literal(ps, "true") ? MKV_OK : perr(ps, "expected 'true'");
    case MKV_JSON_FALSE: return literal(ps, "false") ? MKV_OK : perr(ps, "expected 'false'");
    default: return literal(ps, "null") ? MKV_OK : perr(ps, "expected 'null'");
    }
}

mkv_status mkv_json_parse(const char *text, size_t len, const char *what, mkv_json *out, mkv_error *err)
{
    memset(out, 0, sizeof *out);
    parser ps = {.p = text, .len = len, .what = what ? what : "JSON", .j = out, .err = err};
    out->strings = mkv_malloc(len + 1);
    if (!out->strings) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory for %zu bytes of JSON", ps.what, len);
    skip_ws(&ps);
    uint32_t top;
    mkv_status st = parse_value(&ps, 0, &top);
    if (st == MKV_OK) {
        skip_ws(&ps);
        if (ps.pos != len) st = perr(&ps, "text after the top-level value");
    }
    if (st != MKV_OK) mkv_json_free(out);
    return st;
}

void mkv_json_free(mkv_json *j)
{
    if (!j) return;
    free(j->v);
    free(j->strings);
    memset(j, 0, sizeof *j);
}

uint32_t mkv_json_get(const mkv_json *j, uint32_t obj, const char *key)
{
    if (obj >= j->n || j->v[obj].type != MKV_JSON_OBJECT) return MKV_JSON_NONE;
    for (uint32_t c = j->v[obj].first; c != MKV_JSON_NONE; c = j->v[c].next)
        if (strcmp(j->v[c].key, key) == 0) return c;
    return MKV_JSON_NONE;
}

void mkv_json_print_str(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    size_t i = 0;
    while (i < len) {
        size_t ok = mkv_utf8_valid_prefix(s + i, len - i);
        for (size_t k = i; k < i + ok; k++) {
            unsigned char c = (unsigned char)s[k];
            if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
            else if (c == '\n') fputs("\\n", f);
            else if (c == '\r') fputs("\\r", f);
            else if (c == '\t') fputs("\\t", f);
            else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
        i += ok;
        if (i < len) {
            fputs("\\ufffd", f);
            i++;
        }
    }
    fputc('"', f);
}
