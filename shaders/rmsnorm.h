/* Host description of rmsnorm.comp.
 * Bindings: 0 x (float, n_vec*n), 1 w (float, n), 2 y (float, n_vec*n).
 * Spec constants: 0 WG (power of two). Dispatch: n_vec x 1 x 1. */
#ifndef MKV_SHADER_RMSNORM_H
#define MKV_SHADER_RMSNORM_H
#include <stdint.h>
typedef struct mkv_pc_rmsnorm {
    uint32_t n;
    float eps;
} mkv_pc_rmsnorm;
#endif
