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
//                 dispatch: both read u = RMSNorm_ffn(a). Each workgroup
//                 takes ROWS rows of the first and an even share of the
//                 second's (rows [g n_rows2 / n_groups, (g+1) n_rows2 / n_groups)):
//                 y[r]  = silu(W[r] . x) * (W2[r] . x)           (t)
//                 y2[r] = bank_row[r] + sigmoid(W3[r] . x)       (v = M[x] + sigmoid(W_mg u))
//                 Every workgroup gets a share of both, not W3's rows as
//                 extra workgroups: lavapipe splits the grid statically
//                 between its threads, so uneven workgroups idle a core.
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
layout(std430, binding = 4) readonly buffer Weights3 { uvec4 w3[]; }; // W_mg
layout(std430, binding = 5) writeonly buffer Output2 { float y2[]; }; // v
layout(std430, binding = 6) readonly buffer Slab { uint slab[]; };   // staging ring of bank slabs
STEP_PARAMS_BUFFER(7)                                                 // step.slab_offset: this token's slab
#endif

layout(push_constant) uniform PushConstants {
    uint n_rows;          // rows of W handled by this dispatch
    uint ld8;             // row stride in 16-byte chunks (= padded columns / 8)
    uint row_offset;      // first output index
    uint accumulate;      // 1: add into y (matvec only)
    uint row_byte_offset; // SWIGLU_MEKI: byte offset of this layer's row in the slab
    uint bank_dtype;      // SWIGLU_MEKI: 1 = F16 row, 2 = Q8 row
#if defined(SWIGLU_MEKI)
    uint n_rows2;         // rows of W3 (d_mem)
    uint ld8_2;           // W3's row stride in 16-byte chunks
    uint n_groups;        // workgroups dispatched (they share W3's rows evenly)
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
    const uint lane = gl_SubgroupInvocationID, n_lanes = gl_SubgroupSize, group = gl_WorkGroupID.x;
    const uint r_end = min(group * ROWS + ROWS, pc.n_rows);
    for (uint r = group * ROWS + gl_SubgroupID; r < r_end; r += gl_NumSubgroups) {
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
#if defined(SWIGLU) || defined(SWIGLU_MEKI)
            y[r] = d / (1.0 + exp(-d)) * u;
#else
            uint o = pc.row_offset + r;
            y[o] = (pc.accumulate != 0u ? y[o] : 0.0) + d;
#endif
        }
    }
#if defined(SWIGLU_MEKI)
    const uint r2_begin = group * pc.n_rows2 / pc.n_groups, r2_end = (group + 1u) * pc.n_rows2 / pc.n_groups;
    for (uint r = r2_begin + gl_SubgroupID; r < r2_end; r += gl_NumSubgroups) {
        const uint base = r * pc.ld8_2;
        float acc = 0.0;
        for (uint c = lane; c < pc.ld8_2; c += n_lanes) acc += dot8(w3[base + c], x[2u * c], x[2u * c + 1u]);
        float d = subgroupAdd(acc);
        if (subgroupElect()) y2[r] = bank_value(r) + 1.0 / (1.0 + exp(-d));
    }
#endif
}
