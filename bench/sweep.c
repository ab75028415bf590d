/* mekivk bench --sweep (sweep.h).
 *
 * The model's GGUF description (no upload) gives its product shapes and
 * weight types: per layer q/k/v (one fused product when their types agree,
 * as model.c loads them), the output projection, gate+up (SwiGLU) and down
 * (ffn_out), and the LM head; decode attention at its head shape. Each
 * distinct (kernel, type, rows, cols) becomes a job, weighted by how often
 * a token (decode) or a prefill pass runs it. The groups of the sweep space
 * (runtime/tuning.h: reads, matvec, mm, attn) are tuned one after the
 * other, greedily: every variant of a group is run on every job of the
 * group, first once on random data and compared with a C reference (the
 * weights decoded by runtime/dequant.c, sums in double; a variant that
 * fails is skipped and reported), then timed with GPU timestamps; the
 * fastest is kept, and the next group starts from it.
 *
 * Timing: as bench --kernels does, the products of a job take turns over
 * copies of its matrix that together exceed the caches (a decode step
 * streams every weight from memory once); each variant's time on a job is
 * the median of `reps` back-to-back runs (a prefill product: one run), the
 * smallest of five rounds taken in turn over the variants (load from
 * elsewhere on the machine only ever adds time, and hits them alike). A
 * group's variants are scored per category (decode products, prefill
 * products, decode attention: ms per token or per prefill pass); a variant
 * replaces the group's current values only if it is slower in no category
 * (2 % of slack for noise) and at least 3 % faster over them, so the
 * written file is never slower than the table's row by the sweep's own
 * measure. A variant already 1.5x slower than the current values over the
 * jobs done is dropped ("pruned").
 *
 * Whole prefills have the last word on a group that times prefill products
 * (reads, mm): kernels timed alone did not foretell a whole prefill (the
 * 8 x 8 mm tile: faster alone, 3-4 % slower in 128-token prefills on
 * lavapipe). Before such a group's new values are taken, the model itself
 * (dense: the MeKi branch off) runs whole prefills with the current values
 * and with the new, taking turns (sweep_check.h); the new are kept only if
 * their median is at least 3 % lower (GAIN) where prefill is all the group
 * times (mm), or no more than 2 % higher (SLACK) where it is one of its
 * categories (reads: decode gains count too). */
#include "sweep.h"
#include "stats.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dequant.h"
#include "half.h"
#include "json.h"
#include "model_desc.h"
#include "ops.h"
#include "step_params.h"
#include "sweep_check.h"

#define COLD_BYTES (128ull << 20) /* a job's copies together: far beyond the L3 */
#define MAX_COPIES 64u
#define MAX_JOBS 48u
#define MAX_SPLIT 64u
#define SLACK 1.02   /* a variant may be this much slower in a category (noise) */
#define GAIN 0.97    /* and must be at least this much faster overall to be taken */
#define PRUNE 1.5    /* dropped once this much slower than the current values */

enum { CAT_DECODE, CAT_PREFILL, CAT_ATTN, N_CAT };
static const char *const cat_name[N_CAT] = {"decode products", "prefill products", "decode attention"};
static const char *const cat_key[N_CAT] = {"decode_ms", "prefill_ms", "attention_ms"};
static const char *const cat_col[N_CAT] = {"decode", "prefill", "attention"};

typedef enum job_kind { J_MATVEC, J_SWIGLU, J_FFN_OUT, J_MM, J_ATTN } job_kind;

typedef struct job {
    job_kind kind;
    const char *what;      /* "qkv", "wo", "gate_up", "down", "lm_head", "attention" */
    mkv_wtype type;
    uint32_t rows, cols;   /* the matrix (SwiGLU: gate and up rows) */
    uint32_t count;        /* runs per token (decode) or per prefill pass */
    uint32_t n_tok;        /* mm: tokens of the pass */
    uint32_t n_head, n_kv_head, head_dim, n_kv; /* attention */
    float eps;
    uint64_t seed;
    /* host data, made once: the input(s) and the reference output */
    float *x, *ref, *h0, *wn, *ref_xn;
    uint16_t *kc, *vc;
    uint64_t n_x, n_ref;
} job;

/* A job on the device. */
typedef struct job_dev {
    const job *j;
    mkv_matrix m[MAX_COPIES];
    uint32_t n_copies, next;
    mkv_buffer x, y, h, wn, xn, counter, params, k, v, part;
} job_dev;

typedef struct variant_result {
    mkv_tunables t;
    double cat_ms[N_CAT];  /* weighted sums over the group's jobs */
    double job_ms[MAX_JOBS];
    bool failed, pruned;
    uint32_t pruned_after;  /* jobs timed when it was dropped */
    double pruned_ratio;    /* its time over the current values' on them */
    char error[640];
} variant_result;

typedef struct sweep_opts {
    const char *model, *out, *bank; /* bank: a MeKi model's, for the prefill check (its branch stays off) */
    bool json, quick;
    uint32_t reps, reps_mm, rounds, n_tok, n_kv;
    uint32_t prefill_tokens, prefill_rounds; /* the whole-prefill check */
} sweep_opts;

static int cat_of(const job *j) { return j->kind == J_MM ? CAT_PREFILL : j->kind == J_ATTN ? CAT_ATTN : CAT_DECODE; }

static bool job_in_group(const job *j, mkv_tuning_group g)
{
    switch (g) {
    case MKV_TUNE_READS: return true;
    case MKV_TUNE_MATVEC: return j->kind == J_MATVEC || j->kind == J_SWIGLU || j->kind == J_FFN_OUT;
    case MKV_TUNE_MM: return j->kind == J_MM;
    case MKV_TUNE_ATTN: return j->kind == J_ATTN;
    default: return false;
    }
}

static const char *kind_name(job_kind k)
{
    static const char *const n[] = {"matvec", "matvec_swiglu", "ffn_out", "mm", "attn"};
    return n[k];
}

/* ---- random data, reproducible row by row ------------------------------------ */

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rand_f(uint64_t *s)
{
    *s = mix(*s);
    return (float)((double)(*s >> 40) / (double)(1ull << 23) - 1.0);
}

/* Row `row` of a random matrix of type t in its ggml encoding: f16/bf16
 * values in [-1, 1); for block types random bytes (every quant pattern is
 * valid) with finite positive f16 scales where the block has them (as
 * tests/test_kernels.c's rand_rows). */
