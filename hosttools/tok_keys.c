/* Tokenizer keys for written GGUFs (tok_keys.h): Hugging Face
 * tokenizer.json -> llama.cpp's tokenizer.ggml.* arrays, or a placeholder. */
#include "tok_keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "json.h"
#include "tokenizer.h"

#define MAX_JSON_BYTES (256ull << 20)

/* The Split regexes of the pre-tokenizers we run (as tokenizer.json
 * writes them), the GGUF name of each, and whether its tokenizer.json
 * normalizes to NFC (the tokenizer applies NFC for "qwen2" only). */
static const struct {
    const char *regex, *pre;
    bool nfc;
} known_pre[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+", "qwen2", true},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", "llama-bpe", false},
};

void mkv_tok_keys_free(mkv_tok_keys *k)
{
    if (!k) return;
    for (uint32_t i = 0; k->tokens && i < k->n_vocab; i++) free(k->tokens[i]);
    for (uint64_t i = 0; k->merges && i < k->n_merges; i++) free(k->merges[i]);
    free(k->tokens);
    free(k->types);
    free(k->merges);
    free(k->chat_template);
    memset(k, 0, sizeof *k);
}

static mkv_status init_keys(mkv_tok_keys *k, uint32_t n_vocab, mkv_error *err)
{
    memset(k, 0, sizeof *k);
    k->bos = k->eos = k->pad = MKV_TOKEN_NONE;
    k->tokens = calloc(n_vocab ? n_vocab : 1, sizeof *k->tokens);
    k->types = calloc(n_vocab ? n_vocab : 1, sizeof *k->types);
    k->n_vocab = n_vocab;
    if (!k->tokens || !k->types) return mkv_fail(err, MKV_ERR_NO_MEMORY, "tokenizer keys: out of memory");
    return MKV_OK;
}

/* Fills every token still NULL with "[PAD{i}]" (unused). */
static mkv_status pad_tokens(mkv_tok_keys *k, mkv_error *err)
{
    for (uint32_t i = 0; i < k->n_vocab; i++) {
        if (k->tokens[i]) continue;
        char s[32];
        snprintf(s, sizeof s, "[PAD%u]", i);
        if (!(k->tokens[i] = strdup(s))) return mkv_fail(err, MKV_ERR_NO_MEMORY, "tokenizer keys: out of memory");
        k->types[i] = MKV_TOKEN_UNUSED;
    }
    return MKV_OK;
}

mkv_status mkv_tok_keys_placeholder(uint32_t n_vocab, mkv_tok_keys *out, mkv_error *err)
{
    mkv_status st;
    TRY(init_keys(out, n_vocab, err));
    snprintf(out->pre, sizeof out->pre, "qwen2");
    for (uint32_t b = 0; b < 256 && b < n_vocab; b++) {
        uint32_t cp = mkv_byte_to_cp((uint8_t)b); /* byte b's byte-level character, < U+0800 */
        char u[3] = {0};
        if (cp < 0x80) u[0] = (char)cp;
        else { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); }
        if (!(out->tokens[b] = strdup(u))) return mkv_fail(err, MKV_ERR_NO_MEMORY, "tokenizer keys: out of memory");
        out->types[b] = MKV_TOKEN_NORMAL;
    }
    if (n_vocab > 256) {
        if (!(out->tokens[256] = strdup("<|endoftext|>")))
            return mkv_fail(err, MKV_ERR_NO_MEMORY, "tokenizer keys: out of memory");
        out->types[256] = MKV_TOKEN_CONTROL;
        out->eos = 256;
    }
    return pad_tokens(out, err);
}

/* ---- tokenizer.json ------------------------------------------------------------ */

typedef struct hf {
    const char *path;
    mkv_json j;
    mkv_error *err;
} hf;

static const mkv_json_value *jv(const hf *h, uint32_t i) { return i == MKV_JSON_NONE ? NULL : &h->j.v[i]; }

static mkv_status bad(const hf *h, const char *field, const char *value, const char *what)
{
    return mkv_fail(h->err, MKV_ERR_FORMAT, "%s: %s = %s: %s", h->path, field, value, what);
}

