/* Independent writer of GGUF models and .mkb banks (see indep_writer.h).
 * Written from DESIGN §5-§6 and the GGUF spec only: its own byte emitter,
 * f16 conversion, random numbers and bitwise CRC-32C; nothing from
 * hosttools/ or bank/. Where the formats allow a choice it takes the other
 * one: keys in another order with extra metadata of every value type,
 * tensor infos in another order than synth's and tensor data in yet another
 * (reverse) order, a caller-chosen alignment, F32 norms.
 * Architecture: qwen3 when opts->qk_norm, else qwen2 (no q/k norm). */
#include "indep_writer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- little helpers -------------------------------------------------------- */

typedef struct out {
    FILE *f;
    const char *path;
    int failed;
} out;

static void emit(out *o, const void *p, size_t n)
{
    if (!o->failed && n && fwrite(p, 1, n, o->f) != n) o->failed = errno ? errno : EIO;
}

static void emit_uint(out *o, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    emit(o, b, (size_t)bytes);
}

static void emit_zeros(out *o, uint64_t n)
{
    static const uint8_t z[256];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        emit(o, z, k);
        n -= k;
    }
}

static void emit_string(out *o, const char *s)
{
    emit_uint(o, strlen(s), 8);
    emit(o, s, strlen(s));
}

/* f16 by way of frexp-free bit manipulation; truncation of the extra bits
 * with round-half-up is enough here (any f16 bit pattern is a valid file). */
static uint16_t to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    int e = (int)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (e >= 31) return sign | 0x7c00u;
    if (e <= 0) { /* subnormal half, or zero */
        if (e < -10) return sign;
        m |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        return (uint16_t)(sign | ((m + (1u << (shift - 1))) >> shift));
    }
    uint32_t h = ((uint32_t)e << 10) | (m >> 13);
    h += (m >> 12) & 1u; /* round half up; may carry into the exponent, which is right */
    return (uint16_t)(sign | h);
}

static float from_half(uint16_t h)
{
    int e = (h >> 10) & 0x1f;
    float m = (float)(h & 0x3ff);
    float v = e == 0 ? ldexpf(m, -24) : ldexpf(1024.0f + m, e - 25);
    return (h & 0x8000u) ? -v : v;
}

/* xorshift64* per tensor, seeded from (seed, name) by a different hash than synth. */
static uint64_t rng_seed(uint64_t seed, const char *name)
{
    uint64_t h = seed * 0x2545f4914f6cdd1dull + 0x1234567ull;
    for (; *name; name++) h = (h ^ (uint8_t)*name) * 0x9e3779b97f4a7c15ull + (h >> 29);
    return h ? h : 1;
}

static float rng_uniform(uint64_t *s) /* [-1, 1) */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    uint64_t r = *s * 0x2545f4914f6cdd1dull;
    return (float)((double)(r >> 11) * (1.0 / 4503599627370496.0) - 1.0);
}

/* Bitwise CRC-32C, the textbook way. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

/* ---- tensors ------------------------------------------------------------- */

enum { T_F32 = 0, T_F16 = 1 };
enum { K_MAT, K_EMB, K_NORM, K_MNORM };

typedef struct tens {
    char name[64];
    uint64_t ne0, ne1; /* ne1 0: vector */
    int type, kind;
    uint64_t offset;
} tens;

static uint64_t tens_bytes(const tens *t) { return t->ne0 * (t->ne1 ? t->ne1 : 1) * (t->type == T_F16 ? 2 : 4); }