static void gen_row(mkv_wtype t, uint32_t cols, uint64_t seed, uint32_t row, uint8_t *dst)
{
    const mkv_wtype_info *wi = mkv_wtype_get(t);
    const uint64_t rb = mkv_wtype_src_row_bytes(t, cols);
    uint64_t s = mix(seed ^ ((uint64_t)row * 0x2545f4914f6cdd1dull));
    if (t == MKV_WT_F16 || t == MKV_WT_BF16) {
        for (uint64_t i = 0; i < rb / 2; i++) {
            float f = rand_f(&s);
            uint32_t bits;
            memcpy(&bits, &f, 4);
            uint16_t v = t == MKV_WT_F16 ? mkv_float_to_half(f) : (uint16_t)(bits >> 16);
            memcpy(dst + 2 * i, &v, 2);
        }
        return;
    }
    for (uint64_t i = 0; i < rb; i += 8) {
        s = mix(s);
        memcpy(dst + i, &s, rb - i < 8 ? rb - i : 8);
    }
    const uint32_t n_f16 = wi->ggml == MKV_GGML_Q4_1 || wi->ggml == MKV_GGML_Q5_1 || wi->ggml == MKV_GGML_Q4_K ||
                                   wi->ggml == MKV_GGML_Q5_K ? 2 : 1;
    const uint32_t at = wi->ggml == MKV_GGML_Q6_K ? 208 : 0;
    for (uint64_t b = 0; b < rb / wi->block_bytes; b++)
        for (uint32_t k = 0; k < n_f16; k++) {
            uint16_t v = mkv_float_to_half((0.2f + 0.8f * fabsf(rand_f(&s))) * (k ? 0.01f : 0.02f));
            memcpy(dst + b * wi->block_bytes + at + 2 * k, &v, 2);
        }
}

typedef struct gen_src {
    const job *j;
    uint64_t rb;
} gen_src;

static mkv_status fill_rows(void *user, uint32_t row0, uint32_t n, void *dst, mkv_error *err)
{
    (void)err;
    const gen_src *g = user;
    for (uint32_t i = 0; i < n; i++) gen_row(g->j->type, g->j->cols, g->j->seed, row0 + i, (uint8_t *)dst + i * g->rb);
    return MKV_OK;
}

/* ---- the reference -------------------------------------------------------------- */

static float *rand_vec(uint64_t n, uint64_t seed)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    uint64_t s = seed;
    for (uint64_t i = 0; v && i < n; i++) v[i] = rand_f(&s);
    return v;
}

static double dot(const float *w, const float *x, uint32_t n)
{
    double s = 0;
    for (uint32_t c = 0; c < n; c++) s += (double)w[c] * x[c];
    return s;
}

static uint32_t ldx_of(const job *j) { return (j->cols + 7u) & ~7u; }
static uint32_t tok_alloc(const job *j) { return (j->n_tok + 31u) & ~31u; } /* mm: x rows readable up to any NB */

/* The job's inputs and reference outputs (once per job, whatever the variant). */
static mkv_status job_host(job *j, mkv_error *err)
{
    if (j->ref) return MKV_OK;
    const uint32_t rows = j->rows, cols = j->cols;
    if (j->kind == J_ATTN) {
        const uint32_t hd = j->head_dim, kvd = j->n_kv_head * hd, g = j->n_head / j->n_kv_head;
        const uint64_t n = (uint64_t)j->n_kv * kvd;
        j->x = rand_vec((uint64_t)j->n_head * hd, j->seed);
        j->kc = malloc(n * 2);
        j->vc = malloc(n * 2);
        j->ref = malloc((size_t)j->n_head * hd * sizeof *j->ref);
        double *sc = malloc(j->n_kv * sizeof *sc), *o = malloc(hd * sizeof *o);
        if (!j->x || !j->kc || !j->vc || !j->ref || !sc || !o) {
            free(sc), free(o);
            return mkv_fail(err, MKV_ERR_NO_MEMORY, "sweep: out of memory");
        }
        uint64_t s = j->seed + 1;
        for (uint64_t i = 0; i < n; i++) j->kc[i] = mkv_float_to_half(rand_f(&s) * 2.0f);
        for (uint64_t i = 0; i < n; i++) j->vc[i] = mkv_float_to_half(rand_f(&s) * 2.0f);
        const double scale = 1.0 / sqrt((double)hd);
        for (uint32_t h = 0; h < j->n_head; h++) {
            const float *q = j->x + (size_t)h * hd;
            const uint32_t kh = h / g;
            double mx = -INFINITY, sum = 0;
            for (uint32_t p = 0; p < j->n_kv; p++) {
                double d = 0;
                for (uint32_t i = 0; i < hd; i++) d += (double)q[i] * mkv_half_to_float(j->kc[((size_t)p * j->n_kv_head + kh) * hd + i]);
                sc[p] = d * scale;
                mx = sc[p] > mx ? sc[p] : mx;
            }
            for (uint32_t i = 0; i < hd; i++) o[i] = 0;
            for (uint32_t p = 0; p < j->n_kv; p++) {
                const double w = exp(sc[p] - mx);
                sum += w;
                for (uint32_t i = 0; i < hd; i++) o[i] += w * mkv_half_to_float(j->vc[((size_t)p * j->n_kv_head + kh) * hd + i]);
            }
            for (uint32_t i = 0; i < hd; i++) j->ref[(size_t)h * hd + i] = (float)(o[i] / sum);
        }
        j->n_ref = (uint64_t)j->n_head * hd;
        free(sc);
        free(o);
        return MKV_OK;
    }
    const uint64_t rb = mkv_wtype_src_row_bytes(j->type, cols);
    const uint32_t n_tok = j->kind == J_MM ? j->n_tok : 1, ldx = ldx_of(j);
    j->n_x = j->kind == J_MM ? (uint64_t)tok_alloc(j) * ldx : cols;
    j->x = calloc(j->n_x, sizeof *j->x);
    const uint32_t out_rows = j->kind == J_SWIGLU ? rows / 2 : rows;
    j->n_ref = (uint64_t)n_tok * out_rows;
    j->ref = malloc(j->n_ref * sizeof *j->ref);
    double *acc = malloc((size_t)rows * n_tok * sizeof *acc);
    uint8_t *enc = malloc(rb);
    float *w = malloc((size_t)cols * sizeof *w);
    if (!j->x || !j->ref || !acc || !enc || !w) {
        free(acc), free(enc), free(w);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "sweep: out of memory");
    }
    uint64_t s = j->seed + 1;
    for (uint32_t b = 0; b < n_tok; b++)
        for (uint32_t c = 0; c < cols; c++) j->x[(size_t)b * ldx + c] = rand_f(&s);
    for (uint32_t r = 0; r < rows; r++) {
        gen_row(j->type, cols, j->seed, r, enc);
        mkv_dequant_row(mkv_wtype_get(j->type)->ggml, enc, cols, w);
        for (uint32_t b = 0; b < n_tok; b++) acc[(size_t)b * rows + r] = dot(w, j->x + (size_t)b * ldx, cols);
    }
    free(enc);
    free(w);
    if (j->kind == J_SWIGLU) {
        for (uint32_t r = 0; r < out_rows; r++) {
            const double g = acc[r], u = acc[out_rows + r];
            j->ref[r] = (float)(g / (1.0 + exp(-g)) * u);
        }
    } else if (j->kind == J_FFN_OUT) { /* h += W t, then xn = rmsnorm(h) * wn */
        j->h0 = rand_vec(rows, j->seed + 2);
        j->wn = rand_vec(rows, j->seed + 3);
        j->ref_xn = malloc((size_t)rows * sizeof *j->ref_xn);
        if (!j->h0 || !j->wn || !j->ref_xn) {
            free(acc);
            return mkv_fail(err, MKV_ERR_NO_MEMORY, "sweep: out of memory");
        }
        double ss = 0;
        for (uint32_t r = 0; r < rows; r++) {
            const double h = (double)j->h0[r] + acc[r];
            j->ref[r] = (float)h;
            ss += h * h;
        }
        const double inv = 1.0 / sqrt(ss / rows + j->eps);
        for (uint32_t r = 0; r < rows; r++) j->ref_xn[r] = (float)((double)j->ref[r] * inv * j->wn[r]);
    } else {
        for (uint64_t i = 0; i < j->n_ref; i++) j->ref[i] = (float)acc[i];
    }
    free(acc);
    return MKV_OK;
}

