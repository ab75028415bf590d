/* Host description of matvec.comp (variants matvec, matvec_swiglu,
 * matvec_swiglu_meki).
 * Bindings: 0 W (f16, row stride ld = ld8*8 halves, padding zero),
 *           1 x (float, ld8*8 entries, padding zero), 2 y (float),
 *           3 W2 = W_up (matvec_swiglu, matvec_swiglu_meki), then for
 *             matvec_swiglu_meki: 4 y2 = g (float n_mem). Its W and W2
 *             hold W_mg's halves under W_gate's and W_up's rows
 *             (n_rows = n_ffn + ceil(n_mem / 2)).
 * Spec constants: 0 WG, 1 ROWS (rows per workgroup; any value is correct,
 * a multiple of WG / subgroup size keeps every subgroup busy).
 * Needs subgroup arithmetic in compute shaders.
 * Dispatch: ceil(n_rows / ROWS) x 1 x 1. */
#ifndef MKV_SHADER_MATVEC_H
#define MKV_SHADER_MATVEC_H
#include <stdint.h>

typedef struct mkv_pc_matvec {
    uint32_t n_rows, ld8, row_offset, accumulate;
} mkv_pc_matvec;

typedef struct mkv_pc_matvec_swiglu_meki {
    mkv_pc_matvec a;     /* all rows (row_offset 0, accumulate 0) */
    uint32_t n_ffn, n_mem;
} mkv_pc_matvec_swiglu_meki;

static inline uint32_t mkv_matvec_groups(uint32_t n_rows, uint32_t rows_per_group)
{
    return (n_rows + rows_per_group - 1) / rows_per_group;
}
#endif
