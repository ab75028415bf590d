/* Host description of rope_kv.comp.
 * Bindings: 0 step params, 1 qkv (float [q|k|v]), 2 q_norm, 3 k_norm
 *           (float head_dim; any buffer when qk_norm = 0), 4 rope table
 *           (vec2 [n_ctx][head_dim/2]: cos, sin of pos*theta^(-2i/head_dim)),
 *           5 q (float n_head*head_dim), 6 K cache, 7 V cache
 *           (f16 [n_ctx][n_kv_head][head_dim]), 8 bias (float [q|k|v], laid
 *           out like qkv; any buffer when has_bias = 0).
 * Push constants: mkv_pc_rope_kv. rope_style picks the pairs rotated by
 *   table entry i: MKV_ROPE_KV_NEOX (i, i + head_dim/2), as qwen2/qwen3;
 *   MKV_ROPE_KV_NORM (2i, 2i + 1), as llama after llama.cpp's Q/K
 *   permutation. A push constant rather than a specialization constant:
 *   the branch is uniform and cheap beside the loads, and one pipeline
 *   serves every model.
 * Spec constants: 0 WG (power of two, WG*8 >= head_dim/2). Needs subgroup
 * arithmetic (the q/k norm's sum).
 * Limits: head_dim even, <= 512. Dispatch: (n_head + n_kv_head) x batch;
 * token b (row b of qkv and q) goes to position step.pos + b, rows past
 * step.n_tok do nothing. */
#ifndef MKV_SHADER_ROPE_KV_H
#define MKV_SHADER_ROPE_KV_H
#include <stdint.h>
typedef struct mkv_pc_rope_kv {
    uint32_t n_head, n_kv_head, head_dim, qk_norm;
    float eps;
    uint32_t rope_style; /* MKV_ROPE_KV_NEOX or MKV_ROPE_KV_NORM */
    uint32_t has_bias;   /* 1: q, k, v += bias before norm and RoPE */
    uint32_t scale_base; /* rope_kv_q8: word offset of the scales in each cache (mkv_kv_layout) */
    uint32_t ld_qkv, ld_q; /* row strides (floats) of qkv and q: one row per token */
} mkv_pc_rope_kv;
#define MKV_ROPE_KV_MAX_HEAD_DIM 512u
#define MKV_ROPE_KV_NEOX 0u
#define MKV_ROPE_KV_NORM 1u
#endif