static void job_free(job *j)
{
    free(j->x), free(j->ref), free(j->h0), free(j->wn), free(j->ref_xn), free(j->kc), free(j->vc);
    j->x = j->ref = j->h0 = j->wn = j->ref_xn = NULL;
    j->kc = j->vc = NULL;
}

/* max |a - r| / max |r|; infinity where a has a non-finite value (a row
 * no one wrote keeps the NaN the check put there). */
static double rel_err(const float *a, const float *r, uint64_t n)
{
    double e = 0, m = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        const double d = fabs((double)a[i] - r[i]);
        e = d > e ? d : e;
        m = fabs(r[i]) > m ? fabs(r[i]) : m;
    }
    return e / (m > 1e-30 ? m : 1e-30);
}

/* The kernel tests' bound (tests/test_kernels.c: 2e-5 for f32 sums of up
 * to ~4000 terms), growing with the row length; attention's 1e-3; the
 * batched product on cooperative matrices, x and weights rounded to f16,
 * against this f32 reference: 1e-2 (the kernel tests measured 5e-3 of the
 * largest output at 2080 columns, and check it tightly against inputs
 * rounded alike). */
static double tolerance(const job *j, const mkv_tunables *t)
{
    if (j->kind == J_ATTN) return 1e-3;
    const double grow = j->cols > 4096 ? j->cols / 4096.0 : 1.0;
    return (j->kind == J_MM && t->coop_mm ? 1e-2 : 2e-5) * grow;
}

/* ---- the device side -------------------------------------------------------------- */

static mkv_status job_dev_create(mkv_device *d, const job *j, bool cold, job_dev *jd, mkv_error *err)
{
    memset(jd, 0, sizeof *jd);
    jd->j = j;
    mkv_status st;
    if (j->kind == J_ATTN) {
        const uint64_t kv = (uint64_t)j->n_kv * j->n_kv_head * j->head_dim * 2, qd = (uint64_t)j->n_head * j->head_dim;
        if ((st = mkv_buffer_create(d, mkv_step_params_bytes(1), MKV_MEM_HOST, &jd->params, err)) ||
            (st = mkv_buffer_create(d, qd * 4, MKV_MEM_DEVICE, &jd->x, err)) ||
            (st = mkv_buffer_create(d, kv, MKV_MEM_DEVICE, &jd->k, err)) ||
            (st = mkv_buffer_create(d, kv, MKV_MEM_DEVICE, &jd->v, err)) ||
            (st = mkv_buffer_create(d, 4 * mkv_attn_partials_floats(j->n_head, MAX_SPLIT, j->head_dim, 1), MKV_MEM_DEVICE, &jd->part, err)) ||
            (st = mkv_buffer_create(d, qd * 4, MKV_MEM_DEVICE, &jd->y, err)) ||
            (st = mkv_buffer_write(d, &jd->x, 0, j->x, qd * 4, err)) ||
            (st = mkv_buffer_write(d, &jd->k, 0, j->kc, kv, err)) || (st = mkv_buffer_write(d, &jd->v, 0, j->vc, kv, err)))
            return st;
        const mkv_step_params p = {.pos = j->n_kv - 1, .n_tok = 1};
        memcpy(jd->params.map, &p, sizeof p);
        return MKV_OK;
    }
    /* the matrix: a random copy (checked), then zero copies to exceed the caches */
    const uint64_t bytes = (uint64_t)j->rows * 4 * mkv_wtype_row_words(j->type, j->cols);
    uint64_t want = cold ? (COLD_BYTES + bytes - 1) / bytes : 1;
    want = want < 1 ? 1 : want > MAX_COPIES ? MAX_COPIES : want;
    gen_src src = {j, mkv_wtype_src_row_bytes(j->type, j->cols)};
    for (jd->n_copies = 0; jd->n_copies < want; jd->n_copies++)
        if ((st = mkv_matrix_create(d, j->what, j->type, j->rows, j->cols, jd->n_copies ? NULL : fill_rows, &src,
                                    &jd->m[jd->n_copies], err)))
            return st;
    const uint32_t out_rows = j->kind == J_SWIGLU ? j->rows / 2 : j->rows;
    const uint64_t n_y = j->kind == J_MM ? (uint64_t)tok_alloc(j) * out_rows : out_rows;
    if ((st = mkv_buffer_create(d, ((j->n_x + 7) & ~7ull) * 4 + 16, MKV_MEM_DEVICE, &jd->x, err)) ||
        (st = mkv_buffer_write(d, &jd->x, 0, j->x, j->n_x * 4, err)) ||
        (st = mkv_buffer_create(d, ((n_y + 7) & ~7ull) * 4 + 16, MKV_MEM_DEVICE, &jd->y, err)))
        return st;
    if (j->kind == J_MM) {
        if ((st = mkv_buffer_create(d, mkv_step_params_bytes(tok_alloc(j)), MKV_MEM_HOST, &jd->params, err))) return st;
        const mkv_step_params p = {.n_tok = j->n_tok};
        memcpy(jd->params.map, &p, 16);
    }
    if (j->kind == J_FFN_OUT) {
        const uint64_t n = ((j->rows + 7ull) & ~7ull) * 4 + 16;
        if ((st = mkv_buffer_create(d, n, MKV_MEM_DEVICE, &jd->h, err)) ||
            (st = mkv_buffer_create(d, n, MKV_MEM_DEVICE, &jd->wn, err)) ||
            (st = mkv_buffer_create(d, n, MKV_MEM_DEVICE, &jd->xn, err)) ||
            (st = mkv_buffer_create(d, 16, MKV_MEM_DEVICE, &jd->counter, err)) ||
            (st = mkv_buffer_write(d, &jd->wn, 0, j->wn, j->rows * 4ull, err)))
            return st;
    }
    return MKV_OK;
}

static void job_dev_destroy(mkv_device *d, job_dev *jd)
{
    for (uint32_t i = 0; i < jd->n_copies; i++) mkv_matrix_destroy(d, &jd->m[i]);
    mkv_buffer *b[] = {&jd->x, &jd->y, &jd->h, &jd->wn, &jd->xn, &jd->counter, &jd->params, &jd->k, &jd->v, &jd->part};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) mkv_buffer_destroy(d, b[i]);
    jd->n_copies = 0;
}

