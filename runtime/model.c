/* GGUF -> device weights. Matrices keep their stored type (wtype.h: F16,
 * BF16 and the ggml block types are repacked row by row into the device
 * layout, bytes unchanged; F32 becomes F16), vectors become f32. q, k and v
 * are fused into one matrix, and W_mg's rows stacked under W_gate's and
 * W_up's, only where the tensors share a type (mixed-type files are
 * normal: a Q4_K_M file has Q6_K attn_v in some layers); otherwise they are
 * separate matrices with dispatches of their own. W_mo is stored
 * transposed, in bands of outputs (wmo_layout.h), in F16 (rounded once when its type is another). Tensor data
 * is read with pread (mkv_gguf_tensor_read), a batch of rows at a time into
 * the matrix's bounded fill buffer, never through the GGUF mapping: a file
 * truncated while it loads gives MKV_ERR_TRUNCATED naming the file and the
 * tensor, not SIGBUS, and the mapping's data pages are never touched, so
 * no second copy of the weights stays on the host. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "half.h"
#include "wmo_layout.h"

typedef struct upload_ctx {
    mkv_model *m;
    const mkv_model_desc *desc;
    mkv_load_progress_fn progress;
    void *progress_user;
    uint64_t done, total;   /* tensor data bytes uploaded / in the file */
    bool *counted;          /* per GGUF tensor: already in done */
} upload_ctx;

/* The device type of a matrix tensor (model_desc admitted it). */
static mkv_wtype tensor_wtype(const mkv_gguf_tensor *t)
{
    mkv_wtype w = MKV_WT_F16;
    mkv_wtype_for_ggml(t->type, &w);
    return w;
}

/* Tensor t is on the device: counts its bytes once and reports progress. */
static void uploaded(upload_ctx *u, const mkv_gguf_tensor *t)
{
    if (!t) return;
    size_t i = (size_t)(t - u->desc->gguf->tensors);
    if (u->counted[i]) return;
    u->counted[i] = true;
    u->done += t->nbytes;
    if (u->progress) u->progress(u->progress_user, u->done, u->total);
}

/* Rows of a matrix built by stacking row ranges of up to five GGUF tensors
 * of one device type; a NULL tensor stands for zero rows. */
typedef struct stack_src {
    const mkv_gguf *g;
    mkv_wtype type;
    const mkv_gguf_tensor *t[5];
    uint64_t first[5], count[5]; /* rows [first, first + count) of t */
    uint32_t n;
    float *f32;                  /* F32 rows read here before rounding to F16 */
    uint32_t f32_rows;           /* rows it holds */
} stack_src;

/* F32 rows are read through a buffer of about this many bytes (one row at least). */
#define F32_CHUNK (1u << 20)

static mkv_status fill_stacked(void *user, uint32_t row0, uint32_t n, void *dst, mkv_error *err)
{
    stack_src *s = user;
    mkv_status st;
    const uint32_t cols = (uint32_t)s->t[0]->ne[0];
    const uint64_t row_bytes = mkv_wtype_src_row_bytes(s->type, cols);
    for (uint32_t i = 0; i < n;) {
        uint64_t row = (uint64_t)row0 + i;
        uint32_t k = 0;
        while (k < s->n && row >= s->count[k]) row -= s->count[k++];
        if (k == s->n) return mkv_fail(err, MKV_ERR_INVALID_ARG, "matrix fill: row %u out of range", row0 + i);
        const mkv_gguf_tensor *t = s->t[k];
        uint8_t *out = (uint8_t *)dst + i * row_bytes;
        /* rows [row, row + run) of this source: consecutive in the file */
        uint32_t run = (uint32_t)(s->count[k] - row < n - i ? s->count[k] - row : n - i);
        i += run;
        if (!t) { memset(out, 0, run * row_bytes); continue; } /* zero rows */
        row += s->first[k];
        if (t->type != MKV_GGML_F32) { /* the file's bytes, read straight into the fill buffer */
            TRY(mkv_gguf_tensor_read(s->g, t, row * row_bytes, run * row_bytes, out, err));
            continue;
        }
        /* F32: stored as F16, rounded once */
        if (!s->f32) {
            s->f32_rows = 4ull * cols >= F32_CHUNK ? 1 : F32_CHUNK / (4u * cols);
            if (!(s->f32 = mkv_malloc((size_t)s->f32_rows * cols * sizeof(float))))
                return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", t->name);
        }
        for (uint32_t r = 0; r < run;) {
            uint32_t m = run - r < s->f32_rows ? run - r : s->f32_rows;
            TRY(mkv_gguf_tensor_read(s->g, t, (row + r) * 4ull * cols, 4ull * m * cols, s->f32, err));
            for (uint64_t c = 0; c < (uint64_t)m * cols; c++) {
                uint16_t h = mkv_float_to_half(s->f32[c]);
                memcpy(out + (uint64_t)r * row_bytes + 2 * c, &h, 2);
            }
            r += m;
        }
    }
    return MKV_OK;
}

