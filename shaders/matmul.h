/* Host description of matmul.comp (variants matmul, matmul_swiglu).
 * Bindings: 0 W (f16 rows of ld8*8 halves, padding zero),
 *           1 x (float, n_batch rows of ld8*8, padding zero; rows up to the
 *             next multiple of TB readable), 2 y (float, row stride ldy),
 *           3 W2 (matmul_swiglu: same shape as W).
 * Spec constants: 0 WG (weight rows per workgroup, one per thread),
 *                 1 TB (batch rows per workgroup, register-tile height).
 * Dispatch: ceil(n_rows / WG) x ceil(n_batch / TB) x 1. */
#ifndef MKV_SHADER_MATMUL_H
#define MKV_SHADER_MATMUL_H
#include <stdint.h>

typedef struct mkv_pc_matmul {
    uint32_t n_rows, n_batch, ld8, ldy, accumulate;
    float scale;
} mkv_pc_matmul;
#endif
