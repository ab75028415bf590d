/* Synthetic models of the DESIGN §2 shapes with random weights.
 *
 * Every value comes from a counter-based generator: element k of a tensor
 * is a pure function of (seed, tensor name, k), and bank value k of token t
 * of (seed, t, layer, k). Files are therefore identical for a seed whatever
 * the order or chunking of generation, and nothing larger than one tensor
 * is ever held in memory (bank slabs are generated one token at a time).
 *
 * Scaling keeps activations O(1) through any depth: matrices uniform with
 * std 1/sqrt(fan_in) (fan_in = ne0, the input dim); bank rows std 1 (they
 * are M̃ values, themselves RMS-normalised in training); embeddings std
 * 3/sqrt(d_model), so that with a tied LM head the logits have std ~3 (a
 * peaked but not one-hot distribution) and a token's own embedding does not
 * dominate the residual stream (else the model only repeats its input);
 * norm weights 1 + 0.1·u, meki_norm 0.5 + 0.05·u, q/k/v biases (qwen2)
 * 0.5·u (u uniform in [-1, 1)). Random Q/K rows make a llama file no
 * different from a qwen2 one without biases: only the engine's RoPE
 * pairing tells them apart.
 * The small shapes (tiny, small) use head_dim 64 and RoPE θ 10000, the
 * paper shapes θ 500000; eps is 1e-6 everywhere. */
#include "synth.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"
#include "error.h"
#include "gguf_write.h"
#include "half.h"
#include "progress.h"
#include "quantize.h"
#include "tok_keys.h"

static const mkv_synth_shape shapes[] = {
    /* name   layers d_model heads kv head_dim d_ffn d_mem  vocab   theta    eps */
    {"tiny", 4, 256, 4, 2, 64, 768, 64, 4096, 10000.0f, 1e-6f},
    {"small", 8, 512, 8, 4, 64, 1536, 64, 32000, 10000.0f, 1e-6f},
    {"0.6b", 28, 1024, 16, 8, 128, 3072, 128, 151680, 500000.0f, 1e-6f},
    {"1.7b", 28, 2048, 16, 8, 128, 6144, 256, 151680, 500000.0f, 1e-6f},
    {"4b", 36, 2560, 32, 8, 128, 9728, 512, 151680, 500000.0f, 1e-6f},
};

const mkv_synth_shape *mkv_synth_find_shape(const char *name)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (name && strcmp(shapes[i].name, name) == 0) return &shapes[i];
    return NULL;
}

void mkv_synth_opts_default(mkv_synth_opts *opts, const mkv_synth_shape *shape, const char *out_dir)
{
    memset(opts, 0, sizeof *opts);
    if (shape) opts->shape = *shape;
    opts->out_dir = out_dir;
    opts->arch = "qwen3";
    opts->wtype = MKV_GGML_F16;
    opts->bank_dtype = MKV_BANK_F16;
    opts->tied_output = true;
    opts->seed = 1;
}

/* ---- random numbers ------------------------------------------------------ */

/* splitmix64's finaliser: a good 64-bit mix, so mix(key + k·γ) is a
 * counter-based generator. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define GOLDEN 0x9e3779b97f4a7c15ull

static uint64_t hash_str(uint64_t seed, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then mixed with the seed */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return mix64(h ^ mix64(seed + GOLDEN));
}

/* Value of element k: offset + scale·u, u uniform in [-1, 1) on a 2^16
 * grid (finer than f16's 11 bits). Draw k is the 16-bit chunk k%4 of
 * mix64(key + (k/4)·γ): one mix per four values. */
typedef struct dist {
    uint64_t key;
    float offset, scale;
} dist;

static inline float dist_value(const dist *d, uint16_t bits)
{
    return d->offset + d->scale * ((float)(int16_t)bits * (1.0f / 32768.0f));
}

