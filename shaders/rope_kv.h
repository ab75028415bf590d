/* Host description of rope_kv.comp (rope_kv_tb, rope_kv_q8_tb: bindings
 * 1-4 and 8 read through their RGBA32UI texel views, wt_bind.glsl).
 * Bindings: 0 step params, 1 qkv (float [q|k|v]), 2 q_norm, 3 k_norm
 *           (float head_dim; any buffer when QK_NORM = 0), 4 rope table
 *           (vec2 [n_ctx][head_dim/2]: cos, sin of pos*theta^(-2i/head_dim)),
 *           5 q (float n_head*head_dim), 6 K cache, 7 V cache
 *           (f16 [n_kv_head][n_ctx][head_dim]: kv_layout.h), 8 bias (float [q|k|v], laid
 *           out like qkv; any buffer when HAS_BIAS = 0).
 * Push constants: mkv_pc_rope_kv.
 * Spec constants: 0 WG (any multiple of the subgroup size), 1 P (pairs a
 *   lane takes at once: 4 needs head_dim % 8 == 0 and ld_qkv, ld_q
 *   multiples of 4; else 1), 2 NEOX (1: pairs (i, i + head_dim/2), as
 *   qwen2/qwen3; 0: pairs (2i, 2i + 1), as llama after llama.cpp's Q/K
 *   permutation), 3 QK_NORM (1: q/k RMSNorm), 4 HAS_BIAS (1: q, k, v +=
 *   bias first). Flags are spec constants, not push constants, because
 *   lavapipe runs both sides of every branch, uniform or not: a model's
 *   pipeline holds only what the model does. Needs subgroup arithmetic
 *   (the q/k norm's sum).
 * Limits: head_dim even, <= 512. Dispatch: (n_head + n_kv_head) x batch;
 * token b (row b of qkv and q) goes to position step.pos + b, rows past
 * step.n_tok do nothing. */
#ifndef MKV_SHADER_ROPE_KV_H
#define MKV_SHADER_ROPE_KV_H
#include <stdint.h>
typedef struct mkv_pc_rope_kv {
    uint32_t n_head, n_kv_head, head_dim;
    float eps;
    uint32_t scale_base; /* rope_kv_q8: word offset of the scales in each cache (mkv_kv_layout) */
    uint32_t ld_qkv, ld_q; /* row strides (floats) of qkv and q: one row per token */
    uint32_t n_ctx;        /* positions the caches hold (kv_layout.h) */
} mkv_pc_rope_kv;
#define MKV_ROPE_KV_MAX_HEAD_DIM 512u
#endif
