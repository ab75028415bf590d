#version 450
// After the fused QKV projection: per-head q/k RMSNorm (optional), NeoX RoPE
// (pairs i, i + head_dim/2) from the host's cos/sin table, then q to its
// buffer and k, v appended to this layer's f16 KV cache at step.pos.
// Workgroup g < n_head handles query head g; the next n_kv_head workgroups
// handle the KV heads. Host description: rope_kv.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

STEP_PARAMS_BUFFER(0)
layout(std430, binding = 1) readonly buffer QKV { float qkv[]; };     // [q | k | v]
layout(std430, binding = 2) readonly buffer QNorm { float q_norm[]; };
layout(std430, binding = 3) readonly buffer KNorm { float k_norm[]; };
layout(std430, binding = 4) readonly buffer Rope { vec2 rope[]; };    // [pos][head_dim/2] (cos, sin)
layout(std430, binding = 5) writeonly buffer Q { float q[]; };
layout(std430, binding = 6) writeonly buffer KCache { uint kc[]; };   // f16 pairs [pos][n_kv_head][head_dim]
layout(std430, binding = 7) writeonly buffer VCache { uint vc[]; };

layout(push_constant) uniform PushConstants {
    uint n_head;
    uint n_kv_head;
    uint head_dim;
    uint qk_norm; // 1: apply q_norm / k_norm
    float eps;
} pc;

shared float red[gl_WorkGroupSize.x];
shared float hv[512]; // one head (head_dim <= 512)

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint g = gl_WorkGroupID.x;
    const uint hd = pc.head_dim, half_hd = hd / 2u;
    const bool is_q = g < pc.n_head;
    const uint kvh = g - pc.n_head;
    const uint src = is_q ? g * hd : (pc.n_head + kvh) * hd;

    for (uint i = tid; i < hd; i += WG) hv[i] = qkv[src + i];
    barrier();

    float inv = 1.0;
    if (pc.qk_norm != 0u) {
        float ss = 0.0;
        for (uint i = tid; i < hd; i += WG) ss += hv[i] * hv[i];
        red[tid] = ss;
        barrier();
        for (uint s = WG / 2u; s > 0u; s >>= 1u) {
            if (tid < s) red[tid] += red[tid + s];
            barrier();
        }
        inv = inversesqrt(red[0] / float(hd) + pc.eps);
    }

    // Normalise and rotate; each thread owns pairs (i, i + hd/2).
    const uint rbase = step.pos * half_hd;
    float a[8], b[8]; // pairs per thread: hd/2 <= 8 * WG
    uint n = 0;
    for (uint i = tid; i < half_hd; i += WG, n++) {
        float wa = 1.0, wb = 1.0;
        if (pc.qk_norm != 0u) {
            wa = is_q ? q_norm[i] : k_norm[i];
            wb = is_q ? q_norm[i + half_hd] : k_norm[i + half_hd];
        }
        float x0 = hv[i] * inv * wa, x1 = hv[i + half_hd] * inv * wb;
        vec2 cs = rope[rbase + i];
        a[n] = x0 * cs.x - x1 * cs.y;
        b[n] = x1 * cs.x + x0 * cs.y;
    }
    barrier();
    n = 0;
    for (uint i = tid; i < half_hd; i += WG, n++) {
        hv[i] = a[n];
        hv[i + half_hd] = b[n];
    }
    barrier();

    if (is_q) {
        for (uint i = tid; i < hd; i += WG) q[g * hd + i] = hv[i];
        return;
    }
    // Append k and v (v is neither normed nor rotated) as f16 pairs.
    const uint row = (step.pos * pc.n_kv_head + kvh) * hd;
    const uint vsrc = (pc.n_head + pc.n_kv_head + kvh) * hd;
    for (uint i = tid; i < half_hd; i += WG) {
        kc[(row >> 1) + i] = packHalf2x16(vec2(hv[2u * i], hv[2u * i + 1u]));
        vc[(row >> 1) + i] = packHalf2x16(vec2(qkv[vsrc + 2u * i], qkv[vsrc + 2u * i + 1u]));
    }
}
