#version 450
// After the fused QKV projection: q/k/v biases (optional), per-head q/k
// RMSNorm (optional), RoPE from the host's cos/sin table -- NEOX pairs
// (i, i + head_dim/2) or NORM pairs (2i, 2i + 1), pair i rotated by angle i
// either way -- then q to its buffer and k, v appended to this layer's KV
// cache at the token's position: as f16, or (rope_kv_q8) as q8_0 blocks
// (kv_layout.h).
// Workgroup (g, b): token b of the pass (at position step.pos + b); g <
// n_head handles query head g, the next n_kv_head workgroups the KV heads.
// Host description: rope_kv.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "kv_layout.h"

STEP_PARAMS_BUFFER(0)
layout(std430, binding = 1) readonly buffer QKV { float qkv[]; };     // [q | k | v]
layout(std430, binding = 2) readonly buffer QNorm { float q_norm[]; };
layout(std430, binding = 3) readonly buffer KNorm { float k_norm[]; };
layout(std430, binding = 4) readonly buffer Rope { vec2 rope[]; };    // [pos][head_dim/2] (cos, sin)
layout(std430, binding = 5) writeonly buffer Q { float q[]; };
layout(std430, binding = 6) writeonly buffer KCache { uint kc[]; };   // f16 pairs [pos][n_kv_head][head_dim], or q8_0
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
    uint scale_base; // KV_Q8: word offset of the scales (kv_layout.h)
    uint ld_qkv;     // qkv's row stride in floats (one row per token)
    uint ld_q;       // q's row stride in floats
} pc;

shared float red[gl_WorkGroupSize.x];
shared float hv[512]; // one head (head_dim <= 512)

// The loops below test at their end (common.glsl, END_TESTED): each takes
// i = tid, tid + WG, .. < n.

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint g = gl_WorkGroupID.x, tk = gl_WorkGroupID.y;
    if (tk >= step.n_tok) return; // uniform over the workgroup: before any barrier
    const uint pos = step.pos + tk;
    const uint hd = pc.head_dim, half_hd = hd / 2u;
    const bool is_q = g < pc.n_head;
    const uint kvh = g - pc.n_head;
    const uint src = tk * pc.ld_qkv + (is_q ? g * hd : (pc.n_head + kvh) * hd);
    const uint bsrc = is_q ? g * hd : (pc.n_head + kvh) * hd; // bias index

    float ss = 0.0; // sum of squares for the q/k norm
    uint i = tid;
    do {
        if (i < hd) {
            const float v = qkv[src + i] + (pc.has_bias != 0u ? bias[bsrc + i] : 0.0);
            hv[i] = v;
            ss += v * v;
        }
        i += WG;
    } while (i - tid < hd);

    float inv = 1.0;
    if (pc.qk_norm != 0u) {
        // over the subgroup, then (several subgroups) through shared memory
        ss = subgroupAdd(ss);
        if (gl_NumSubgroups > 1u) {
            if (subgroupElect()) red[gl_SubgroupID] = ss;
            barrier();
            ss = 0.0;
            for (uint k = 0u; k < gl_NumSubgroups; k++) ss += red[k];
        }
        inv = inversesqrt(ss / float(hd) + pc.eps);
    }

    // Normalise and rotate in place: the thread owning pair i is the only one
    // to read or write its two elements (i0, i1), so no copy and no barrier
    // between the reads and the writes.
    const bool neox = pc.rope_style == 0u;
    const uint rbase = pos * half_hd;
    barrier(); // hv complete
    i = tid;
    do {
      if (i < half_hd) {
        const uint i0 = neox ? i : 2u * i, i1 = neox ? i + half_hd : 2u * i + 1u;
        float wa = 1.0, wb = 1.0;
        if (pc.qk_norm != 0u) {
            wa = is_q ? q_norm[i0] : k_norm[i0];
            wb = is_q ? q_norm[i1] : k_norm[i1];
        }
        const float x0 = hv[i0] * inv * wa, x1 = hv[i1] * inv * wb;
        const vec2 cs = rope[rbase + i];
        hv[i0] = x0 * cs.x - x1 * cs.y;
        hv[i1] = x1 * cs.x + x0 * cs.y;
      }
      i += WG;
    } while (i - tid < half_hd);
    barrier();

    if (is_q) {
        i = tid;
        do {
            if (i < hd) q[tk * pc.ld_q + g * hd + i] = hv[i];
            i += WG;
        } while (i - tid < hd);
        return;
    }
    // Append k and v (v is neither normed nor rotated).
    const uint row = (pos * pc.n_kv_head + kvh) * hd;
    const uint vb = (pc.n_head + pc.n_kv_head + kvh) * hd, vsrc = tk * pc.ld_qkv + vb; // bias, qkv index
#if defined(KV_Q8)
    // One invocation per block of K or V: its scale, then its quants, four
    // to a word (rows of hd / 4 words; the scales from scale_base on).
    const uint nb = hd / MKV_KV_Q8_BLOCK;
    uint b = tid;
    do {
      if (b < 2u * nb) {
        const bool is_v = b >= nb;
        const uint blk = is_v ? b - nb : b, e0 = blk * MKV_KV_Q8_BLOCK;
        float x[MKV_KV_Q8_BLOCK];
        float amax = 0.0;
        [[unroll]] for (uint i = 0u; i < MKV_KV_Q8_BLOCK; i++) {
            x[i] = is_v ? qkv[vsrc + e0 + i] + (pc.has_bias != 0u ? bias[vb + e0 + i] : 0.0) : hv[e0 + i];
            amax = max(amax, abs(x[i]));
        }
        const float d = amax / 127.0, id = d > 0.0 ? 1.0 / d : 0.0;
        [[unroll]] for (uint w = 0u; w < MKV_KV_Q8_BLOCK / 4u; w++) {
            uint packed = 0u;
            [[unroll]] for (uint j = 0u; j < 4u; j++) {
                const float v = x[4u * w + j] * id;
                const int qv = clamp(int(sign(v) * floor(abs(v) + 0.5)), -127, 127);
                packed |= (uint(qv) & 0xffu) << (8u * j);
            }
            const uint at = (row + e0) / 4u + w;
            if (is_v) vc[at] = packed; else kc[at] = packed;
        }
        const uint s_at = pc.scale_base + (pos * pc.n_kv_head + kvh) * nb + blk;
        if (is_v) vc[s_at] = floatBitsToUint(d); else kc[s_at] = floatBitsToUint(d);
      }
      b += WG;
    } while (b - tid < 2u * nb);
#else
    // As f16 pairs.
    i = tid;
    do {
      if (i < half_hd) {
        vec2 v = vec2(qkv[vsrc + 2u * i], qkv[vsrc + 2u * i + 1u]);
        if (pc.has_bias != 0u) v += vec2(bias[vb + 2u * i], bias[vb + 2u * i + 1u]);
        kc[(row >> 1) + i] = packHalf2x16(vec2(hv[2u * i], hv[2u * i + 1u]));
        vc[(row >> 1) + i] = packHalf2x16(v);
      }
      i += WG;
    } while (i - tid < half_hd);
#endif
}