/* Elements [k0, k0 + n) as floats. */
static void gen_f32(const dist *d, uint64_t k0, uint64_t n, float *out)
{
    uint64_t g = UINT64_MAX, r = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = k0 + i;
        if (k >> 2 != g) r = mix64(d->key + (g = k >> 2) * GOLDEN);
        out[i] = dist_value(d, (uint16_t)(r >> (16 * (k & 3))));
    }
}

void mkv_synth_uniform(uint64_t seed, const char *name, float offset, float scale, uint64_t k0, uint64_t n, float *out)
{
    dist d = {.key = hash_str(seed, name), .offset = offset, .scale = scale};
    gen_f32(&d, k0, n, out);
}

/* f16 of dist_value for every 16-bit draw: generating f16 is then one
 * lookup per value, no float conversion (synth writes GBs of f16). */
typedef struct f16_table {
    float offset, scale;
    bool valid;
    uint16_t h[65536];
} f16_table;

static const uint16_t *table_for(f16_table *t, const dist *d)
{
    if (!t->valid || t->offset != d->offset || t->scale != d->scale) {
        for (uint32_t b = 0; b < 65536; b++) t->h[b] = mkv_float_to_half(dist_value(d, (uint16_t)b));
        t->offset = d->offset;
        t->scale = d->scale;
        t->valid = true;
    }
    return t->h;
}

/* Elements [k0, k0 + n) as little-endian f16 (the same values as gen_f32, rounded). */
static void gen_f16(const dist *d, f16_table *tab, uint64_t k0, uint64_t n, uint8_t *out)
{
    const uint16_t *h = table_for(tab, d);
    uint64_t i = 0;
    for (; i < n && ((k0 + i) & 3); i++) { /* up to a group boundary */
        uint64_t k = k0 + i;
        uint16_t v = h[(uint16_t)(mix64(d->key + (k >> 2) * GOLDEN) >> (16 * (k & 3)))];
        out[2 * i] = (uint8_t)v;
        out[2 * i + 1] = (uint8_t)(v >> 8);
    }
    for (; i + 4 <= n; i += 4) {
        uint64_t r = mix64(d->key + ((k0 + i) >> 2) * GOLDEN);
        for (int j = 0; j < 4; j++) {
            uint16_t v = h[(uint16_t)(r >> (16 * j))];
            out[2 * (i + j)] = (uint8_t)v;
            out[2 * (i + j) + 1] = (uint8_t)(v >> 8);
        }
    }
    for (; i < n; i++) {
        uint64_t k = k0 + i;
        uint16_t v = h[(uint16_t)(mix64(d->key + (k >> 2) * GOLDEN) >> (16 * (k & 3)))];
        out[2 * i] = (uint8_t)v;
        out[2 * i + 1] = (uint8_t)(v >> 8);
    }
}

/* ---- the model's tensors --------------------------------------------------- */

enum kind { K_MATRIX, K_EMBED, K_NORM, K_MEKI_NORM, K_BIAS };

typedef struct tplan {
    char name[64];
    uint64_t ne0, ne1; /* ne1 = 0: a vector */
    enum kind kind;
    uint32_t type;
} tplan;

typedef struct synth {
    const mkv_synth_opts *o;
    tplan *t;
    uint32_t n_t;
    uint32_t n_fallback; /* matrices whose type fell back (mkv_synth_tensor_type) */
    float *chunk;      /* float staging for quantized types */
    f16_table *tab;
    mkv_progress prog;
} synth;

#define QCHUNK 8192u /* floats per quantization chunk (a multiple of every block: 256) */

/* ---- tensor types (llama-quantize's rules) ------------------------------------ */

