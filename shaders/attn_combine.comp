#version 450
// Merges attn.comp's per-chunk partials into the attention output of each
// query head: with M = max_s m_s, out = sum_s e^(m_s-M) o_s / sum_s e^(m_s-M) l_s.
// Empty chunks have l = 0 and o = 0 and drop out. Workgroup (h, b): head h
// of token b of the pass (rows past the pass's tokens merge stale partials
// into rows nothing reads). An invocation takes P output values at a time
// (4 where head_dim and the output rows are multiples of 4: one vec4 of
// each chunk's o; attn_combine_tb reads the partials through their texel
// view, wt_bind.glsl says why). Host description: attn.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "kv_layout.h"
#include "vec_read.glsl"

layout(constant_id = 1) const uint P = 1; // output values an invocation takes at once: 1 or 4

READ_VEC(0, part) // kv_layout.h
layout(std430, binding = 1) writeonly buffer Out { float outv[]; }; // [n_head][head_dim]
layout(std430, binding = 1) writeonly buffer Out4 { vec4 outv4[]; };

layout(push_constant) uniform PushConstants {
    uint head_dim;
    uint n_split;
    uint ld_out;    // out's row stride in floats (one row per token)
} pc;

// Chunk s's (m, l), its partials starting at float at.
vec2 chunk_ml(uint at) { return P == 4u ? LD4(part, at / 4u).xy : vec2(LD(part, at), LD(part, at + 1u)); }

void main()
{
    // head h of token b (the partials of token b follow those of b - 1)
    const uint h = gl_WorkGroupID.x, b = gl_WorkGroupID.y, hd = pc.head_dim;
    const uint stride = hd + MKV_ATTN_PART_HEAD, base = (b * gl_NumWorkGroups.x + h) * pc.n_split * stride;
    // (the loops test at their end: common.glsl, END_TESTED; n_split >= 1)
    float M = -3.0e38, L = 0.0;
    uint s = 0u;
    do {
        const vec2 ml = chunk_ml(base + s * stride);
        if (ml.y > 0.0) M = max(M, ml.x);
        s++;
    } while (s < pc.n_split);
    s = 0u;
    do {
        const vec2 ml = chunk_ml(base + s * stride);
        L += ml.y > 0.0 ? exp(ml.x - M) * ml.y : 0.0;
        s++;
    } while (s < pc.n_split);
    const float inv_l = L > 0.0 ? 1.0 / L : 0.0; // L = 0: a row past the pass's tokens
    const uint first = P * gl_LocalInvocationID.x, ob = b * pc.ld_out + h * hd;
    uint d = first;
    do {
        if (d < hd) {
            vec4 o = vec4(0.0);
            s = 0u;
            do {
                const uint at = base + s * stride;
                const vec2 ml = chunk_ml(at);
                const float w = ml.y > 0.0 ? exp(ml.x - M) : 0.0;
                const uint oi = at + MKV_ATTN_PART_HEAD + d;
                o += w * (P == 4u ? LD4(part, oi / 4u) : vec4(LD(part, oi), 0.0, 0.0, 0.0));
                s++;
            } while (s < pc.n_split);
            if (P == 4u) outv4[(ob + d) / 4u] = o * inv_l; else outv[ob + d] = o.x * inv_l;
        }
        d += P * WG;
    } while (d - first < hd);
}
