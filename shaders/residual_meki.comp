#version 450
// The end of a MeKi layer: h' = a + f + RMSNorm_meki(z) with a in h, f the
// FFN output and z = W_mo v the MeKi projection. One workgroup (the norm
// needs all of z). Host description: residual_meki.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) buffer Hidden { float h[]; };
layout(std430, binding = 1) readonly buffer Ffn { float f[]; };
layout(std430, binding = 2) readonly buffer Z { float z[]; };
layout(std430, binding = 3) readonly buffer Weight { float w[]; };

layout(push_constant) uniform PushConstants {
    uint n;
    float eps;
} pc;

shared float red[gl_WorkGroupSize.x];

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    float ss = 0.0;
    for (uint i = tid; i < pc.n; i += WG) ss += z[i] * z[i];
    red[tid] = ss;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float inv = inversesqrt(red[0] / float(pc.n) + pc.eps);
    for (uint i = tid; i < pc.n; i += WG) h[i] += f[i] + z[i] * inv * w[i];
}
