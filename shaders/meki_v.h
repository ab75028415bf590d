/* Host description of meki_v.comp.
 * Bindings: 0 staging ring, 1 g (float, rows of ldg), 2 v (float, rows of
 *           ldv, zero past n_mem), 3 step params (tok[b].y: token b's slab).
 * Spec constants: 0 WG. Dispatch: ceil(n_mem / WG) x batch x 1. */
#ifndef MKV_SHADER_MEKI_V_H
#define MKV_SHADER_MEKI_V_H
#include <stdint.h>
typedef struct mkv_pc_meki_v {
    uint32_t n_mem, ldg, ldv, row_byte_offset, bank_dtype;
} mkv_pc_meki_v;
#endif