static const struct {
    const char *name;
    uint32_t wtype;
    uint32_t ftype; /* llama.cpp's general.file_type (LLAMA_FTYPE_*) */
} wtypes[] = {
    {"f32", MKV_GGML_F32, 0},      {"f16", MKV_GGML_F16, 1},   {"bf16", MKV_GGML_BF16, 32},
    {"q8_0", MKV_GGML_Q8_0, 7},    {"q4_0", MKV_GGML_Q4_0, 2}, {"q4_1", MKV_GGML_Q4_1, 3},
    {"q5_0", MKV_GGML_Q5_0, 8},    {"q5_1", MKV_GGML_Q5_1, 9}, {"q4_k", MKV_GGML_Q4_K, 14}, /* Q4_K_S */
    {"q5_k", MKV_GGML_Q5_K, 16},   /* Q5_K_S */                {"q6_k", MKV_GGML_Q6_K, 18},
    {"q4_k_m", MKV_SYNTH_Q4_K_M, 15}, {"q5_k_m", MKV_SYNTH_Q5_K_M, 17},
};
#define N_WTYPES (sizeof wtypes / sizeof wtypes[0])

static int wtype_index(uint32_t wtype)
{
    for (size_t i = 0; i < N_WTYPES; i++)
        if (wtypes[i].wtype == wtype) return (int)i;
    return -1;
}

bool mkv_synth_parse_wtype(const char *str, uint32_t *wtype)
{
    for (size_t i = 0; i < N_WTYPES; i++)
        if (str && strcmp(str, wtypes[i].name) == 0) {
            *wtype = wtypes[i].wtype;
            return true;
        }
    return false;
}

const char *mkv_synth_wtype_name(uint32_t wtype)
{
    return wtype == MKV_SYNTH_Q4_K_M ? "Q4_K_M" : wtype == MKV_SYNTH_Q5_K_M ? "Q5_K_M" : mkv_ggml_type_name(wtype);
}

static bool is_preset(uint32_t wtype) { return wtype == MKV_SYNTH_Q4_K_M || wtype == MKV_SYNTH_Q5_K_M; }

/* The ggml type most matrices of a wtype get. */
static uint32_t base_type(uint32_t wtype)
{
    return wtype == MKV_SYNTH_Q4_K_M ? MKV_GGML_Q4_K : wtype == MKV_SYNTH_Q5_K_M ? MKV_GGML_Q5_K : wtype;
}

static bool fits(uint32_t type, uint64_t ne0) { return mkv_ggml_nbytes(type, ne0) != 0; }

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers and
 * every third layer between. */
static bool use_more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* mkv_synth_tensor_type; *fell_back (if not NULL) says whether the shape
 * forced a fallback. */
static uint32_t tensor_type(const mkv_synth_opts *o, const char *name, uint64_t ne0, uint32_t layer, bool *fell_back)
{
    if (fell_back) *fell_back = false;
    if (!ends_with(name, "weight") || strstr(name, "_norm.weight")) return MKV_GGML_F32; /* norms, biases */
    const uint32_t base = base_type(o->wtype);
    if (base == MKV_GGML_F32 || base == MKV_GGML_F16 || base == MKV_GGML_BF16) return base;
    uint32_t t = base;
    if (!o->pure) {
        const bool head = strcmp(name, "output.weight") == 0 ||
                          (o->tied_output && strcmp(name, "token_embd.weight") == 0);
        if (head) {
            if (!fits(base, ne0)) t = MKV_GGML_Q8_0;
            else if (base != MKV_GGML_Q8_0) t = MKV_GGML_Q6_K;
        } else if (is_preset(o->wtype) && (strstr(name, "attn_v.weight") || strstr(name, "ffn_down")) &&
                   use_more_bits(layer, o->shape.n_layer)) {
            t = MKV_GGML_Q6_K;
        }
    }
    if (fits(t, ne0)) return t;
    if (fell_back) *fell_back = true;
    t = t == MKV_GGML_Q4_K ? MKV_GGML_Q5_0 : t == MKV_GGML_Q5_K ? MKV_GGML_Q5_1 : t == MKV_GGML_Q6_K ? MKV_GGML_Q8_0
                                                                                                   : MKV_GGML_F16;
    return fits(t, ne0) ? t : MKV_GGML_F16;
}

uint32_t mkv_synth_tensor_type(const mkv_synth_opts *o, const char *name, uint64_t ne0, uint32_t layer)
{
    return tensor_type(o, name, ne0, layer, NULL);
}

