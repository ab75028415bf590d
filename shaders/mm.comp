#version 450
// Matrix-matrix product for a batch of tokens (prefill): Y[b] = act(W X[b])
// for the tokens b < step.n_tok of the pass, with weights read as stored
// (any weight type: the decoder is wtype.glsl) and f32 accumulation.
// Workgroup (i, j) owns ROWS consecutive rows of W and tokens NB*j ..
// NB*j + NB - 1; each subgroup takes NR rows at a time and its lanes stride
// over the rows' units (as matvec.comp does for one token). A unit goes in
// parts of 8 elements: a lane loads the part's x for its NB tokens once and
// decodes each of the NR rows' part once (wt_part: the dequantization sits
// in this loader, not in the product), then accumulates the NR x NB
// register tile. At the end a butterfly over the lanes both sums the tile
// and hands it out (below): no shared memory, no barrier. Every
// weight byte read feeds NB tokens, every x load NR rows: on a CPU driver,
// where each lane's load is a memory access of its own and decoding a
// quantized weight costs more than the multiply-add, this is what makes a
// batch faster per token than decode. NR, NB and ROWS are tunables.
//
//   y[b*ldy + y_offset + r] = (accumulate ? y[..] : 0) + act(W[r] . x[b])
//   act: identity, or sigmoid (the MeKi gate)
// x rows are ldx4 vec4 apart and padded with zeros to whole units of W's
// type; rows up to the next multiple of NB are readable (their values are
// never written). Host description: mm.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"

layout(constant_id = 1) const uint ROWS = 16; // rows per workgroup
layout(constant_id = 2) const uint NR = 4;    // rows a subgroup takes at once
layout(constant_id = 3) const uint NB = 8;    // tokens per workgroup
layout(constant_id = 4) const uint SG = 8;    // the subgroup size (gl_SubgroupSize must equal it)

// The register tile: T = NR x NB sums (entry i * NB + b: row i, token b),
// padded with zeros to a power of two for the butterfly (sg_sums.glsl).
const uint T = NR * NB;
const uint TP = POW2_CEIL(T);
const uint SG_N = TP;
#include "sg_sums.glsl"

#define WT_BINDING_W 0 // W: rows of ldw words (wtype_layout.h)
#define WT_BINDING_X 1 // x: a row of ldx4 vec4 per token
#include "wt_bind.glsl"
layout(std430, binding = 2) buffer Output { float y[]; };
STEP_PARAMS_BUFFER(3)

#include "wtype.glsl"
#include "wt_part.glsl"

layout(push_constant) uniform PushConstants {
    uint n_rows;     // rows of W
    uint ldw;        // W's row stride in 32-bit words
    uint nb;         // W's blocks per row
    uint ldx4;       // x's row stride in vec4
    uint ldy;        // y's row stride in floats
    uint y_offset;   // first output column
    uint accumulate; // 1 adds into y
    uint act;        // 1 applies sigmoid
    uint il;         // W's row interleaving (wt_common.glsl)
} pc;

// Output (token b, row r): act, then stored or added.
void put(uint b, uint r, float d)
{
    if (pc.act != 0u) d = 1.0 / (1.0 + exp(-d));
    const uint at = b * pc.ldy + pc.y_offset + r;
    y[at] = (pc.accumulate != 0u ? y[at] : 0.0) + d;
}

void main()
{
    wt_il_set(pc.il);
    const uint lane = gl_SubgroupInvocationID, n_lanes = gl_SubgroupSize;
    const uint n_units = pc.nb * (WT_BLOCK / WT_UNIT);
    const uint b0 = gl_WorkGroupID.y * NB, n_tok = step.n_tok;
    if (b0 >= n_tok) return;
    const uint r_begin = gl_WorkGroupID.x * ROWS;
    const uint r_end = min(r_begin + ROWS, pc.n_rows);
    // (the loops test at their end: common.glsl, END_TESTED)
    uint r0 = r_begin + gl_SubgroupID * NR;
    if (r0 < r_end) do {
        // rows r0 .. r0 + NR - 1; past r_end the last row is computed again and not written
        [[unroll]] for (uint i = 0u; i < TP; i++) sg_v[i] = 0.0; // the register tile (sg_sums.glsl)
        uvec2 hw[NR]; // the rows' handles
        [[unroll]] for (uint i = 0u; i < NR; i++) hw[i] = WT_ROW(min(r0 + i, r_end - 1u), pc.ldw, pc.nb);
        uint u = lane; // the lanes take units u, u + n_lanes, ..
        do {
          if (u < n_units) {
            vec4 pp[NR]; // what the unit's parts share, per row (wt_part_prep)
            [[unroll]] for (uint i = 0u; i < NR; i++) pp[i] = wt_part_prep(hw[i], pc.nb, u);
            // a unit in parts of 8 elements: the x of the part for NB tokens,
            // then each row's part decoded once for all of them
            uint c = 0u;
#if defined(WT_Q4_K) || defined(WT_Q5_K) || defined(WT_Q6_K)
            [[dont_unroll]] // 8 parts: a loop (unrolled, LLVM took ~20 s to compile a k-quant's mm, for no gain)
#else
            [[unroll]] // 1 or 4 parts: no loop (lavapipe, 128-token prefill of the 0.6b shape: a loop of
                       // one made f16's mm 30 % slower, of four q4_0's ~15 %: END_TESTED's idle pass)
#endif
            do {
                vec4 xlo[NB], xhi[NB];
                [[unroll]] for (uint b = 0u; b < NB; b++) {
                    const uint xb = (b0 + b) * pc.ldx4;
                    xlo[b] = WT_X(xb + wt_xi(u, 2u * c));
                    xhi[b] = WT_X(xb + wt_xi(u, 2u * c + 1u));
                }
                [[unroll]] for (uint i = 0u; i < NR; i++) {
                    vec4 lo, hi;
                    wt_part_p(hw[i], pc.nb, u, c, pp[i], lo, hi);
                    [[unroll]] for (uint b = 0u; b < NB; b++) sg_v[i * NB + b] += dot(lo, xlo[b]) + dot(hi, xhi[b]);
                }
                c++;
            } while (c < WT_XN / 2u);
          }
          u += n_lanes;
        } while (u - lane < n_units);
        // the tile summed over the lanes, each lane left with its share of the sums
        sg_sums(lane);
        [[unroll]] for (uint j = 0u; j < SG_R; j++) {
            const uint e = sg_first(lane) + j, i = e / NB, b = e % NB;
            if (sg_owner(lane) && e < T && r0 + i < r_end && b0 + b < n_tok) put(b0 + b, r0 + i, sg_v[j]);
        }
        r0 += gl_NumSubgroups * NR;
    } while (r0 < r_end);
}