/* The pre-tokenizer's Split regex: the object itself or a member of a Sequence. */
static const char *split_regex(const hf *h, uint32_t pt)
{
    const mkv_json_value *v = jv(h, pt);
    if (!v || v->type != MKV_JSON_OBJECT) return NULL;
    const mkv_json_value *type = jv(h, mkv_json_get(&h->j, pt, "type"));
    if (type && type->type == MKV_JSON_STRING && !strcmp(type->str, "Sequence")) {
        const mkv_json_value *seq = jv(h, mkv_json_get(&h->j, pt, "pretokenizers"));
        if (!seq || seq->type != MKV_JSON_ARRAY) return NULL;
        for (uint32_t c = seq->first; c != MKV_JSON_NONE; c = h->j.v[c].next) {
            const char *r = split_regex(h, c);
            if (r) return r;
        }
        return NULL;
    }
    if (!type || type->type != MKV_JSON_STRING || strcmp(type->str, "Split")) return NULL;
    const mkv_json_value *pat = jv(h, mkv_json_get(&h->j, mkv_json_get(&h->j, pt, "pattern"), "Regex"));
    return pat && pat->type == MKV_JSON_STRING ? pat->str : NULL;
}

static mkv_status recognize(const hf *h, mkv_tok_keys *k)
{
    uint32_t model = mkv_json_get(&h->j, 0, "model");
    const mkv_json_value *mt = jv(h, mkv_json_get(&h->j, model, "type"));
    if (!mt || mt->type != MKV_JSON_STRING || strcmp(mt->str, "BPE"))
        return mkv_fail(h->err, MKV_ERR_UNSUPPORTED, "%s: model.type = %s: only BPE (byte-level) is supported", h->path,
                        mt && mt->type == MKV_JSON_STRING ? mt->str : "(absent)");
    const char *re = split_regex(h, mkv_json_get(&h->j, 0, "pre_tokenizer"));
    int which = -1;
    for (int i = 0; re && i < (int)(sizeof known_pre / sizeof known_pre[0]); i++)
        if (!strcmp(re, known_pre[i].regex)) which = i;
    if (which < 0)
        return mkv_fail(h->err, MKV_ERR_UNSUPPORTED,
                        "%s: pre_tokenizer Split regex = %.200s: not one of the known pre-tokenizers (Qwen2's, "
                        "Llama 3's)", h->path, re ? re : "(absent)");
    uint32_t ni = mkv_json_get(&h->j, 0, "normalizer");
    const mkv_json_value *norm = jv(h, ni);
    const mkv_json_value *nt = norm && norm->type == MKV_JSON_OBJECT ? jv(h, mkv_json_get(&h->j, ni, "type")) : NULL;
    bool nfc = nt && nt->type == MKV_JSON_STRING && !strcmp(nt->str, "NFC");
    bool none = !norm || norm->type == MKV_JSON_NULL;
    if (known_pre[which].nfc ? !nfc : !none)
        return mkv_fail(h->err, MKV_ERR_UNSUPPORTED, "%s: normalizer = %s: the %s pre-tokenizer is run with %s",
                        h->path, nt && nt->type == MKV_JSON_STRING ? nt->str : none ? "null" : "(other)",
                        known_pre[which].pre, known_pre[which].nfc ? "NFC" : "no normalizer");
    snprintf(k->pre, sizeof k->pre, "%s", known_pre[which].pre);
    return MKV_OK;
}

/* Token `id` = s (type), refusing ids past n_vocab. */
static mkv_status set_token(const hf *h, mkv_tok_keys *k, const char *field, uint64_t id, const char *s, int type)
{
    if (id >= k->n_vocab)
        return mkv_fail(h->err, MKV_ERR_MISMATCH,
                        "%s: %s '%.100s' id = %" PRIu64 ": the tokenizer has more tokens than the model's n_vocab = %u",
                        h->path, field, s, id, k->n_vocab);
    char *d = strdup(s);
    if (!d) return mkv_fail(h->err, MKV_ERR_NO_MEMORY, "%s: out of memory", h->path);
    free(k->tokens[id]);
    k->tokens[id] = d;
    k->types[id] = type;
    return MKV_OK;
}

