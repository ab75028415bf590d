/* mekivk bench --kernels: the matrix-vector kernels of every weight type
 * timed alone at a model config's projection shapes, in GB/s of the stored
 * bytes they read, so each can be set against the bandwidth probe. */
#ifndef MKV_KERNEL_BENCH_H
#define MKV_KERNEL_BENCH_H

#include "device.h"
#include "wtype.h"

typedef struct mkv_kernel_bench_row {
    mkv_wtype type;
    const char *shape;      /* "gate" (d_ffn x d_model), "down" (d_model x d_ffn), ... */
    uint32_t rows, cols;
    uint64_t bytes;         /* stored bytes one product reads */
    double ms;              /* median GPU time of one product */
    double gbps;
} mkv_kernel_bench_row;

#define MKV_KERNEL_BENCH_MAX (MKV_WT_COUNT * 4)

/* Times matvec for each weight type t whose bit (1u << t) is set in types
 * on rows x cols matrices of d_model and d_ffn (random valid blocks), reps
 * products each (median). Fills out[] and *n_out; progress on stderr when
 * progress. */
mkv_status mkv_kernel_bench(mkv_device *d, uint32_t d_model, uint32_t d_ffn, uint32_t types, uint32_t reps,
                            bool progress, mkv_kernel_bench_row *out, uint32_t *n_out, mkv_error *err);

/* Decode attention (attn + attn_combine) over n_kv cached positions (f16
 * K/V), median of reps; gbps counts the K and V bytes read. */
mkv_status mkv_kernel_bench_attention(mkv_device *d, uint32_t n_head, uint32_t n_kv_head, uint32_t head_dim,
                                      uint32_t n_kv, uint32_t reps, double *ms, double *gbps, mkv_error *err);

#endif
