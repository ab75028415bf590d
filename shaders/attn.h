/* Host description of attn.comp (decode attention, split over the cache).
 * Bindings: 0 step params, 1 q (float n_head*head_dim), 2 K cache,
 *           3 V cache (f16 [n_kv_head][n_ctx][head_dim]: kv_layout.h), 4 partials (float
 *           n_head*n_split*(head_dim+2)), or with n_split = 1 the output
 *           (attn_combine's: no combine runs).
 *           5 the output when merging (MERGE), 6 the merge's counters
 *           (uint per token and KV head, zero before; MERGE), 7-11 (attn_rope:
 *           decode, f16 caches) rope_kv's 1-4 and 8: the raw [q|k|v] row,
 *           q_norm, k_norm, the rope table, the bias (rope_kv.h).
 * Spec constants: 0 WG (power of two, a multiple of the subgroup size),
 *   1 G = n_head/n_kv_head, 2 head_dim, 3 the device's subgroup size
 *   (gl_SubgroupSize must equal it: lanes are split into teams by it),
 *   4 U (positions a team takes per step: 1, 2, 4 or 8), 5 MERGE (the last
 *   split of each KV head merges the splits: attn_combine does not run),
 *   6-8 (attn_rope) NEOX, QK_NORM, HAS_BIAS as rope_kv's 2-4.
 * Limits: n_head/n_kv_head <= 16, head_dim even and <= 256.
 * Dispatch: n_kv_head x (batch * n_split) x 1: token b of the pass (row b
 * of q, of ld_q floats; its partials after those of token b - 1) attends to
 * positions 0 .. step.pos + b. */
#ifndef MKV_SHADER_ATTN_H
#define MKV_SHADER_ATTN_H
#include <stdint.h>
#include "kv_layout.h"
typedef struct mkv_pc_attn {
    uint32_t n_kv_head, n_split;
    float scale;
    uint32_t scale_base; /* attn_q8*: word offset of the scales in each cache (mkv_kv_layout) */
    uint32_t ld_q;       /* q's row stride in floats */
    uint32_t ld_out;     /* n_split = 1: the output's row stride in floats */
    uint32_t n_ctx;      /* positions the caches hold (kv_layout.h) */
    float eps;           /* attn_rope: the q/k RMSNorm's */
} mkv_pc_attn;
#define MKV_ATTN_MAX_GROUP 16u
#define MKV_ATTN_MAX_HEAD_DIM 256u

/* Bytes of shared memory attn.comp declares for workgroups of wg threads,
 * subgroups of sg and head_dim hd: the teams' merge (P lanes a team: the
 * power of two >= the row's chunks, at most sg), last_group.glsl's flag,
 * wg_sum.glsl's scratch and attn_merge.glsl's (at most 256 invocations'
 * sums). test_kernels checks it against what the SPIR-V declares
 * (mkv_spirv_shared_bytes) at 1560 shapes. */
static inline uint32_t mkv_attn_shared(uint32_t wg, uint32_t sg, uint32_t hd)
{
    const uint32_t nch = hd % 8 == 0 ? hd / 8 : hd / 2;
    uint32_t p = 1;
    while (p < nch && p < 128) p <<= 1;
    if (p > sg) p = sg;
    const uint32_t teams = wg / (p ? p : 1);
    return 4u * (2u * teams + teams * hd) + 4u + 4u * wg + 4u * MKV_ATTN_MAX_SPLIT + 16u * (wg < 256u ? wg : 256u);
}
#endif

/* attn_combine.comp (attn_combine_tb: the partials through their texel
 * view). Bindings: 0 partials (kv_layout.h), 1 out (float, a row of ld_out
 * per token: n_head*head_dim). Spec constants: 0 WG, 1 P (output values an
 * invocation takes at once: 4 needs head_dim and ld_out multiples of 4;
 * else 1). Dispatch: n_head x batch x 1. */
#ifndef MKV_SHADER_ATTN_COMBINE_H
#define MKV_SHADER_ATTN_COMBINE_H
typedef struct mkv_pc_attn_combine {
    uint32_t head_dim, n_split, ld_out;
} mkv_pc_attn_combine;
#endif
