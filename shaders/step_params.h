/* Host side of STEP_PARAMS_BUFFER in common.glsl: the per-pass values the
 * host writes into a small host-visible buffer before each replay of a
 * recorded forward pass (a decode step: one token; a prefill chunk: up to
 * the program's batch). */
#ifndef MKV_STEP_PARAMS_H
#define MKV_STEP_PARAMS_H
#include <stdint.h>
typedef struct mkv_step_token {
    uint32_t token;       /* token id */
    uint32_t slab_offset; /* byte offset of its bank slab in the staging ring */
} mkv_step_token;
typedef struct mkv_step_params {
    uint32_t pos;   /* position of tok[0]; token b sits at pos + b */
    uint32_t n_tok; /* tokens in this pass, 1 .. the program's batch */
    uint32_t pad[2];
    mkv_step_token tok[1]; /* n_tok entries: the buffer holds the program's batch */
} mkv_step_params;
/* Bytes of a params buffer for a batch of n tokens. */
static inline uint64_t mkv_step_params_bytes(uint32_t n) { return 16 + 8ull * (n ? n : 1); }
#endif
