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
//   matvec_down_meki  two products in one dispatch, the FFN's last and the
//                 MeKi gate, which read inputs ready at the same point:
//                 workgroups [0, groups1): y[r] = W[r] . x         (f = W_down t)
//                 the rest:                y2[r] = bank_row[r] + sigmoid(W2[r] . x2)
//                                                                   (v = M[x] + sigmoid(W_mg u))
// Host description: matvec.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

layout(constant_id = 1) const uint ROWS = 8; // rows per workgroup

layout(std430, binding = 0) readonly buffer Weights { uvec4 w[]; };
layout(std430, binding = 1) readonly buffer Input { vec4 x[]; };   // padded to ld with zeros
layout(std430, binding = 2) buffer Output { float y[]; };
#if defined(SWIGLU)
layout(std430, binding = 3) readonly buffer Weights2 { uvec4 w2[]; };
#elif defined(DOWN_MEKI)
layout(std430, binding = 3) readonly buffer Slab { uint slab[]; }; // staging ring of bank slabs
STEP_PARAMS_BUFFER(4)                                               // step.slab_offset: this token's slab
layout(std430, binding = 5) readonly buffer Weights2 { uvec4 w2[]; }; // W_mg
layout(std430, binding = 6) readonly buffer Input2 { vec4 x2[]; };    // u, padded to ld2 with zeros
layout(std430, binding = 7) buffer Output2 { float y2[]; };          // v
#endif

layout(push_constant) uniform PushConstants {
    uint n_rows;          // rows of W handled by this dispatch
    uint ld8;             // row stride in 16-byte chunks (= padded columns / 8)
    uint row_offset;      // first output index
    uint accumulate;      // 1: add into y (matvec only)
    uint row_byte_offset; // DOWN_MEKI: byte offset of this layer's row in the slab
    uint bank_dtype;      // DOWN_MEKI: 1 = F16 row, 2 = Q8 row
#if defined(DOWN_MEKI)
    uint n_rows2;         // rows of W2 (d_mem)
    uint ld8_2;           // W2's row stride in 16-byte chunks
    uint groups1;         // workgroups of the first product
#endif
} pc;

float dot8(uvec4 q, vec4 a, vec4 b)
{
    vec2 w0 = unpackHalf2x16(q.x), w1 = unpackHalf2x16(q.y);
    vec2 w2_ = unpackHalf2x16(q.z), w3 = unpackHalf2x16(q.w);
    return dot(vec4(w0, w1), a) + dot(vec4(w2_, w3), b);
}

#if defined(DOWN_MEKI)
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
    uint group = gl_WorkGroupID.x, n_rows = pc.n_rows, ld8 = pc.ld8;
#if defined(DOWN_MEKI)
    // Uniform per workgroup, so subgroupAdd below stays in uniform control flow.
    const bool second = group >= pc.groups1;
    if (second) {
        group -= pc.groups1;
        n_rows = pc.n_rows2;
        ld8 = pc.ld8_2;
    }
#endif
    const uint r_end = min(group * ROWS + ROWS, n_rows);
    for (uint r = group * ROWS + gl_SubgroupID; r < r_end; r += gl_NumSubgroups) {
        const uint base = r * ld8;
        float acc = 0.0, acc2 = 0.0;
#if defined(DOWN_MEKI)
        // Two loops, not a branch inside one: the inner loop stays as tight
        // as plain matvec's (a per-chunk branch cost lavapipe ~10%).
        if (second) {
            for (uint c = lane; c < ld8; c += n_lanes) acc += dot8(w2[base + c], x2[2u * c], x2[2u * c + 1u]);
        } else {
            for (uint c = lane; c < ld8; c += n_lanes) acc += dot8(w[base + c], x[2u * c], x[2u * c + 1u]);
        }
#else
        for (uint c = lane; c < ld8; c += n_lanes) {
            vec4 xa = x[2u * c], xb = x[2u * c + 1u];
            acc += dot8(w[base + c], xa, xb);
#if defined(SWIGLU)
            acc2 += dot8(w2[base + c], xa, xb);
#endif
        }
#endif
        float d = subgroupAdd(acc);
#if defined(SWIGLU)
        float u = subgroupAdd(acc2);
#endif
        if (subgroupElect()) {
#if defined(SWIGLU)
            y[r] = d / (1.0 + exp(-d)) * u;
#elif defined(DOWN_MEKI)
            if (second) y2[r] = bank_value(r) + 1.0 / (1.0 + exp(-d));
            else y[r] = d;
#else
            uint o = pc.row_offset + r;
            y[o] = (pc.accumulate != 0u ? y[o] : 0.0) + d;
#endif
        }
    }
}
