/* Matrix-vector kernels timed alone (kernel_bench.h). Each product is one
 * dispatch in a command buffer of `reps` products with a timestamp after
 * each; the median over them is the kernel's time. The products take turns
 * over copies of the matrix that together exceed any cache (COLD_BYTES), so
 * each streams from memory as in a decode step, where every weight is read
 * once a token. The first copy holds random valid blocks (random quants,
 * finite random scales), the others zeros: speed does not depend on the
 * values. */
#include "kernel_bench.h"
#include "stats.h"
#include "step_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "error.h"
#include "ops.h"

#define COLD_BYTES (256ull << 20)
#define MAX_COPIES 64u

typedef struct rand_src {
    mkv_wtype type;
    uint64_t state, row_bytes;
} rand_src;

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random bytes, then every 2-byte word set to a small finite f16 (F16,
 * BF16 high halves and every block scale become finite this way; quants
 * take any value). */
static mkv_status fill_random(void *user, uint32_t row0, uint32_t n, void *dst, mkv_error *err)
{
    (void)row0;
    (void)err;
    rand_src *s = user;
    uint16_t *p = dst;
    const uint16_t small = mkv_float_to_half(0.01f);
    for (uint64_t i = 0; i < n * s->row_bytes / 2; i++) p[i] = (uint16_t)((next_u64(&s->state) & 0x03ff) | (small & 0xfc00));
    return MKV_OK;
}

/* One repetition of the timed work, recorded into r. */
typedef mkv_status (*rep_fn)(mkv_recorder *r, void *user, mkv_error *err);

typedef struct timed {
    rep_fn rep;
    void *user;
    uint32_t reps;
    mkv_recorder rec;
    mkv_status st;
    mkv_error *err;
} timed;

static void record(const mkv_device *d, VkCommandBuffer cb, void *user)
{
    timed *t = user;
    if ((t->st = mkv_recorder_init(&t->rec, t->rec.d, cb, true, t->err))) return;
    for (uint32_t i = 0; i < t->reps && !t->st; i++) t->st = t->rep(&t->rec, t->user, t->err);
}

/* Median GPU time of `reps` repetitions recorded back to back in one
 * command buffer, from the recorder's timestamp after every dispatch (a
 * repetition's dispatches: n_marks / reps). */
static mkv_status time_reps(mkv_device *d, rep_fn rep, void *user, uint32_t reps, double *ms, mkv_error *err)
{
    timed t = {.rep = rep, .user = user, .reps = reps, .err = err, .rec = {.d = d}};
    mkv_status st = mkv_device_submit_once(d, record, &t, err);
    if (!st) st = t.st;
    if (!st) st = mkv_reps_median_ms(d, &t.rec, reps, "bench --kernels", ms, err);
    mkv_recorder_release(&t.rec);
    return st;
}

typedef struct matvec_args {
    const mkv_matrix *m; /* n copies, taken in turn */
    uint32_t n, next;
    const mkv_buffer *x, *y;
} matvec_args;

static mkv_status rep_matvec(mkv_recorder *r, void *user, mkv_error *err)
{
    matvec_args *a = user;
    const mkv_matrix *m = &a->m[a->next++ % a->n];
    return mkv_op_matvec(r, m, a->x, a->y, 0, 0, err);
}

/* Copies of a rows x cols matrix of type t enough to exceed the caches. */
static mkv_status cold_copies(mkv_device *d, const char *name, mkv_wtype t, uint32_t rows, uint32_t cols, rand_src *src,
                              mkv_matrix *m, uint32_t *n, mkv_error *err)
{
    const uint64_t bytes = (uint64_t)rows * 4 * mkv_wtype_row_words(t, cols);
    uint64_t want = (COLD_BYTES + bytes - 1) / bytes;
    want = want < 1 ? 1 : want > MAX_COPIES ? MAX_COPIES : want;
    mkv_status st = MKV_OK;
    for (*n = 0; *n < want && !st; (*n)++)
        if ((st = mkv_matrix_create(d, name, t, rows, cols, *n ? NULL : fill_random, src, &m[*n], err))) break;
    if (st)
        while (*n) mkv_matrix_destroy(d, &m[--*n]);
    return st;
}