/* Largest id of the vocabulary and added tokens + 1 must fit n_vocab. */
static mkv_status check_count(const hf *h, uint32_t n_vocab)
{
    uint64_t top = 0, n = 0;
    const mkv_json_value *vocab = jv(h, mkv_json_get(&h->j, mkv_json_get(&h->j, 0, "model"), "vocab"));
    for (uint32_t c = vocab && vocab->type == MKV_JSON_OBJECT ? vocab->first : MKV_JSON_NONE; c != MKV_JSON_NONE;
         c = h->j.v[c].next, n++)
        if (h->j.v[c].is_uint && h->j.v[c].u + 1 > top) top = h->j.v[c].u + 1;
    const mkv_json_value *added = jv(h, mkv_json_get(&h->j, 0, "added_tokens"));
    for (uint32_t c = added && added->type == MKV_JSON_ARRAY ? added->first : MKV_JSON_NONE; c != MKV_JSON_NONE;
         c = h->j.v[c].next, n++) {
        const mkv_json_value *id = jv(h, mkv_json_get(&h->j, c, "id"));
        if (id && id->is_uint && id->u + 1 > top) top = id->u + 1;
    }
    if (top <= n_vocab) return MKV_OK;
    return mkv_fail(h->err, MKV_ERR_MISMATCH,
                    "%s: %" PRIu64 " tokens (ids up to %" PRIu64 "): more than the model's n_vocab = %u", h->path, n,
                    top - 1, n_vocab);
}

static mkv_status read_vocab(const hf *h, mkv_tok_keys *k)
{
    mkv_status st;
    uint32_t model = mkv_json_get(&h->j, 0, "model");
    uint32_t vi = mkv_json_get(&h->j, model, "vocab");
    const mkv_json_value *vocab = jv(h, vi);
    if (!vocab || vocab->type != MKV_JSON_OBJECT) return bad(h, "model.vocab", "(absent)", "expected an object");
    for (uint32_t c = vocab->first; c != MKV_JSON_NONE; c = h->j.v[c].next) {
        const mkv_json_value *v = &h->j.v[c];
        if (v->type != MKV_JSON_NUMBER || !v->is_uint)
            return mkv_fail(h->err, MKV_ERR_FORMAT, "%s: model.vocab['%.100s']: expected a non-negative integer id",
                            h->path, v->key);
        if (v->u < k->n_vocab && k->tokens[v->u])
            return mkv_fail(h->err, MKV_ERR_FORMAT,
                            "%s: model.vocab['%.100s'] = %" PRIu64 ": id already used by '%.100s'", h->path, v->key,
                            v->u, k->tokens[v->u]);
        TRY(set_token(h, k, "model.vocab", v->u, v->key, MKV_TOKEN_NORMAL));
    }
    return MKV_OK;
}

static bool looks_special(const char *s)
{
    size_t n = strlen(s);
    return n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>");
}

static mkv_status read_added(const hf *h, mkv_tok_keys *k)
{
    mkv_status st;
    const mkv_json_value *added = jv(h, mkv_json_get(&h->j, 0, "added_tokens"));
    if (!added) return MKV_OK;
    if (added->type != MKV_JSON_ARRAY) return bad(h, "added_tokens", "(not an array)", "expected an array");
    uint32_t n = 0;
    for (uint32_t c = added->first; c != MKV_JSON_NONE; c = h->j.v[c].next, n++) {
        const mkv_json_value *id = jv(h, mkv_json_get(&h->j, c, "id"));
        const mkv_json_value *content = jv(h, mkv_json_get(&h->j, c, "content"));
        const mkv_json_value *special = jv(h, mkv_json_get(&h->j, c, "special"));
        if (!id || id->type != MKV_JSON_NUMBER || !id->is_uint || !content || content->type != MKV_JSON_STRING ||
            !content->len || strlen(content->str) != content->len) {
            char f[48];
            snprintf(f, sizeof f, "added_tokens[%u]", n);
            return bad(h, f, "(object)", "expected a non-negative \"id\" and a non-empty \"content\" without NUL");
        }
        bool sp = (special && special->type == MKV_JSON_TRUE) || looks_special(content->str);
        TRY(set_token(h, k, "added_tokens", id->u, content->str, sp ? MKV_TOKEN_CONTROL : MKV_TOKEN_USER_DEFINED));
    }
    return MKV_OK;
}

