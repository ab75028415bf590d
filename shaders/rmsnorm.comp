#version 450
// RMSNorm of n_vec vectors of length n (one workgroup each):
//   y = x / sqrt(mean(x^2) + eps) * w
// Variants (kernels.cmake):
//   rmsnorm       y[v] = norm(x[v])            vectors ldx / ldy floats apart
//   rmsnorm_add   y[v] += norm(x[v])           (the MeKi branch of a batch
//                 into the residual)
//   rmsnorm_last  y = norm(x[step.n_tok - 1])  (the last token of a batch,
//                 before the LM head)
//   rmsnorm_add_norm  y[v] += norm(x[v]); y2[v] = norm2(y[v])  (the MeKi
//                 branch of a batch into the residual and the next layer's
//                 attention norm in one pass: y2's rows are ldy apart too)
// Host description: rmsnorm.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
#if defined(ADD) || defined(ADD_NORM)
layout(std430, binding = 2) buffer Output { float y[]; };
#else
layout(std430, binding = 2) writeonly buffer Output { float y[]; };
#endif
#if defined(LAST)
STEP_PARAMS_BUFFER(3)
#endif
#if defined(ADD_NORM)
layout(std430, binding = 3) readonly buffer Weight2 { float w2[]; };
layout(std430, binding = 4) writeonly buffer Output2 { float y2[]; };
#endif
layout(push_constant) uniform PushConstants {
    uint n;
    float eps;
    uint ldx; // row strides in floats
    uint ldy;
} pc;
shared float red[gl_WorkGroupSize.x];

// The workgroup's sum of v (every invocation gets it).
float wg_sum(uint tid, float v)
{
    red[tid] = v;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    const float r = red[0];
    barrier(); // red is free again
    return r;
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
#if defined(LAST)
    const uint base = (step.n_tok - 1u) * pc.ldx, ybase = 0u;
#else
    const uint base = gl_WorkGroupID.x * pc.ldx, ybase = gl_WorkGroupID.x * pc.ldy;
#endif
    float ss = 0.0;
    for (uint i = tid; i < pc.n; i += WG) ss += x[base + i] * x[base + i];
    const float inv = inversesqrt(wg_sum(tid, ss) / float(pc.n) + pc.eps);
#if defined(ADD_NORM)
    // each invocation reads back only the elements it wrote
    float ss2 = 0.0;
    for (uint i = tid; i < pc.n; i += WG) {
        const float h = y[ybase + i] + x[base + i] * inv * w[i];
        y[ybase + i] = h;
        ss2 += h * h;
    }
    const float inv2 = inversesqrt(wg_sum(tid, ss2) / float(pc.n) + pc.eps);
    for (uint i = tid; i < pc.n; i += WG) y2[ybase + i] = y[ybase + i] * inv2 * w2[i];
#elif defined(ADD)
    for (uint i = tid; i < pc.n; i += WG) y[ybase + i] += x[base + i] * inv * w[i];
#else
    for (uint i = tid; i < pc.n; i += WG) y[ybase + i] = x[base + i] * inv * w[i];
#endif
}