mkv_status mkv_kernel_bench(mkv_device *d, uint32_t d_model, uint32_t d_ffn, uint32_t types, uint32_t reps,
                            bool progress, mkv_kernel_bench_row *out, uint32_t *n_out, mkv_error *err)
{
    const struct { const char *name; uint32_t rows, cols; } shapes[] = {{"gate", d_ffn, d_model}, {"down", d_model, d_ffn}};
    mkv_status st = MKV_OK;
    mkv_buffer x = {0}, y = {0};
    *n_out = 0;
    const uint32_t widest = d_model > d_ffn ? d_model : d_ffn;
    if ((st = mkv_buffer_create(d, ((widest + 7) & ~7u) * 4ull, MKV_MEM_DEVICE, &x, err))) goto out;
    if ((st = mkv_buffer_create(d, ((widest + 7) & ~7u) * 4ull, MKV_MEM_DEVICE, &y, err))) goto out;
    for (int t = 0; t < MKV_WT_COUNT && !st; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !st; s++) {
            if (!(types >> t & 1u) || !mkv_wtype_cols_ok((mkv_wtype)t, shapes[s].cols)) continue;
            rand_src src = {.type = (mkv_wtype)t, .state = 1 + t * 31 + s,
                            .row_bytes = mkv_wtype_src_row_bytes((mkv_wtype)t, shapes[s].cols)};
            mkv_matrix m[MAX_COPIES];
            uint32_t n_copies = 0;
            if ((st = cold_copies(d, shapes[s].name, (mkv_wtype)t, shapes[s].rows, shapes[s].cols, &src, m, &n_copies,
                                  err)))
                break;
            double ms = 0;
            matvec_args args = {.m = m, .n = n_copies, .x = &x, .y = &y};
            st = time_reps(d, rep_matvec, &args, reps, &ms, err);
            mkv_kernel_bench_row *r = &out[(*n_out)++];
            *r = (mkv_kernel_bench_row){.type = (mkv_wtype)t, .shape = shapes[s].name, .rows = shapes[s].rows,
                                        .cols = shapes[s].cols, .bytes = mkv_matrix_bytes(&m[0]), .ms = ms};
            r->gbps = ms > 0 ? (double)r->bytes / (ms * 1e-3) * 1e-9 : 0;
            if (progress && !st)
                fprintf(stderr, "  matvec_%-5s %-4s %5u x %-5u %8.3f ms  %6.2f GB/s\n", mkv_wtype_get(r->type)->name,
                        r->shape, r->rows, r->cols, r->ms, r->gbps);
            for (uint32_t i = 0; i < n_copies; i++) mkv_matrix_destroy(d, &m[i]);
        }
out:
    mkv_buffer_destroy(d, &x);
    mkv_buffer_destroy(d, &y);
    return st;
}

/* ---- attention ---- */

typedef struct attn_args {
    const mkv_attn_dims *a;
    const mkv_buffer *params, *q, *k, *v, *partials, *done, *out;
} attn_args;

static mkv_status rep_attn(mkv_recorder *r, void *user, mkv_error *err)
{
    const attn_args *t = user;
    return mkv_op_attention(r, t->a, t->params, t->q, t->k, t->v, t->partials, t->done, t->out, err);
}

mkv_status mkv_kernel_bench_attention(mkv_device *d, uint32_t n_head, uint32_t n_kv_head, uint32_t head_dim,
                                      uint32_t n_kv, uint32_t reps, double *ms, double *gbps, mkv_error *err)
{
    mkv_tunables tune;
    mkv_tunables_for(d, &tune);
    const mkv_attn_dims a = {.n_head = n_head, .n_kv_head = n_kv_head, .head_dim = head_dim, .n_ctx = n_kv,
                             .n_split = mkv_attn_splits(n_kv, tune.attn_chunk)};
    const uint64_t kv_bytes = 2ull * n_kv * n_kv_head * head_dim;
    mkv_buffer params = {0}, q = {0}, k = {0}, v = {0}, part = {0}, done = {0}, out = {0};
    mkv_status st;
    if ((st = mkv_buffer_create(d, mkv_step_params_bytes(1), MKV_MEM_HOST, &params, err))) goto out;
    /* one token at the last position: it attends to all n_kv */
    const mkv_step_params p = {.pos = n_kv - 1, .n_tok = 1};
    memcpy(params.map, &p, sizeof p);
    if ((st = mkv_buffer_create(d, 4ull * n_head * head_dim, MKV_MEM_DEVICE, &q, err)) ||
        (st = mkv_buffer_create(d, kv_bytes, MKV_MEM_DEVICE, &k, err)) ||
        (st = mkv_buffer_create(d, kv_bytes, MKV_MEM_DEVICE, &v, err)) ||
        (st = mkv_buffer_create(d, 4 * mkv_attn_partials_floats(n_head, a.n_split, head_dim, 1), MKV_MEM_DEVICE, &part, err)) ||
        /* the merge's split counters (attn.merge), created zero */
        (st = mkv_buffer_create(d, 4ull * n_kv_head, MKV_MEM_DEVICE, &done, err)) ||
        (st = mkv_buffer_create(d, 4ull * n_head * head_dim, MKV_MEM_DEVICE, &out, err)))
        goto out;
    attn_args args = {&a, &params, &q, &k, &v, &part, &done, &out};
    if ((st = time_reps(d, rep_attn, &args, reps, ms, err))) goto out;
    *gbps = *ms > 0 ? 2.0 * kv_bytes / (*ms * 1e-3) * 1e-9 : 0;
out:;
    mkv_buffer *bufs[] = {&params, &q, &k, &v, &part, &done, &out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mkv_buffer_destroy(d, bufs[i]);
    return st;
}
