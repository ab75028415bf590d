#version 450
// Matrix-vector product with weights read as stored (any weight type: the
// decoder is wtype.glsl, one variant per type) and f32 accumulation, the
// workhorse of decoding (every projection, the LM head). A workgroup owns
// ROWS consecutive rows; each subgroup takes NR rows at a time, its lanes
// stride over the rows' units, each unit's x loaded once for the NR rows (8 weights for
// f16, a block of 32 or a 64-element part of a 256 super-block for the
// quantized types); their sums over the lanes meet in a butterfly that also
// hands them out (sg_sums.glsl): no shared memory, no barrier.
// The loop over rows makes the result independent of the subgroup size the
// driver actually uses.
//
// Variants (kernels.cmake):
//   matvec        y[row_offset + r] = (accumulate ? y[..] : 0) + act(W[r] . x)
//                 act: identity, or sigmoid (the MeKi gate on its own)
//   matvec_swiglu y[r] = silu(W[r] . x) * (W[up_row + r] . x)  (SwiGLU: W_gate's
//                 rows, then W_up's, in one matrix)
//   matvec_swiglu_meki  the FFN's gate/up and the MeKi gate in one
//                 dispatch: both read u = RMSNorm_ffn(a). W_mg's rows are
//                 stacked under W_gate's (its first half) and W_up's (its
//                 second half) at load when the three have one type
//                 (model.c), so rows r >= n_ffn are
//                 two gate rows each, computed exactly like a SwiGLU row
//                 (one x load feeding two weight rows), and the grid grows
//                 by a few workgroups of the same work: lavapipe, which
//                 splits the grid statically between its threads, stays
//                 balanced, and the gate costs its bytes at the SwiGLU's
//                 rate (a gate row computed on its own, with its own x
//                 loads, cost about twice that).
//                 (W2[r] = W[up_row + r]):
//                 r <  n_ffn: y[r] = silu(W[r] . x) * (W2[r] . x)         (t)
//                 r >= n_ffn, j = r - n_ffn, h = n_rows - n_ffn:
//                   y2[j]     = sigmoid(W[r] . x)                         (g = sigmoid(W_mg u))
//                   y2[h + j] = sigmoid(W2[r] . x)   (if h + j < n_mem)
//                 The bank row is added where g is used, in ffn_out_meki:
//                 reading the staged slab and the step params here made
//                 every SwiGLU row about 3 % slower on lavapipe (measured
//                 with the rows alike, only those reads added or not),
//                 and it kept layer 0's gate out of the part of the step
//                 that runs while the slab is read.
// Weights and x are read as storage buffers or, in the _tb variants, as
// uniform texel buffers (wt_bind.glsl). Host description: matvec.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"

layout(constant_id = 1) const uint ROWS = 8; // rows per workgroup
layout(constant_id = 2) const uint NR = 4;   // rows a subgroup takes at once: each x load feeds NR rows
layout(constant_id = 3) const uint SG = 8;   // the subgroup size (gl_SubgroupSize must equal it)
// 1: the NR rows from r0 (W_up's too) lie in one interleaving group, so a
// unit's scale word of all of them comes in NR / 4 loads (wt_sw4; the host
// checks the layout: ops.c). A constant, not a branch on the push
// constants: lavapipe runs a loop inside a branch not taken once with no
// lane active, which cost the short rows of the 0.6b shape 4-9 %.
layout(constant_id = 4) const uint SW = 0;
// The sums a lane holds: NR rows' (SwiGLU: row i's gate sum at 2i, its up
// sum at 2i + 1), padded with zeros to a power of two (sg_sums.glsl).
const uint NRP = POW2_CEIL(NR);
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
const uint SG_N = 2u * NRP, PER_ROW = 2u;
#else
const uint SG_N = NRP, PER_ROW = 1u;
#endif
#include "sg_sums.glsl"

#define WT_BINDING_W 0 // W: rows of ldw words (wtype_layout.h)
#define WT_BINDING_X 1 // x: padded with zeros to whole units
#include "wt_bind.glsl"
layout(std430, binding = 2) buffer Output { float y[]; };
#if defined(SWIGLU_MEKI)
layout(std430, binding = 3) writeonly buffer Output2 { float y2[]; }; // g
#endif

#include "wtype.glsl"

layout(push_constant) uniform PushConstants {
    uint n_rows;     // rows of W handled by this dispatch (SwiGLU: of W_gate)
    uint ldw;        // row stride in 32-bit words (a multiple of 4)
    uint nb;         // blocks per row
    uint row_offset; // matvec: first output index
    uint accumulate; // matvec: 1 adds into y
    uint act;        // matvec: 1 applies sigmoid
    uint up_row;     // SwiGLU: first row of W_up in W
    uint n_ffn;      // matvec_swiglu_meki: rows below are SwiGLU rows, from here on gate rows
    uint n_mem;      // matvec_swiglu_meki: d_mem, gate values
    uint il;         // W's row interleaving (wt_common.glsl)
} pc;

