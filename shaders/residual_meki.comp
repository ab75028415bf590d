#version 450
// The end of a MeKi layer and the start of the next: h' = a + f +
// RMSNorm_meki(z) with a in h, f the FFN output and z = W_mo v, then
// xn = RMSNorm_next(h'), the input of the next layer's attention (or of the
// LM head after the last layer), so that norm costs no dispatch of its own.
// One workgroup: both norms need a whole vector. Host description:
// residual_meki.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) buffer Hidden { float h[]; };
layout(std430, binding = 1) readonly buffer Ffn { float f[]; };
layout(std430, binding = 2) readonly buffer Z { float z[]; };
layout(std430, binding = 3) readonly buffer Weight { float w[]; };      // meki_norm
layout(std430, binding = 4) readonly buffer NextWeight { float wn[]; }; // next attn_norm / output_norm
layout(std430, binding = 5) writeonly buffer Normed { float xn[]; };

layout(push_constant) uniform PushConstants {
    uint n;
    float eps;       // both norms (one model-wide RMSNorm eps)
} pc;

shared float red[gl_WorkGroupSize.x];

// Sum of v over the workgroup (every invocation gets it).
float workgroup_sum(float v)
{
    const uint tid = gl_LocalInvocationID.x;
    barrier(); // red[] may still be read from a previous call
    red[tid] = v;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    return red[0];
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    float ss = 0.0;
    for (uint i = tid; i < pc.n; i += WG) ss += z[i] * z[i];
    const float inv = inversesqrt(workgroup_sum(ss) / float(pc.n) + pc.eps);
    // Each invocation rereads only the h[i] it wrote itself.
    float hs = 0.0;
    for (uint i = tid; i < pc.n; i += WG) {
        float v = h[i] + f[i] + z[i] * inv * w[i];
        h[i] = v;
        hs += v * v;
    }
    const float inv_h = inversesqrt(workgroup_sum(hs) / float(pc.n) + pc.eps);
    for (uint i = tid; i < pc.n; i += WG) xn[i] = h[i] * inv_h * wn[i];
}