static void plan_add(synth *s, const char *name, uint64_t ne0, uint64_t ne1, enum kind kind, uint32_t layer)
{
    tplan *t = &s->t[s->n_t++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->kind = kind;
    bool fell_back = false;
    t->type = ne1 ? tensor_type(s->o, name, ne0, layer, &fell_back) : MKV_GGML_F32; /* vectors stay F32 */
    s->n_fallback += fell_back;
}

/* Tensor list in llama.cpp's order: embedding, layers, final norm, head. */
static mkv_status plan_tensors(synth *s, mkv_error *err)
{
    const mkv_synth_shape *sh = &s->o->shape;
    const bool qk_norm = strcmp(s->o->arch, "qwen3") == 0, bias = strcmp(s->o->arch, "qwen2") == 0;
    uint32_t per_layer = 17;
    s->t = calloc((size_t)sh->n_layer * per_layer + 3, sizeof *s->t);
    if (!s->t) return mkv_fail(err, MKV_ERR_NO_MEMORY, "synth: out of memory");
    const uint64_t dm = sh->d_model, q = (uint64_t)sh->n_head * sh->head_dim,
                   kv = (uint64_t)sh->n_kv_head * sh->head_dim, ff = sh->d_ffn, dmem = sh->d_mem;
    plan_add(s, "token_embd.weight", dm, sh->n_vocab, K_EMBED, 0);
    const struct {
        const char *suffix;
        uint64_t ne0, ne1;
        enum kind kind;
        bool write;
    } layer[] = {
        {"attn_norm.weight", dm, 0, K_NORM, true},     {"attn_q.weight", dm, q, K_MATRIX, true},
        {"attn_k.weight", dm, kv, K_MATRIX, true},     {"attn_v.weight", dm, kv, K_MATRIX, true},
        {"attn_q.bias", q, 0, K_BIAS, bias},           {"attn_k.bias", kv, 0, K_BIAS, bias},
        {"attn_v.bias", kv, 0, K_BIAS, bias},
        {"attn_output.weight", q, dm, K_MATRIX, true}, {"attn_q_norm.weight", sh->head_dim, 0, K_NORM, qk_norm},
        {"attn_k_norm.weight", sh->head_dim, 0, K_NORM, qk_norm}, {"ffn_norm.weight", dm, 0, K_NORM, true},
        {"ffn_gate.weight", dm, ff, K_MATRIX, true},   {"ffn_up.weight", dm, ff, K_MATRIX, true},
        {"ffn_down.weight", ff, dm, K_MATRIX, true},   {"meki_gate.weight", dm, dmem, K_MATRIX, !s->o->dense},
        {"meki_out.weight", dmem, dm, K_MATRIX, !s->o->dense}, {"meki_norm.weight", dm, 0, K_MEKI_NORM, !s->o->dense},
    };
    char n[64];
    for (uint32_t l = 0; l < sh->n_layer; l++)
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
            if (!layer[i].write) continue;
            snprintf(n, sizeof n, "blk.%u.%s", l, layer[i].suffix);
            plan_add(s, n, layer[i].ne0, layer[i].ne1, layer[i].kind, l);
        }
    plan_add(s, "output_norm.weight", dm, 0, K_NORM, 0);
    if (!s->o->tied_output) plan_add(s, "output.weight", dm, sh->n_vocab, K_MATRIX, 0);
    return MKV_OK;
}

static dist tensor_dist(const synth *s, const tplan *t)
{
    dist d = {.key = hash_str(s->o->seed, t->name)};
    switch (t->kind) {
    case K_MATRIX: d.scale = sqrtf(3.0f / (float)t->ne0); break; /* uniform std 1/sqrt(fan_in) */
    case K_EMBED: d.scale = sqrtf(3.0f) * 3.0f / sqrtf((float)t->ne0); break; /* std 3/sqrt(d_model) */
    case K_NORM: d.offset = 1.0f; d.scale = 0.1f; break;
    case K_MEKI_NORM: d.offset = 0.5f; d.scale = 0.05f; break;
    case K_BIAS: d.scale = 0.5f; break;
    }
    return d;
}

