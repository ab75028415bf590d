/* Host description of matvec.comp (variants matvec, matvec_swiglu,
 * matvec_swiglu_meki, each for every weight type: kernels.cmake).
 * Bindings: 0 W (rows of ldw words in the layout of wtype_layout.h; the
 *             SwiGLU variants hold W_gate's rows, then from row up_row
 *             W_up's; matvec_swiglu_meki's also W_mg's halves under each,
 *             n_rows = n_ffn + ceil(n_mem / 2)),
 *           1 x (float, padded with zeros to whole units of the type),
 *           2 y (float), 3 y2 = g (float n_mem; matvec_swiglu_meki).
 * Spec constants: 0 WG, 1 ROWS (rows per workgroup), 2 NR (rows a subgroup
 * takes at once, reusing each x load), 3 SG (the device's subgroup size:
 * gl_SubgroupSize must equal it; the final butterfly is unrolled for it),
 * 4 SW (1: load a unit's scale words of the NR rows at once; only where
 * the type has them (wtype_layout.h SW), NR is a multiple of 4 dividing
 * W's interleaving group, ROWS and up_row multiples of NR: ops.c checks);
 * any other values are correct, ROWS a multiple of NR x (WG / subgroup size)
 * keeps every subgroup busy. Needs subgroup shuffles in compute shaders.
 * Dispatch: ceil(n_rows / ROWS) x 1 x 1. */
#ifndef MKV_SHADER_MATVEC_H
#define MKV_SHADER_MATVEC_H
#include <stdint.h>

typedef struct mkv_pc_matvec {
    uint32_t n_rows, ldw, nb;
    uint32_t row_offset, accumulate, act; /* matvec */
    uint32_t up_row;                      /* SwiGLU variants */
    uint32_t n_ffn, n_mem;                /* matvec_swiglu_meki */
    uint32_t il;                          /* W's row interleaving (mkv_matrix.il) */
} mkv_pc_matvec;

static inline uint32_t mkv_matvec_groups(uint32_t n_rows, uint32_t rows_per_group)
{
    return (n_rows + rows_per_group - 1) / rows_per_group;
}
#endif
