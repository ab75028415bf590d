/* The tokenizer's tables from a GGUF's llama.cpp keys (DESIGN §6): the
 * vocabulary and its lookup table, token types, decoded bytes of every
 * token, merges by rank, special tokens and ids, and the pre-tokenizer.
 * Every key's type, every element and every id is checked; a message
 * names the file, the key, the element and its value. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "tokenizer_impl.h"

#define MAX_VOCAB (1u << 24)   /* more tokens than any tokenizer has: a hostile count */
#define MAX_MERGES (1u << 24)

/* ---- byte-level map, UTF-8, hashing ------------------------------------ */

/* GPT-2's map: the printable Latin-1 bytes 33..126, 161..172 and 174..255
 * are their own characters; the 68 others (0..32, 127..160, 173) take
 * U+0100..U+0143 in byte order. */
uint32_t mkv_byte_to_cp(uint8_t b)
{
    if (b <= 32) return 256 + b;
    if (b >= 127 && b <= 160) return 256 + 33 + (b - 127u);
    if (b == 173) return 256 + 67;
    return b;
}

int mkv_cp_to_byte(uint32_t cp)
{
    if (cp < 256) return (cp <= 32 || (cp >= 127 && cp <= 160) || cp == 173) ? -1 : (int)cp;
    uint32_t n = cp - 256;
    if (n <= 32) return (int)n;
    if (n <= 66) return (int)(127 + n - 33);
    if (n == 67) return 173;
    return -1;
}

int mkv_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
    if (len == 0) return 0;
    uint8_t c = s[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)n > len) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

size_t mkv_utf8_valid_prefix(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        int n = mkv_utf8_decode((const uint8_t *)s + i, len - i, &cp);
        if (!n) break;
        i += (size_t)n;
    }
    return i;
}

uint64_t mkv_tok_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t mkv_tok_hash(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return mkv_tok_mix64(h);
}

static uint64_t table_size(uint64_t n)
{
    uint64_t s = 16;
    while (s < 2 * n) s *= 2;
    return s;
}

/* ---- reading GGUF arrays --------------------------------------------------- */

/* Walks an array of strings in the mapping (validated when the file was
 * opened; bounds are checked again all the same). */
typedef struct str_walk {
    const uint8_t *p, *end;
} str_walk;

static bool walk_next(str_walk *w, const char **s, uint64_t *len)
{
    if ((uint64_t)(w->end - w->p) < 8) return false;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | w->p[i];
    if (n > (uint64_t)(w->end - w->p) - 8) return false;
    *s = (const char *)w->p + 8;
    *len = n;
    w->p += 8 + n;
    return true;
}

/* Finds `key`, an array of elem_type. required: MKV_ERR_MISSING if absent
 * (else *kv = NULL and MKV_OK). */
static mkv_status get_array(const mkv_gguf *g, const char *key, uint32_t elem_type, bool required,
                            const mkv_gguf_kv **kv, mkv_error *err)
{
    *kv = mkv_gguf_find_kv(g, key);
    if (!*kv) {
        if (!required) return MKV_OK;
        return mkv_fail(err, MKV_ERR_MISSING, "%s: %s: key not found (the tokenizer needs it)", g->path, key);
    }
    if ((*kv)->type != MKV_GGUF_ARRAY || (*kv)->arr_type != elem_type)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s type = %s%s%s: expected an array of %s", g->path, key,
                        mkv_gguf_vtype_name((*kv)->type), (*kv)->type == MKV_GGUF_ARRAY ? " of " : "",
                        (*kv)->type == MKV_GGUF_ARRAY ? mkv_gguf_vtype_name((*kv)->arr_type) : "",
                        mkv_gguf_vtype_name(elem_type));
    return MKV_OK;
}

static str_walk walk_of(const mkv_gguf *g, const mkv_gguf_kv *kv)
{
    str_walk w = {kv->arr_data, g->map + g->size};
    return w;
}

/* Optional token id key: MKV_TOKEN_NONE if absent; must be < n_vocab. */
static mkv_status get_id(const mkv_gguf *g, const char *key, uint32_t n_vocab, uint32_t *id, mkv_error *err)
{
    *id = MKV_TOKEN_NONE;
    if (!mkv_gguf_find_kv(g, key)) return MKV_OK;
    mkv_status st = mkv_gguf_get_u32(g, key, id, err);
    if (st != MKV_OK) return st;
    if (*id >= n_vocab)
        return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "%s: %s = %u: not a token (n_vocab = %u)", g->path, key, *id,
                        n_vocab);
    return MKV_OK;
}