static mkv_status fill_tensor(void *user, uint32_t index, const char *name, void *dst, uint64_t nbytes,
                              mkv_error *err)
{
    synth *s = user;
    const tplan *t = &s->t[index];
    dist d = tensor_dist(s, t);
    uint64_t n = t->ne0 * (t->ne1 ? t->ne1 : 1);
    uint8_t *out = dst;
    mkv_status st;
    /* chunked so that progress moves during the big embedding; every chunk
     * is whole blocks (ne0 is, and 1 << 20 and QCHUNK are multiples of 256) */
    const uint64_t step = 1u << 20;
    for (uint64_t k = 0; k < n; k += step) {
        uint64_t m = n - k < step ? n - k : step;
        switch (t->type) {
        case MKV_GGML_F32: gen_f32(&d, k, m, (float *)(out + 4 * k)); break; /* dst is malloc'd: aligned */
        case MKV_GGML_F16: gen_f16(&d, s->tab, k, m, out + 2 * k); break;
        default:
            for (uint64_t c = 0; c < m; c += QCHUNK) {
                uint64_t cm = m - c < QCHUNK ? m - c : QCHUNK;
                gen_f32(&d, k + c, cm, s->chunk);
                TRY(mkv_quantize(t->type, s->chunk, cm, out + mkv_ggml_nbytes(t->type, k + c), err));
            }
        }
        mkv_progress_add(&s->prog, mkv_ggml_nbytes(t->type, m));
    }
    (void)name;
    (void)nbytes;
    return MKV_OK;
}

/* ---- files --------------------------------------------------------------- */

/* 32 bytes binding bank and model, from the seed and the shape (so two
 * shapes made with one seed do not bind to each other's banks). */
static void fingerprint(const mkv_synth_opts *o, uint8_t fp[32])
{
    const mkv_synth_shape *sh = &o->shape;
    uint64_t key = hash_str(o->seed, "meki.bank_fingerprint");
    key = mix64(key ^ ((uint64_t)sh->n_layer << 48 ^ (uint64_t)sh->d_mem << 32 ^ sh->n_vocab));
    key = mix64(key ^ ((uint64_t)sh->d_model << 32 ^ o->bank_dtype));
    for (int i = 0; i < 4; i++) {
        uint64_t r = mix64(key + (uint64_t)(i + 1) * GOLDEN);
        for (int b = 0; b < 8; b++) fp[8 * i + b] = (uint8_t)(r >> (8 * b));
    }
}

/* llama.cpp's general.file_type (llama_ftype) of a wtype. */
static uint32_t file_type(uint32_t wtype) { return wtypes[wtype_index(wtype)].ftype; }

static mkv_status check_opts(const mkv_synth_opts *o, mkv_error *err)
{
    const mkv_synth_shape *sh = &o->shape;
    const char *nm = sh->name ? sh->name : "custom";
    if (!sh->n_layer || !sh->d_model || !sh->n_head || !sh->n_kv_head || !sh->head_dim || !sh->d_ffn ||
        !sh->n_vocab || (!o->dense && !sh->d_mem))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "synth: shape = %s: every dimension must be > 0", nm);
    if (sh->n_head % sh->n_kv_head || sh->head_dim % 2 || (!o->dense && sh->d_mem % 4))
        return mkv_fail(err, MKV_ERR_INVALID_ARG,
                        "synth: shape = %s: needs n_head %% n_kv_head == 0, even head_dim, d_mem %% 4 == 0", nm);
    if (wtype_index(o->wtype) < 0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG,
                        "synth: wtype = %s (%u): not F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, "
                        "Q4_K_M or Q5_K_M", mkv_synth_wtype_name(o->wtype), o->wtype);
    if (o->pure && is_preset(o->wtype))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "synth: wtype = %s: a mix of types, cannot be pure",
                        mkv_synth_wtype_name(o->wtype));
    if (!o->arch || (strcmp(o->arch, "qwen3") && strcmp(o->arch, "qwen2") && strcmp(o->arch, "llama")))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "synth: arch = %s: not qwen3, qwen2 or llama",
                        o->arch ? o->arch : "(null)");
    if (o->bank_dtype != MKV_BANK_F16 && o->bank_dtype != MKV_BANK_Q8)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "synth: bank_dtype = %u: not F16 (1) or Q8 (2)", o->bank_dtype);
    if (!o->out_dir || !o->out_dir[0]) return mkv_fail(err, MKV_ERR_INVALID_ARG, "synth: out_dir: missing");
    return MKV_OK;
}

