#version 450
// Matrix-vector product with f16 weights and f32 accumulation, the workhorse
// of decoding (every projection, the LM head). A workgroup owns ROWS
// consecutive rows; each subgroup takes one row at a time (rows s, s + n_sg,
// ...), its lanes stride over the row's 16-byte chunks (8 weights) and meet
// in subgroupAdd: no shared memory, no barrier. The loop over rows makes the
// result independent of the subgroup size the driver actually uses.
//
// Variants (kernels.cmake):
//   matvec        y[row_offset + r] = (accumulate ? y[..] : 0) + W[r] . x
//   matvec_swiglu y[r] = silu(W[r] . x) * (W2[r] . x)       (SwiGLU gate/up)
//   matvec_swiglu_meki  the FFN's gate/up and the MeKi gate in one
//                 dispatch: both read u = RMSNorm_ffn(a). W_mg's rows are
//                 stacked under W_gate's (its first half) and W_up's (its
//                 second half) at load (model.c), so rows r >= n_ffn are
//                 two gate rows each, computed exactly like a SwiGLU row
//                 (one x load feeding two weight rows), and the grid grows
//                 by a few workgroups of the same work: lavapipe, which
//                 splits the grid statically between its threads, stays
//                 balanced, and the gate costs its bytes at the SwiGLU's
//                 rate (a gate row computed on its own, with its own x
//                 loads, cost about twice that).
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
// Host description: matvec.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

layout(constant_id = 1) const uint ROWS = 8; // rows per workgroup

layout(std430, binding = 0) readonly buffer Weights { uvec4 w[]; };
layout(std430, binding = 1) readonly buffer Input { vec4 x[]; };   // padded to ld with zeros
layout(std430, binding = 2) buffer Output { float y[]; };
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
layout(std430, binding = 3) readonly buffer Weights2 { uvec4 w2[]; }; // W_up
#endif
#if defined(SWIGLU_MEKI)
layout(std430, binding = 4) writeonly buffer Output2 { float y2[]; }; // g
#endif

layout(push_constant) uniform PushConstants {
    uint n_rows;          // rows of W handled by this dispatch
    uint ld8;             // row stride in 16-byte chunks (= padded columns / 8)
    uint row_offset;      // first output index
    uint accumulate;      // 1: add into y (matvec only)
#if defined(SWIGLU_MEKI)
    uint n_ffn;           // rows below are SwiGLU rows, from here on gate rows
    uint n_mem;           // d_mem: gate values
#endif
} pc;

void main()
{
    const uint lane = gl_SubgroupInvocationID, n_lanes = gl_SubgroupSize;
    const uint r_begin = gl_WorkGroupID.x * ROWS;
    const uint r_end = min(r_begin + ROWS, pc.n_rows);
    for (uint r = r_begin + gl_SubgroupID; r < r_end; r += gl_NumSubgroups) {
        const uint base = r * pc.ld8;
        float acc = 0.0, acc2 = 0.0;
        for (uint c = lane; c < pc.ld8; c += n_lanes) {
            vec4 xa = x[2u * c], xb = x[2u * c + 1u];
            acc += dot8(w[base + c], xa, xb);
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
            acc2 += dot8(w2[base + c], xa, xb);
#endif
        }
        float d = subgroupAdd(acc);
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
        float u = subgroupAdd(acc2);
#endif
        if (subgroupElect()) {
#if defined(SWIGLU_MEKI)
            if (r < pc.n_ffn) {
                y[r] = d / (1.0 + exp(-d)) * u;
            } else {
                const uint j = r - pc.n_ffn, j2 = pc.n_rows - pc.n_ffn + j;
                y2[j] = 1.0 / (1.0 + exp(-d));
                if (j2 < pc.n_mem) y2[j2] = 1.0 / (1.0 + exp(-u));
            }
#elif defined(SWIGLU)
            y[r] = d / (1.0 + exp(-d)) * u;
#else
            uint o = pc.row_offset + r;
            y[o] = (pc.accumulate != 0u ? y[o] : 0.0) + d;
#endif
        }
    }
}
