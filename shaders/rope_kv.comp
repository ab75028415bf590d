#version 450
// After the fused QKV projection: q/k/v biases (optional), per-head q/k
// RMSNorm (optional), RoPE from the host's cos/sin table -- NEOX pairs
// (i, i + head_dim/2) or NORM pairs (2i, 2i + 1), pair i rotated by angle i
// either way -- then q to its buffer and k, v appended to this layer's KV
// cache at the token's position: as f16, or (rope_kv_q8) as q8_0 blocks
// (kv_layout.h).
// Workgroup (g, b): token b of the pass (at position step.pos + b); g <
// n_head handles query head g, the next n_kv_head workgroups the KV heads.
// A lane takes P pairs at a time (pairs i .. i + P - 1, i = P (tid + WG j))
// and holds both elements of each: the rotation needs no other lane. With
// P = 4 (head_dim a multiple of 8, rows on 16 bytes) a lane's reads are
// whole vec4s -- on lavapipe, texel fetches (rope_kv_tb: wt_bind.glsl says
// why) -- and its writes whole vec4s / f16 words.
// Host description: rope_kv.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "kv_layout.h"
#include "wg_sum.glsl"
#include "vec_read.glsl"

layout(constant_id = 1) const uint P = 1;         // pairs a lane takes at once: 1 or 4
layout(constant_id = 2) const uint NEOX = 1;      // 1: NEOX pairs, 0: NORM pairs
layout(constant_id = 3) const uint QK_NORM = 0;   // 1: apply q_norm / k_norm
layout(constant_id = 4) const uint HAS_BIAS = 0;  // 1: add bias[] to q, k and v first

STEP_PARAMS_BUFFER(0)
READ_VEC(1, qkv)   // float [q | k | v]
READ_VEC(2, qn)    // q_norm
READ_VEC(3, kn)    // k_norm
READ_VEC(4, rope)  // [pos][head_dim/2] (cos, sin)
READ_VEC(8, bias)  // [q | k | v] like qkv
layout(std430, binding = 5) writeonly buffer Q { float q[]; };
layout(std430, binding = 5) writeonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = 6) writeonly buffer KCache { uint kc[]; };   // f16 pairs [n_kv_head][n_ctx][head_dim], or q8_0 (kv_layout.h)
layout(std430, binding = 6) writeonly buffer KCache2 { uvec2 kc2[]; };
layout(std430, binding = 7) writeonly buffer VCache { uint vc[]; };
layout(std430, binding = 7) writeonly buffer VCache2 { uvec2 vc2[]; };

layout(push_constant) uniform PushConstants {
    uint n_head;
    uint n_kv_head;
    uint head_dim;
    float eps;
    uint scale_base; // KV_Q8: word offset of the scales (kv_layout.h)
    uint ld_qkv;     // qkv's row stride in floats (one row per token)
    uint ld_q;       // q's row stride in floats
    uint n_ctx;      // positions the caches hold (kv_layout.h)
} pc;

// The rotated K goes through shared memory when a lane cannot write its
// cache words alone: q8_0 blocks span lanes, and with P = 1 a NEOX pair's
// elements sit in different f16 words.
#if defined(KV_Q8)
const bool K_SHARED = true;
#else
const bool K_SHARED = P == 1u;
#endif
shared float hv[K_SHARED ? 512 : 1]; // one head (head_dim <= 512)

// Element index (within the head) of the first (c = 0) or second (c = 1)
// element of pair i.
uint elem(uint i, uint c, uint half_hd) { return NEOX != 0u ? i + c * half_hd : 2u * i + c; }

