/* Host description of mm_cm.comp (one variant per weight type, and
 * mm_cm_emu, its matrix steps done by the lanes: any device): mm on
 * cooperative matrices (VK_NV_cooperative_matrix, 16 x 16 x 16, f16 A and
 * B, f32 sums), chosen by the tunable mm.coop where the device has them
 * (mkv_device.coop_nv).
 * Bindings and push constants: mm.comp's (mm.h, mkv_pc_mm); x rows past
 * the pass's tokens are never read.
 * Spec constants: 0 WG (a multiple of the subgroup size: WG / SG
 *   subgroups, 16 rows each), 1 SG (the device's subgroup size).
 * Shared memory: the weights' tile (16 WG / SG rows x KT f16), the x tile
 *   (32 tokens x KT f16) and 1 KiB per subgroup, KT = mkv_mm_cm_kt.
 * Dispatch: ceil(n_rows / (16 WG / SG)) x ceil(batch / 32) x 1. */
#ifndef MKV_SHADER_MM_CM_H
#define MKV_SHADER_MM_CM_H
#include <stdbool.h>
#include <stdint.h>
#define MKV_MM_CM_TOKENS 32u /* tokens per workgroup */
/* Weights per tile along a row: 64 (whole units of every type), or a whole
 * block of 256 where a unit's elements are spread over its block (Q6_K). */
static inline uint32_t mkv_mm_cm_kt(bool q6_k) { return q6_k ? 256u : 64u; }
/* The shared memory of a workgroup of n_sg subgroups. */
static inline uint32_t mkv_mm_cm_shared(uint32_t kt, uint32_t n_sg)
{
    return 2u * kt * (16u * n_sg) + 2u * kt * MKV_MM_CM_TOKENS + 1024u * n_sg;
}
#endif