static void add(tens *ts, int *n, const char *name, uint64_t ne0, uint64_t ne1, int kind, int mat_type)
{
    tens *t = &ts[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->kind = kind;
    t->type = ne1 ? mat_type : T_F32;
}

static void emit_tensor_data(out *o, const tens *t, uint64_t seed)
{
    uint64_t s = rng_seed(seed, t->name);
    uint64_t n = t->ne0 * (t->ne1 ? t->ne1 : 1);
    float off = 0.0f, sc;
    switch (t->kind) {
    case K_MAT: sc = sqrtf(3.0f / (float)t->ne0); break;
    case K_EMB: sc = sqrtf(3.0f); break;
    case K_NORM: off = 1.0f; sc = 0.1f; break;
    default: off = 0.5f; sc = 0.05f; break;
    }
    for (uint64_t i = 0; i < n; i++) {
        float v = off + sc * rng_uniform(&s);
        if (t->type == T_F16) emit_uint(o, to_half(v), 2);
        else {
            uint32_t b;
            memcpy(&b, &v, 4);
            emit_uint(o, b, 4);
        }
    }
}

/* ---- metadata ---------------------------------------------------------------- */

static void kv_head(out *o, const char *key, uint32_t type)
{
    emit_string(o, key);
    emit_uint(o, type, 4);
}

static void kv_u32(out *o, const char *key, uint32_t v) { kv_head(o, key, 4); emit_uint(o, v, 4); }

static void kv_f32(out *o, const char *key, float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    kv_head(o, key, 6);
    emit_uint(o, b, 4);
}

static void kv_str(out *o, const char *key, const char *v) { kv_head(o, key, 8); emit_string(o, v); }

static void fingerprint(uint64_t seed, uint8_t fp[32])
{
    uint64_t s = rng_seed(seed, "fingerprint");
    for (int i = 0; i < 32; i++) fp[i] = (uint8_t)((rng_uniform(&s) + 1.0f) * 127.9f);
}

/* The tokenizer's keys; returns how many were written. */
static int emit_tokenizer_kvs(out *o, const iw_tokenizer *tk)
{
    int n = 0;
    if (tk->chat_template) { kv_str(o, "tokenizer.chat_template", tk->chat_template); n++; }
    const int64_t ids[3] = {tk->eos, tk->bos, tk->pad};
    const char *const id_keys[3] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.bos_token_id",
                                    "tokenizer.ggml.padding_token_id"};
    for (int i = 0; i < 3; i++)
        if (ids[i] >= 0) { kv_u32(o, id_keys[i], (uint32_t)ids[i]); n++; }
    if (tk->add_bos >= 0) {
        kv_head(o, "tokenizer.ggml.add_bos_token", 7);
        emit_uint(o, tk->add_bos ? 1 : 0, 1);
        n++;
    }
    kv_head(o, "tokenizer.ggml.merges", 9);
    emit_uint(o, 8, 4);
    emit_uint(o, tk->n_merges, 8);
    for (uint64_t i = 0; i < tk->n_merges; i++) emit_string(o, tk->merges[i]);
    n++;
    kv_head(o, "tokenizer.ggml.token_type", 9);
    emit_uint(o, 5, 4);
    emit_uint(o, tk->n_tokens, 8);
    for (uint32_t i = 0; i < tk->n_tokens; i++) emit_uint(o, (uint32_t)tk->token_types[i], 4);
    n++;
    kv_head(o, "tokenizer.ggml.tokens", 9);
    emit_uint(o, 8, 4);
    emit_uint(o, tk->n_tokens, 8);
    for (uint32_t i = 0; i < tk->n_tokens; i++) emit_string(o, tk->tokens[i]);
    n++;
    kv_str(o, "tokenizer.ggml.pre", tk->pre); n++;
    kv_str(o, "tokenizer.ggml.model", tk->model); n++;
    return n;
}

/* Extra keys of every value type, which a loader must parse and skip; the
 * tokenizer's keys, or stand-in token arrays. */
static int emit_extra_kvs(out *o, const iw_shape *sh, const iw_tokenizer *tk)
{
    int n = 0;
    kv_head(o, "iw.u8", 0); emit_uint(o, 200, 1); n++;
    kv_head(o, "iw.i8", 1); emit_uint(o, (uint8_t)-5, 1); n++;
    kv_head(o, "iw.u16", 2); emit_uint(o, 60000, 2); n++;
    kv_head(o, "iw.i16", 3); emit_uint(o, (uint16_t)-300, 2); n++;
    kv_head(o, "iw.i32", 5); emit_uint(o, (uint32_t)-70000, 4); n++;
    kv_f32(o, "iw.f32", 3.25f); n++;
    kv_head(o, "iw.bool", 7); emit_uint(o, 1, 1); n++;
    kv_str(o, "iw.string", "independent writer"); n++;
    kv_head(o, "iw.u64", 10); emit_uint(o, 1ull << 40, 8); n++;
    kv_head(o, "iw.i64", 11); emit_uint(o, (uint64_t)-(1ll << 40), 8); n++;
    double d = -2.5;
    uint64_t db;
    memcpy(&db, &d, 8);
    kv_head(o, "iw.f64", 12); emit_uint(o, db, 8); n++;
    if (tk) return n + emit_tokenizer_kvs(o, tk);
    /* tokenizer-like arrays, one entry per token, as real files have */
    char tok[32];
    kv_head(o, "tokenizer.ggml.tokens", 9);
    emit_uint(o, 8, 4);
    emit_uint(o, sh->n_vocab, 8);
    for (uint32_t t = 0; t < sh->n_vocab; t++) {
        snprintf(tok, sizeof tok, "<tok%u>", t);
        emit_string(o, tok);
    }
    n++;
    kv_head(o, "tokenizer.ggml.token_type", 9);
    emit_uint(o, 5, 4);
    emit_uint(o, sh->n_vocab, 8);
    for (uint32_t t = 0; t < sh->n_vocab; t++) emit_uint(o, t < 3 ? 3 : 1, 4);
    n++;
    /* an array of arrays (of u16) */
    kv_head(o, "iw.nested", 9);
    emit_uint(o, 9, 4);
    emit_uint(o, 2, 8);
    for (int i = 0; i < 2; i++) {
        emit_uint(o, 2, 4);
        emit_uint(o, 3, 8);
        for (int j = 0; j < 3; j++) emit_uint(o, (uint64_t)(i * 10 + j), 2);
    }
    n++;
    kv_head(o, "iw.empty_array", 9);
    emit_uint(o, 6, 4);
    emit_uint(o, 0, 8);
    n++;
    return n;
}