/* Declares the model's keys and tensors in a writer. */
/* The tokenizer keys: o->tokenizer's (with tokenizer_config.json from the
 * same folder, if there is one), or the placeholder vocabulary. */
static mkv_status write_tokenizer(const mkv_synth_opts *o, mkv_gguf_writer *w, mkv_error *err)
{
    mkv_tok_keys k;
    mkv_status st;
    if (o->tokenizer) {
        char cfg[4096];
        const char *slash = strrchr(o->tokenizer, '/');
        int dir = slash ? (int)(slash - o->tokenizer) : 1;
        snprintf(cfg, sizeof cfg, "%.*s/tokenizer_config.json", dir, slash ? o->tokenizer : ".");
        st = mkv_tok_keys_from_hf(o->tokenizer, cfg, o->shape.n_vocab, &k, err);
    } else {
        st = mkv_tok_keys_placeholder(o->shape.n_vocab, &k, err);
    }
    if (st != MKV_OK) return st;
    st = mkv_tok_keys_write(&k, w, err);
    mkv_tok_keys_free(&k);
    return st;
}

static mkv_status build_writer(synth *s, mkv_gguf_writer **out, mkv_error *err)
{
    const mkv_synth_opts *o = s->o;
    const mkv_synth_shape *sh = &o->shape;
    mkv_gguf_writer *w = NULL;
    mkv_status st;
    *out = NULL;
    if ((st = mkv_gguf_writer_create(&w, err)) != MKV_OK) return st;
    char name[96];
    snprintf(name, sizeof name, "mekivk synth %s%s", sh->name ? sh->name : "custom", o->dense ? " dense" : "");
    uint8_t fp[32];
    fingerprint(o, fp);
    char key[96];
#define AK(sfx) (snprintf(key, sizeof key, "%s.%s", o->arch, sfx), key) /* <arch>.<sfx> */
    st = mkv_gguf_set_str(w, "general.architecture", o->arch);
    if (!st) st = mkv_gguf_set_str(w, "general.name", name);
    if (!st) st = mkv_gguf_set_u32(w, "general.file_type", file_type(o->wtype));
    if (!st) st = mkv_gguf_set_u32(w, AK("block_count"), sh->n_layer);
    if (!st) st = mkv_gguf_set_u32(w, AK("context_length"), 32768);
    if (!st) st = mkv_gguf_set_u32(w, AK("embedding_length"), sh->d_model);
    if (!st) st = mkv_gguf_set_u32(w, AK("feed_forward_length"), sh->d_ffn);
    if (!st) st = mkv_gguf_set_u32(w, AK("attention.head_count"), sh->n_head);
    if (!st) st = mkv_gguf_set_u32(w, AK("attention.head_count_kv"), sh->n_kv_head);
    if (!st) st = mkv_gguf_set_u32(w, AK("attention.key_length"), sh->head_dim);
    if (!st) st = mkv_gguf_set_u32(w, AK("attention.value_length"), sh->head_dim);
    if (!st) st = mkv_gguf_set_u32(w, AK("rope.dimension_count"), sh->head_dim);
    if (!st) st = mkv_gguf_set_f32(w, AK("rope.freq_base"), sh->rope_theta);
    if (!st) st = mkv_gguf_set_f32(w, AK("attention.layer_norm_rms_epsilon"), sh->norm_eps);
#undef AK
    if (!st) st = mkv_gguf_set_scalar(w, "meki.synth.seed", MKV_GGUF_U64, &o->seed);
    if (!st && !o->dense) st = mkv_gguf_set_u32(w, "meki.dim", sh->d_mem);
    if (!st && !o->dense) st = mkv_gguf_set_u8_array(w, "meki.bank_fingerprint", fp, 32);
    if (!st && !o->dense && o->gate_input) st = mkv_gguf_set_str(w, "meki.gate_input", o->gate_input);
    if (st) {
        st = mkv_fail(err, st, "synth: metadata: %s", mkv_status_desc(st));
        goto out;
    }
    if ((st = write_tokenizer(o, w, err)) != MKV_OK) goto out;
    for (uint32_t i = 0; i < s->n_t; i++) {
        const tplan *t = &s->t[i];
        uint64_t ne[4] = {t->ne0, t->ne1 ? t->ne1 : 1, 1, 1};
        if ((st = mkv_gguf_add_tensor(w, t->name, t->ne1 ? 2 : 1, ne, t->type)) != MKV_OK) {
            st = mkv_fail(err, st, "synth: tensor '%s' ne[0] = %" PRIu64 ": cannot be stored as %s", t->name, t->ne0,
                          mkv_ggml_type_name(t->type));
            goto out;
        }
    }
out:
    if (st != MKV_OK) {
        mkv_gguf_writer_free(w);
        return st;
    }
    *out = w;
    return MKV_OK;
}