static mkv_status get_bool(const mkv_gguf *g, const char *key, bool *v, mkv_error *err)
{
    const mkv_gguf_kv *kv = mkv_gguf_find_kv(g, key);
    if (!kv) return MKV_OK;
    if (kv->type != MKV_GGUF_BOOL)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s type = %s: expected bool", g->path, key,
                        mkv_gguf_vtype_name(kv->type));
    *v = kv->v.u64 != 0;
    return MKV_OK;
}

/* ---- vocabulary ------------------------------------------------------------ */

static const char *tok_str(const mkv_tokenizer *t, uint32_t id, size_t *len)
{
    *len = (size_t)(t->text_off[id + 1] - t->text_off[id] - 1);
    return t->text + t->text_off[id];
}

uint32_t mkv_token_lookup(const mkv_tokenizer *t, const char *s, size_t len)
{
    for (uint64_t h = mkv_tok_hash(s, len) & t->vocab_mask;; h = (h + 1) & t->vocab_mask) {
        uint32_t id = t->vocab_slots[h];
        if (id == MKV_TOKEN_NONE) return MKV_TOKEN_NONE;
        size_t n;
        const char *ts = tok_str(t, id, &n);
        if (n == len && !memcmp(ts, s, len)) return id;
    }
}

/* Copies the token strings and indexes them (the first of equal strings wins). */
static mkv_status read_tokens(mkv_tokenizer *t, const mkv_gguf *g, const mkv_gguf_kv *kv, mkv_error *err)
{
    const char *K = "tokenizer.ggml.tokens";
    if (kv->arr_n == 0 || kv->arr_n > MAX_VOCAB)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s count = %" PRIu64 ": expected 1..%u tokens", g->path, K,
                        kv->arr_n, MAX_VOCAB);
    t->n_vocab = (uint32_t)kv->arr_n;
    uint64_t total = 0;
    str_walk w = walk_of(g, kv);
    const char *s;
    uint64_t len;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        if (!walk_next(&w, &s, &len))
            return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: %s[%u]: past the end of the file", g->path, K, i);
        if (memchr(s, '\0', (size_t)len))
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s[%u] = '%s...': contains a NUL byte", g->path, K, i, s);
        total += len + 1;
    }
    t->text = mkv_malloc(total ? total : 1);
    t->text_off = mkv_malloc(((size_t)t->n_vocab + 1) * sizeof *t->text_off);
    uint64_t slots = table_size(t->n_vocab);
    t->vocab_slots = mkv_malloc(slots * sizeof *t->vocab_slots);
    if (!t->text || !t->text_off || !t->vocab_slots)
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: %s: out of memory for %u tokens", g->path, K, t->n_vocab);
    memset(t->vocab_slots, 0xFF, slots * sizeof *t->vocab_slots);
    t->vocab_mask = slots - 1;
    w = walk_of(g, kv);
    uint64_t off = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        walk_next(&w, &s, &len);
        t->text_off[i] = off;
        memcpy(t->text + off, s, (size_t)len);
        t->text[off + len] = '\0';
        off += len + 1;
        t->text_off[i + 1] = off;
        if (mkv_token_lookup(t, s, (size_t)len) != MKV_TOKEN_NONE) continue;
        uint64_t h = mkv_tok_hash(s, (size_t)len) & t->vocab_mask;
        while (t->vocab_slots[h] != MKV_TOKEN_NONE) h = (h + 1) & t->vocab_mask;
        t->vocab_slots[h] = i;
    }
    return MKV_OK;
}

static mkv_status read_types(mkv_tokenizer *t, const mkv_gguf *g, mkv_error *err)
{
    const char *K = "tokenizer.ggml.token_type";
    const mkv_gguf_kv *kv;
    mkv_status st = get_array(g, K, MKV_GGUF_I32, false, &kv, err);
    if (st != MKV_OK) return st;
    t->type = mkv_malloc(t->n_vocab);
    if (!t->type) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: %s: out of memory", g->path, K);
    memset(t->type, MKV_TOKEN_NORMAL, t->n_vocab);
    if (!kv) return MKV_OK;
    if (kv->arr_n != t->n_vocab)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s count = %" PRIu64 ": expected one per token (%u)", g->path, K,
                        kv->arr_n, t->n_vocab);
    const uint8_t *p = kv->arr_data;
    for (uint32_t i = 0; i < t->n_vocab; i++, p += 4) {
        int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        if (v < 0 || v > MKV_TOKEN_BYTE)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s[%u] = %d: expected 0..6 (1 normal, 2 unknown, 3 control, "
                                                 "4 user-defined, 5 unused, 6 byte)", g->path, K, i, v);
        t->type[i] = (uint8_t)v;
    }
    return MKV_OK;
}

