/* CPU reference of the kernels and of the whole model (DESIGN §2).
 * Plain C: float storage, double accumulation, nothing rounded except what
 * the engine stores by contract (f16 weights as stored, f16 K/V). Written
 * for clarity, not speed; the matrix-vector product keeps four partial sums
 * only so that the reference of the 32000-token vocabulary stays quick. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "half.h"
#include "kv_layout.h"

/* ---- kernels ---- */

void ref_rmsnorm(const float *x, const float *w, uint32_t n, float eps, float *y)
{
    double ss = 0.0;
    for (uint32_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / n + eps);
    for (uint32_t i = 0; i < n; i++) y[i] = (float)(x[i] * inv * (w ? w[i] : 1.0));
}

/* One matrix-vector product over either float or f16 weights (exactly one
 * of w32, w16 is non-NULL). Rows are n_cols long (GGUF ne0 = input dim).
 * The sanitizer build (tests/sanitize/run.sh) leaves this one loop of the
 * oracle uninstrumented: with a check on every load it took 70 % of that
 * build's e2e test (190 of 270 s, perf), time spent checking test code
 * rather than the engine. Its callers size every buffer from the same
 * config the loop walks, and the plain build's results match the GPU's
 * within 5e-4 of the largest logit, which a stray read would not. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((no_sanitize("address", "undefined")))
#endif
static void matvec(const float *w32, const uint16_t *w16, const float *x, uint32_t n_rows,
                   uint32_t n_cols, float *y)
{
    for (uint32_t r = 0; r < n_rows; r++) {
        double s[4] = {0, 0, 0, 0};
        uint32_t c = 0;
        if (w32) {
            const float *row = w32 + (size_t)r * n_cols;
            for (; c + 4 <= n_cols; c += 4)
                for (int j = 0; j < 4; j++) s[j] += (double)row[c + j] * x[c + j];
            for (; c < n_cols; c++) s[0] += (double)row[c] * x[c];
        } else {
            const uint16_t *row = w16 + (size_t)r * n_cols;
            for (; c < n_cols; c++) s[c & 3] += (double)mkv_half_to_float(row[c]) * x[c];
        }
        y[r] = (float)((s[0] + s[1]) + (s[2] + s[3]));
    }
}

void ref_matvec_f16(const uint16_t *w, const float *x, uint32_t n_rows, uint32_t n_cols, float *y)
{
    matvec(NULL, w, x, n_rows, n_cols, y);
}

void ref_rope_neox(float *v, uint32_t head_dim, uint32_t pos, float theta)
{
    uint32_t half = head_dim / 2;
    for (uint32_t i = 0; i < half; i++) {
        double ang = pos * pow((double)theta, -2.0 * i / head_dim);
        double c = cos(ang), s = sin(ang);
        double x0 = v[i], x1 = v[i + half];
        v[i] = (float)(x0 * c - x1 * s);
        v[i + half] = (float)(x0 * s + x1 * c);
    }
}

void ref_rope_norm(float *v, uint32_t head_dim, uint32_t pos, float theta)
{
    for (uint32_t i = 0; i < head_dim / 2; i++) {
        double ang = pos * pow((double)theta, -2.0 * i / head_dim);
        double c = cos(ang), s = sin(ang);
        double x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = (float)(x0 * c - x1 * s);
        v[2 * i + 1] = (float)(x0 * s + x1 * c);
    }
}

void ref_rope(float *v, uint32_t head_dim, uint32_t pos, float theta, mkv_rope_style style)
{
    if (style == MKV_ROPE_NORM) ref_rope_norm(v, head_dim, pos, theta);
    else ref_rope_neox(v, head_dim, pos, theta);
}

void ref_attention(const float *q, const float *k_cache, const float *v_cache, uint32_t n_kv,
                   uint32_t n_head, uint32_t n_kv_head, uint32_t head_dim, float *out)
{
    uint32_t group = n_head / n_kv_head;
    uint32_t kv_stride = n_kv_head * head_dim;
    double scale = 1.0 / sqrt((double)head_dim);
    double *p = malloc((n_kv ? n_kv : 1) * sizeof *p);
    double *acc = malloc(head_dim * sizeof *acc);
    if (!p || !acc) { /* the reference has no error path here: a test helper */
        free(p);
        free(acc);
        for (uint32_t i = 0; i < n_head * head_dim; i++) out[i] = NAN;
        return;
    }
    for (uint32_t h = 0; h < n_head; h++) {
        const float *qh = q + (size_t)h * head_dim;
        uint32_t kvh = h / group;
        /* scores, then a softmax stabilised by the maximum */
        double mx = -INFINITY;
        for (uint32_t t = 0; t < n_kv; t++) {
            const float *kt = k_cache + (size_t)t * kv_stride + (size_t)kvh * head_dim;
            double s = 0.0;
            for (uint32_t d = 0; d < head_dim; d++) s += (double)qh[d] * kt[d];
            p[t] = s * scale;
            if (p[t] > mx) mx = p[t];
        }
        double sum = 0.0;
        for (uint32_t t = 0; t < n_kv; t++) {
            p[t] = exp(p[t] - mx);
            sum += p[t];
        }
        memset(acc, 0, head_dim * sizeof *acc);
        for (uint32_t t = 0; t < n_kv; t++) {
            const float *vt = v_cache + (size_t)t * kv_stride + (size_t)kvh * head_dim;
            for (uint32_t d = 0; d < head_dim; d++) acc[d] += p[t] * vt[d];
        }
        for (uint32_t d = 0; d < head_dim; d++) out[(size_t)h * head_dim + d] = (float)(acc[d] / sum);
    }
    free(p);
    free(acc);
}

