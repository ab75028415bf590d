#version 450
// Matrix-vector product with f16 weights and f32 accumulation, the workhorse
// of decoding (every projection, the LM head). One workgroup computes ROWS
// consecutive rows; its WG threads stride over each row's 16-byte chunks
// (8 weights) and the partial sums meet in a shared-memory tree.
//
// Variants (kernels.cmake):
//   matvec        y[row_offset + r] = (accumulate ? y[..] : 0) + W[r] . x
//   matvec_swiglu y[r] = silu(W[r] . x) * (W2[r] . x)       (SwiGLU gate/up)
//   matvec_meki   y[r] = bank_row[r] + sigmoid(W[r] . x)     (MeKi gate + row)
// Host description: matvec.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint ROWS = 2; // rows per workgroup (<= MAX_ROWS)
#define MAX_ROWS 8

layout(std430, binding = 0) readonly buffer Weights { uvec4 w[]; };
layout(std430, binding = 1) readonly buffer Input { vec4 x[]; };   // padded to ld with zeros
layout(std430, binding = 2) buffer Output { float y[]; };
#if defined(SWIGLU)
layout(std430, binding = 3) readonly buffer Weights2 { uvec4 w2[]; };
#elif defined(MEKI_GATE)
layout(std430, binding = 3) readonly buffer Slab { uint slab[]; }; // staged bank slab
#endif

layout(push_constant) uniform PushConstants {
    uint n_rows;          // rows of W handled by this dispatch
    uint ld8;             // row stride in 16-byte chunks (= padded columns / 8)
    uint row_offset;      // first output index
    uint accumulate;      // 1: add into y (matvec only)
    uint row_byte_offset; // MEKI_GATE: byte offset of this layer's row in the slab
    uint bank_dtype;      // MEKI_GATE: 1 = F16 row, 2 = Q8 row
} pc;

shared float red[MAX_ROWS * 2 * gl_WorkGroupSize.x];

float dot8(uvec4 q, vec4 a, vec4 b)
{
    vec2 w0 = unpackHalf2x16(q.x), w1 = unpackHalf2x16(q.y);
    vec2 w2_ = unpackHalf2x16(q.z), w3 = unpackHalf2x16(q.w);
    return dot(vec4(w0, w1), a) + dot(vec4(w2_, w3), b);
}

#if defined(MEKI_GATE)
// Element i of this layer's bank row (F16: d_mem halves; Q8: f16 scale,
// 2 zero bytes, d_mem int8).
float bank_value(uint i)
{
    uint base = pc.row_byte_offset;
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
    const uint tid = gl_LocalInvocationID.x;
    const uint r0 = gl_WorkGroupID.x * ROWS;
    float acc[MAX_ROWS], acc2[MAX_ROWS];
    [[unroll]] for (uint r = 0; r < MAX_ROWS; r++) { acc[r] = 0.0; acc2[r] = 0.0; }

    for (uint c = tid; c < pc.ld8; c += WG) {
        vec4 xa = x[2u * c], xb = x[2u * c + 1u];
        [[unroll]] for (uint r = 0; r < MAX_ROWS; r++) {
            if (r < ROWS && r0 + r < pc.n_rows) {
                uint idx = (r0 + r) * pc.ld8 + c;
                acc[r] += dot8(w[idx], xa, xb);
#if defined(SWIGLU)
                acc2[r] += dot8(w2[idx], xa, xb);
#endif
            }
        }
    }

    [[unroll]] for (uint r = 0; r < MAX_ROWS; r++) {
        if (r < ROWS) {
            red[(2u * r) * WG + tid] = acc[r];
            red[(2u * r + 1u) * WG + tid] = acc2[r];
        }
    }
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            for (uint k = 0; k < 2u * ROWS; k++) red[k * WG + tid] += red[k * WG + tid + s];
        }
        barrier();
    }

    if (tid < ROWS && r0 + tid < pc.n_rows) {
        uint r = r0 + tid;
        float d = red[(2u * tid) * WG];
#if defined(SWIGLU)
        float u = red[(2u * tid + 1u) * WG];
        y[r] = d / (1.0 + exp(-d)) * u;
#elif defined(MEKI_GATE)
        y[r] = bank_value(r) + 1.0 / (1.0 + exp(-d));
#else
        uint o = pc.row_offset + r;
        y[o] = (pc.accumulate != 0u ? y[o] : 0.0) + d;
#endif
    }
}