/* ---- model --------------------------------------------------------------- */

static int write_model(const char *path, const iw_shape *sh, const iw_opts *op, const uint8_t fp[32])
{
    int ret = -1;
    int max_t = (int)sh->n_layer * 14 + 3, n_t = 0;
    tens *ts = calloc((size_t)max_t, sizeof *ts);
    out o = {.f = fopen(path, "wb"), .path = path};
    if (!ts || !o.f) {
        fprintf(stderr, "iw: %s: %s\n", path, strerror(errno));
        goto done;
    }
    const int mt = op->f32_matrices ? T_F32 : T_F16;
    const uint64_t dm = sh->d_model, q = (uint64_t)sh->n_head * sh->head_dim,
                   kv = (uint64_t)sh->n_kv_head * sh->head_dim, ff = sh->d_ffn, dmem = sh->d_mem;
    char nm[64];
    /* infos: head first, layers last to first, each layer back to front */
    add(ts, &n_t, "output_norm.weight", dm, 0, K_NORM, mt);
    if (!op->tied) add(ts, &n_t, "output.weight", dm, sh->n_vocab, K_MAT, mt);
    for (int l = (int)sh->n_layer - 1; l >= 0; l--) {
#define T(sfx, a, b, k) (snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, sfx), add(ts, &n_t, nm, a, b, k, mt))
        if (op->meki) {
            T("meki_norm", dm, 0, K_MNORM);
            T("meki_out", dmem, dm, K_MAT);
            T("meki_gate", dm, dmem, K_MAT);
        }
        T("ffn_down", ff, dm, K_MAT);
        T("ffn_up", dm, ff, K_MAT);
        T("ffn_gate", dm, ff, K_MAT);
        T("ffn_norm", dm, 0, K_NORM);
        if (op->qk_norm) {
            T("attn_k_norm", sh->head_dim, 0, K_NORM);
            T("attn_q_norm", sh->head_dim, 0, K_NORM);
        }
        T("attn_output", q, dm, K_MAT);
        T("attn_v", dm, kv, K_MAT);
        T("attn_k", dm, kv, K_MAT);
        T("attn_q", dm, q, K_MAT);
        T("attn_norm", dm, 0, K_NORM);
#undef T
    }
    add(ts, &n_t, "token_embd.weight", dm, sh->n_vocab, K_EMB, mt);

    /* data placed in reverse order of the infos */
    const uint64_t al = op->alignment;
    uint64_t off = 0;
    for (int i = n_t - 1; i >= 0; i--) {
        ts[i].offset = off;
        off = (off + tens_bytes(&ts[i]) + al - 1) / al * al;
    }

    const char *arch = op->qk_norm ? "qwen3" : "qwen2";
    char key[96];
#define AK(sfx) (snprintf(key, sizeof key, "%s.%s", arch, sfx), key)
    /* header; n_kv is patched once the keys are written */
    emit(&o, "GGUF", 4);
    emit_uint(&o, 3, 4);
    emit_uint(&o, (uint64_t)n_t, 8);
    long n_kv_pos = ftell(o.f);
    emit_uint(&o, 0, 8);
    int n_kv = emit_extra_kvs(&o, sh, op->tokenizer);
    kv_f32(&o, AK("attention.layer_norm_rms_epsilon"), sh->norm_eps); n_kv++;
    kv_f32(&o, AK("rope.freq_base"), sh->rope_theta); n_kv++;
    kv_u32(&o, AK("attention.head_count_kv"), sh->n_kv_head); n_kv++;
    kv_u32(&o, AK("attention.head_count"), sh->n_head); n_kv++;
    if (op->meki) {
        kv_head(&o, "meki.bank_fingerprint", 9);
        emit_uint(&o, 0, 4);
        emit_uint(&o, 32, 8);
        emit(&o, fp, 32);
        n_kv++;
    }
    kv_u32(&o, AK("feed_forward_length"), sh->d_ffn); n_kv++;
    kv_str(&o, "general.architecture", arch); n_kv++;
    kv_u32(&o, AK("attention.key_length"), sh->head_dim); n_kv++;
    kv_u32(&o, AK("embedding_length"), sh->d_model); n_kv++;
    if (op->meki) { kv_u32(&o, "meki.dim", sh->d_mem); n_kv++; }
    kv_u32(&o, AK("block_count"), sh->n_layer); n_kv++;
    kv_u32(&o, "general.alignment", op->alignment); n_kv++;
#undef AK
    for (int i = 0; i < n_t; i++) {
        emit_string(&o, ts[i].name);
        emit_uint(&o, ts[i].ne1 ? 2 : 1, 4);
        emit_uint(&o, ts[i].ne0, 8);
        if (ts[i].ne1) emit_uint(&o, ts[i].ne1, 8);
        emit_uint(&o, (uint64_t)ts[i].type, 4);
        emit_uint(&o, ts[i].offset, 8);
    }
    long pos = ftell(o.f);
    if (pos < 0) o.failed = errno;
    emit_zeros(&o, (al - (uint64_t)pos % al) % al);
    for (int i = n_t - 1; i >= 0; i--) {
        emit_tensor_data(&o, &ts[i], op->seed);
        uint64_t b = tens_bytes(&ts[i]);
        emit_zeros(&o, (al - b % al) % al);
    }
    if (!o.failed && fseek(o.f, n_kv_pos, SEEK_SET) != 0) o.failed = errno;
    emit_uint(&o, (uint64_t)n_kv, 8);
    if (o.failed) {
        fprintf(stderr, "iw: %s: write: %s\n", path, strerror(o.failed));
        goto done;
    }
    ret = 0;
done:
    if (o.f && fclose(o.f) != 0 && ret == 0) {
        fprintf(stderr, "iw: %s: close: %s\n", path, strerror(errno));
        ret = -1;
    }
    free(ts);
    return ret;
}

