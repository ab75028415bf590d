/* GGUF -> device weights. Matrices become padded f16, vectors f32; q, k
 * and v are fused into one matrix so a single product serves them. There
 * are no quantized kernels yet: F32, BF16, Q8_0 and Q4_0 matrices are
 * converted to f32 (exactly: ggml's block formats multiply an f16 scale by
 * a small integer) and rounded once to f16, which the CPU reference mirrors.
 * The GGUF mapping is released after upload. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "half.h"

/* Types counted for the one line that says what was converted at load. */
static const uint32_t converted_types[] = {MKV_GGML_Q8_0, MKV_GGML_Q4_0, MKV_GGML_BF16};
#define N_CONVERTED (sizeof converted_types / sizeof converted_types[0])

typedef struct upload_ctx {
    mkv_model *m;
    const mkv_model_desc *desc;
    float *row;                      /* one row of the widest matrix, as f32 */
    uint32_t n_converted[N_CONVERTED]; /* tensors of each converted type */
} upload_ctx;

/* Fills rows of a matrix built by stacking row ranges of up to three GGUF
 * tensors; a NULL tensor stands for zero rows. */
typedef struct stack_src {
    upload_ctx *u;
    const mkv_gguf_tensor *t[3];
    uint64_t first[3], count[3]; /* rows [first, first + count) of t */
    uint32_t n;
    uint32_t ld;
} stack_src;

static mkv_status fill_stacked(void *user, uint32_t row0, uint32_t n, uint16_t *dst, mkv_error *err)
{
    const stack_src *s = user;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t row = (uint64_t)row0 + i;
        uint32_t k = 0;
        while (k < s->n && row >= s->count[k]) row -= s->count[k++];
        if (k == s->n) return mkv_fail(err, MKV_ERR_INVALID_ARG, "matrix fill: row %u out of range", row0 + i);
        const mkv_gguf_tensor *t = s->t[k];
        uint16_t *out = dst + (size_t)i * s->ld;
        if (!t) { memset(out, 0, (size_t)s->ld * 2); continue; } /* a zero row */
        uint64_t cols = t->ne[0];
        row += s->first[k];
        if (t->type == MKV_GGML_F16) {
            memcpy(out, (const uint8_t *)t->data + row * cols * 2, cols * 2);
            continue;
        }
        /* every other matrix type model_desc admits: via f32, rounded once */
        mkv_status st = mkv_gguf_rows_to_f32(s->u->desc->gguf, t, row, 1, s->u->row, err);
        if (st) return st;
        for (uint64_t c = 0; c < cols; c++) out[c] = mkv_float_to_half(s->u->row[c]);
    }
    return MKV_OK;
}

static mkv_status upload_stack(upload_ctx *u, const char *name, stack_src *s, mkv_matrix *out, mkv_error *err)
{
    uint64_t rows = 0, cols = s->t[0]->ne[0];
    s->u = u;
    s->ld = mkv_matrix_ld((uint32_t)cols);
    for (uint32_t k = 0; k < s->n; k++) {
        rows += s->count[k];
        if (!s->t[k]) continue;
        for (size_t i = 0; i < N_CONVERTED; i++) u->n_converted[i] += s->t[k]->type == converted_types[i];
    }
    return mkv_matrix_create(u->m->d, name, (uint32_t)rows, (uint32_t)cols, fill_stacked, s, out, err);
}

/* Whole tensors a, b, c (b and c may be NULL) one under the other. */
static mkv_status upload_matrix(upload_ctx *u, const char *name, const mkv_gguf_tensor *a, const mkv_gguf_tensor *b,
                                const mkv_gguf_tensor *c, mkv_matrix *out, mkv_error *err)
{
    stack_src s = {.t = {a, b, c}, .n = c ? 3 : (b ? 2 : 1)};
    for (uint32_t k = 0; k < s.n; k++) s.count[k] = s.t[k]->ne[1];
    return upload_stack(u, name, &s, out, err);
}

/* W_gate (or W_up) with rows [first, first + count) of W_mg under it, and a
 * zero row after them when pad. */
static mkv_status upload_ffn_meki(upload_ctx *u, const mkv_gguf_tensor *w, const mkv_gguf_tensor *w_mg, uint64_t first,
                                  uint64_t count, bool pad, mkv_matrix *out, mkv_error *err)
{
    stack_src s = {.t = {w, w_mg, NULL}, .first = {0, first, 0}, .count = {w->ne[1], count, pad}, .n = 3};
    return upload_stack(u, w->name, &s, out, err);
}

/* Fills rows of a small matrix's transpose from the whole matrix, held as
 * f32 (every source type converts exactly; rounded once to f16 here). */
