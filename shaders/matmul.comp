#version 450
// Matrix-matrix product: a batch of f32 rows times f16 weights (the fold of
// `mekivk convert` runs the MeKi projectors over the whole vocabulary this
// way). A workgroup owns WG weight rows (one per thread) and TB batch rows;
// the batch rows' current 64-column slice is staged in shared memory, each
// thread streams its weight row 8 halves at a time and keeps TB sums in
// registers. Weight rows past n_rows and batch rows past n_batch compute
// nothing and write nothing; x must hold whole TB-row groups (zeros).
//
// Variants (kernels.cmake):
//   matmul        y[b*ldy + r] = (accumulate ? y[..] : 0) + scale * W[r] . x[b]
//   matmul_swiglu y[b*ldy + r] = silu(W[r] . x[b]) * (W2[r] . x[b])
// Host description: matmul.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint TB = 8; // batch rows per workgroup

#define CK 8u // 16-byte weight chunks (8 columns) per staged slice

layout(std430, binding = 0) readonly buffer Weights { uvec4 w[]; };
layout(std430, binding = 1) readonly buffer Input { vec4 x[]; };   // [batch][ld8*8] floats, padding zero
layout(std430, binding = 2) buffer Output { float y[]; };
#if defined(SWIGLU)
layout(std430, binding = 3) readonly buffer Weights2 { uvec4 w2[]; };
#endif

layout(push_constant) uniform PushConstants {
    uint n_rows;     // weight rows (outputs per batch row)
    uint n_batch;    // batch rows
    uint ld8;        // weight row stride and x row stride, in 8-column chunks
    uint ldy;        // y row stride in floats
    uint accumulate; // matmul: 1 adds into y
    float scale;     // matmul: factor of the product
} pc;

shared vec4 xs[TB * 2u * CK];

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint r = gl_WorkGroupID.x * WG + tid;
    const uint b0 = gl_WorkGroupID.y * TB;
    const bool live = r < pc.n_rows;
    const uint wbase = (live ? r : 0u) * pc.ld8;
    float acc[TB];
#if defined(SWIGLU)
    float acc2[TB];
#endif
    [[unroll]] for (uint b = 0u; b < TB; b++) {
        acc[b] = 0.0;
#if defined(SWIGLU)
        acc2[b] = 0.0;
#endif
    }
    for (uint k0 = 0u; k0 < pc.ld8; k0 += CK) {
        const uint nk = min(CK, pc.ld8 - k0);
        // stage TB rows x 2*nk vec4 of x
        for (uint i = tid; i < TB * 2u * CK; i += WG) {
            uint b = i / (2u * CK), c = i % (2u * CK);
            xs[i] = (b0 + b < pc.n_batch && c < 2u * nk) ? x[(b0 + b) * pc.ld8 * 2u + 2u * k0 + c] : vec4(0.0);
        }
        barrier();
        if (live) {
            for (uint c = 0u; c < nk; c++) {
                uvec4 q = w[wbase + k0 + c];
#if defined(SWIGLU)
                uvec4 q2 = w2[wbase + k0 + c];
#endif
                [[unroll]] for (uint b = 0u; b < TB; b++) {
                    vec4 xa = xs[b * 2u * CK + 2u * c], xb = xs[b * 2u * CK + 2u * c + 1u];
                    acc[b] += dot8(q, xa, xb);
#if defined(SWIGLU)
                    acc2[b] += dot8(q2, xa, xb);
#endif
                }
            }
        }
        barrier();
    }
    if (!live) return;
    [[unroll]] for (uint b = 0u; b < TB; b++) {
        if (b0 + b >= pc.n_batch) break;
        uint o = (b0 + b) * pc.ldy + r;
#if defined(SWIGLU)
        y[o] = acc[b] / (1.0 + exp(-acc[b])) * acc2[b];
#else
        y[o] = (pc.accumulate != 0u ? y[o] : 0.0) + pc.scale * acc[b];
#endif
    }
}