void main()
{
    wt_il_set(pc.il);
    const uint lane = gl_SubgroupInvocationID, n_lanes = gl_SubgroupSize;
    const uint n_units = pc.nb * (WT_BLOCK / WT_UNIT);
    const uint r_begin = gl_WorkGroupID.x * ROWS;
    const uint r_end = min(r_begin + ROWS, pc.n_rows);
    // (the loops test at their end: common.glsl, END_TESTED)
    uint r0 = r_begin + gl_SubgroupID * NR;
    if (r0 < r_end) do {
        // rows r0 .. r0 + NR - 1; past r_end the last row is computed again and not written
        [[unroll]] for (uint i = 0u; i < SG_N; i++) sg_v[i] = 0.0;
        uvec2 hw[NR], hw2[NR]; // the rows' handles (W2: SwiGLU's up rows)
        [[unroll]] for (uint i = 0u; i < NR; i++) {
            const uint r = min(r0 + i, r_end - 1u);
            hw[i] = WT_ROW(r, pc.ldw, pc.nb);
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
            hw2[i] = WT_ROW(pc.up_row + r, pc.ldw, pc.nb);
#endif
        }
        uint u = lane; // the lanes take units u, u + n_lanes, ..
        do {
            if (u < n_units) {
#if WT_SW
              if (SW != 0u) {
                // a unit's scale word of the NR rows (W_up's too) in NR / 4 loads
                wt_load_x(u);
                uvec4 sw[(NR + 3u) / 4u], sw2[(NR + 3u) / 4u]; // row i's word: sw[i / 4][i % 4] (NR >= 4 here; the size stays > 0 for any NR)
                [[unroll]] for (uint k = 0u; k < NR / 4u; k++) {
                    sw[k] = wt_sw4(hw[0], wt_sw_of(u), k);
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
                    sw2[k] = wt_sw4(hw2[0], wt_sw_of(u), k);
#endif
                }
                [[unroll]] for (uint i = 0u; i < NR; i++) {
                    sg_v[PER_ROW * i] += wt_dot_sw(hw[i], pc.nb, u, sw[i / 4u][i % 4u]);
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
                    sg_v[2u * i + 1u] += wt_dot_sw(hw2[i], pc.nb, u, sw2[i / 4u][i % 4u]);
#endif
                }
              } else
#endif
              {
                wt_load_x(u);
                [[unroll]] for (uint i = 0u; i < NR; i++) {
                    sg_v[PER_ROW * i] += wt_dot(hw[i], pc.nb, u);
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
                    sg_v[2u * i + 1u] += wt_dot(hw2[i], pc.nb, u);
#endif
                }
              }
            }
            u += n_lanes;
        } while (u - lane < n_units);
        // the sums over the lanes, each lane left with its share (sg_sums.glsl); a
        // SwiGLU row's two sums stay in one lane, or (one sum per lane) the up sum
        // is fetched from the next lane that holds it
        sg_sums(lane);
        const float next = SG_R == 1u ? subgroupShuffleXor(sg_v[0], SG_D) : 0.0;
        [[unroll]] for (uint j = 0u; j < SG_R; j += PER_ROW) {
            const uint e = sg_first(lane) + j, i = e / PER_ROW, r = r0 + i;
            float d = sg_v[j];
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
            const float up = SG_R == 1u ? next : sg_v[j + 1u];
#endif
            if (!sg_owner(lane) || e % PER_ROW != 0u || i >= NR || r >= r_end) continue;
#if defined(SWIGLU_MEKI)
            if (r < pc.n_ffn) {
                y[r] = d / (1.0 + exp(-d)) * up;
            } else {
                const uint g1 = r - pc.n_ffn, g2 = pc.n_rows - pc.n_ffn + g1;
                y2[g1] = 1.0 / (1.0 + exp(-d));
                if (g2 < pc.n_mem) y2[g2] = 1.0 / (1.0 + exp(-up));
            }
#elif defined(SWIGLU)
            y[r] = d / (1.0 + exp(-d)) * up;
#else
            if (pc.act != 0u) d = 1.0 / (1.0 + exp(-d));
            const uint o = pc.row_offset + r;
            y[o] = (pc.accumulate != 0u ? y[o] : 0.0) + d;
#endif
        }
        r0 += gl_NumSubgroups * NR;
    } while (r0 < r_end);
}
