/* Host description of rmsnorm.comp (variants rmsnorm, rmsnorm_add,
 * rmsnorm_last, rmsnorm_add_norm, and their *_tb).
 * Bindings: 0 x (float, n_vec rows of ldx), 1 w (float, n), 2 y (float,
 *           n_vec rows of ldy; rmsnorm_last: n), 3 (rmsnorm_last) step params;
 *           rmsnorm_add_norm: 3 w2 (float, n), 4 y2 (float, n_vec rows of ldy);
 *           rmsnorm_add: 3, rmsnorm_add_norm: 5, y again (its old values
 *           are read through this binding, texel in the *_tb variants).
 * Texel variants (*_tb): x and the weights through their RGBA32UI views.
 * Spec constants: 0 WG (any multiple of the subgroup size), 1 P (elements
 *   an invocation takes at once: 4 needs n, ldx, ldy multiples of 4; else
 *   1). Needs subgroup arithmetic. Dispatch: n_vec x 1 x 1
 * (rmsnorm_last: 1 x 1 x 1). */
#ifndef MKV_SHADER_RMSNORM_H
#define MKV_SHADER_RMSNORM_H
#include <stdint.h>
typedef struct mkv_pc_rmsnorm {
    uint32_t n;
    float eps;
    uint32_t ldx, ldy;
} mkv_pc_rmsnorm;
#endif
