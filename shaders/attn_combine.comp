#version 450
// Merges attn.comp's per-chunk partials into the attention output of each
// query head: with M = max_s m_s, out = sum_s e^(m_s-M) o_s / sum_s e^(m_s-M) l_s.
// Empty chunks have l = 0 and o = 0 and drop out. Workgroup (h, b): head h
// of token b of the pass (rows past the pass's tokens merge stale partials
// into rows nothing reads). An invocation takes P output values at a time
// (4 where head_dim and the output rows are multiples of 4: one vec4 of
// each chunk's o; attn_combine_tb reads the partials through their texel
// view, wt_bind.glsl says why). Host description: attn.h.
// The chunks are spread over the workgroup twice: first a chunk per
// invocation for M and the weights e^(m_s-M) (into shared memory), then,
// where the workgroup has more invocations than the output has groups of
// P values, J groups of invocations each sum every J-th chunk and meet in
// shared memory. A GPU then walks n_split / J chunks one after another, not
// n_split three times (an NVIDIA H200 with 64 splits, KV 10240: the serial
// walks took 0.56 ms of a token, a third of attention's kernels; now 0.34
// ms); a workgroup of one subgroup (lavapipe's) has J = 1 and sums every
// chunk itself.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "kv_layout.h"
#include "vec_read.glsl"
#include "wg_sum.glsl"

layout(constant_id = 1) const uint P = 1; // output values an invocation takes at once: 1 or 4

READ_VEC(0, part) // kv_layout.h
layout(std430, binding = 1) writeonly buffer Out { float outv[]; }; // [n_head][head_dim]
layout(std430, binding = 1) writeonly buffer Out4 { vec4 outv4[]; };

layout(push_constant) uniform PushConstants {
    uint head_dim;
    uint n_split;   // at most MKV_ATTN_MAX_SPLIT
    uint ld_out;    // out's row stride in floats (one row per token)
} pc;

shared float sh_w[MKV_ATTN_MAX_SPLIT]; // each chunk's weight e^(m_s-M) (0: empty)
shared vec4 sh_o[gl_WorkGroupSize.x];  // the groups' sums

vec2 chunk_ml(uint at) { return P == 4u ? LD4(part, at / 4u).xy : vec2(LD(part, at), LD(part, at + 1u)); }
vec4 chunk_o(uint at) { return P == 4u ? LD4(part, at / 4u) : vec4(LD(part, at), 0.0, 0.0, 0.0); }

void main()
{
    // head h of token b (the partials of token b follow those of b - 1)
    const uint h = gl_WorkGroupID.x, b = gl_WorkGroupID.y, hd = pc.head_dim, tid = gl_LocalInvocationID.x;
    const uint stride = hd + MKV_ATTN_PART_HEAD, base = (b * gl_NumWorkGroups.x + h) * pc.n_split * stride;
    // M, then the weights and L = sum_s w_s l_s: a chunk per invocation
    // (the loops test at their end: common.glsl, END_TESTED)
    float mx = -3.0e38;
    uint s = tid;
    if (s < pc.n_split) do {
        const vec2 ml = chunk_ml(base + s * stride);
        if (ml.y > 0.0) mx = max(mx, ml.x);
        s += WG;
    } while (s < pc.n_split);
    const float M = workgroup_max(mx);
    float l = 0.0;
    s = tid;
    if (s < pc.n_split) do {
        const vec2 ml = chunk_ml(base + s * stride);
        const float w = ml.y > 0.0 ? exp(ml.x - M) : 0.0;
        sh_w[s] = w;
        l += w * ml.y;
        s += WG;
    } while (s < pc.n_split);
    const float L = workgroup_sum(l); // (its barriers also publish sh_w)
    const float inv_l = L > 0.0 ? 1.0 / L : 0.0; // L = 0: a row past the pass's tokens
    // o: ND groups of P values; J groups of invocations (J = 1: each
    // invocation takes groups tid, tid + WG, .. over every chunk)
    const uint nd = (hd + P - 1u) / P, J = max(WG / nd, 1u), ob = b * pc.ld_out + h * hd;
    const uint c0 = J > 1u ? tid % nd : tid, j = J > 1u ? tid / nd : 0u;
    uint c = c0;
    do {
        vec4 o = vec4(0.0);
        if (c < nd && j < J) {
            s = j;
            if (s < pc.n_split) do {
                o += sh_w[s] * chunk_o(base + s * stride + MKV_ATTN_PART_HEAD + P * c);
                s += J;
            } while (s < pc.n_split);
        }
        if (J > 1u) {
            sh_o[tid] = o;
            barrier();
            if (tid < nd) {
                o = vec4(0.0);
                for (uint k = 0u; k < J; k++) o += sh_o[tid + k * nd];
            }
        }
        if (c < nd && j == 0u) {
            if (P == 4u) outv4[(ob + P * c) / 4u] = o * inv_l; else outv[ob + c] = o.x * inv_l;
        }
        c += WG;
    } while (J == 1u && c - c0 < nd);
}