static mkv_status upload_stack(upload_ctx *u, const char *name, stack_src *s, mkv_matrix *out, mkv_error *err)
{
    uint64_t rows = 0, cols = s->t[0]->ne[0];
    s->g = u->desc->gguf;
    s->type = tensor_wtype(s->t[0]);
    for (uint32_t k = 0; k < s->n; k++) rows += s->count[k];
    mkv_status st = mkv_matrix_create(u->m->d, name, s->type, (uint32_t)rows, (uint32_t)cols, fill_stacked, s, out, err);
    free(s->f32);
    s->f32 = NULL;
    for (uint32_t k = 0; !st && k < s->n; k++) uploaded(u, s->t[k]);
    return st;
}

/* Whole tensors a, b, c (b and c may be NULL) one under the other. */
static mkv_status upload_matrix(upload_ctx *u, const char *name, const mkv_gguf_tensor *a, const mkv_gguf_tensor *b,
                                const mkv_gguf_tensor *c, mkv_matrix *out, mkv_error *err)
{
    stack_src s = {.t = {a, b, c}, .n = c ? 3 : (b ? 2 : 1)};
    for (uint32_t k = 0; k < s.n; k++) s.count[k] = s.t[k]->ne[1];
    return upload_stack(u, name, &s, out, err);
}

/* Fills rows of a small matrix's transpose from the whole matrix, held as
 * f32 (every source type converts exactly; rounded once to f16 here). */
typedef struct transpose_src {
    const float *a; /* source: ne1 rows of ne0 */
    uint32_t ne0, ne1;
} transpose_src;

/* Band b (row b of the banded matrix, wmo_layout.h): for each k < ne0,
 * the 8 MKV_WMO_BAND outputs of the band, 0 past ne1. */
static mkv_status fill_banded(void *user, uint32_t row0, uint32_t n, void *dst, mkv_error *err)
{
    (void)err;
    const transpose_src *s = user;
    const uint32_t bw = 8 * MKV_WMO_BAND; /* outputs per band */
    uint16_t *out = dst;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < s->ne0; k++)
            for (uint32_t o = 0; o < bw; o++) {
                const uint32_t r = (row0 + i) * bw + o; /* the output: a row of the tensor */
                out[((size_t)i * s->ne0 + k) * bw + o] = r < s->ne1 ? mkv_float_to_half(s->a[(size_t)r * s->ne0 + k]) : 0;
            }
    return MKV_OK;
}

/* Tensor t (ne0 columns, ne1 rows) transposed into bands of outputs as
 * ffn_out_meki reads it (wmo_layout.h): ceil(ne1 / (8 MKV_WMO_BAND)) rows
 * of ne0 x 8 MKV_WMO_BAND halves, F16. */
static mkv_status upload_banded(upload_ctx *u, const mkv_gguf_tensor *t, mkv_matrix *out, mkv_error *err)
{
    transpose_src s = {.ne0 = (uint32_t)t->ne[0], .ne1 = (uint32_t)t->ne[1]};
    float *a = mkv_malloc((size_t)s.ne0 * s.ne1 * sizeof(float));
    if (!a) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory (%u x %u floats)", t->name, s.ne1, s.ne0);
    mkv_status st = mkv_gguf_tensor_to_f32(u->desc->gguf, t, a, err);
    s.a = a;
    const uint32_t bw = 8 * MKV_WMO_BAND, n_bands = (s.ne1 + bw - 1) / bw;
    if (!st) st = mkv_matrix_create_il(u->m->d, t->name, MKV_WT_F16, n_bands, s.ne0 * bw, 1, fill_banded, &s, out, err);
    free(a);
    if (!st) uploaded(u, t);
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
    float *tmp = mkv_calloc((n + 7) & ~7ull, sizeof(float));
    if (!tmp) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", t[0] ? t[0]->name : "bias");
    mkv_status st = MKV_OK;
    for (uint32_t k = 0, at = 0; k < n_t && !st; at += (uint32_t)sizes[k], k++)
        if (t[k]) st = mkv_gguf_tensor_to_f32(u->desc->gguf, t[k], tmp + at, err);
    if (!st) st = mkv_buffer_create(u->m->d, ((n + 7) & ~7ull) * 4, MKV_MEM_DEVICE, out, err);
    if (!st) st = mkv_buffer_write(u->m->d, out, 0, tmp, n * 4, err);
    free(tmp);
    for (uint32_t k = 0; k < n_t && !st; k++) uploaded(u, t[k]);
    return st;
}

