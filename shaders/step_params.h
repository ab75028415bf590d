/* Host side of STEP_PARAMS_BUFFER in common.glsl: the per-token values the
 * host writes into a small host-visible buffer before each replay. */
#ifndef MKV_STEP_PARAMS_H
#define MKV_STEP_PARAMS_H
#include <stdint.h>
typedef struct mkv_step_params {
    uint32_t token;
    uint32_t pos;
    uint32_t n_kv;
    uint32_t slab_offset; /* byte offset of this token's bank slab in the staging ring */
} mkv_step_params;
#endif
