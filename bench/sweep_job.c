/* The sweep's jobs (sweep_job.h): random data, the C reference (weights
 * decoded by runtime/dequant.c, sums in double), the device side, and the
 * model's jobs from its GGUF description. */
#include "sweep_job.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dequant.h"
#include "half.h"
#include "stats.h"
#include "step_params.h"

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

/* Row `row` of a random matrix of type t in its ggml encoding
 * (mkv_wtype_random_row), reproducible row by row. */
static void gen_row(mkv_wtype t, uint32_t cols, uint64_t seed, uint32_t row, uint8_t *dst)
{
    uint64_t s = mix(seed ^ ((uint64_t)row * 0x2545f4914f6cdd1dull));
    mkv_wtype_random_row(t, cols, &s, dst);
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
mkv_status mkv_sweep_job_host(job *j, mkv_error *err)
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
        uint64_t s = j->seed + 1; /* the caches of n_kv positions, as kv_layout.h orders them */
        for (uint64_t i = 0; i < n; i++) j->kc[i] = mkv_float_to_half(rand_f(&s) * 2.0f);
        for (uint64_t i = 0; i < n; i++) j->vc[i] = mkv_float_to_half(rand_f(&s) * 2.0f);
        const double scale = 1.0 / sqrt((double)hd);
        for (uint32_t h = 0; h < j->n_head; h++) {
            const float *q = j->x + (size_t)h * hd;
            const uint32_t kh = h / g;
            double mx = -INFINITY, sum = 0;
            for (uint32_t p = 0; p < j->n_kv; p++) {
                double d = 0;
                for (uint32_t i = 0; i < hd; i++) d += (double)q[i] * mkv_half_to_float(j->kc[MKV_KV_ROW((size_t)p, kh, j->n_kv) * hd + i]);
                sc[p] = d * scale;
                mx = sc[p] > mx ? sc[p] : mx;
            }
            for (uint32_t i = 0; i < hd; i++) o[i] = 0;
            for (uint32_t p = 0; p < j->n_kv; p++) {
                const double w = exp(sc[p] - mx);
                sum += w;
                for (uint32_t i = 0; i < hd; i++) o[i] += w * mkv_half_to_float(j->vc[MKV_KV_ROW((size_t)p, kh, j->n_kv) * hd + i]);
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

void mkv_sweep_job_free(job *j)
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
double mkv_sweep_tolerance(const job *j, const mkv_tunables *t)
{
    if (j->kind == J_ATTN) return 1e-3;
    const double grow = j->cols > 4096 ? j->cols / 4096.0 : 1.0;
    return (j->kind == J_MM && t->coop_mm ? 1e-2 : 2e-5) * grow;
}

/* ---- the device side -------------------------------------------------------------- */

mkv_status mkv_sweep_job_dev_create(mkv_device *d, const job *j, bool cold, job_dev *jd, mkv_error *err)
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
            (st = mkv_buffer_create(d, 4 * mkv_attn_partials_floats(j->n_head, MKV_ATTN_MAX_SPLIT, j->head_dim, 1), MKV_MEM_DEVICE, &jd->part, err)) ||
            (st = mkv_buffer_create(d, qd * 4, MKV_MEM_DEVICE, &jd->y, err)) ||
            (st = mkv_buffer_write(d, &jd->x, 0, j->x, qd * 4, err)) ||
            (st = mkv_buffer_write(d, &jd->k, 0, j->kc, kv, err)) || (st = mkv_buffer_write(d, &jd->v, 0, j->vc, kv, err)))
            return st;
        /* the merge's split counters (attn.merge), created zero: each dispatch leaves them so */
        if ((st = mkv_buffer_create(d, 4ull * j->n_kv_head, MKV_MEM_DEVICE, &jd->counter, err))) return st;
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

void mkv_sweep_job_dev_destroy(mkv_device *d, job_dev *jd)
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
        const mkv_attn_dims a = {.n_head = j->n_head, .n_kv_head = j->n_kv_head, .head_dim = j->head_dim,
                                 .n_ctx = j->n_kv, .n_split = mkv_attn_splits(j->n_kv, r->tune.attn_chunk), .eps = j->eps};
        return mkv_op_attention(r, &a, &jd->params, &jd->x, &jd->k, &jd->v, &jd->part, &jd->counter, &jd->y, err);
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
mkv_status mkv_sweep_time_job(mkv_device *d, job_dev *jd, const mkv_tunables *t, uint32_t reps, double *ms, mkv_error *err)
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
mkv_status mkv_sweep_check_job(mkv_device *d, job_dev *jd, const mkv_tunables *t, double *e, mkv_error *err)
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

mkv_status mkv_sweep_model_jobs(const mkv_model_desc *m, uint32_t n_tok, uint32_t n_kv, job *jobs, uint32_t *n, mkv_error *err)
{
    const mkv_model_config *c = &m->cfg;
    mkv_status st = MKV_OK;
    *n = 0;
    for (int mm = 0; mm < 2 && !st; mm++) {
        const job_kind mv = mm ? J_MM : J_MATVEC;
        const uint32_t nt = mm ? n_tok : 0;
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
                                    .n_kv = n_kv, .eps = c->norm_eps}, err);
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

