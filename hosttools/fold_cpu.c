/* The fold on the CPU. Per batch and layer, the projector weights are
 * converted to float32 and transposed ([in][out]) so that every product is
 * a run of contiguous axpy updates the compiler vectorises (this file is
 * built with -O3); four tokens share each weight row while it is in L1.
 * Tokens of a batch are split over threads. Memory: one layer's projector
 * plus the batch, whatever the vocabulary. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fold.h"

#define MAX_THREADS 16

typedef struct cpu_fold {
    mkv_fold base;
    uint32_t n_threads;
    float *wg_t, *wu_t;  /* [d_model][d_proj] */
    float *wd_t;         /* [d_proj][d_mem] */
    float *mix_w;        /* [d_mem]: α · mix_norm weight */
    float beta;
    float *emb;          /* [batch][d_model] */
    float *scratch;      /* per thread: 4 x (2 d_proj + d_mem) */
    /* the current job */
    uint32_t layer, n;
    float *out;
} cpu_fold;

typedef struct job {
    cpu_fold *f;
    uint32_t i0, i1, thread;
} job;

/* Tokens i0..i1 of the batch, current layer: out rows already hold M_l[x]. */
static void fold_tokens(cpu_fold *f, uint32_t i0, uint32_t i1, float *scr)
{
    const mkv_ckpt *c = f->base.c;
    const uint32_t D = c->d_model, P = c->d_proj, M = c->d_mem, NL = c->n_layer;
    float *g = scr, *u = scr + 4 * (size_t)P, *gd = scr + 8 * (size_t)P;
    for (uint32_t i = i0; i < i1; i += 4) {
        const uint32_t nb = i1 - i < 4 ? i1 - i : 4;
        memset(g, 0, 4 * (size_t)P * sizeof *g);
        memset(u, 0, 4 * (size_t)P * sizeof *u);
        memset(gd, 0, 4 * (size_t)M * sizeof *gd);
        /* g = W_pg e, u = W_pu e */
        for (uint32_t k = 0; k < D; k++) {
            const float *wg = f->wg_t + (size_t)k * P, *wu = f->wu_t + (size_t)k * P;
            for (uint32_t b = 0; b < nb; b++) {
                const float a = f->emb[(size_t)(i + b) * D + k];
                float *gb = g + (size_t)b * P, *ub = u + (size_t)b * P;
                for (uint32_t j = 0; j < P; j++) {
                    gb[j] += a * wg[j];
                    ub[j] += a * wu[j];
                }
            }
        }
        /* t = silu(g) * u (in g) */
        for (uint32_t j = 0; j < nb * P; j++) g[j] = g[j] / (1.0f + expf(-g[j])) * u[j];
        /* G = W_pd t */
        for (uint32_t k = 0; k < P; k++) {
            const float *wd = f->wd_t + (size_t)k * M;
            for (uint32_t b = 0; b < nb; b++) {
                const float a = g[(size_t)b * P + k];
                float *o = gd + (size_t)b * M;
                for (uint32_t j = 0; j < M; j++) o[j] += a * wd[j];
            }
        }
        /* v = M + β G; row = rmsnorm(v) * α w */
        for (uint32_t b = 0; b < nb; b++) {
            float *row = f->out + ((size_t)(i + b) * NL + f->layer) * M;
            double ss = 0;
            for (uint32_t j = 0; j < M; j++) {
                row[j] += f->beta * gd[(size_t)b * M + j];
                ss += (double)row[j] * row[j];
            }
            const float inv = (float)(1.0 / sqrt(ss / M + c->norm_eps));
            for (uint32_t j = 0; j < M; j++) row[j] = row[j] * inv * f->mix_w[j];
        }
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    const mkv_ckpt *c = j->f->base.c;
    fold_tokens(j->f, j->i0, j->i1, j->f->scratch + (size_t)j->thread * 4 * (2 * c->d_proj + c->d_mem));
    return NULL;
}

/* dst[k * rows + r] = src[r * cols + k] for a [rows, cols] tensor. */
static mkv_status transpose_from(const mkv_st_tensor *t, float *tmp, float *dst, mkv_error *err)
{
    const uint64_t rows = t->shape[0], cols = t->shape[1];
    mkv_status st = mkv_st_rows_f32(t, 0, rows, tmp, err);
    if (st) return st;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t k = 0; k < cols; k++) dst[k * rows + r] = tmp[r * cols + k];
    return MKV_OK;
}