// Both elements of pairs i .. i + P - 1 of a head whose first element is
// float e0 of buffer B: x0 the first elements, x1 the second (components
// past P are 0). With P = 4 they are two vec4 reads: NEOX's two runs, or
// NORM's eight adjacent elements de-interleaved.
#define PAIRS(B, e0, i, half_hd, x0, x1)                                                          \
    if (P == 4u) {                                                                                \
        const uint t0 = ((e0) + elem(i, 0u, half_hd)) / 4u;                                       \
        const uint t1 = NEOX != 0u ? ((e0) + elem(i, 1u, half_hd)) / 4u : t0 + 1u;               \
        const vec4 a_ = LD4(B, t0), c_ = LD4(B, t1);                                              \
        x0 = NEOX != 0u ? a_ : vec4(a_.xz, c_.xz);                                                \
        x1 = NEOX != 0u ? c_ : vec4(a_.yw, c_.yw);                                                \
    } else {                                                                                      \
        x0 = vec4(LD(B, (e0) + elem(i, 0u, half_hd)), 0.0, 0.0, 0.0);                             \
        x1 = vec4(LD(B, (e0) + elem(i, 1u, half_hd)), 0.0, 0.0, 0.0);                             \
    }

// Floats e .. e + 3 of buffer B (e a multiple of 4 when P = 4).
#define LDV4(B, e) (P == 4u ? LD4(B, (e) / 4u) : vec4(LD(B, e), LD(B, (e) + 1u), LD(B, (e) + 2u), LD(B, (e) + 3u)))

// The head's pairs from i, bias added.
void load_pairs(uint src, uint bsrc, uint i, uint half_hd, out vec4 x0, out vec4 x1)
{
    PAIRS(qkv, src, i, half_hd, x0, x1)
    if (HAS_BIAS != 0u) {
        vec4 b0, b1;
        PAIRS(bias, bsrc, i, half_hd, b0, b1)
        x0 += b0;
        x1 += b1;
    }
}

// The loops below test at their end (common.glsl, END_TESTED): each takes
// i = first, first + stride, .. < n.

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint g = gl_WorkGroupID.x, tk = gl_WorkGroupID.y;
    if (tk >= step.n_tok) return; // uniform over the workgroup: before any barrier
    const uint pos = step.pos + tk;
    const uint hd = pc.head_dim, half_hd = hd / 2u;
    const bool is_q = g < pc.n_head;
    const uint kvh = g - pc.n_head;
    const uint bsrc = is_q ? g * hd : (pc.n_head + kvh) * hd; // the head in [q | k | v]
    const uint src = tk * pc.ld_qkv + bsrc;
    const uint first = P * tid, stride = P * WG;

    float inv = 1.0;
    if (QK_NORM != 0u) {
        float ss = 0.0; // sum of squares
        uint i = first;
        do {
            if (i < half_hd) {
                vec4 x0, x1;
                load_pairs(src, bsrc, i, half_hd, x0, x1);
                ss += dot(x0, x0) + dot(x1, x1);
            }
            i += stride;
        } while (i - first < half_hd);
        inv = inversesqrt(workgroup_sum(ss) / float(hd) + pc.eps);
    }

    // Normalise and rotate: q to its buffer, k to the cache (or hv).
    const uint row = MKV_KV_ROW(pos, kvh, pc.n_ctx) * hd; // the head's first element in the cache
    uint i = first;
    do {
      if (i < half_hd) {
        vec4 x0, x1;
        load_pairs(src, bsrc, i, half_hd, x0, x1);
        if (QK_NORM != 0u) {
            vec4 wa, wb, ka, kb;
            PAIRS(qn, 0u, i, half_hd, wa, wb)
            PAIRS(kn, 0u, i, half_hd, ka, kb)
            x0 *= inv * (is_q ? wa : ka);
            x1 *= inv * (is_q ? wb : kb);
        }
        // (cos, sin) of pairs i .. i + 3: table entries pos * half_hd + i ..
        vec4 cs, sn;
        const uint re = pos * half_hd + i;
        if (P == 4u) {
            const vec4 r0 = LD4(rope, re / 2u), r1 = LD4(rope, re / 2u + 1u);
            cs = vec4(r0.xz, r1.xz);
            sn = vec4(r0.yw, r1.yw);
        } else {
            cs = vec4(LD(rope, 2u * re), 1.0, 1.0, 1.0);
            sn = vec4(LD(rope, 2u * re + 1u), 0.0, 0.0, 0.0);
        }
        const vec4 y0 = x0 * cs - x1 * sn, y1 = x1 * cs + x0 * sn;
        if (P == 4u) {
            // the vec4s read (PAIRS), written back rotated
            const uint t0 = elem(i, 0u, half_hd) / 4u;
            const uint t1 = NEOX != 0u ? elem(i, 1u, half_hd) / 4u : t0 + 1u;
            const vec4 o0 = NEOX != 0u ? y0 : vec4(y0.x, y1.x, y0.y, y1.y);
            const vec4 o1 = NEOX != 0u ? y1 : vec4(y0.z, y1.z, y0.w, y1.w);
            if (is_q) {
                const uint qb = (tk * pc.ld_q + g * hd) / 4u;
                q4[qb + t0] = o0;
                q4[qb + t1] = o1;
            } else if (!K_SHARED) {
                // f16 words: two per vec4
                kc2[(row / 4u) + t0] = uvec2(packHalf2x16(o0.xy), packHalf2x16(o0.zw));
                kc2[(row / 4u) + t1] = uvec2(packHalf2x16(o1.xy), packHalf2x16(o1.zw));
            } else {
                [[unroll]] for (uint k = 0u; k < 4u; k++) {
                    hv[4u * t0 + k] = o0[k];
                    hv[4u * t1 + k] = o1[k];
                }
            }
        } else {
            const uint e0 = elem(i, 0u, half_hd), e1 = elem(i, 1u, half_hd);
            if (is_q) {
                q[tk * pc.ld_q + g * hd + e0] = y0.x;
                q[tk * pc.ld_q + g * hd + e1] = y1.x;
            } else {
                hv[e0] = y0.x;
                hv[e1] = y1.x;
            }
        }
      }
      i += stride;
    } while (i - first < half_hd);
    if (is_q) return; // uniform over the workgroup

    // v (neither normed nor rotated) as read, bias added
    const uint vb = (pc.n_head + pc.n_kv_head + kvh) * hd, vsrc = tk * pc.ld_qkv + vb;
