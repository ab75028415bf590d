#version 450
// RMSNorm of n_vec vectors of length n (one workgroup each):
//   y = x / sqrt(mean(x^2) + eps) * w
// Host description: rmsnorm.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };
layout(std430, binding = 1) readonly buffer Weight { float w[]; };
layout(std430, binding = 2) writeonly buffer Output { float y[]; };

layout(push_constant) uniform PushConstants {
    uint n;
    float eps;
} pc;

shared float red[gl_WorkGroupSize.x];

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint base = gl_WorkGroupID.x * pc.n;
    float ss = 0.0;
    for (uint i = tid; i < pc.n; i += WG) ss += x[base + i] * x[base + i];
    red[tid] = ss;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float inv = inversesqrt(red[0] / float(pc.n) + pc.eps);
    for (uint i = tid; i < pc.n; i += WG) y[base + i] = x[base + i] * inv * w[i];
}