void ref_swiglu(const float *g, const float *u, uint32_t n, float *t)
{
    for (uint32_t i = 0; i < n; i++) {
        double x = g[i];
        t[i] = (float)(x / (1.0 + exp(-x)) * u[i]);
    }
}

/* MeKi branch over float or f16 matrices; scratch holds d_mem + d_model floats. */
static void meki(const float *u, const float *row, const float *mg32, const uint16_t *mg16,
                 const float *mo32, const uint16_t *mo16, const float *norm_w, uint32_t d_model,
                 uint32_t d_mem, float eps, float *scratch, float *y)
{
    float *v = scratch, *z = scratch + d_mem;
    matvec(mg32, mg16, u, d_mem, d_model, v);          /* W_mg u */
    for (uint32_t i = 0; i < d_mem; i++)                /* v = row + sigmoid(.) */
        v[i] = (float)((double)row[i] + 1.0 / (1.0 + exp(-(double)v[i])));
    matvec(mo32, mo16, v, d_model, d_mem, z);           /* W_mo v */
    ref_rmsnorm(z, norm_w, d_model, eps, y);            /* RMSNorm_meki */
}

void ref_meki(const float *u, const float *row, const uint16_t *w_mg, const uint16_t *w_mo,
              const float *norm_w, uint32_t d_model, uint32_t d_mem, float eps, float *y)
{
    float *scratch = malloc(((size_t)d_mem + d_model) * sizeof *scratch);
    if (!scratch) {
        for (uint32_t i = 0; i < d_model; i++) y[i] = NAN;
        return;
    }
    meki(u, row, NULL, w_mg, NULL, w_mo, norm_w, d_model, d_mem, eps, scratch, y);
    free(scratch);
}

uint32_t ref_argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* ---- whole model ---- */