static mkv_status cpu_run(mkv_fold *base, uint32_t t0, uint32_t n, float *out, mkv_error *err)
{
    cpu_fold *f = (cpu_fold *)base;
    const mkv_ckpt *c = base->c;
    const uint32_t D = c->d_model, P = c->d_proj, M = c->d_mem, NL = c->n_layer;
    mkv_status st = mkv_st_rows_f32(c->embed, t0, n, f->emb, err);
    float *tmp = malloc((size_t)P * D * sizeof *tmp);
    if (!tmp) return mkv_fail(err, MKV_ERR_NO_MEMORY, "fold: out of memory");
    f->out = out;
    f->n = n;
    for (uint32_t l = 0; l < NL && !st; l++) {
        const mkv_ckpt_layer *L = &c->layers[l];
        f->layer = l;
        if ((st = transpose_from(L->proj_gate, tmp, f->wg_t, err)) || (st = transpose_from(L->proj_up, tmp, f->wu_t, err)) ||
            (st = transpose_from(L->proj_down, tmp, f->wd_t, err)))
            break;
        mkv_st_to_f32(L->mix_norm, 0, M, f->mix_w);
        const float alpha = mkv_ckpt_scalar(L->alpha);
        for (uint32_t j = 0; j < M; j++) f->mix_w[j] *= alpha;
        f->beta = mkv_ckpt_scalar(L->beta);
        for (uint32_t i = 0; i < n; i++) mkv_st_to_f32(L->mem, (uint64_t)(t0 + i) * M, M, out + ((size_t)i * NL + l) * M);
        /* split the batch over threads in groups of four tokens */
        job jobs[MAX_THREADS];
        pthread_t th[MAX_THREADS];
        uint32_t groups = (n + 3) / 4, nt = f->n_threads < groups ? f->n_threads : groups, started = 0;
        for (uint32_t t = 0; t < nt; t++) {
            jobs[t] = (job){.f = f, .i0 = groups * t / nt * 4, .i1 = groups * (t + 1) / nt * 4, .thread = t};
            if (jobs[t].i1 > n) jobs[t].i1 = n;
            if (t > 0 && pthread_create(&th[t], NULL, worker, &jobs[t]) == 0) started |= 1u << t;
        }
        worker(&jobs[0]);
        for (uint32_t t = 1; t < nt; t++) {
            if (started & (1u << t)) pthread_join(th[t], NULL);
            else worker(&jobs[t]); /* no thread: do its share here */
        }
    }
    free(tmp);
    return st;
}

static void cpu_destroy(mkv_fold *base)
{
    cpu_fold *f = (cpu_fold *)base;
    free(f->wg_t);
    free(f->wu_t);
    free(f->wd_t);
    free(f->mix_w);
    free(f->emb);
    free(f->scratch);
    free(f);
}

mkv_status mkv_fold_cpu_create(const mkv_ckpt *c, uint32_t batch, mkv_fold **out, mkv_error *err)
{
    *out = NULL;
    cpu_fold *f = calloc(1, sizeof *f);
    if (!f) return mkv_fail(err, MKV_ERR_NO_MEMORY, "fold: out of memory");
    f->base = (mkv_fold){.c = c, .batch = batch, .run = cpu_run, .destroy = cpu_destroy};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    f->n_threads = ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (uint32_t)ncpu;
    const size_t D = c->d_model, P = c->d_proj, M = c->d_mem;
    f->wg_t = malloc(D * P * sizeof(float));
    f->wu_t = malloc(D * P * sizeof(float));
    f->wd_t = malloc(P * M * sizeof(float));
    f->mix_w = malloc(M * sizeof(float));
    f->emb = malloc((size_t)batch * D * sizeof(float));
    f->scratch = malloc((size_t)f->n_threads * 4 * (2 * P + M) * sizeof(float));
    if (!f->wg_t || !f->wu_t || !f->wd_t || !f->mix_w || !f->emb || !f->scratch || batch == 0) {
        cpu_destroy(&f->base);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "fold: out of memory for a batch of %u tokens", batch);
    }
    *out = &f->base;
    return MKV_OK;
}