typedef struct transpose_src {
    const float *a; /* source: ne1 rows of ne0 */
    uint32_t ne0, ne1, ld;
} transpose_src;

static mkv_status fill_transposed(void *user, uint32_t row0, uint32_t n, uint16_t *dst, mkv_error *err)
{
    (void)err;
    const transpose_src *s = user;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t c = 0; c < s->ne1; c++)
            dst[(size_t)i * s->ld + c] = mkv_float_to_half(s->a[(size_t)c * s->ne0 + row0 + i]);
    return MKV_OK;
}

/* The transpose of tensor t (ne0 columns, ne1 rows) as an ne0 x ne1 matrix. */
static mkv_status upload_transposed(upload_ctx *u, const mkv_gguf_tensor *t, mkv_matrix *out, mkv_error *err)
{
    transpose_src s = {.ne0 = (uint32_t)t->ne[0], .ne1 = (uint32_t)t->ne[1], .ld = mkv_matrix_ld((uint32_t)t->ne[1])};
    float *a = malloc((size_t)s.ne0 * s.ne1 * sizeof(float));
    if (!a) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory (%u x %u floats)", t->name, s.ne1, s.ne0);
    for (size_t i = 0; i < N_CONVERTED; i++) u->n_converted[i] += t->type == converted_types[i];
    mkv_status st = mkv_gguf_tensor_to_f32(u->desc->gguf, t, a, err);
    s.a = a;
    if (!st) st = mkv_matrix_create(u->m->d, t->name, s.ne0, s.ne1, fill_transposed, &s, out, err);
    free(a);
    return st;
}

/* f32 vector of n elements, padded to a multiple of 8 with zeros, holding
 * up to three tensors one after the other (a NULL tensor of `sizes[k]`
 * elements stays zero). */
static mkv_status upload_vectors(upload_ctx *u, const mkv_gguf_tensor *const *t, const uint64_t *sizes, uint32_t n_t,
                                 mkv_buffer *out, mkv_error *err)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < n_t; k++) n += sizes[k];
    float *tmp = calloc((n + 7) & ~7ull, sizeof(float));
    if (!tmp) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", t[0] ? t[0]->name : "bias");
    mkv_status st = MKV_OK;
    for (uint32_t k = 0, at = 0; k < n_t && !st; at += (uint32_t)sizes[k], k++)
        if (t[k]) st = mkv_gguf_tensor_to_f32(u->desc->gguf, t[k], tmp + at, err);
    if (!st) st = mkv_buffer_create(u->m->d, ((n + 7) & ~7ull) * 4, MKV_MEM_DEVICE, out, err);
    if (!st) st = mkv_buffer_write(u->m->d, out, 0, tmp, n * 4, err);
    free(tmp);
    return st;
}

static mkv_status upload_vector(upload_ctx *u, const mkv_gguf_tensor *t, mkv_buffer *out, mkv_error *err)
{
    return upload_vectors(u, &t, &t->ne[0], 1, out, err);
}

static mkv_status upload_layer(upload_ctx *u, uint32_t l, mkv_error *err)
{
    const mkv_layer_desc *ld = &u->desc->layers[l];
    const mkv_model_config *c = &u->m->cfg;
    mkv_layer_weights *w = &u->m->layers[l];
    char name[64];
    mkv_status st;
    snprintf(name, sizeof name, "blk.%u.attn_qkv", l);
    TRY(upload_vector(u, ld->attn_norm, &w->attn_norm, err));
    TRY(upload_matrix(u, name, ld->wq, ld->wk, ld->wv, &w->wqkv, err));
    if (c->has_qkv_bias) {
        const mkv_gguf_tensor *b[3] = {ld->bq, ld->bk, ld->bv};
        const uint64_t n[3] = {(uint64_t)c->n_head * c->head_dim, (uint64_t)c->n_kv_head * c->head_dim,
                               (uint64_t)c->n_kv_head * c->head_dim};
        TRY(upload_vectors(u, b, n, 3, &w->qkv_bias, err));
    }
    if (ld->q_norm) {
        TRY(upload_vector(u, ld->q_norm, &w->q_norm, err));
        TRY(upload_vector(u, ld->k_norm, &w->k_norm, err));
    }
    TRY(upload_matrix(u, ld->wo->name, ld->wo, NULL, NULL, &w->wo, err));
    TRY(upload_vector(u, ld->ffn_norm, &w->ffn_norm, err));
    if (ld->meki_gate) { /* W_mg's halves under W_gate and W_up (matvec.comp says why) */
        const uint64_t n_mem = ld->meki_gate->ne[1], half = (n_mem + 1) / 2;
        TRY(upload_ffn_meki(u, ld->w_gate, ld->meki_gate, 0, half, false, &w->w_gate, err));
        TRY(upload_ffn_meki(u, ld->w_up, ld->meki_gate, half, n_mem - half, n_mem % 2 != 0, &w->w_up, err));
    } else {
        TRY(upload_matrix(u, ld->w_gate->name, ld->w_gate, NULL, NULL, &w->w_gate, err));
        TRY(upload_matrix(u, ld->w_up->name, ld->w_up, NULL, NULL, &w->w_up, err));
    }
    TRY(upload_matrix(u, ld->w_down->name, ld->w_down, NULL, NULL, &w->w_down, err));
    if (ld->meki_gate) {
        TRY(upload_transposed(u, ld->meki_out, &w->meki_out_t, err));
        TRY(upload_vector(u, ld->meki_norm, &w->meki_norm, err));
    }
#undef TRY
    return MKV_OK;
}