static mkv_status bank_header(const mkv_synth_opts *o, mkv_bank_header *h, mkv_error *err)
{
    uint8_t fp[32];
    fingerprint(o, fp);
    const mkv_synth_shape *sh = &o->shape;
    return mkv_bank_header_init(h, o->bank_dtype, sh->n_layer, sh->n_vocab, sh->d_mem, 4096, MKV_BANK_FLAG_SLAB_CRC,
                                fp, err);
}

static mkv_status write_bank(const mkv_synth_opts *o, f16_table *tab, const char *path, mkv_atomic_file *staged,
                             mkv_error *err)
{
    mkv_status st;
    mkv_bank_header h;
    mkv_bank_writer *bw = NULL;
    uint8_t *rows = NULL;
    float *x = NULL;
    if ((st = bank_header(o, &h, err)) != MKV_OK) return st;
    const uint32_t nl = h.n_layer, dmem = h.d_mem;
    rows = malloc((size_t)nl * h.row_bytes);
    x = malloc((size_t)dmem * sizeof *x);
    if (!rows || !x) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    if ((st = mkv_bank_writer_open_staged(path, &h, staged, &bw, err)) != MKV_OK) goto out;
    mkv_progress prog;
    mkv_progress_start(&prog, o->progress, "bank.mkb", h.n_vocab);
    /* bank value (t, l, j) is element (t·n_layer + l)·d_mem + j of one stream */
    dist d = {.key = hash_str(o->seed, "meki.bank"), .scale = sqrtf(3.0f)};
    for (uint32_t t = 0; t < h.n_vocab; t++) {
        for (uint32_t l = 0; l < nl; l++) {
            uint64_t k = ((uint64_t)t * nl + l) * dmem;
            uint8_t *row = rows + (size_t)l * h.row_bytes;
            if (h.dtype == MKV_BANK_F16) {
                gen_f16(&d, tab, k, dmem, row);
            } else {
                gen_f32(&d, k, dmem, x);
                mkv_bank_encode_row(h.dtype, dmem, x, row);
            }
        }
        if ((st = mkv_bank_writer_put(bw, t, rows, err)) != MKV_OK) goto out;
        mkv_progress_add(&prog, 1);
    }
out:
    if (bw) {
        mkv_error e2;
        mkv_status cst = mkv_bank_writer_close(bw, st == MKV_OK ? err : &e2);
        if (st == MKV_OK) st = cst;
    }
    free(rows);
    free(x);
    return st;
}