/* One run of the job's kernel, recorded into r (whose tunables are the variant's). */
static mkv_status rep(mkv_recorder *r, job_dev *jd, mkv_error *err)
{
    const job *j = jd->j;
    const mkv_matrix *m = jd->n_copies ? &jd->m[jd->next++ % jd->n_copies] : NULL;
    switch (j->kind) {
    case J_MATVEC: return mkv_op_matvec(r, m, &jd->x, &jd->y, 0, 0, err);
    case J_SWIGLU: return mkv_op_matvec_swiglu(r, m, &jd->x, &jd->y, j->rows / 2, err);
    case J_FFN_OUT: return mkv_op_ffn_out(r, m, &jd->x, &jd->h, &jd->wn, &jd->xn, &jd->counter, j->eps, NULL, err);
    case J_MM: return mkv_op_mm(r, m, &jd->x, ldx_of(j), &jd->y, j->rows, 0, j->n_tok, &jd->params, 0, err);
    case J_ATTN: {
        /* splits as a session sizes them for a context of n_kv positions */
        uint32_t split = (j->n_kv + r->tune.attn_chunk - 1) / r->tune.attn_chunk;
        split = split < 1 ? 1 : split > MAX_SPLIT ? MAX_SPLIT : split;
        const mkv_attn_dims a = {.n_head = j->n_head, .n_kv_head = j->n_kv_head, .head_dim = j->head_dim,
                                 .n_ctx = j->n_kv, .n_split = split, .eps = j->eps};
        return mkv_op_attention(r, &a, &jd->params, &jd->x, &jd->k, &jd->v, &jd->part, &jd->y, err);
    }
    }
    return mkv_fail(err, MKV_ERR_INVALID_ARG, "sweep: unknown job");
}

typedef struct run_ctx {
    job_dev *jd;
    const mkv_tunables *tune;
    uint32_t reps;
    bool timing;
    mkv_recorder rec;
    mkv_status st;
    mkv_error *err;
} run_ctx;

static void record(const mkv_device *d, VkCommandBuffer cb, void *user)
{
    (void)d;
    run_ctx *c = user;
    if ((c->st = mkv_recorder_init(&c->rec, c->rec.d, cb, c->timing, c->err))) return;
    c->rec.tune = *c->tune; /* the variant */
    for (uint32_t i = 0; i < c->reps && !c->st; i++) c->st = rep(&c->rec, c->jd, c->err);
    if (!c->st) mkv_rec_finish(&c->rec);
}

/* Median GPU time of reps runs recorded back to back (timestamps after
 * every dispatch; a run's dispatches: marks / reps). */
static mkv_status time_job(mkv_device *d, job_dev *jd, const mkv_tunables *t, uint32_t reps, double *ms, mkv_error *err)
{
    run_ctx c = {.jd = jd, .tune = t, .reps = reps, .timing = true, .err = err, .rec = {.d = d}};
    mkv_status st = mkv_device_submit_once(d, record, &c, err);
    if (!st) st = c.st;
    if (!st) st = mkv_reps_median_ms(d, &c.rec, reps, "bench --sweep", ms, err);
    mkv_recorder_release(&c.rec);
    return st;
}

/* Sets every element of a float buffer to NaN (rows a variant fails to write show). */
static mkv_status poison(mkv_device *d, mkv_buffer *b, uint64_t n, mkv_error *err)
{
    float *nan = malloc((n ? n : 1) * 4);
    if (!nan) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    for (uint64_t i = 0; i < n; i++) nan[i] = NAN;
    mkv_status st = mkv_buffer_write(d, b, 0, nan, n * 4, err);
    free(nan);
    return st;
}

/* Runs the variant once on the random copy and compares with the
 * reference: *e is the relative error (infinity for a missing output). */
static mkv_status check_job(mkv_device *d, job_dev *jd, const mkv_tunables *t, double *e, mkv_error *err)
{
    const job *j = jd->j;
    const uint32_t zero[4] = {0};
    mkv_status st;
    float *got = NULL, *got2 = NULL;
    if ((st = poison(d, &jd->y, j->n_ref, err))) return st;
    if (j->kind == J_FFN_OUT &&
        ((st = mkv_buffer_write(d, &jd->h, 0, j->h0, j->rows * 4ull, err)) || (st = poison(d, &jd->xn, j->rows, err)) ||
         (st = mkv_buffer_write(d, &jd->counter, 0, zero, sizeof zero, err))))
        return st;
    jd->next = 0;
    run_ctx c = {.jd = jd, .tune = t, .reps = 1, .err = err, .rec = {.d = d}};
    st = mkv_device_submit_once(d, record, &c, err);
    if (!st) st = c.st;
    mkv_recorder_release(&c.rec);
    if (st) return st;
    const mkv_buffer *out = j->kind == J_FFN_OUT ? &jd->h : &jd->y;
    got = malloc(j->n_ref * 4);
    if (!got) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    if ((st = mkv_buffer_read(d, out, 0, got, j->n_ref * 4, err))) goto done;
    *e = rel_err(got, j->ref, j->n_ref);
    if (j->kind == J_FFN_OUT) {
        if (!(got2 = malloc(j->rows * 4ull))) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        if ((st = mkv_buffer_read(d, &jd->xn, 0, got2, j->rows * 4ull, err))) goto done;
        const double e2 = rel_err(got2, j->ref_xn, j->rows);
        *e = e2 > *e ? e2 : *e;
        /* the timed runs start from a zero counter too */
        st = mkv_buffer_write(d, &jd->counter, 0, zero, sizeof zero, err);
    }
done:
    free(got);
    free(got2);
    return st;
}

/* ---- the model's jobs ----------------------------------------------------------------- */

static mkv_wtype wtype_of(const mkv_gguf_tensor *t)
{
    mkv_wtype w = MKV_WT_F16;
    mkv_wtype_for_ggml(t->type, &w);
    return w;
}

/* Adds a job or counts one more run of an equal one. */
static mkv_status add_job(job *jobs, uint32_t *n, job j, mkv_error *err)
{
    for (uint32_t i = 0; i < *n; i++)
        if (jobs[i].kind == j.kind && jobs[i].type == j.type && jobs[i].rows == j.rows && jobs[i].cols == j.cols &&
            jobs[i].n_tok == j.n_tok) {
            jobs[i].count += j.count;
            return MKV_OK;
        }
    if (*n == MAX_JOBS) return mkv_fail(err, MKV_ERR_UNSUPPORTED, "sweep: more than %u distinct product shapes", MAX_JOBS);
    j.seed = 0x5eed0000ull + *n * 7919u;
    jobs[(*n)++] = j;
    return MKV_OK;
}

