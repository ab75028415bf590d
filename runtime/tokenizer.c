/* Encoding and decoding (tokenizer.h): special tokens matched whole, NFC
 * (utf8proc), the pre-tokenizer's regex (PCRE2), byte-level BPE by rank;
 * ids back to bytes, and the streaming decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "alloc.h"
#include "error.h"
#include "tokenizer_impl.h"

/* ---- pre-tokenizer regexes ------------------------------------------------ */

/* Hugging Face runs these with Oniguruma, whose \s is Unicode's
 * White_Space: the separators (Z) plus U+0009..U+000D and U+0085. PCRE2's
 * \s (with UCP) lacks U+0085, so the class is spelled out. */
#define WS "\\t-\\r\\x{85}\\p{Z}"
#define CONTRACTIONS "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
#define REST " ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"

static const struct {
    const char *name, *regex;
} pre_tokenizers[] = {
    /* Qwen2/Qwen3's tokenizer.json Split regex: one digit at a time */
    {"qwen2", CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" REST},
    /* Llama 3's: digits in groups of up to three */
    {"llama-bpe", CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" REST},
};

mkv_status mkv_tokenizer_compile_pre(mkv_tokenizer *t, const char *pre, mkv_error *err)
{
    const char *regex = NULL;
    for (size_t i = 0; i < sizeof pre_tokenizers / sizeof pre_tokenizers[0]; i++)
        if (!strcmp(pre, pre_tokenizers[i].name)) regex = pre_tokenizers[i].regex;
    if (!regex)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED,
                        "%s: tokenizer.ggml.pre = '%s': unknown pre-tokenizer (supported: qwen2, llama-bpe)", t->path,
                        pre);
    int code;
    PCRE2_SIZE at;
    t->re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre = '%s': PCRE2 cannot compile its regex: %s",
                        t->path, pre, (const char *)msg);
    }
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* the interpreter runs it where JIT is absent */
    return MKV_OK;
}

/* ---- encoding workspace ---------------------------------------------------- */

typedef struct sym {
    uint32_t id;
    int32_t prev, next;
    bool dead;
} sym;

typedef struct cand { /* a possible merge of symbol pos with its next */
    uint32_t rank, pos, id;
} cand;

typedef struct enc {
    const mkv_tokenizer *t;
    mkv_error *err;
    uint32_t *ids;
    size_t n, cap;
    sym *syms;
    size_t sym_cap;
    cand *heap;
    size_t heap_n, heap_cap;
    pcre2_match_data *md;
} enc;

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = mkv_realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static mkv_status oom(enc *e)
{
    return mkv_fail(e->err, MKV_ERR_NO_MEMORY, "%s: tokenize: out of memory", e->t->path);
}

static mkv_status emit(enc *e, uint32_t id)
{
    if (!grow((void **)&e->ids, &e->cap, e->n + 1, sizeof *e->ids)) return oom(e);
    e->ids[e->n++] = id;
    return MKV_OK;
}

/* ---- BPE: lowest rank first, leftmost among equal ranks ---------------- */