typedef struct ref_layer {
    float *attn_norm;          /* [d_model] */
    float *wq, *wk, *wv, *wo;  /* [q_dim x d_model], [kv_dim x d_model] x2, [d_model x q_dim] */
    float *bq, *bk, *bv;       /* [q_dim], [kv_dim] x2, or NULL */
    float *q_norm, *k_norm;    /* [head_dim] or NULL */
    float *ffn_norm;           /* [d_model] */
    float *w_gate, *w_up;      /* [d_ffn x d_model] */
    float *w_down;             /* [d_model x d_ffn] */
    float *meki_gate;          /* [d_mem x d_model] or NULL */
    float *meki_out;           /* [d_model x d_mem] or NULL */
    float *meki_norm;          /* [d_model] or NULL */
    float *k_cache, *v_cache;  /* [max_ctx][kv_dim], f16-rounded */
} ref_layer;

struct ref_model {
    mkv_model_config cfg;
    uint32_t q_dim, kv_dim;    /* n_head*head_dim, n_kv_head*head_dim */
    uint32_t max_ctx, pos;
    bool meki_on;
    bool kv_q8;                /* the cache holds q8_0 blocks (ref_model_set_kv_q8) */
    mkv_bank *bank;            /* borrowed; NULL when MeKi is off or rows come from row_fn */
    ref_row_fn row_fn;         /* MeKi rows computed by the caller instead of read from a bank */
    void *row_user;
    float *tok_embd;           /* [n_vocab x d_model] */
    float *output_norm;        /* [d_model] */
    float *output;             /* [n_vocab x d_model]; == tok_embd when tied */
    ref_layer *layers;
    /* per-step scratch */
    float *h, *xn, *q, *k, *v, *att, *proj, *a, *u, *g, *up, *f, *y, *mscratch;
    void *slab;                /* slab_bytes */
    float *row;                /* [d_mem] */
};

/* Converts one tensor to a freshly allocated float array (NULL tensor: NULL).
 * The engine's kernels read F16, BF16 and every quantized type as stored,
 * so those are used exactly; with round_f16 the values are rounded to f16,
 * as the engine stores what it converts (F32 matrices, W_mo when not F16). */
static mkv_status load_tensor_as(const mkv_model_desc *d, const mkv_gguf_tensor *t, bool round_f16, float **out,
                                 mkv_error *err)
{
    *out = NULL;
    if (!t) return MKV_OK;
    uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *p = malloc(n * sizeof *p);
    if (!p) return mkv_fail(err, MKV_ERR_NO_MEMORY, "ref: %s: %llu floats", t->name, (unsigned long long)n);
    mkv_status st = mkv_gguf_tensor_to_f32(d->gguf, t, p, err);
    if (st != MKV_OK) {
        free(p);
        return st;
    }
    if (round_f16)
        for (uint64_t i = 0; i < n; i++) p[i] = mkv_round_f16(p[i]);
    *out = p;
    return MKV_OK;
}

static mkv_status load_tensor(const mkv_model_desc *d, const mkv_gguf_tensor *t, float **out, mkv_error *err)
{
    return load_tensor_as(d, t, false, out, err);
}

static void free_layer(ref_layer *L)
{
    float **fields[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->bq, &L->bk, &L->bv, &L->q_norm, &L->k_norm,
                        &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down, &L->meki_gate,
                        &L->meki_out, &L->meki_norm, &L->k_cache, &L->v_cache};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

void ref_model_free(ref_model *m)
{
    if (!m) return;
    if (m->layers)
        for (uint32_t l = 0; l < m->cfg.n_layer; l++) free_layer(&m->layers[l]);
    free(m->layers);
    if (m->output != m->tok_embd) free(m->output);
    free(m->tok_embd);
    free(m->output_norm);
    float *scratch[] = {m->h, m->xn, m->q, m->k, m->v, m->att, m->proj, m->a,
                        m->u, m->g, m->up, m->f, m->y, m->mscratch, m->row};
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++) free(scratch[i]);
    free(m->slab);
    free(m);
}