/* One line per model, so that a user who loads a Q8_0 file knows it runs
 * at f16 speed and memory. */
static void report_converted(const upload_ctx *u)
{
    char msg[160] = "";
    size_t k = 0;
    for (size_t i = 0; i < N_CONVERTED; i++)
        if (u->n_converted[i] && k < sizeof msg)
            k += (size_t)snprintf(msg + k, sizeof msg - k, "%s%u %s", k ? ", " : "", u->n_converted[i],
                                  mkv_ggml_type_name(converted_types[i]));
    if (k) fprintf(stderr, "mekivk: %s: %s tensors dequantized to f16 at load (no quantized kernels yet)\n",
                   u->m->path, msg);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* The bank must have been made for this model. */
static mkv_status check_bank(const mkv_model *m, const mkv_model_opts *opts, mkv_error *err)
{
    const mkv_bank_header *h = mkv_bank_info(m->bank);
    const char *bp = mkv_bank_path(m->bank);
    if (h->n_layer != m->cfg.n_layer)
        return mkv_fail(err, MKV_ERR_MISMATCH, "%s: n_layer = %u, but model %s has %u layers", bp, h->n_layer, m->path, m->cfg.n_layer);
    if (h->d_mem != m->cfg.d_mem)
        return mkv_fail(err, MKV_ERR_MISMATCH, "%s: d_mem = %u, but model %s has meki.dim = %u", bp, h->d_mem, m->path, m->cfg.d_mem);
    if (h->n_vocab != m->cfg.n_vocab)
        return mkv_fail(err, MKV_ERR_MISMATCH, "%s: n_vocab = %u, but model %s has %u tokens", bp, h->n_vocab, m->path, m->cfg.n_vocab);
    if (!opts->ignore_fingerprint && !all_zero(h->fingerprint, 32) && !all_zero(m->cfg.bank_fingerprint, 32) &&
        memcmp(h->fingerprint, m->cfg.bank_fingerprint, 32) != 0)
        return mkv_fail(err, MKV_ERR_MISMATCH, "%s: fingerprint differs from meki.bank_fingerprint of %s "
                        "(bank made for another model; override with --ignore-fingerprint)", bp, m->path);
    return MKV_OK;
}

/* Weight bytes a decode step reads in this layer: without MeKi, only the
 * first d_ffn rows of W_gate and W_up (the rest are W_mg's). */
static uint64_t layer_bytes(const mkv_layer_weights *w, uint32_t d_ffn, bool meki)
{
    uint64_t b = mkv_matrix_bytes(&w->wqkv) + mkv_matrix_bytes(&w->wo) + mkv_matrix_bytes(&w->w_down);
    if (meki) return b + mkv_matrix_bytes(&w->w_gate) + mkv_matrix_bytes(&w->w_up) + mkv_matrix_bytes(&w->meki_out_t);
    return b + 2ull * d_ffn * (w->w_gate.ld + w->w_up.ld);
}

mkv_status mkv_model_load(mkv_device *dev, const char *gguf_path, const mkv_model_opts *opts, mkv_model **out,
                          mkv_error *err)
{
    *out = NULL;
    mkv_model_opts def = {0};
    if (!opts) opts = &def;
    mkv_model_desc *desc = NULL;
    upload_ctx u = {.desc = NULL};
    mkv_status st = mkv_model_desc_load(gguf_path, &desc, err);
    if (st) return st;
    mkv_model *m = calloc(1, sizeof *m);
    if (!m) { mkv_model_desc_free(desc); return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory"); }
    m->d = dev;
    m->cfg = desc->cfg;
    snprintf(m->path, sizeof m->path, "%s", gguf_path);

    if (m->cfg.d_mem && !opts->bank_path) {
        st = mkv_fail(err, MKV_ERR_MISSING, "%s: meki.dim = %u: this MeKi model needs its bank (--bank FILE.mkb)", gguf_path, m->cfg.d_mem);
        goto fail;
    }
    if (opts->bank_path && !m->cfg.d_mem) {
        st = mkv_fail(err, MKV_ERR_MISMATCH, "%s: no meki.dim: a dense model takes no bank (%s)", gguf_path, opts->bank_path);
        goto fail;
    }
    if (opts->bank_path) {
        if ((st = mkv_bank_open(opts->bank_path, &m->bank, err))) goto fail;
        if ((st = check_bank(m, opts, err))) goto fail;
        const mkv_bank_io_mode io = !opts->bank_cold ? MKV_BANK_IO_CACHED
                                    : opts->bank_cold_dontneed ? MKV_BANK_IO_DROP_CACHE : MKV_BANK_IO_DIRECT;
        if ((st = mkv_bank_set_io_mode(m->bank, io, err))) goto fail;
    }

    m->layers = calloc(m->cfg.n_layer, sizeof *m->layers);
    uint64_t widest = desc->output->ne[0]; /* longest matrix row: the conversion scratch */
    for (uint32_t l = 0; l < m->cfg.n_layer; l++) {
        const mkv_layer_desc *L = &desc->layers[l];
        const mkv_gguf_tensor *mats[] = {L->wq, L->wo, L->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (mats[i] && mats[i]->ne[0] > widest) widest = mats[i]->ne[0];
    }
    u = (upload_ctx){.m = m, .desc = desc, .row = malloc(widest * sizeof(float))};
    if (!m->layers || !u.row) { st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory"); goto fail; }
    if ((st = upload_matrix(&u, "token_embd.weight", desc->tok_embd, NULL, NULL, &m->tok_embd, err))) goto fail;
    if (!m->cfg.tied_output && (st = upload_matrix(&u, "output.weight", desc->output, NULL, NULL, &m->output, err))) goto fail;
    if ((st = upload_vector(&u, desc->output_norm, &m->output_norm, err))) goto fail;
    for (uint32_t l = 0; l < m->cfg.n_layer; l++)
        if ((st = upload_layer(&u, l, err))) goto fail;
    report_converted(&u);
    free(u.row);
    u.row = NULL;

    uint64_t head = mkv_matrix_bytes(mkv_model_lm_head(m));
    m->bytes_dense = m->bytes_meki = head;
    for (uint32_t l = 0; l < m->cfg.n_layer; l++) {
        m->bytes_dense += layer_bytes(&m->layers[l], m->cfg.d_ffn, false);
        m->bytes_meki += layer_bytes(&m->layers[l], m->cfg.d_ffn, m->cfg.d_mem != 0);
    }
    mkv_model_desc_free(desc);
    *out = m;
    return MKV_OK;
fail:
    free(u.row);
    mkv_model_desc_free(desc);
    mkv_model_destroy(m);
    return st;
}

void mkv_model_destroy(mkv_model *m)
{
    if (!m) return;
    mkv_device *d = m->d;
    if (m->layers) {
        for (uint32_t l = 0; l < m->cfg.n_layer; l++) {
            mkv_layer_weights *w = &m->layers[l];
            mkv_buffer *v[] = {&w->attn_norm, &w->q_norm, &w->k_norm, &w->ffn_norm, &w->meki_norm, &w->qkv_bias};
            mkv_matrix *x[] = {&w->wqkv, &w->wo, &w->w_gate, &w->w_up, &w->w_down, &w->meki_out_t};
            for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) mkv_buffer_destroy(d, v[i]);
            for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) mkv_matrix_destroy(d, x[i]);
        }
        free(m->layers);
    }
    mkv_matrix_destroy(d, &m->tok_embd);
    mkv_matrix_destroy(d, &m->output);
    mkv_buffer_destroy(d, &m->output_norm);
    mkv_bank_close(m->bank);
    free(m);
}

void mkv_model_get_info(const mkv_model *m, mkv_model_info *info)
{
    memset(info, 0, sizeof *info);
    memcpy(info->arch, m->cfg.arch, sizeof info->arch);
    info->n_layer = m->cfg.n_layer;
    info->d_model = m->cfg.d_model;
    info->n_head = m->cfg.n_head;
    info->n_kv_head = m->cfg.n_kv_head;
    info->head_dim = m->cfg.head_dim;
    info->d_ffn = m->cfg.d_ffn;
    info->n_vocab = m->cfg.n_vocab;
    info->d_mem = m->cfg.d_mem;
    info->rope_theta = m->cfg.rope_theta;
    info->norm_eps = m->cfg.norm_eps;
    info->has_qk_norm = m->cfg.has_qk_norm;
    info->tied_output = m->cfg.tied_output;
    info->has_bank = m->bank != NULL;
    info->weight_bytes_dense = m->bytes_dense;
    info->weight_bytes_meki = m->bytes_meki;
}