/* Bytes of one token: its characters mapped back through the byte-level
 * map, or its own text when one of them is outside the map. Returns the
 * length written to dst (which holds at least the text's length). */
static size_t decode_token(const char *s, size_t len, uint8_t *dst)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        int k = mkv_utf8_decode((const uint8_t *)s + i, len - i, &cp);
        int b = k ? mkv_cp_to_byte(cp) : -1;
        if (b < 0) {
            memcpy(dst, s, len);
            return len;
        }
        dst[n++] = (uint8_t)b;
        i += (size_t)k;
    }
    return n;
}

static mkv_status build_bytes(mkv_tokenizer *t, mkv_error *err)
{
    t->bytes = mkv_malloc(t->text_off[t->n_vocab] + 1);
    t->bytes_off = mkv_malloc(((size_t)t->n_vocab + 1) * sizeof *t->bytes_off);
    if (!t->bytes || !t->bytes_off)
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: tokenizer: out of memory for the decoded tokens", t->path);
    uint64_t off = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        size_t len;
        const char *s = tok_str(t, i, &len);
        t->bytes_off[i] = off;
        off += decode_token(s, len, t->bytes + off);
    }
    t->bytes_off[t->n_vocab] = off;
    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        uint32_t cp = mkv_byte_to_cp((uint8_t)b);
        size_t n = cp < 0x80 ? 1 : 2; /* cp < 0x800 */
        if (n == 1) u[0] = (char)cp;
        else { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); }
        t->byte_id[b] = mkv_token_lookup(t, u, n);
    }
    t->unk = MKV_TOKEN_NONE;
    for (uint32_t i = 0; i < t->n_vocab && t->unk == MKV_TOKEN_NONE; i++)
        if (t->type[i] == MKV_TOKEN_UNKNOWN) t->unk = i;
    return MKV_OK;
}

/* ---- merges ---------------------------------------------------------------- */

const mkv_merge_slot *mkv_merge_find(const mkv_tokenizer *t, uint32_t a, uint32_t b)
{
    uint64_t key = (uint64_t)a << 32 | b;
    for (uint64_t h = mkv_tok_mix64(key) & t->merge_mask;; h = (h + 1) & t->merge_mask) {
        const mkv_merge_slot *m = &t->merge_slots[h];
        if (m->key == key) return m;
        if (m->key == UINT64_MAX) return NULL;
    }
}

/* Resolves merge `i` ("a b") to token ids; the message names what is wrong. */
static mkv_status parse_merge(mkv_tokenizer *t, const mkv_gguf *g, uint64_t i, const char *s, size_t len,
                              uint32_t ids[3], mkv_error *err)
{
    const char *K = "tokenizer.ggml.merges";
    const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL; /* a part may itself be " " */
    if (!sp || sp + 1 == s + len)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s[%" PRIu64 "] = '%.*s': expected two tokens separated by a space",
                        g->path, K, i, (int)(len > 200 ? 200 : len), s);
    size_t la = (size_t)(sp - s), lb = len - la - 1;
    char *ab = mkv_malloc(la + lb + 1);
    if (!ab) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: %s: out of memory", g->path, K);
    memcpy(ab, s, la);
    memcpy(ab + la, sp + 1, lb);
    ids[0] = mkv_token_lookup(t, s, la);
    ids[1] = mkv_token_lookup(t, sp + 1, lb);
    ids[2] = mkv_token_lookup(t, ab, la + lb);
    free(ab);
    for (int k = 0; k < 3; k++) {
        if (ids[k] != MKV_TOKEN_NONE) continue;
        const char *what[] = {"its first part", "its second part", "the merged token"};
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s[%" PRIu64 "] = '%.*s': %s is not in tokenizer.ggml.tokens",
                        g->path, K, i, (int)(len > 200 ? 200 : len), s, what[k]);
    }
    return MKV_OK;
}

