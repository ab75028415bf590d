/* Host description of meki_out.comp: z = W_mo v, then h += f +
 * RMSNorm_meki(z) and xn = RMSNorm_next(h) by the last workgroup.
 * Bindings: 0 W_mo (f16, rows of ld8*8 halves, padding zero), 1 v (float,
 *           ld8*8, padding zero), 2 z (float n), 3 h (float n, in/out),
 *           4 f (float n), 5 meki_norm weight, 6 the next norm's weight
 *           (next attn_norm or output_norm), 7 xn (float n, out),
 *           8 counter (one uint, zero before the first dispatch; every
 *           dispatch leaves it zero).
 * Spec constants: 0 WG (power of two), 1 ROWS (rows of W_mo per workgroup).
 * Needs subgroup arithmetic. Dispatch: n_groups = ceil(n / ROWS) x 1 x 1. */
#ifndef MKV_SHADER_MEKI_OUT_H
#define MKV_SHADER_MEKI_OUT_H
#include <stdint.h>
typedef struct mkv_pc_meki_out {
    uint32_t n, ld8, n_groups;
    float eps;
} mkv_pc_meki_out;
#endif
