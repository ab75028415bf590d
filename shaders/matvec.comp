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
//                   y2[j]     = bank_row[j]     + sigmoid(W[r] . x)       (v = M[x] + sigmoid(W_mg u))
//                   y2[h + j] = bank_row[h + j] + sigmoid(W2[r] . x)      (if h + j < n_mem)
//                 Rows from first_row on (n_ffn: the gate alone, layer 0).
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
layout(std430, binding = 4) writeonly buffer Output2 { float y2[]; }; // v
layout(std430, binding = 5) readonly buffer Slab { uint slab[]; };   // staging ring of bank slabs
STEP_PARAMS_BUFFER(6)                                                 // step.slab_offset: this token's slab
#endif

layout(push_constant) uniform PushConstants {
    uint n_rows;          // rows of W handled by this dispatch
    uint ld8;             // row stride in 16-byte chunks (= padded columns / 8)
    uint row_offset;      // first output index
    uint accumulate;      // 1: add into y (matvec only)
    uint row_byte_offset; // SWIGLU_MEKI: byte offset of this layer's row in the slab
    uint bank_dtype;      // SWIGLU_MEKI: 1 = F16 row, 2 = Q8 row
#if defined(SWIGLU_MEKI)
    uint n_ffn;           // rows below are SwiGLU rows, from here on gate rows
    uint n_mem;           // d_mem: gate values
    uint first_row;       // 0, or n_ffn for the gate alone
#endif
} pc;

#if defined(SWIGLU_MEKI)
// Element i of this layer's bank row (F16: d_mem halves; Q8: f16 scale,
// 2 zero bytes, d_mem int8).
float bank_value(uint i)
{
    uint base = step.slab_offset + pc.row_byte_offset;
    if (pc.bank_dtype == 1u) {
        uint b = base + 2u * i;
        vec2 h = unpackHalf2x16(slab[b >> 2]);
        return (b & 2u) != 0u ? h.y : h.x;
    }
    float scale = unpackHalf2x16(slab[base >> 2]).x;
    uint b = base + 4u + i;
    int q = bitfieldExtract(int(slab[b >> 2]), int(8u * (b & 3u)), 8);
    return scale * float(q);
}
#endif

void main()
{
    const uint lane = gl_SubgroupInvocationID, n_lanes = gl_SubgroupSize;
#if defined(SWIGLU_MEKI)
    const uint r_begin = pc.first_row + gl_WorkGroupID.x * ROWS;
#else
    const uint r_begin = gl_WorkGroupID.x * ROWS;
#endif
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
                y2[j] = bank_value(j) + 1.0 / (1.0 + exp(-d));
                if (j2 < pc.n_mem) y2[j2] = bank_value(j2) + 1.0 / (1.0 + exp(-u));
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
