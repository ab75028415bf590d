#version 450
// RMSNorm of n_vec vectors of length n (one workgroup each):
//   y = x / sqrt(mean(x^2) + eps) * w
// Variants (kernels.cmake):
//   rmsnorm       y[v] = norm(x[v])            vectors ldx / ldy floats apart
//   rmsnorm_add   y[v] += norm(x[v])           (the MeKi branch of a batch
//                 into the residual)
//   rmsnorm_last  y = norm(x[step.n_tok - 1])  (the last token of a batch,
//                 before the LM head)
// Host description: rmsnorm.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
#if defined(ADD)
layout(std430, binding = 2) buffer Output { float y[]; };
#else
layout(std430, binding = 2) writeonly buffer Output { float y[]; };
#endif
#if defined(LAST)
STEP_PARAMS_BUFFER(3)
#endif
layout(push_constant) uniform PushConstants {
    uint n;
    float eps;
    uint ldx; // row strides in floats
    uint ldy;
} pc;
shared float red[gl_WorkGroupSize.x];
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
    red[tid] = ss;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float inv = inversesqrt(red[0] / float(pc.n) + pc.eps);
#if defined(ADD)
    for (uint i = tid; i < pc.n; i += WG) y[ybase + i] += x[base + i] * inv * w[i];
#else
    for (uint i = tid; i < pc.n; i += WG) y[ybase + i] = x[base + i] * inv * w[i];
#endif
}