/* ---- bank ---------------------------------------------------------------- */

static void put32(uint8_t *b, uint32_t v) { for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i)); }

static int write_bank(const char *path, const iw_shape *sh, const iw_opts *op, const uint8_t fp[32])
{
    int ret = -1;
    const uint32_t row = op->bank_dtype == 1 ? 2 * sh->d_mem : 4 + sh->d_mem;
    const uint64_t al = op->bank_align;
    const uint64_t slab = ((uint64_t)sh->n_layer * row + 4 + al - 1) / al * al;
    const uint64_t data_off = al > 4096 ? al : 4096;
    uint8_t *hdr = calloc(1, 4096), *sb = calloc(1, (size_t)slab);
    float *x = malloc(sh->d_mem * sizeof *x);
    out o = {.f = fopen(path, "wb"), .path = path};
    if (!hdr || !sb || !x || !o.f) {
        fprintf(stderr, "iw: %s: %s\n", path, strerror(errno));
        goto done;
    }
    memcpy(hdr, "MEKIBANK", 8);
    put32(hdr + 8, 1);
    put32(hdr + 12, op->bank_dtype);
    put32(hdr + 16, sh->n_layer);
    put32(hdr + 20, sh->n_vocab);
    put32(hdr + 24, sh->d_mem);
    put32(hdr + 28, row);
    put32(hdr + 32, (uint32_t)slab);
    put32(hdr + 36, op->bank_align);
    put32(hdr + 40, (uint32_t)data_off);
    put32(hdr + 44, (uint32_t)(data_off >> 32));
    memcpy(hdr + 48, fp, 32);
    put32(hdr + 80, op->bank_crc ? 1 : 0);
    put32(hdr + 4092, crc32c_bitwise(0, hdr, 4092));
    emit(&o, hdr, 4096);
    emit_zeros(&o, data_off - 4096);

    uint64_t s = rng_seed(op->seed, "bank");
    for (uint32_t t = 0; t < sh->n_vocab; t++) {
        memset(sb, 0, (size_t)slab);
        for (uint32_t l = 0; l < sh->n_layer; l++) {
            uint8_t *r = sb + (size_t)l * row;
            for (uint32_t j = 0; j < sh->d_mem; j++) x[j] = 1.7320508f * rng_uniform(&s); /* std 1 */
            if (op->bank_dtype == 1) {
                for (uint32_t j = 0; j < sh->d_mem; j++) {
                    uint16_t h = to_half(x[j]);
                    r[2 * j] = (uint8_t)h;
                    r[2 * j + 1] = (uint8_t)(h >> 8);
                }
            } else {
                float amax = 0.0f;
                for (uint32_t j = 0; j < sh->d_mem; j++) amax = fmaxf(amax, fabsf(x[j]));
                uint16_t hs = to_half(amax / 127.0f);
                float sc = from_half(hs);
                r[0] = (uint8_t)hs;
                r[1] = (uint8_t)(hs >> 8);
                for (uint32_t j = 0; j < sh->d_mem; j++) {
                    float qf = sc > 0.0f ? roundf(x[j] / sc) : 0.0f;
                    qf = fminf(127.0f, fmaxf(-127.0f, qf));
                    r[4 + j] = (uint8_t)(int8_t)qf;
                }
            }
        }
        if (op->bank_crc) {
            uint64_t n = (uint64_t)sh->n_layer * row;
            put32(sb + n, crc32c_bitwise(0, sb, (size_t)n));
        }
        emit(&o, sb, (size_t)slab);
    }
    if (o.failed) {
        fprintf(stderr, "iw: %s: write: %s\n", path, strerror(o.failed));
        goto done;
    }
    ret = 0;
done:
    if (o.f && fclose(o.f) != 0 && ret == 0) {
        fprintf(stderr, "iw: %s: close: %s\n", path, strerror(errno));
        ret = -1;
    }
    free(hdr);
    free(sb);
    free(x);
    return ret;
}