static mkv_status model_jobs(const mkv_model_desc *m, const sweep_opts *o, job *jobs, uint32_t *n, mkv_error *err)
{
    const mkv_model_config *c = &m->cfg;
    mkv_status st = MKV_OK;
    *n = 0;
    for (int mm = 0; mm < 2 && !st; mm++) {
        const job_kind mv = mm ? J_MM : J_MATVEC;
        const uint32_t nt = mm ? o->n_tok : 0;
        for (uint32_t l = 0; l < c->n_layer && !st; l++) {
            const mkv_layer_desc *ld = &m->layers[l];
            if (wtype_of(ld->wq) == wtype_of(ld->wk) && wtype_of(ld->wq) == wtype_of(ld->wv)) {
                st = add_job(jobs, n, (job){.kind = mv, .what = "qkv", .type = wtype_of(ld->wq),
                                            .rows = (uint32_t)(ld->wq->ne[1] + ld->wk->ne[1] + ld->wv->ne[1]),
                                            .cols = (uint32_t)ld->wq->ne[0], .count = 1, .n_tok = nt}, err);
            } else {
                const mkv_gguf_tensor *q[3] = {ld->wq, ld->wk, ld->wv};
                static const char *const names[3] = {"q", "k", "v"};
                for (int i = 0; i < 3 && !st; i++) {
                    job j = {.kind = mv, .what = names[i], .type = wtype_of(q[i]), .count = 1, .n_tok = nt};
                    j.rows = (uint32_t)q[i]->ne[1], j.cols = (uint32_t)q[i]->ne[0];
                    st = add_job(jobs, n, j, err);
                }
            }
            if (!st) {
                job j = {.kind = mv, .what = "wo", .type = wtype_of(ld->wo), .count = 1, .n_tok = nt};
                j.rows = (uint32_t)ld->wo->ne[1], j.cols = (uint32_t)ld->wo->ne[0];
                st = add_job(jobs, n, j, err);
            }
            if (!st) { /* gate and up rows in one matrix (model.c) */
                job j = {.kind = mm ? J_MM : J_SWIGLU, .what = "gate_up", .type = wtype_of(ld->w_gate), .count = 1,
                         .n_tok = nt};
                j.rows = (uint32_t)(ld->w_gate->ne[1] + ld->w_up->ne[1]), j.cols = (uint32_t)ld->w_gate->ne[0];
                st = add_job(jobs, n, j, err);
            }
            if (!st) {
                job j = {.kind = mm ? J_MM : J_FFN_OUT, .what = "down", .type = wtype_of(ld->w_down), .count = 1,
                         .n_tok = nt, .eps = c->norm_eps};
                j.rows = (uint32_t)ld->w_down->ne[1], j.cols = (uint32_t)ld->w_down->ne[0];
                st = add_job(jobs, n, j, err);
            }
        }
        if (!mm && !st) { /* the LM head: once per token */
            job j = {.kind = J_MATVEC, .what = "lm_head", .type = wtype_of(m->output), .count = 1};
            j.rows = (uint32_t)m->output->ne[1], j.cols = (uint32_t)m->output->ne[0];
            st = add_job(jobs, n, j, err);
        }
    }
    if (!st)
        st = add_job(jobs, n, (job){.kind = J_ATTN, .what = "attention", .type = MKV_WT_F16, .count = c->n_layer,
                                    .n_head = c->n_head, .n_kv_head = c->n_kv_head, .head_dim = c->head_dim,
                                    .n_kv = o->n_kv, .eps = c->norm_eps}, err);
    /* the cheap checks first: decode jobs, attention, then prefill */
    job tmp[MAX_JOBS];
    uint32_t k = 0;
    for (int pass = 0; pass < 3; pass++)
        for (uint32_t i = 0; i < *n; i++)
            if ((pass == 0 && cat_of(&jobs[i]) == CAT_DECODE) || (pass == 1 && cat_of(&jobs[i]) == CAT_ATTN) ||
                (pass == 2 && cat_of(&jobs[i]) == CAT_PREFILL))
                tmp[k++] = jobs[i];
    memcpy(jobs, tmp, k * sizeof *jobs);
    return st;
}

/* ---- the sweep ------------------------------------------------------------------------- */

typedef struct group_result {
    mkv_tuning_group g;
    variant_result v[MKV_TUNING_MAX_VARIANTS];
    uint32_t n, chosen, n_jobs;
    bool cat_used[N_CAT];
    /* the whole-prefill check, where one ran: of variant `candidate` */
    bool checked, kernel_choice, kept; /* kernel_choice: the kernel times chose it (else --quick checked it anyway) */
    uint32_t candidate;
    double threshold;                  /* its ratio must be at most this to be kept */
    mkv_prefill_ab ab;
} group_result;

/* The score of variant i against the current values (variant 0): the sum
 * over the group's categories of its time / theirs; infinity when it may
 * not be taken (failed, pruned, slower in a category). */
static double score(const group_result *gr, uint32_t i)
{
    const variant_result *v = &gr->v[i], *b = &gr->v[0];
    if (v->failed || v->pruned) return INFINITY;
    double s = 0;
    for (int c = 0; c < N_CAT; c++) {
        if (!gr->cat_used[c]) continue;
        if (b->cat_ms[c] <= 0) continue;
        const double ratio = v->cat_ms[c] / b->cat_ms[c];
        if (i && ratio > SLACK) return INFINITY;
        s += ratio;
    }
    return s;
}

static uint32_t n_cats(const group_result *gr)
{
    uint32_t n = 0;
    for (int c = 0; c < N_CAT; c++) n += gr->cat_used[c];
    return n;
}

static mkv_status sweep_group(mkv_device *d, const sweep_opts *o, job *jobs, uint32_t n_jobs, group_result *gr,
                              mkv_progress *prog, mkv_error *err)
{
    mkv_status st = MKV_OK;
    uint32_t done = 0;
    for (uint32_t ji = 0; ji < n_jobs && !st; ji++) {
        job *j = &jobs[ji];
        if (!job_in_group(j, gr->g)) continue;
        gr->cat_used[cat_of(j)] = true;
        gr->n_jobs++;
        if ((st = job_host(j, err))) break;
        job_dev jd;
        if ((st = job_dev_create(d, j, !o->quick, &jd, err))) {
            job_dev_destroy(d, &jd);
            break;
        }
        const uint32_t reps = j->kind == J_MM ? o->reps_mm : o->reps;
        for (uint32_t round = 0; round < o->rounds && !st; round++)
            for (uint32_t i = 0; i < gr->n && !st; i++) {
                variant_result *v = &gr->v[i];
                mkv_progress_add(prog, 1);
                if (v->failed || v->pruned) continue;
                if (round == 0) {
                    double e = 0;
                    mkv_error verr = {0};
                    mkv_status vst = check_job(d, &jd, &v->t, &e, &verr);
                    if (vst || !(e <= tolerance(j, &v->t))) {
                        char desc[96];
                        mkv_tuning_describe(gr->g, &v->t, false, desc, sizeof desc);
                        v->failed = true;
                        if (vst) snprintf(v->error, sizeof v->error, "%s %s %ux%u: %.500s", kind_name(j->kind),
                                          mkv_wtype_get(j->type)->name, j->rows, j->cols, verr.msg);
                        else snprintf(v->error, sizeof v->error, "%s %s %ux%u%s: relative error %.3g > %.3g",
                                      kind_name(j->kind), mkv_wtype_get(j->type)->name, j->rows, j->cols,
                                      j->kind == J_MM ? " (batch)" : "", e, tolerance(j, &v->t));
                        fprintf(stderr, "mekivk bench --sweep: %s %s fails its check, skipped: %s\n",
                                mkv_tuning_group_name(gr->g), desc, v->error);
                        if (i == 0) /* the current values themselves: nothing to compare with */
                            st = mkv_fail(err, MKV_ERR_UNSUPPORTED, "the current %s values (%s) fail their check: %s",
                                          mkv_tuning_group_name(gr->g), desc, v->error);
                        continue;
                    }
                }
                double ms = 0;
                if ((st = time_job(d, &jd, &v->t, reps, &ms, err))) break;
                if (round == 0 || ms < v->job_ms[ji]) v->job_ms[ji] = ms;
            }
        job_dev_destroy(d, &jd);
        if (st) break;
        /* the weighted sums so far; prune the far slower */
        for (uint32_t i = 0; i < gr->n; i++) {
            variant_result *v = &gr->v[i];
            if (v->failed || v->pruned) continue;
            v->cat_ms[cat_of(j)] += j->count * v->job_ms[ji];
        }
        done++;
        double base = 0;
        for (int c = 0; c < N_CAT; c++) base += gr->v[0].cat_ms[c];
        for (uint32_t i = 1; i < gr->n; i++) {
            variant_result *v = &gr->v[i];
            double s = 0;
            for (int c = 0; c < N_CAT; c++) s += v->cat_ms[c];
            if (!v->failed && !v->pruned && s > PRUNE * base) { /* its remaining steps count as done */
                v->pruned = true;
                v->pruned_after = done;
                v->pruned_ratio = s / base;
            }
        }
    }
    if (st) return st;
    gr->chosen = 0;
    double best = score(gr, 0) * GAIN;
    for (uint32_t i = 1; i < gr->n; i++) {
        const double s = score(gr, i);
        if (s < best) best = s, gr->chosen = i;
    }
    return MKV_OK;
}

