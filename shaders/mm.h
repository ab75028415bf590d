/* Host description of mm.comp (one variant per weight type; mm_tb_* read
 * W and x as texel buffers).
 * Bindings: 0 W (rows of ldw words, wtype_layout.h), 1 x (float, a row of
 *           ldx4 vec4 per token, zero past the columns; rows up to the
 *           next multiple of NB readable), 2 y (float, rows of ldy),
 *           3 step params (n_tok: the tokens of the pass).
 * Spec constants: 0 WG (a multiple of the subgroup size), 1 ROWS (rows per
 *   workgroup), 2 NR (rows a subgroup takes at once), 3 NB (tokens per
 *   workgroup), 4 SG (the device's subgroup size: gl_SubgroupSize must
 *   equal it, the final butterfly is unrolled for it).
 * Dispatch: ceil(n_rows / ROWS) x ceil(batch / NB) x 1. */
#ifndef MKV_SHADER_MM_H
#define MKV_SHADER_MM_H
#include <stdint.h>
typedef struct mkv_pc_mm {
    uint32_t n_rows, ldw, nb, ldx4, ldy, y_offset, accumulate, act;
    uint32_t il; /* W's row interleaving (mkv_matrix.il) */
} mkv_pc_mm;
#endif