static mkv_status create(const mkv_model_desc *desc, mkv_bank *bank, ref_row_fn row_fn, void *row_user,
                         bool meki_off, uint32_t max_ctx, ref_model **out, mkv_error *err)
{
    *out = NULL;
    if (!desc || max_ctx == 0) return mkv_fail(err, MKV_ERR_INVALID_ARG, "ref: no model or max_ctx = 0");
    mkv_status st = MKV_OK;
    ref_model *m = calloc(1, sizeof *m);
    if (!m) return mkv_fail(err, MKV_ERR_NO_MEMORY, "ref: model");
    const mkv_model_config *c = &desc->cfg;
    m->cfg = *c;
    m->q_dim = c->n_head * c->head_dim;
    m->kv_dim = c->n_kv_head * c->head_dim;
    m->max_ctx = max_ctx;
    m->meki_on = c->d_mem > 0 && !meki_off;

    if (m->meki_on && !bank && row_fn) {
        m->row_fn = row_fn;
        m->row_user = row_user;
        m->row = malloc(c->d_mem * sizeof(float));
        if (!m->row) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "ref: row");
            goto out;
        }
    } else if (m->meki_on) {
        if (!bank) {
            st = mkv_fail(err, MKV_ERR_MISSING, "ref: model has meki.dim = %u but no bank", c->d_mem);
            goto out;
        }
        const mkv_bank_header *bh = mkv_bank_info(bank);
        if (bh->n_layer != c->n_layer || bh->d_mem != c->d_mem || bh->n_vocab != c->n_vocab) {
            st = mkv_fail(err, MKV_ERR_MISMATCH,
                          "ref: bank n_layer/d_mem/n_vocab = %u/%u/%u, model %u/%u/%u", bh->n_layer,
                          bh->d_mem, bh->n_vocab, c->n_layer, c->d_mem, c->n_vocab);
            goto out;
        }
        m->bank = bank;
        m->slab = malloc(bh->slab_bytes);
        m->row = malloc(c->d_mem * sizeof(float));
        if (!m->slab || !m->row) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "ref: slab");
            goto out;
        }
    }

    /* weights, each converted once to float */
    if ((st = load_tensor(desc, desc->tok_embd, &m->tok_embd, err)) != MKV_OK) goto out;
    if ((st = load_tensor(desc, desc->output_norm, &m->output_norm, err)) != MKV_OK) goto out;
    if (!desc->output || desc->output == desc->tok_embd)
        m->output = m->tok_embd;
    else if ((st = load_tensor(desc, desc->output, &m->output, err)) != MKV_OK)
        goto out;
    m->layers = calloc(c->n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "ref: layers");
        goto out;
    }
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_layer_desc *D = &desc->layers[l];
        ref_layer *L = &m->layers[l];
        struct { const mkv_gguf_tensor *t; float **dst; } map[] = {
            {D->attn_norm, &L->attn_norm}, {D->wq, &L->wq}, {D->wk, &L->wk}, {D->wv, &L->wv},
            {D->bq, &L->bq}, {D->bk, &L->bk}, {D->bv, &L->bv},
            {D->wo, &L->wo}, {D->ffn_norm, &L->ffn_norm}, {D->w_gate, &L->w_gate},
            {D->w_up, &L->w_up}, {D->w_down, &L->w_down},
            {c->has_qk_norm ? D->q_norm : NULL, &L->q_norm},
            {c->has_qk_norm ? D->k_norm : NULL, &L->k_norm},
            {m->meki_on ? D->meki_gate : NULL, &L->meki_gate},
            {m->meki_on ? D->meki_out : NULL, &L->meki_out},
            {m->meki_on ? D->meki_norm : NULL, &L->meki_norm},
        };
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
            /* W_mo is stored transposed in f16 by the engine (model.c) */
            bool round = map[i].dst == &L->meki_out && map[i].t && map[i].t->type != MKV_GGML_F16 &&
                         map[i].t->type != MKV_GGML_F32;
            if ((st = load_tensor_as(desc, map[i].t, round, map[i].dst, err)) != MKV_OK) goto out;
        }
        if (m->meki_on && (!L->meki_gate || !L->meki_out || !L->meki_norm)) {
            st = mkv_fail(err, MKV_ERR_MISSING, "ref: layer %u lacks a meki tensor", l);
            goto out;
        }
        L->k_cache = malloc((size_t)max_ctx * m->kv_dim * sizeof(float));
        L->v_cache = malloc((size_t)max_ctx * m->kv_dim * sizeof(float));
        if (!L->k_cache || !L->v_cache) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "ref: KV cache of %u positions", max_ctx);
            goto out;
        }
    }

    /* scratch */
    uint32_t dm = c->d_model;
    struct { float **p; uint32_t n; } bufs[] = {
        {&m->h, dm}, {&m->xn, dm}, {&m->q, m->q_dim}, {&m->k, m->kv_dim}, {&m->v, m->kv_dim},
        {&m->att, m->q_dim}, {&m->proj, dm}, {&m->a, dm}, {&m->u, dm}, {&m->g, c->d_ffn},
        {&m->up, c->d_ffn}, {&m->f, dm}, {&m->y, dm}, {&m->mscratch, c->d_mem + dm},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i].p = malloc(bufs[i].n * sizeof(float));
        if (!*bufs[i].p) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "ref: scratch");
            goto out;
        }
    }