/* One merge: "a b" as written, or ["a", "b"] (joined with a space). */
static mkv_status merge_text(const hf *h, uint32_t c, uint64_t i, char **out)
{
    const mkv_json_value *m = &h->j.v[c];
    if (m->type == MKV_JSON_STRING && strlen(m->str) == m->len) {
        *out = strdup(m->str);
    } else if (m->type == MKV_JSON_ARRAY && m->n == 2 && h->j.v[m->first].type == MKV_JSON_STRING &&
               h->j.v[h->j.v[m->first].next].type == MKV_JSON_STRING) {
        const char *a = h->j.v[m->first].str, *b = h->j.v[h->j.v[m->first].next].str;
        size_t n = strlen(a) + strlen(b) + 2;
        if ((*out = malloc(n))) snprintf(*out, n, "%s %s", a, b);
    } else {
        char f[48];
        snprintf(f, sizeof f, "model.merges[%" PRIu64 "]", i);
        return bad(h, f, "(value)", "expected \"a b\" or [\"a\", \"b\"]");
    }
    if (!*out) return mkv_fail(h->err, MKV_ERR_NO_MEMORY, "%s: out of memory", h->path);
    return MKV_OK;
}

static mkv_status read_merges(const hf *h, mkv_tok_keys *k)
{
    mkv_status st;
    uint32_t model = mkv_json_get(&h->j, 0, "model");
    const mkv_json_value *merges = jv(h, mkv_json_get(&h->j, model, "merges"));
    if (!merges) return MKV_OK;
    if (merges->type != MKV_JSON_ARRAY) return bad(h, "model.merges", "(not an array)", "expected an array");
    k->merges = calloc(merges->n ? merges->n : 1, sizeof *k->merges);
    if (!k->merges) return mkv_fail(h->err, MKV_ERR_NO_MEMORY, "%s: out of memory", h->path);
    for (uint32_t c = merges->first; c != MKV_JSON_NONE; c = h->j.v[c].next) {
        TRY(merge_text(h, c, k->n_merges, &k->merges[k->n_merges]));
        k->n_merges++;
    }
    return MKV_OK;
}

static mkv_status parse_file(hf *h, const char *path, mkv_error *err)
{
    char *text = NULL;
    uint64_t len = 0;
    h->path = path;
    h->err = err;
    mkv_status st = mkv_read_small_file(path, MAX_JSON_BYTES, &text, &len, err);
    if (st != MKV_OK) return st;
    st = mkv_json_parse(text, (size_t)len, path, &h->j, err);
    free(text);
    if (st == MKV_OK && h->j.v[0].type != MKV_JSON_OBJECT) {
        mkv_json_free(&h->j);
        return bad(h, "top level", "(not an object)", "expected a JSON object");
    }
    return st;
}

/* ---- tokenizer_config.json --------------------------------------------------- */

/* A special token named by its text: "eos_token": "<|im_end|>" or
 * {"content": "..."}; MKV_TOKEN_NONE when absent or null. */
static mkv_status config_token(const hf *h, const mkv_tok_keys *k, const char *key, uint32_t *id)
{
    uint32_t i = mkv_json_get(&h->j, 0, key);
    const mkv_json_value *v = jv(h, i);
    if (v && v->type == MKV_JSON_OBJECT) v = jv(h, mkv_json_get(&h->j, i, "content"));
    if (!v || v->type == MKV_JSON_NULL) return MKV_OK;
    if (v->type != MKV_JSON_STRING) return bad(h, key, "(value)", "expected a token's text or null");
    for (uint32_t t = 0; t < k->n_vocab; t++)
        if (k->tokens[t] && !strcmp(k->tokens[t], v->str)) {
            *id = t;
            return MKV_OK;
        }
    return bad(h, key, v->str, "not a token of tokenizer.json");
}