#if defined(KV_Q8)
    barrier(); // hv complete
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
        [[unroll]] for (uint k = 0u; k < MKV_KV_Q8_BLOCK; k += 4u) {
            vec4 v = LDV4(qkv, vsrc + e0 + k);
            if (HAS_BIAS != 0u) v += LDV4(bias, vb + e0 + k);
            [[unroll]] for (uint j = 0u; j < 4u; j++) {
                x[k + j] = is_v ? v[j] : hv[e0 + k + j];
                amax = max(amax, abs(x[k + j]));
            }
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
        const uint s_at = pc.scale_base + MKV_KV_ROW(pos, kvh, pc.n_ctx) * nb + blk;
        if (is_v) vc[s_at] = floatBitsToUint(d); else kc[s_at] = floatBitsToUint(d);
      }
      b += WG;
    } while (b - tid < 2u * nb);
#else
    if (P == 4u) {
        // vec4 t of v: two f16 words
        uint t = tid;
        do {
            if (t < hd / 4u) {
                vec4 v = LD4(qkv, vsrc / 4u + t);
                if (HAS_BIAS != 0u) v += LD4(bias, vb / 4u + t);
                vc2[row / 4u + t] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
            }
            t += WG;
        } while (t - tid < hd / 4u);
    } else {
        barrier(); // hv complete
        // word j of k and v: elements 2j, 2j + 1
        uint j = tid;
        do {
            if (j < half_hd) {
                vec2 v = vec2(LD(qkv, vsrc + 2u * j), LD(qkv, vsrc + 2u * j + 1u));
                if (HAS_BIAS != 0u) v += vec2(LD(bias, vb + 2u * j), LD(bias, vb + 2u * j + 1u));
                kc[(row >> 1) + j] = packHalf2x16(vec2(hv[2u * j], hv[2u * j + 1u]));
                vc[(row >> 1) + j] = packHalf2x16(v);
            }
            j += WG;
        } while (j - tid < half_hd);
    }
#endif
}
