/* Host description of residual_meki.comp.
 * Bindings: 0 h (float n, in/out), 1 f (float n), 2 z (float n),
 *           3 meki_norm weight (float n), 4 the next norm's weight (float
 *           n: next layer's attn_norm, or output_norm), 5 xn (float n, out).
 * Spec constants: 0 WG (power of two). Dispatch: 1 x 1 x 1. */
#ifndef MKV_SHADER_RESIDUAL_MEKI_H
#define MKV_SHADER_RESIDUAL_MEKI_H
#include <stdint.h>
typedef struct mkv_pc_residual_meki {
    uint32_t n;
    float eps;
} mkv_pc_residual_meki;
#endif