static bool cand_less(const cand *a, const cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(enc *e, cand c)
{
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = c;
}

static cand heap_pop(enc *e)
{
    cand top = e->heap[0], last = e->heap[--e->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->heap_n) break;
        if (c + 1 < e->heap_n && cand_less(&e->heap[c + 1], &e->heap[c])) c++;
        if (!cand_less(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (e->heap_n) e->heap[i] = last;
    return top;
}

/* Queues the merge of symbol pos with its next symbol, if there is one. */
static void consider(enc *e, int32_t pos)
{
    if (pos < 0 || e->syms[pos].next < 0) return;
    const mkv_merge_slot *m = mkv_merge_find(e->t, e->syms[pos].id, e->syms[e->syms[pos].next].id);
    if (m) heap_push(e, (cand){m->rank, (uint32_t)pos, m->id});
}

/* One pre-tokenized piece: each byte's byte-level character is a symbol
 * (a byte whose character is not a token becomes the unknown token if
 * there is one and is dropped otherwise, as Hugging Face's BPE does
 * without byte fallback), then pairs merge by rank. */
static mkv_status bpe_piece(enc *e, const uint8_t *p, size_t len)
{
    const mkv_tokenizer *t = e->t;
    if (!grow((void **)&e->syms, &e->sym_cap, len, sizeof *e->syms) ||
        !grow((void **)&e->heap, &e->heap_cap, 2 * len + 1, sizeof *e->heap))
        return oom(e);
    int32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t id = t->byte_id[p[i]];
        if (id == MKV_TOKEN_NONE) id = t->unk;
        if (id == MKV_TOKEN_NONE) continue;
        e->syms[n] = (sym){id, n - 1, -1, false};
        if (n > 0) e->syms[n - 1].next = n;
        n++;
    }
    e->heap_n = 0;
    for (int32_t i = 0; i + 1 < n; i++) consider(e, i);
    while (e->heap_n) {
        cand c = heap_pop(e);
        sym *s = &e->syms[c.pos];
        if (s->dead || s->next < 0) continue;
        const mkv_merge_slot *m = mkv_merge_find(t, s->id, e->syms[s->next].id);
        if (!m || m->id != c.id) continue; /* stale: a neighbour changed since it was queued */
        sym *r = &e->syms[s->next];
        s->id = c.id;
        r->dead = true;
        s->next = r->next;
        if (r->next >= 0) e->syms[r->next].prev = (int32_t)c.pos;
        consider(e, s->prev);
        consider(e, (int32_t)c.pos);
    }
    mkv_status st;
    for (int32_t i = n ? 0 : -1; i >= 0; i = e->syms[i].next) TRY(emit(e, e->syms[i].id));
    return MKV_OK;
}

/* ---- pre-tokenization ------------------------------------------------------ */

/* Splits s[0..len) (valid UTF-8) by the regex, "isolated": every match is
 * a piece, and so is any text between matches. */
static mkv_status split_and_merge(enc *e, const char *s, size_t len)
{
    mkv_status st;
    size_t off = 0;
    while (off < len) {
        int rc = pcre2_match(e->t->re, (PCRE2_SPTR)s, len, off, PCRE2_NO_UTF_CHECK, e->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return mkv_fail(e->err, MKV_ERR_INVALID_ARG, "%s: tokenizer.ggml.pre = '%s': regex failed at byte %zu: %s",
                            e->t->path, e->t->pre, off, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        if (ov[0] > off) TRY(bpe_piece(e, (const uint8_t *)s + off, ov[0] - off));
        if (ov[1] == ov[0]) { /* an empty match (none of our regexes has one): step one character */
            uint32_t cp;
            int k = mkv_utf8_decode((const uint8_t *)s + ov[1], len - ov[1], &cp);
            size_t next = ov[1] + (k ? (size_t)k : 1);
            TRY(bpe_piece(e, (const uint8_t *)s + ov[1], next - ov[1]));
            off = next;
            continue;
        }
        TRY(bpe_piece(e, (const uint8_t *)s + ov[0], ov[1] - ov[0]));
        off = ov[1];
    }
    if (off < len) TRY(bpe_piece(e, (const uint8_t *)s + off, len - off));
    return MKV_OK;
}

/* A stretch of text between special tokens: NFC (when the tokenizer has
 * it; ASCII is already NFC), then split and merge. */
static mkv_status encode_segment(enc *e, const char *s, size_t len)
{
    if (!len) return MKV_OK;
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++) ascii = (uint8_t)s[i] < 0x80;
    if (!e->t->nfc || ascii) return split_and_merge(e, s, len);
    utf8proc_uint8_t *norm = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &norm,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0)
        return mkv_fail(e->err, n == UTF8PROC_ERROR_NOMEM ? MKV_ERR_NO_MEMORY : MKV_ERR_INVALID_ARG,
                        "%s: tokenize: NFC normalization failed: %s", e->t->path, utf8proc_errmsg(n));
    mkv_status st = split_and_merge(e, (const char *)norm, (size_t)n);
    free(norm);
    return st;
}

/* The leftmost special token at or after `from`, the longest there: its
 * position in *at and id in *id; false if none. */
static bool find_special(const mkv_tokenizer *t, const char *s, size_t len, size_t from, size_t *at, uint32_t *id)
{
    for (size_t i = from; i < len; i++) {
        if (!t->special_first[(uint8_t)s[i]]) continue;
        for (uint32_t k = 0; k < t->n_specials; k++) {
            uint32_t sid = t->specials[k];
            size_t n = (size_t)(t->text_off[sid + 1] - t->text_off[sid] - 1);
            if (n <= len - i && !memcmp(s + i, t->text + t->text_off[sid], n)) {
                *at = i;
                *id = sid;
                return true;
            }
        }
    }
    return false;
}

static mkv_status encode(enc *e, const char *text, size_t len, bool add_bos)
{
    mkv_status st;
    const mkv_tokenizer *t = e->t;
    if (add_bos && t->add_bos) TRY(emit(e, t->bos));
    size_t pos = 0;
    while (pos < len) {
        size_t at;
        uint32_t id;
        if (!find_special(t, text, len, pos, &at, &id)) return encode_segment(e, text + pos, len - pos);
        TRY(encode_segment(e, text + pos, at - pos));
        TRY(emit(e, id));
        pos = at + (size_t)(t->text_off[id + 1] - t->text_off[id] - 1);
    }
    return MKV_OK;
}

mkv_status mkv_tokenize(const mkv_tokenizer *t, const char *text, size_t len, bool add_bos, uint32_t **ids,
                        size_t *n_ids, mkv_error *err)
{
    *ids = NULL;
    *n_ids = 0;
    size_t valid = mkv_utf8_valid_prefix(text, len);
    if (valid < len)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "tokenize: text byte %zu = 0x%02x: not valid UTF-8", valid,
                        (uint8_t)text[valid]);
    enc e = {.t = t, .err = err};
    e.md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!e.md) return oom(&e);
    mkv_status st = encode(&e, text, len, add_bos);
    pcre2_match_data_free(e.md);
    free(e.syms);
    free(e.heap);
    if (st != MKV_OK) {
        free(e.ids);
        return st;
    }
    *ids = e.ids;
    *n_ids = e.n;
    return MKV_OK;
}