static mkv_status read_merges(mkv_tokenizer *t, const mkv_gguf *g, mkv_error *err)
{
    const char *K = "tokenizer.ggml.merges";
    const mkv_gguf_kv *kv;
    mkv_status st = get_array(g, K, MKV_GGUF_STRING, true, &kv, err);
    if (st != MKV_OK) return st;
    if (kv->arr_n > MAX_MERGES)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s count = %" PRIu64 ": more than %u merges", g->path, K, kv->arr_n,
                        MAX_MERGES);
    uint64_t slots = table_size(kv->arr_n);
    t->merge_slots = mkv_malloc(slots * sizeof *t->merge_slots);
    if (!t->merge_slots) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: %s: out of memory", g->path, K);
    for (uint64_t h = 0; h < slots; h++) t->merge_slots[h].key = UINT64_MAX;
    t->merge_mask = slots - 1;
    str_walk w = walk_of(g, kv);
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        const char *s;
        uint64_t len;
        uint32_t ids[3] = {0, 0, 0};
        if (!walk_next(&w, &s, &len))
            return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: %s[%" PRIu64 "]: past the end of the file", g->path, K, i);
        if ((st = parse_merge(t, g, i, s, (size_t)len, ids, err)) != MKV_OK) return st;
        if (mkv_merge_find(t, ids[0], ids[1])) continue; /* a repeated pair keeps its first (best) rank */
        uint64_t key = (uint64_t)ids[0] << 32 | ids[1];
        uint64_t h = mkv_tok_mix64(key) & t->merge_mask;
        while (t->merge_slots[h].key != UINT64_MAX) h = (h + 1) & t->merge_mask;
        t->merge_slots[h] = (mkv_merge_slot){key, (uint32_t)i, ids[2]};
        t->n_merges++;
    }
    return MKV_OK;
}

/* ---- special tokens ------------------------------------------------------- */

typedef struct special_key {
    uint64_t len;
    uint32_t id;
} special_key;

static int cmp_special(const void *a, const void *b)
{
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; /* longest first */
    return x->id < y->id ? -1 : x->id > y->id;
}

static mkv_status collect_specials(mkv_tokenizer *t, mkv_error *err)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        size_t len;
        tok_str(t, i, &len);
        n += len && (t->type[i] == MKV_TOKEN_CONTROL || t->type[i] == MKV_TOKEN_USER_DEFINED);
    }
    t->specials = mkv_malloc((n ? n : 1) * sizeof *t->specials);
    special_key *keys = mkv_malloc((n ? n : 1) * sizeof *keys);
    if (!t->specials || !keys) {
        free(keys);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: tokenizer: out of memory", t->path);
    }
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        size_t len;
        const char *s = tok_str(t, i, &len);
        if (!len || (t->type[i] != MKV_TOKEN_CONTROL && t->type[i] != MKV_TOKEN_USER_DEFINED)) continue;
        keys[t->n_specials++] = (special_key){len, i};
        t->special_first[(uint8_t)s[0]] = true;
    }
    qsort(keys, t->n_specials, sizeof *keys, cmp_special);
    for (uint32_t i = 0; i < t->n_specials; i++) t->specials[i] = keys[i].id;
    free(keys);
    return MKV_OK;
}

/* ---- model, pre-tokenizer, ids ------------------------------------------- */

static mkv_status read_model_and_pre(mkv_tokenizer *t, const mkv_gguf *g, mkv_error *err)
{
    char model[32];
    mkv_status st = mkv_gguf_get_str(g, "tokenizer.ggml.model", model, sizeof model, err);
    if (st != MKV_OK) return st;
    if (strcmp(model, "gpt2"))
        return mkv_fail(err, MKV_ERR_UNSUPPORTED,
                        "%s: tokenizer.ggml.model = '%s': only \"gpt2\" (byte-level BPE) is supported", g->path, model);
    if ((st = mkv_gguf_get_str(g, "tokenizer.ggml.pre", t->pre, sizeof t->pre, err)) != MKV_OK) return st;
    t->nfc = !strcmp(t->pre, "qwen2");
    return mkv_tokenizer_compile_pre(t, t->pre, err);
}