/* The whole-prefill check of a group that times prefill products: its
 * choice (with --quick, the mm group's first other variant that passed its
 * check, if the kernel times chose none: so that CI runs the check) against
 * the values before it. Not confirmed: the group keeps those. The model is
 * loaded at the first check and kept for the next. */
static mkv_status confirm_prefill(mkv_device *d, const sweep_opts *o, mkv_model **model, group_result *gr,
                                  mkv_progress *prog, mkv_error *err)
{
    if (!gr->cat_used[CAT_PREFILL]) return MKV_OK;
    uint32_t c = gr->chosen;
    for (uint32_t i = 1; !c && o->quick && gr->g == MKV_TUNE_MM && i < gr->n; i++)
        if (!gr->v[i].failed) c = i;
    if (!c) return MKV_OK;
    mkv_error e = {0};
    mkv_status st = MKV_OK;
    const mkv_model_opts mo = {.bank_path = o->bank};
    if (!*model && (st = mkv_model_load(d, o->model, &mo, model, &e)))
        return mkv_fail(err, st, "the %s group's prefill check: loading the model: %s", mkv_tuning_group_name(gr->g), e.msg);
    prog->total += mkv_prefill_ab_steps(o->prefill_rounds);
    if ((st = mkv_prefill_ab_run(d, *model, &gr->v[0].t, &gr->v[c].t, o->prefill_tokens, o->prefill_rounds, prog,
                                 &gr->ab, &e)))
        return mkv_fail(err, st, "the %s group's %s", mkv_tuning_group_name(gr->g), e.msg);
    gr->checked = true;
    gr->candidate = c;
    gr->kernel_choice = c == gr->chosen;
    gr->threshold = n_cats(gr) == 1 ? GAIN : SLACK;
    gr->kept = gr->kernel_choice && gr->ab.ratio <= gr->threshold;
    if (!gr->kept) gr->chosen = 0;
    return MKV_OK;
}

static void help(void)
{
    printf("usage: mekivk bench --sweep --model F.gguf [--bank F.mkb] [--out tuning.json] [--json]\n"
           "                    [--quick] [--reps R] [--prefill-tokens N] [--device I|NAME]\n\n"
           "Times the tunable variants of every kernel the model uses on this device, at\n"
           "the model's shapes and weight types, and writes the fastest as a tuning file\n"
           "(load it with MKV_TUNING=F or mkv_device_opts.tuning_file). The groups, in\n"
           "order, each starting from the previous one's choice:\n"
           "  reads   texel or storage-buffer reads of weights, inputs and the KV cache\n"
           "  matvec  rows at once and per workgroup of the decode products (matvec,\n"
           "          SwiGLU, ffn_out) at each q/k/v, output, gate+up, down and LM head shape\n"
           "  mm      the register tile of the prefill products, at a 128-token pass, and where\n"
           "          the device has cooperative matrices, the products on them (mm.coop)\n"
           "  attn    positions per decode attention split, at a KV length of 1024\n"
           "Every variant first runs once on random data of the shape and type and is\n"
           "compared with a C reference (weights decoded on the host, sums in double); a\n"
           "variant that fails is skipped and reported. Times: GPU timestamps, the median\n"
           "of --reps runs back to back (default 5; prefill products 1), the smallest of\n"
           "five rounds taken in turn over the variants, each shape's products over\n"
           "copies of its matrix past the caches. A variant\n"
           "replaces the current values only if it is slower in no category (decode\n"
           "products, prefill products, decode attention; 2%% slack) and at least 3%%\n"
           "faster in all; one 1.5x slower is dropped early.\n"
           "Whole prefills confirm a new choice of the groups that time prefill products\n"
           "(reads, mm) before it is taken (products timed alone can mislead): the model\n"
           "is loaded (MeKi branch off) and runs a prompt of --prefill-tokens from\n"
           "position 0 in a session with the values before the choice and in one with\n"
           "the choice, 3 rounds taking turns (AB, BA, AB), wall time; the choice is kept\n"
           "only if its median is at least 3%% lower (mm) or at most 2%% higher (reads,\n"
           "whose gains may be in decode); otherwise the group keeps the values before.\n"
           "Only variants of the space the kernel tests cover are tried\n"
           "(runtime/tuning.c), so the file loads.\n"
           "MKV_TUNING is ignored: the sweep starts from the tuning table's row.\n"
           "  --bank F   a MeKi model's bank, which loading it needs (default: bank.mkb\n"
           "             beside the model, as synth and convert write it)\n"
           "  --prefill-tokens N  the prefill check's prompt (default 128, --quick 16; at\n"
           "             most the model's context length), 2..4096\n"
           "  --out F    the tuning file (default tuning.json), read back to prove it loads\n"
           "  --json     one JSON object: tuning_file, device, row, subgroup_size, model,\n"
           "             groups [{kernel, variants [{values, ms (null unless timed on every\n"
           "             shape), decode_ms/prefill_ms/attention_ms, ok, pruned, error}],\n"
           "             chosen, speedup, prefill_check (null where none ran, else {tokens,\n"
           "             rounds, candidate (values), current_ms, candidate_ms (medians),\n"
           "             ratio, threshold, kernel_choice, kept})}], table_ms, tuned_ms and\n"
           "             speedup per category (the product of each group's ratio, measured\n"
           "             head to head; a choice the prefill check refused counts 1)\n"
           "  --quick    two variants per group, small shapes' copies, one round; the\n"
           "             prefill check: one round of 16 tokens, and on the mm group even\n"
           "             when the kernel times chose nothing (the other variant then never\n"
           "             kept) (CI)\n");
}

