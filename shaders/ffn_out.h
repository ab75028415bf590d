/* Host description of ffn_out.comp (variants ffn_out, ffn_out_meki): the
 * FFN's down projection into the residual stream, the MeKi branch's W_mo
 * product and norm (ffn_out_meki), and the next norm, by the last workgroup.
 * Bindings: 0 W_down (rows of ldw words, wtype_layout.h), 1 t (float,
 *           padded with zeros to whole units), 2 h (float n, in/out), 3 the next norm's
 *           weight (next attn_norm or output_norm), 4 xn (float n, out),
 *           5 counter (one uint, zero before the first dispatch; every
 *           dispatch leaves it zero); ffn_out_meki also: 6 W_mo transposed
 *           in bands (f16, wmo_layout.h: ld8_2 / MKV_WMO_BAND bands of
 *           n_mem x 8 MKV_WMO_BAND halves, ld8_2 * 8 >= n), 7 g (float n_mem,
 *           sigmoid(W_mg u); read 4 at a time: the buffer holds whole
 *           16 bytes, as every mkv_buffer does), 8 z (float n + n_groups, scratch: W_mo v, then
 *           each workgroup's share of its sum of squares), 9 meki_norm weight,
 *           10 the staging ring of bank slabs (this layer's row at
 *           step.tok[0].y + row_byte_offset), 11 step params.
 * Spec constants: 0 WG (power of two, a multiple of the subgroup size),
 * 1 ROWS (rows per workgroup; ffn_out_meki: a multiple of 8, at most 8 WG),
 * 2 NR (rows of W_down a subgroup takes at once, as in matvec.h), 3 SG (the
 * device's subgroup size, as in matvec.h), 4 SW (as in matvec.h), 5 V4 (1
 * when n % 4 == 0: the tail reads and writes h, z, xn and the norm weights
 * as vec4s). The _tb variants read W_down, t, W_mo, g, the slabs and the
 * two norm weights (3, 9) through their texel views.
 * Needs subgroup arithmetic and shuffles. Dispatch: n_groups = ceil(n / ROWS) x 1 x 1. */
#ifndef MKV_SHADER_FFN_OUT_H
#define MKV_SHADER_FFN_OUT_H
#include <stdint.h>
typedef struct mkv_pc_ffn_out {
    uint32_t n, ldw, nb, ld8_2, n_mem, n_groups;
    float eps;
    uint32_t row_byte_offset, bank_dtype; /* ffn_out_meki: the bank row */
    uint32_t il;                          /* W_down's row interleaving (mkv_matrix.il) */
} mkv_pc_ffn_out;
#endif