out:
    if (st != MKV_OK) {
        ref_model_free(m);
        return st;
    }
    *out = m;
    return MKV_OK;
}

uint32_t ref_model_pos(const ref_model *m) { return m->pos; }

void ref_kv_q8_block(const float *x, float *out)
{
    float amax = 0;
    for (int i = 0; i < MKV_KV_Q8_BLOCK; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < MKV_KV_Q8_BLOCK; i++) {
        float q = roundf(x[i] * id);
        out[i] = d * (q > 127 ? 127 : q < -127 ? -127 : q);
    }
}

void ref_model_set_kv_q8(ref_model *m, bool on) { m->kv_q8 = on; }

mkv_status ref_model_create(const mkv_model_desc *desc, mkv_bank *bank, bool meki_off, uint32_t max_ctx,
                            ref_model **out, mkv_error *err)
{
    return create(desc, bank, NULL, NULL, meki_off, max_ctx, out, err);
}

mkv_status ref_model_create_rows(const mkv_model_desc *desc, ref_row_fn fn, void *user, uint32_t max_ctx,
                                 ref_model **out, mkv_error *err)
{
    if (!fn) return mkv_fail(err, MKV_ERR_INVALID_ARG, "ref: no row function");
    return create(desc, NULL, fn, user, false, max_ctx, out, err);
}