static mkv_status upload_vector(upload_ctx *u, const mkv_gguf_tensor *t, mkv_buffer *out, mkv_error *err)
{
    return upload_vectors(u, &t, &t->ne[0], 1, out, err);
}

static bool same_wtype(const mkv_gguf_tensor *a, const mkv_gguf_tensor *b) { return tensor_wtype(a) == tensor_wtype(b); }

static mkv_status upload_layer(upload_ctx *u, uint32_t l, mkv_error *err)
{
    const mkv_layer_desc *ld = &u->desc->layers[l];
    const mkv_model_config *c = &u->m->cfg;
    mkv_layer_weights *w = &u->m->layers[l];
    char name[64];
    mkv_status st;
    TRY(upload_vector(u, ld->attn_norm, &w->attn_norm, err));
    if (same_wtype(ld->wq, ld->wk) && same_wtype(ld->wq, ld->wv)) {
        snprintf(name, sizeof name, "blk.%u.attn_qkv", l);
        w->n_qkv = 1;
        TRY(upload_matrix(u, name, ld->wq, ld->wk, ld->wv, &w->w_qkv[0], err));
    } else {
        const mkv_gguf_tensor *qkv[3] = {ld->wq, ld->wk, ld->wv};
        w->n_qkv = 3;
        for (int i = 0; i < 3; i++) TRY(upload_matrix(u, qkv[i]->name, qkv[i], NULL, NULL, &w->w_qkv[i], err));
    }
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
    if (!same_wtype(ld->w_gate, ld->w_up))
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: blk.%u: ffn_gate is %s and ffn_up %s: one type for both is needed",
                        u->m->path, l, mkv_ggml_type_name(ld->w_gate->type), mkv_ggml_type_name(ld->w_up->type));
    snprintf(name, sizeof name, "blk.%u.ffn_gate_up", l);
    const uint64_t d_ffn = ld->w_gate->ne[1];
    /* fused when W_mg reads what W_gate reads (u, not the residual) in the same type */
    w->gate_fused = ld->meki_gate && same_wtype(ld->meki_gate, ld->w_gate) && !c->meki_gate_residual;
    if (w->gate_fused) { /* W_mg's halves under W_gate and W_up (matvec.comp says why) */
        const uint64_t n_mem = ld->meki_gate->ne[1], half = (n_mem + 1) / 2;
        stack_src s = {.t = {ld->w_gate, ld->meki_gate, ld->w_up, ld->meki_gate, NULL},
                       .first = {0, 0, 0, half, 0},
                       .count = {d_ffn, half, d_ffn, n_mem - half, n_mem % 2}, /* odd d_mem: a zero row */
                       .n = 5};
        TRY(upload_stack(u, name, &s, &w->w_ffn, err));
    } else {
        TRY(upload_matrix(u, name, ld->w_gate, ld->w_up, NULL, &w->w_ffn, err));
        if (ld->meki_gate) TRY(upload_matrix(u, ld->meki_gate->name, ld->meki_gate, NULL, NULL, &w->w_mg, err));
    }
    TRY(upload_matrix(u, ld->w_down->name, ld->w_down, NULL, NULL, &w->w_down, err));
    if (ld->meki_gate) {
        TRY(upload_matrix(u, ld->meki_out->name, ld->meki_out, NULL, NULL, &w->meki_out, err));
        TRY(upload_banded(u, ld->meki_out, &w->meki_out_t, err));
        TRY(upload_vector(u, ld->meki_norm, &w->meki_norm, err));
    }
    return MKV_OK;
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
 * W_gate and W_up rows of w_ffn (the rest are W_mg's). */
static uint64_t layer_bytes(const mkv_layer_weights *w, uint32_t d_ffn, bool meki)
{
    uint64_t b = mkv_matrix_bytes(&w->wo) + mkv_matrix_bytes(&w->w_down);
    for (uint32_t i = 0; i < w->n_qkv; i++) b += mkv_matrix_bytes(&w->w_qkv[i]);
    if (!meki) return b + mkv_matrix_rows_bytes(&w->w_ffn, 2 * d_ffn);
    return b + mkv_matrix_bytes(&w->w_ffn) + mkv_matrix_bytes(&w->w_mg) + mkv_matrix_bytes(&w->meki_out_t);
}

/* What the matrices are stored as, in one line of `msg`. */
static void describe_types(const mkv_model *m, char *msg, size_t cap)
{
    uint32_t count[MKV_WT_COUNT] = {0};
    uint64_t bytes[MKV_WT_COUNT] = {0};
    const mkv_matrix *all[] = {&m->tok_embd, &m->output};
    for (size_t i = 0; i < 2; i++)
        if (all[i]->rows) count[all[i]->type]++, bytes[all[i]->type] += mkv_matrix_bytes(all[i]);
    for (uint32_t l = 0; l < m->cfg.n_layer; l++) {
        const mkv_layer_weights *w = &m->layers[l];
        const mkv_matrix *x[] = {&w->w_qkv[0], &w->w_qkv[1], &w->w_qkv[2], &w->wo, &w->w_ffn, &w->w_mg, &w->w_down, &w->meki_out_t,
                                 &w->meki_out};
        for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
            if (x[i]->rows) count[x[i]->type]++, bytes[x[i]->type] += mkv_matrix_bytes(x[i]);
    }
    size_t k = 0;
    msg[0] = '\0';
    for (int t = 0; t < MKV_WT_COUNT; t++)
        if (count[t] && k < cap)
            k += (size_t)snprintf(msg + k, cap - k, "%s%u %s (%.1f MB)", k ? ", " : "", count[t],
                                  mkv_wtype_get((mkv_wtype)t)->name, bytes[t] / 1e6);
}

mkv_status mkv_model_load(mkv_device *dev, const char *gguf_path, const mkv_model_opts *opts, mkv_model **out,
                          mkv_error *err)
{
    return mkv_model_load_ex(dev, gguf_path, opts, opts ? opts->progress : NULL, opts ? opts->progress_user : NULL,
                             out, err);
}

mkv_status mkv_model_load_ex(mkv_device *dev, const char *gguf_path, const mkv_model_opts *opts,
                             mkv_load_progress_fn progress, void *progress_user, mkv_model **out, mkv_error *err)
{
    *out = NULL;
    mkv_model_opts def = {0};
    if (!opts) opts = &def;
    mkv_model_desc *desc = NULL;
    upload_ctx u = {.desc = NULL};
    mkv_status st = mkv_model_desc_load(gguf_path, &desc, err);
    if (st) return st;
    mkv_model *m = mkv_calloc(1, sizeof *m);
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

    m->layers = mkv_calloc(m->cfg.n_layer, sizeof *m->layers);
    u = (upload_ctx){.m = m, .desc = desc, .progress = progress, .progress_user = progress_user,
                     .counted = mkv_calloc(desc->gguf->n_tensors ? desc->gguf->n_tensors : 1, sizeof(bool))};
    for (uint64_t i = 0; i < desc->gguf->n_tensors; i++) u.total += desc->gguf->tensors[i].nbytes;
    if (!m->layers || !u.counted) { st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory"); goto fail; }
    if (progress) progress(progress_user, 0, u.total); /* the header is read and checked */
    if ((st = upload_matrix(&u, "token_embd.weight", desc->tok_embd, NULL, NULL, &m->tok_embd, err))) goto fail;
    if (!m->cfg.tied_output && (st = upload_matrix(&u, "output.weight", desc->output, NULL, NULL, &m->output, err))) goto fail;
    if ((st = upload_vector(&u, desc->output_norm, &m->output_norm, err))) goto fail;
    for (uint32_t l = 0; l < m->cfg.n_layer; l++)
        if ((st = upload_layer(&u, l, err))) goto fail;
    if (progress && u.done != u.total) progress(progress_user, u.total, u.total); /* tensors it does not use */

    uint64_t head = mkv_matrix_bytes(mkv_model_lm_head(m));
    m->bytes_dense = m->bytes_meki = head;
    for (uint32_t l = 0; l < m->cfg.n_layer; l++) {
        m->bytes_dense += layer_bytes(&m->layers[l], m->cfg.d_ffn, false);
        m->bytes_meki += layer_bytes(&m->layers[l], m->cfg.d_ffn, m->cfg.d_mem != 0);
    }
    free(u.counted);
    mkv_model_desc_free(desc);
    *out = m;
    return MKV_OK;
fail:
    free(u.counted);
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
            mkv_matrix *x[] = {&w->w_qkv[0], &w->w_qkv[1], &w->w_qkv[2], &w->wo, &w->w_ffn, &w->w_mg, &w->w_down, &w->meki_out_t,
                               &w->meki_out};
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
    describe_types(m, info->weight_types, sizeof info->weight_types);
}