/* ---- decoding ------------------------------------------------------------- */

static mkv_status check_id(const mkv_tokenizer *t, size_t index, uint32_t id, mkv_error *err)
{
    if (id < t->n_vocab) return MKV_OK;
    return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "%s: ids[%zu] = %u: not a token (n_vocab = %u)", t->path, index, id,
                    t->n_vocab);
}

mkv_status mkv_detokenize(const mkv_tokenizer *t, const uint32_t *ids, size_t n, char **text, size_t *len,
                          mkv_error *err)
{
    mkv_status st;
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        TRY(check_id(t, i, ids[i], err));
        total += (size_t)(t->bytes_off[ids[i] + 1] - t->bytes_off[ids[i]]);
    }
    char *out = mkv_malloc(total + 1);
    if (!out) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: detokenize: out of memory for %zu bytes", t->path, total);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        const uint8_t *b = mkv_token_bytes(t, ids[i], &k);
        memcpy(out + off, b, k);
        off += k;
    }
    out[off] = '\0';
    *text = out;
    *len = off;
    return MKV_OK;
}

/* ---- streaming decoder ----------------------------------------------------- */

struct mkv_detok_stream {
    const mkv_tokenizer *t;
    uint8_t *buf;
    size_t cap, len;     /* bytes in buf */
    size_t given;        /* bytes at the front of buf returned by the last call */
};

mkv_status mkv_detok_stream_create(const mkv_tokenizer *t, mkv_detok_stream **out, mkv_error *err)
{
    *out = mkv_calloc(1, sizeof **out);
    if (!*out) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: detokenize stream: out of memory", t->path);
    (*out)->t = t;
    return MKV_OK;
}

void mkv_detok_stream_free(mkv_detok_stream *s)
{
    if (!s) return;
    free(s->buf);
    free(s);
}

/* Length of a lead byte's character (2..4), 0 if c cannot lead one. */
static int utf8_need(uint8_t c)
{
    return c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
}

/* Whether b may follow lead byte c as its second byte (the ranges that
 * exclude overlong forms, surrogates and code points past U+10FFFF). */
static bool second_ok(uint8_t c, uint8_t b)
{
    uint8_t lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    uint8_t hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    return b >= lo && b <= hi;
}

/* Bytes at the end of b[0..n) that start a valid character still missing
 * bytes (0 if none). */
static size_t incomplete_tail(const uint8_t *b, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t c = b[n - k];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        int need = utf8_need(c);
        if (need <= (int)k) return 0;     /* not a lead byte, or its character is complete */
        for (size_t j = 1; j < k; j++)
            if ((b[n - k + j] & 0xC0) != 0x80 || (j == 1 && !second_ok(c, b[n - k + 1]))) return 0;
        return k;
    }
    return 0;
}

mkv_status mkv_detok_stream_push(mkv_detok_stream *s, uint32_t id, const char **text, size_t *len, mkv_error *err)
{
    mkv_status st;
    *text = "";
    *len = 0;
    TRY(check_id(s->t, 0, id, err));
    size_t k;
    const uint8_t *b = mkv_token_bytes(s->t, id, &k);
    if (s->given) memmove(s->buf, s->buf + s->given, s->len - s->given);
    s->len -= s->given;
    s->given = 0;
    if (!grow((void **)&s->buf, &s->cap, s->len + k + 1, 1))
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: detokenize stream: out of memory", s->t->path);
    memcpy(s->buf + s->len, b, k);
    s->len += k;
    s->given = s->len - incomplete_tail(s->buf, s->len);
    *text = (const char *)s->buf;
    *len = s->given;
    return MKV_OK;
}

void mkv_detok_stream_flush(mkv_detok_stream *s, const char **text, size_t *len)
{
    if (s->given) memmove(s->buf, s->buf + s->given, s->len - s->given);
    s->len -= s->given;
    *text = s->len ? (const char *)s->buf : "";
    *len = s->len;
    s->given = s->len;
}