mkv_status ref_model_step(ref_model *m, uint32_t token, float *logits, mkv_error *err)
{
    const mkv_model_config *c = &m->cfg;
    uint32_t dm = c->d_model, hd = c->head_dim, pos = m->pos;
    if (token >= c->n_vocab)
        return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "ref: token = %u: n_vocab is %u", token, c->n_vocab);
    if (pos >= m->max_ctx)
        return mkv_fail(err, MKV_ERR_CONTEXT_FULL, "ref: pos = %u: context holds %u", pos, m->max_ctx);

    /* this token's MeKi rows for every layer */
    const mkv_bank_header *bh = NULL;
    if (m->meki_on && m->bank) {
        mkv_status st = mkv_bank_read_slab(m->bank, token, m->slab, err);
        if (st != MKV_OK) return st;
        bh = mkv_bank_info(m->bank);
    }

    /* embedding */
    memcpy(m->h, m->tok_embd + (size_t)token * dm, dm * sizeof(float));

    for (uint32_t l = 0; l < c->n_layer; l++) {
        ref_layer *L = &m->layers[l];
        /* attention rmsnorm, then q k v for this position */
        ref_rmsnorm(m->h, L->attn_norm, dm, c->norm_eps, m->xn);
        matvec(L->wq, NULL, m->xn, m->q_dim, dm, m->q);
        matvec(L->wk, NULL, m->xn, m->kv_dim, dm, m->k);
        matvec(L->wv, NULL, m->xn, m->kv_dim, dm, m->v);
        /* biases (qwen2) */
        for (uint32_t i = 0; L->bq && i < m->q_dim; i++) m->q[i] += L->bq[i];
        for (uint32_t i = 0; L->bk && i < m->kv_dim; i++) m->k[i] += L->bk[i];
        for (uint32_t i = 0; L->bv && i < m->kv_dim; i++) m->v[i] += L->bv[i];
        /* per-head q/k rmsnorm, then RoPE (NEOX or adjacent pairs by architecture) */
        for (uint32_t h = 0; h < c->n_head; h++) {
            float *qh = m->q + (size_t)h * hd;
            if (L->q_norm) ref_rmsnorm(qh, L->q_norm, hd, c->norm_eps, qh);
            ref_rope(qh, hd, pos, c->rope_theta, c->rope_style);
        }
        for (uint32_t h = 0; h < c->n_kv_head; h++) {
            float *kh = m->k + (size_t)h * hd;
            if (L->k_norm) ref_rmsnorm(kh, L->k_norm, hd, c->norm_eps, kh);
            ref_rope(kh, hd, pos, c->rope_theta, c->rope_style);
        }
        /* append K and V to the cache: f16, or q8_0 blocks */
        float *kc = L->k_cache + (size_t)pos * m->kv_dim, *vc = L->v_cache + (size_t)pos * m->kv_dim;
        if (m->kv_q8) {
            for (uint32_t b = 0; b < m->kv_dim; b += MKV_KV_Q8_BLOCK) {
                ref_kv_q8_block(m->k + b, kc + b);
                ref_kv_q8_block(m->v + b, vc + b);
            }
        } else {
            for (uint32_t i = 0; i < m->kv_dim; i++) {
                kc[i] = mkv_round_f16(m->k[i]);
                vc[i] = mkv_round_f16(m->v[i]);
            }
        }
        /* attention over positions 0..pos, output projection, residual */
        ref_attention(m->q, L->k_cache, L->v_cache, pos + 1, c->n_head, c->n_kv_head, hd, m->att);
        matvec(L->wo, NULL, m->att, dm, m->q_dim, m->proj);
        for (uint32_t i = 0; i < dm; i++) m->a[i] = m->h[i] + m->proj[i];
        /* ffn rmsnorm: the input of the FFN and, by default, of MeKi's gate */
        ref_rmsnorm(m->a, L->ffn_norm, dm, c->norm_eps, m->u);
        /* SwiGLU FFN */
        matvec(L->w_gate, NULL, m->u, c->d_ffn, dm, m->g);
        matvec(L->w_up, NULL, m->u, c->d_ffn, dm, m->up);
        ref_swiglu(m->g, m->up, c->d_ffn, m->g);
        matvec(L->w_down, NULL, m->g, dm, c->d_ffn, m->f);
        /* MeKi branch with this token's row of layer l */
        if (m->meki_on) {
            if (m->bank) {
                mkv_bank_row_to_f32(bh, m->slab, l, m->row);
            } else {
                mkv_status st = m->row_fn(m->row_user, token, l, m->row, err);
                if (st != MKV_OK) return st;
            }
            /* the gate reads u, or the residual a when the file says so
             * (meki.gate_input = "residual", DESIGN §2) */
            meki(c->meki_gate_residual ? m->a : m->u, m->row, L->meki_gate, NULL, L->meki_out, NULL, L->meki_norm, dm,
                 c->d_mem, c->norm_eps, m->mscratch, m->y);
        }
        /* h' = a + f + y */
        for (uint32_t i = 0; i < dm; i++)
            m->h[i] = (float)((double)m->a[i] + m->f[i] + (m->meki_on ? m->y[i] : 0.0f));
    }

    /* final rmsnorm and LM head */
    ref_rmsnorm(m->h, m->output_norm, dm, c->norm_eps, m->xn);
    if (logits) matvec(m->output, NULL, m->xn, c->n_vocab, dm, logits);
    m->pos++;
    return MKV_OK;
}