static void print_cats(FILE *f, const double *ms, const bool *used)
{
    bool first = true;
    for (int c = 0; c < N_CAT; c++)
        if (used[c]) {
            fprintf(f, "%s\"%s\": %.4f", first ? "" : ", ", cat_key[c], ms[c]);
            first = false;
        }
}

int mkv_bench_sweep(int argc, char **argv)
{
    sweep_opts o = {.out = "tuning.json", .reps = 5, .reps_mm = 1, .rounds = 5, .n_tok = 128, .n_kv = 1024,
                    .prefill_tokens = 128, .prefill_rounds = 3};
    bool reps_set = false, prefill_set = false;
    mkv_device_opts dopts;
    if (!cli_device_defaults(&dopts)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--sweep")) continue;
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--quick")) o.quick = true;
        else if (!strcmp(a, "--model")) { if (!(o.model = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(o.out = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--bank")) { if (!(o.bank = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--prefill-tokens")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 2, 4096, &o.prefill_tokens)) return 2; prefill_set = true; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i)) || !cli_device(a, v, &dopts)) return 2; }
        else if (!strcmp(a, "--reps")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 63, &o.reps)) return 2; reps_set = true; }
        else { fprintf(stderr, "mekivk bench --sweep: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!o.model) { fprintf(stderr, "mekivk bench --sweep: --model is required (see --help)\n"); return 2; }
    if (!*o.out) { fprintf(stderr, "mekivk bench --sweep: --out is empty\n"); return 2; }
    if (o.quick) {
        o.rounds = 1, o.reps_mm = 1, o.n_tok = 32, o.n_kv = 256, o.prefill_rounds = 1;
        if (!reps_set) o.reps = 3;
        if (!prefill_set) o.prefill_tokens = 16;
    }
    if (dopts.tuning_file)
        fprintf(stderr, "mekivk bench --sweep: MKV_TUNING=%s ignored: the sweep starts from the tuning table's row\n",
                dopts.tuning_file);
    dopts.tuning_file = NULL;

    int rc = 1;
    mkv_error err = {0};
    mkv_model_desc *desc = NULL;
    mkv_device *dev = NULL;
    mkv_model *model = NULL; /* loaded for the prefill check */
    char bank_path[PATH_MAX];
    job jobs[MAX_JOBS];
    uint32_t n_jobs = 0;
    group_result *gr = calloc(MKV_TUNE_GROUPS, sizeof *gr);
    memset(jobs, 0, sizeof jobs);
    if (!gr) { fprintf(stderr, "mekivk bench --sweep: out of memory\n"); return 1; }
    if (mkv_model_desc_load(o.model, &desc, &err) || model_jobs(desc, &o, jobs, &n_jobs, &err) ||
        mkv_device_create(&dopts, &dev, &err)) {
        rc = cli_fail("bench --sweep", &err);
        goto out;
    }
    if (o.bank && !desc->cfg.d_mem) {
        fprintf(stderr, "mekivk bench --sweep: %s is a dense model: it takes no bank (%s)\n", o.model, o.bank);
        goto out;
    }
    if (desc->cfg.d_mem && !o.bank) { /* loading a MeKi model takes its bank, even with the branch off */
        const char *slash = strrchr(o.model, '/');
        const int n = slash ? snprintf(bank_path, sizeof bank_path, "%.*s/bank.mkb", (int)(slash - o.model), o.model)
                            : snprintf(bank_path, sizeof bank_path, "bank.mkb");
        if (n < 0 || (size_t)n >= sizeof bank_path || access(bank_path, R_OK)) {
            fprintf(stderr, "mekivk bench --sweep: %s is a MeKi model, and loading it for the prefill check needs its "
                    "bank: none at %s (--bank F)\n", o.model, bank_path);
            goto out;
        }
        o.bank = bank_path;
    }
    if (desc->cfg.n_ctx_train >= 2 && o.prefill_tokens > desc->cfg.n_ctx_train) o.prefill_tokens = desc->cfg.n_ctx_train;
    if (!dev->timestamps) {
        fprintf(stderr, "mekivk bench --sweep: %s has no GPU timestamps to time kernels with\n", dev->props.deviceName);
        goto out;
    }
    const mkv_tuning_key key = mkv_device_tuning_key(dev);
    const mkv_tunables table = dev->tune;
    const char *row = dev->tuning_row;
    mkv_tunables cur = table;

    /* the space, and the progress bar's steps */
    uint64_t steps = 0;
    for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
        mkv_tunables v[MKV_TUNING_MAX_VARIANTS];
        gr[g].g = (mkv_tuning_group)g;
        gr[g].n = mkv_tuning_variants(&key, &cur, (mkv_tuning_group)g, v);
        if (o.quick && gr[g].n > 2) gr[g].n = 2;
        uint32_t nj = 0;
        for (uint32_t i = 0; i < n_jobs; i++) nj += job_in_group(&jobs[i], (mkv_tuning_group)g);
        steps += (uint64_t)gr[g].n * nj * o.rounds;
    }
    if (!o.json) {
        printf("mekivk bench --sweep: %s, subgroup %u, table row \"%s\"\n", dev->props.deviceName, dev->subgroup_size, row);
        printf("model %s: %s, %u layers; %u shapes (decode products, prefill products of %u tokens, decode attention at "
               "%u positions)\n", o.model, desc->cfg.arch, desc->cfg.n_layer, n_jobs, o.n_tok, o.n_kv);
        fflush(stdout);
    }
    mkv_progress prog;
    mkv_progress_start(&prog, true, "sweep", steps);
    for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
        mkv_tunables v[MKV_TUNING_MAX_VARIANTS];
        uint32_t n = mkv_tuning_variants(&key, &cur, (mkv_tuning_group)g, v);
        if (n > gr[g].n) n = gr[g].n;
        gr[g].n = n;
        for (uint32_t i = 0; i < n; i++) gr[g].v[i].t = v[i];
        if (sweep_group(dev, &o, jobs, n_jobs, &gr[g], &prog, &err) ||
            confirm_prefill(dev, &o, &model, &gr[g], &prog, &err)) {
            rc = cli_fail("bench --sweep", &err);
            goto out;
        }
        cur = gr[g].v[gr[g].chosen].t;
    }
    if (prog.done < prog.total) mkv_progress_add(&prog, prog.total - prog.done);

    /* Against the table row, per category: each group measured its choice
     * against the values before it head to head (in turn, round by round);
     * the speed-up is the product of those ratios over the groups timing
     * the category (times taken at different moments are not compared:
     * load from elsewhere on the machine moves them). table_ms: the row's
     * times as the first group measured them; tuned_ms = table_ms / speed-up. */
    double table_ms[N_CAT] = {0}, tuned_ms[N_CAT] = {0}, speedup[N_CAT];
    bool used[N_CAT] = {false};
    for (int c = 0; c < N_CAT; c++) {
        table_ms[c] = gr[MKV_TUNE_READS].v[0].cat_ms[c];
        used[c] = gr[MKV_TUNE_READS].cat_used[c];
        speedup[c] = 1.0;
        for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
            const variant_result *b = &gr[g].v[0], *w = &gr[g].v[gr[g].chosen];
            if (gr[g].cat_used[c] && b->cat_ms[c] > 0 && w->cat_ms[c] > 0) speedup[c] *= b->cat_ms[c] / w->cat_ms[c];
        }
        tuned_ms[c] = table_ms[c] / speedup[c];
    }

    /* the file, and proof that it loads */
    mkv_tunables back = table;
    if (mkv_tuning_save(o.out, &key, &cur, &err) || mkv_tuning_load(o.out, &key, &back, &err)) {
        rc = cli_fail("bench --sweep", &err);
        goto out;
    }
    if (memcmp(&back, &cur, sizeof cur)) {
        fprintf(stderr, "mekivk bench --sweep: %s reads back other values than were written\n", o.out);
        goto out;
    }

    if (o.json) {
        printf("{\"tuning_file\": ");
        mkv_json_print_str(stdout, o.out, strlen(o.out));
        printf(", \"device\": ");
        mkv_json_print_str(stdout, dev->props.deviceName, strlen(dev->props.deviceName));
        printf(", \"row\": ");
        mkv_json_print_str(stdout, row, strlen(row));
        printf(", \"subgroup_size\": %u, \"model\": ", dev->subgroup_size);
        mkv_json_print_str(stdout, o.model, strlen(o.model));
        printf(", \"quick\": %s, \"n_tok\": %u, \"n_kv\": %u,\n \"groups\": [", o.quick ? "true" : "false", o.n_tok, o.n_kv);
        for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
            const group_result *r = &gr[g];
            printf("%s\n  {\"kernel\": \"%s\", \"variants\": [", g ? "," : "", mkv_tuning_group_name(r->g));
            for (uint32_t i = 0; i < r->n; i++) {
                const variant_result *v = &r->v[i];
                char vals[128];
                double ms = 0;
                for (int c = 0; c < N_CAT; c++) ms += v->cat_ms[c];
                mkv_tuning_describe(r->g, &v->t, true, vals, sizeof vals);
                printf("%s\n    {\"values\": %s, ", i ? "," : "", vals);
                if (v->failed || v->pruned) { /* not timed on every shape */
                    printf("\"ms\": null");
                } else {
                    printf("\"ms\": %.4f, ", ms);
                    print_cats(stdout, v->cat_ms, r->cat_used);
                }
                printf(", \"ok\": %s, \"pruned\": %s", v->failed ? "false" : "true", v->pruned ? "true" : "false");
                if (v->pruned) printf(", \"pruned_after\": %u, \"pruned_ratio\": %.4f", v->pruned_after, v->pruned_ratio);
                if (v->failed) {
                    printf(", \"error\": ");
                    mkv_json_print_str(stdout, v->error, strlen(v->error));
                }
                printf("}");
            }
            char vals[128];
            mkv_tuning_describe(r->g, &r->v[r->chosen].t, true, vals, sizeof vals);
            const double sc = score(r, r->chosen);
            printf("],\n   \"chosen\": %s, \"speedup\": %.4f,\n   \"prefill_check\": ", vals,
                   sc > 0 && isfinite(sc) ? n_cats(r) / sc : 1.0);
            if (r->checked) {
                mkv_tuning_describe(r->g, &r->v[r->candidate].t, true, vals, sizeof vals);
                printf("{\"tokens\": %u, \"rounds\": %u, \"candidate\": %s, \"current_ms\": %.3f, \"candidate_ms\": "
                       "%.3f, \"ratio\": %.4f, \"threshold\": %.2f, \"kernel_choice\": %s, \"kept\": %s}}",
                       r->ab.tokens, r->ab.rounds, vals, r->ab.current_ms, r->ab.candidate_ms, r->ab.ratio, r->threshold,
                       r->kernel_choice ? "true" : "false", r->kept ? "true" : "false");
            } else {
                printf("null}");
            }
        }
        printf("],\n \"table_ms\": {");
        print_cats(stdout, table_ms, used);
        printf("}, \"tuned_ms\": {");
        print_cats(stdout, tuned_ms, used);
        printf("}, \"speedup\": {");
        bool first = true;
        for (int c = 0; c < N_CAT; c++)
            if (used[c]) {
                printf("%s\"%s\": %.4f", first ? "" : ", ", cat_key[c], speedup[c]);
                first = false;
            }
        printf("}}\n");
    } else {
        for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
            const group_result *r = &gr[g];
            printf("\n%s (ms; decode and attention: per token, prefill: per %u-token pass)\n  %-24s",
                   mkv_tuning_group_name(r->g), o.n_tok, "");
            for (int c = 0; c < N_CAT; c++)
                if (r->cat_used[c]) printf(" %12s", cat_col[c]);
            printf("\n");
            for (uint32_t i = 0; i < r->n; i++) {
                const variant_result *v = &r->v[i];
                char d[96];
                mkv_tuning_describe(r->g, &v->t, false, d, sizeof d);
                printf("  %-24s", d);
                for (int c = 0; c < N_CAT; c++)
                    if (!r->cat_used[c]) continue;
                    else if (v->failed || v->pruned) printf(" %12s", "-");
                    else printf(" %12.3f", v->cat_ms[c]);
                printf("  %s%s", i == 0 ? "[current] " : "", i == r->chosen ? "<- chosen" : "");
                if (v->pruned)
                    printf("dropped: %.2fx the current's time over the first %u of %u shapes", v->pruned_ratio,
                           v->pruned_after, r->n_jobs);
                if (v->failed) printf("FAILED its check: %s", v->error);
                printf("\n");
            }
            if (r->checked) {
                char d[96];
                mkv_tuning_describe(r->g, &r->v[r->candidate].t, false, d, sizeof d);
                printf("  whole prefill of %u tokens (median of %u, taking turns): current %.1f ms, %s %.1f ms: "
                       "%.3fx -> %s (kept at <= %.2fx%s)\n", r->ab.tokens, r->ab.rounds, r->ab.current_ms, d,
                       r->ab.candidate_ms, r->ab.ratio, r->kept ? "kept" : "rejected", r->threshold,
                       r->kernel_choice ? "" : "; --quick: checked though the kernel times did not choose it");
            }
        }
        printf("\nwrote %s (read back: ok)\nagainst the table row \"%s\" (each group's choice against the values "
               "before it, multiplied):\n", o.out, row);
        for (int c = 0; c < N_CAT; c++)
            if (used[c]) printf("  %-17s %.2fx  (%.3f -> %.3f ms)\n", cat_name[c], speedup[c], table_ms[c], tuned_ms[c]);
    }
    rc = 0;
out:
    for (uint32_t i = 0; i < n_jobs; i++) job_free(&jobs[i]);
    free(gr);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    mkv_model_desc_free(desc);
    return rc;
}