static mkv_status read_config(const char *path, mkv_tok_keys *k, mkv_error *err)
{
    hf h = {0};
    mkv_status st = parse_file(&h, path, err);
    if (st != MKV_OK) return st;
    const mkv_json_value *ab = jv(&h, mkv_json_get(&h.j, 0, "add_bos_token"));
    if (ab && ab->type == MKV_JSON_TRUE) k->add_bos = true;
    if (!st) st = config_token(&h, k, "bos_token", &k->bos);
    if (!st) st = config_token(&h, k, "eos_token", &k->eos);
    if (!st) st = config_token(&h, k, "pad_token", &k->pad);
    if (!st && k->add_bos && k->bos == MKV_TOKEN_NONE)
        st = bad(&h, "add_bos_token", "true", "but bos_token is absent");
    const mkv_json_value *ct = jv(&h, mkv_json_get(&h.j, 0, "chat_template"));
    if (!st && ct && ct->type == MKV_JSON_STRING && strlen(ct->str) == ct->len && !(k->chat_template = strdup(ct->str)))
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    mkv_json_free(&h.j);
    return st;
}

mkv_status mkv_tok_keys_from_hf(const char *tokenizer_json, const char *config_path, uint32_t n_vocab,
                                mkv_tok_keys *out, mkv_error *err)
{
    hf h = {0};
    mkv_status st = init_keys(out, n_vocab, err);
    if (!st) st = parse_file(&h, tokenizer_json, err);
    if (st) {
        mkv_tok_keys_free(out);
        return st;
    }
    st = recognize(&h, out);
    if (!st) st = check_count(&h, n_vocab);
    if (!st) st = read_vocab(&h, out);
    if (!st) st = read_added(&h, out);
    if (!st) st = read_merges(&h, out);
    mkv_json_free(&h.j);
    struct stat sb;
    if (!st && config_path && stat(config_path, &sb) == 0) st = read_config(config_path, out, err);
    if (!st) st = pad_tokens(out, err);
    if (st) mkv_tok_keys_free(out);
    return st;
}

mkv_status mkv_tok_keys_from_dir(const char *dir, uint32_t n_vocab, mkv_tok_keys *out, bool *found, mkv_error *err)
{
    char json[4096], config[4096];
    if ((size_t)snprintf(json, sizeof json, "%s/tokenizer.json", dir) >= sizeof json ||
        (size_t)snprintf(config, sizeof config, "%s/tokenizer_config.json", dir) >= sizeof config)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: path too long", dir);
    struct stat sb;
    *found = stat(json, &sb) == 0;
    if (!*found) return mkv_tok_keys_placeholder(n_vocab, out, err);
    return mkv_tok_keys_from_hf(json, config, n_vocab, out, err);
}

/* ---- writing --------------------------------------------------------------------- */

mkv_status mkv_tok_keys_write(const mkv_tok_keys *k, mkv_gguf_writer *w, mkv_error *err)
{
    mkv_status st = mkv_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (!st) st = mkv_gguf_set_str(w, "tokenizer.ggml.pre", k->pre);
    if (!st) st = mkv_gguf_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)k->tokens, k->n_vocab);
    if (!st) st = mkv_gguf_set_array(w, "tokenizer.ggml.token_type", MKV_GGUF_I32, k->types, k->n_vocab);
    if (!st) st = mkv_gguf_set_str_array(w, "tokenizer.ggml.merges", (const char *const *)k->merges, k->n_merges);
    if (!st && k->bos != MKV_TOKEN_NONE) st = mkv_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", k->bos);
    if (!st && k->eos != MKV_TOKEN_NONE) st = mkv_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", k->eos);
    if (!st && k->pad != MKV_TOKEN_NONE) st = mkv_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", k->pad);
    uint8_t add_bos = k->add_bos;
    if (!st) st = mkv_gguf_set_scalar(w, "tokenizer.ggml.add_bos_token", MKV_GGUF_BOOL, &add_bos);
    if (!st && k->chat_template) st = mkv_gguf_set_str(w, "tokenizer.chat_template", k->chat_template);
    if (st) return mkv_fail(err, st, "tokenizer keys: %s", mkv_status_desc(st));
    return MKV_OK;
}