int iw_write_tokenizer(const char *path, const iw_tokenizer *tk)
{
    out o = {.f = fopen(path, "wb"), .path = path};
    if (!o.f) {
        fprintf(stderr, "iw: %s: %s\n", path, strerror(errno));
        return -1;
    }
    const uint32_t al = 64;
    emit(&o, "GGUF", 4);
    emit_uint(&o, 3, 4);
    emit_uint(&o, 0, 8); /* no tensors */
    long n_kv_pos = ftell(o.f);
    emit_uint(&o, 0, 8);
    int n_kv = emit_tokenizer_kvs(&o, tk);
    kv_head(&o, "iw.u64", 10); emit_uint(&o, 1ull << 40, 8); n_kv++;
    kv_str(&o, "general.architecture", "qwen3"); n_kv++;
    kv_u32(&o, "general.alignment", al); n_kv++;
    long pos = ftell(o.f);
    if (pos < 0) o.failed = errno;
    emit_zeros(&o, (al - (uint64_t)pos % al) % al); /* the (empty) data section starts aligned */
    if (!o.failed && fseek(o.f, n_kv_pos, SEEK_SET) != 0) o.failed = errno;
    emit_uint(&o, (uint64_t)n_kv, 8);
    int ret = 0;
    if (o.failed) {
        fprintf(stderr, "iw: %s: write: %s\n", path, strerror(o.failed));
        ret = -1;
    }
    if (fclose(o.f) != 0 && ret == 0) {
        fprintf(stderr, "iw: %s: close: %s\n", path, strerror(errno));
        ret = -1;
    }
    return ret;
}

int iw_write(const char *model_path, const char *bank_path, const iw_shape *shape, const iw_opts *opts)
{
    uint32_t a = opts->alignment;
    if (a == 0 || (a & (a - 1)) || (opts->meki && (opts->bank_dtype < 1 || opts->bank_dtype > 2))) {
        fprintf(stderr, "iw: bad options (alignment %u, bank dtype %u)\n", a, opts->bank_dtype);
        return -1;
    }
    uint8_t fp[32];
    fingerprint(opts->seed, fp);
    if (write_model(model_path, shape, opts, fp) != 0) return -1;
    if (opts->meki && write_bank(bank_path, shape, opts, fp) != 0) return -1;
    return 0;
}