/* mkdir -p */
static mkv_status make_dirs(const char *dir, mkv_error *err)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof buf) return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: path too long", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return mkv_fail(err, MKV_ERR_IO, "%s: mkdir: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mkv_fail(err, MKV_ERR_IO, "%s: not a directory", dir);
    return MKV_OK;
}

static mkv_status join(char *out, size_t cap, const char *dir, const char *file, mkv_error *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, file) >= cap)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: path too long", dir);
    return MKV_OK;
}

mkv_status mkv_synth_file_sizes(const mkv_synth_opts *opts, uint64_t *model_bytes, uint64_t *bank_bytes,
                                mkv_error *err)
{
    mkv_status st;
    synth s = {.o = opts};
    mkv_gguf_writer *w = NULL;
    if ((st = check_opts(opts, err)) != MKV_OK) return st;
    if ((st = plan_tensors(&s, err)) != MKV_OK) goto out;
    if ((st = build_writer(&s, &w, err)) != MKV_OK) goto out;
    *model_bytes = mkv_gguf_writer_size(w);
    *bank_bytes = 0;
    if (!opts->dense) {
        mkv_bank_header h;
        if ((st = bank_header(opts, &h, err)) != MKV_OK) goto out;
        *bank_bytes = h.data_offset + (uint64_t)h.n_vocab * h.slab_bytes;
    }
out:
    mkv_gguf_writer_free(w);
    free(s.t);
    return st;
}

mkv_status mkv_synth_fallbacks(const mkv_synth_opts *opts, uint32_t *n, mkv_error *err)
{
    mkv_status st;
    synth s = {.o = opts};
    TRY(check_opts(opts, err));
    st = plan_tensors(&s, err);
    *n = s.n_fallback;
    free(s.t);
    return st;
}

mkv_status mkv_synth_write(const mkv_synth_opts *opts, mkv_error *err)
{
    mkv_status st;
    synth s = {.o = opts};
    mkv_gguf_writer *w = NULL;
    char path[PATH_MAX];
    /* both files complete under temporary names, then bank and model renamed into place */
    mkv_atomic_file model_f = MKV_ATOMIC_FILE_INIT, bank_f = MKV_ATOMIC_FILE_INIT;
    if ((st = check_opts(opts, err)) != MKV_OK) return st;
    if ((st = make_dirs(opts->out_dir, err)) != MKV_OK) return st;
    if ((st = plan_tensors(&s, err)) != MKV_OK) goto out;
    if ((st = build_writer(&s, &w, err)) != MKV_OK) goto out;
    s.chunk = malloc(QCHUNK * sizeof *s.chunk);
    s.tab = calloc(1, sizeof *s.tab);
    if (!s.chunk || !s.tab) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "synth: out of memory");
        goto out;
    }
    if ((st = join(path, sizeof path, opts->out_dir, "model.gguf", err)) != MKV_OK) goto out;
    uint64_t tensor_bytes = 0;
    for (uint32_t i = 0; i < s.n_t; i++)
        tensor_bytes += mkv_ggml_nbytes(s.t[i].type, s.t[i].ne0 * (s.t[i].ne1 ? s.t[i].ne1 : 1));
    mkv_progress_start(&s.prog, opts->progress, "model.gguf", tensor_bytes);
    if ((st = mkv_gguf_writer_write_staged(w, path, fill_tensor, &s, &model_f, err)) != MKV_OK) goto out;
    if (!opts->dense) {
        if ((st = join(path, sizeof path, opts->out_dir, "bank.mkb", err)) != MKV_OK) goto out;
        if ((st = write_bank(opts, s.tab, path, &bank_f, err)) != MKV_OK) goto out;
    }
    st = mkv_atomic_publish_all((mkv_atomic_file *[]){&bank_f, &model_f}, 2, err); /* bank_f idle if dense */
out:
    mkv_atomic_abort(&bank_f); /* after a failure: neither file changes */
    mkv_atomic_abort(&model_f);
    mkv_gguf_writer_free(w);
    free(s.t);
    free(s.chunk);
    free(s.tab);
    return st;
}