static mkv_status read_extras(mkv_tokenizer *t, const mkv_gguf *g, mkv_error *err)
{
    mkv_status st;
    TRY(get_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos, err));
    TRY(get_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos, err));
    TRY(get_id(g, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad, err));
    TRY(get_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos, err));
    if (t->add_bos && t->bos == MKV_TOKEN_NONE)
        return mkv_fail(err, MKV_ERR_MISSING,
                        "%s: tokenizer.ggml.add_bos_token = true: but tokenizer.ggml.bos_token_id is absent", g->path);
    const mkv_gguf_kv *kv = mkv_gguf_find_kv(g, "tokenizer.chat_template");
    if (!kv) return MKV_OK;
    if (kv->type != MKV_GGUF_STRING)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tokenizer.chat_template type = %s: expected string", g->path,
                        mkv_gguf_vtype_name(kv->type));
    t->chat_template = mkv_malloc((size_t)kv->v.str.len + 1);
    if (!t->chat_template)
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: tokenizer.chat_template: out of memory", g->path);
    memcpy(t->chat_template, kv->v.str.ptr, (size_t)kv->v.str.len);
    t->chat_template[kv->v.str.len] = '\0';
    return MKV_OK;
}

static mkv_status load(mkv_tokenizer *t, const mkv_gguf *g, mkv_error *err)
{
    mkv_status st;
    const mkv_gguf_kv *kv;
    TRY(read_model_and_pre(t, g, err));
    TRY(get_array(g, "tokenizer.ggml.tokens", MKV_GGUF_STRING, true, &kv, err));
    TRY(read_tokens(t, g, kv, err));
    TRY(read_types(t, g, err));
    TRY(build_bytes(t, err));
    TRY(read_merges(t, g, err));
    TRY(collect_specials(t, err));
    return read_extras(t, g, err);
}

mkv_status mkv_tokenizer_from_gguf(const mkv_gguf *g, mkv_tokenizer **out, mkv_error *err)
{
    *out = NULL;
    mkv_tokenizer *t = mkv_calloc(1, sizeof *t);
    if (!t || !(t->path = mkv_strdup(g->path))) {
        free(t);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: tokenizer: out of memory", g->path);
    }
    mkv_status st = load(t, g, err);
    if (st != MKV_OK) {
        mkv_tokenizer_free(t);
        return st;
    }
    *out = t;
    return MKV_OK;
}

mkv_status mkv_tokenizer_open(const char *path, mkv_tokenizer **out, mkv_error *err)
{
    mkv_gguf *g = NULL;
    *out = NULL;
    mkv_status st = mkv_gguf_open(path, &g, err);
    if (st != MKV_OK) return st;
    st = mkv_tokenizer_from_gguf(g, out, err);
    mkv_gguf_close(g);
    return st;
}

void mkv_tokenizer_free(mkv_tokenizer *t)
{
    if (!t) return;
    free(t->path);
    free(t->text);
    free(t->text_off);
    free(t->bytes);
    free(t->bytes_off);
    free(t->type);
    free(t->vocab_slots);
    free(t->merge_slots);
    free(t->specials);
    free(t->chat_template);
    if (t->re) pcre2_code_free(t->re);
    free(t);
}

/* ---- accessors -------------------------------------------------------------- */

uint32_t mkv_tokenizer_n_vocab(const mkv_tokenizer *t) { return t->n_vocab; }
uint32_t mkv_tokenizer_bos(const mkv_tokenizer *t) { return t->bos; }
uint32_t mkv_tokenizer_eos(const mkv_tokenizer *t) { return t->eos; }
uint32_t mkv_tokenizer_pad(const mkv_tokenizer *t) { return t->pad; }
bool mkv_tokenizer_add_bos(const mkv_tokenizer *t) { return t->add_bos; }
const char *mkv_tokenizer_pre(const mkv_tokenizer *t) { return t->pre; }
const char *mkv_tokenizer_chat_template(const mkv_tokenizer *t) { return t->chat_template; }

const char *mkv_token_text(const mkv_tokenizer *t, uint32_t id, size_t *len)
{
    if (id >= t->n_vocab) return NULL;
    return tok_str(t, id, len);
}

const uint8_t *mkv_token_bytes(const mkv_tokenizer *t, uint32_t id, size_t *len)
{
    if (id >= t->n_vocab) return NULL;
    *len = (size_t)(t->bytes_off[id + 1] - t->bytes_off[id]);
    return t->bytes + t->bytes_off[id];
}

int mkv_token_type_of(const mkv_tokenizer *t, uint32_t id)
{
    return id < t->n_vocab ? t->type[id] : MKV_TOKEN_UNDEFINED;
}
