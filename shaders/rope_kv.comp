#version 450
// After the fused QKV projection: q/k/v biases (optional), per-head q/k
// RMSNorm (optional), RoPE from the host's cos/sin table -- NEOX pairs
// (i, i + head_dim/2) or NORM pairs (2i, 2i + 1), pair i rotated by angle i
// either way -- then q to its buffer and k, v appended to this layer's f16
// KV cache at step.pos.
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
layout(std430, binding = 8) readonly buffer Bias { float bias[]; };   // [q | k | v] like qkv

layout(push_constant) uniform PushConstants {
    uint n_head;
    uint n_kv_head;
    uint head_dim;
    uint qk_norm;    // 1: apply q_norm / k_norm
    float eps;
    uint rope_style; // MKV_ROPE_KV_NEOX (0) or MKV_ROPE_KV_NORM (1)
    uint has_bias;   // 1: add bias[] to q, k and v first
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

    for (uint i = tid; i < hd; i += WG) hv[i] = qkv[src + i] + (pc.has_bias != 0u ? bias[src + i] : 0.0);
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

    // Normalise and rotate; each thread owns pairs (i0, i1) of pair index i.
    const bool neox = pc.rope_style == 0u;
    const uint rbase = step.pos * half_hd;
    float a[8], b[8]; // pairs per thread: hd/2 <= 8 * WG
    uint n = 0;
    for (uint i = tid; i < half_hd; i += WG, n++) {
        const uint i0 = neox ? i : 2u * i, i1 = neox ? i + half_hd : 2u * i + 1u;
        float wa = 1.0, wb = 1.0;
        if (pc.qk_norm != 0u) {
            wa = is_q ? q_norm[i0] : k_norm[i0];
            wb = is_q ? q_norm[i1] : k_norm[i1];
        }
        float x0 = hv[i0] * inv * wa, x1 = hv[i1] * inv * wb;
        vec2 cs = rope[rbase + i];
        a[n] = x0 * cs.x - x1 * cs.y;
        b[n] = x1 * cs.x + x0 * cs.y;
    }
    barrier();
    n = 0;
    for (uint i = tid; i < half_hd; i += WG, n++) {
        hv[neox ? i : 2u * i] = a[n];
        hv[neox ? i + half_hd : 2u * i + 1u] = b[n];
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
        vec2 v = vec2(qkv[vsrc + 2u * i], qkv[vsrc + 2u * i + 1u]);
        if (pc.has_bias != 0u) v += vec2(bias[vsrc + 2u * i], bias[vsrc + 2u * i + 1u]);
        kc[(row >> 1) + i] = packHalf2x16(vec2(hv[2u * i], hv[2u * i + 1u]));
        vc[(row >> 1) + i] = packHalf2x16(v);
    }
}
