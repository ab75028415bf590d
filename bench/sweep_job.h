/* The sweep's jobs (sweep_job.c): each distinct product or attention shape
 * of a model, its random data and C reference on the host, its copies on
 * the device, and one variant of the tunables checked against the
 * reference or timed on it (sweep.c runs the groups over them). */
#ifndef MKV_SWEEP_JOB_H
#define MKV_SWEEP_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "model_desc.h"
#include "ops.h"

#define COLD_BYTES (128ull << 20) /* a job's copies together: far beyond the L3 */
#define MAX_COPIES 64u
#define MAX_JOBS 48u
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

/* The cost categories a job's time counts in. */
enum { CAT_DECODE, CAT_PREFILL, CAT_ATTN, N_CAT };
static inline int cat_of(const job *j) { return j->kind == J_MM ? CAT_PREFILL : j->kind == J_ATTN ? CAT_ATTN : CAT_DECODE; }

/* The model's jobs, decode products first, then attention (at n_kv
 * positions), then the prefill products (passes of n_tok tokens). */
mkv_status mkv_sweep_model_jobs(const mkv_model_desc *m, uint32_t n_tok, uint32_t n_kv, job *jobs, uint32_t *n,
                                mkv_error *err);
/* The job's host data (random inputs, the reference output), and its release. */
mkv_status mkv_sweep_job_host(job *j, mkv_error *err);
void mkv_sweep_job_free(job *j);
/* The job on the device: copies of its matrix past the caches when cold. */
mkv_status mkv_sweep_job_dev_create(mkv_device *d, const job *j, bool cold, job_dev *jd, mkv_error *err);
void mkv_sweep_job_dev_destroy(mkv_device *d, job_dev *jd);
/* Variant t on the job: its relative error against the reference, and the
 * bound it must keep; its median GPU time over reps back-to-back runs. */
mkv_status mkv_sweep_check_job(mkv_device *d, job_dev *jd, const mkv_tunables *t, double *e, mkv_error *err);
double mkv_sweep_tolerance(const job *j, const mkv_tunables *t);
mkv_status mkv_sweep_time_job(mkv_device *d, job_dev *jd, const mkv_tunables *t, uint32_t reps, double *ms, mkv_error *err);

#endif
