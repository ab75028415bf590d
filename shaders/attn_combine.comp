#version 450
// Merges attn.comp's per-chunk partials into the attention output of each
// query head: with M = max_s m_s, out = sum_s e^(m_s-M) o_s / sum_s e^(m_s-M) l_s.
// Empty chunks have l = 0 and o = 0 and drop out. Workgroup (h, b): head h
// of token b of the pass (rows past the pass's tokens merge stale partials
// into rows nothing reads). Host description: attn.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Partial { float part[]; };
layout(std430, binding = 1) writeonly buffer Out { float outv[]; }; // [n_head][head_dim]

layout(push_constant) uniform PushConstants {
    uint head_dim;
    uint n_split;
    uint ld_out;    // out's row stride in floats (one row per token)
} pc;

void main()
{
    // head h of token b (the partials of token b follow those of b - 1)
    const uint h = gl_WorkGroupID.x, b = gl_WorkGroupID.y, hd = pc.head_dim;
    const uint stride = hd + 2u, base = (b * gl_NumWorkGroups.x + h) * pc.n_split * stride;
    float M = -3.0e38;
    for (uint s = 0; s < pc.n_split; s++)
        if (part[base + s * stride + 1u] > 0.0) M = max(M, part[base + s * stride]);
    float L = 0.0;
    for (uint s = 0; s < pc.n_split; s++) {
        float l = part[base + s * stride + 1u];
        if (l > 0.0) L += exp(part[base + s * stride] - M) * l;
    }
    for (uint d = gl_LocalInvocationID.x; d < hd; d += WG) {
        float o = 0.0;
        for (uint s = 0; s < pc.n_split; s++) {
            uint b = base + s * stride;
            if (part[b + 1u] > 0.0) o += exp(part[b] - M) * part[b + 2u + d];
        }
        outv[b * pc.ld_out + h * hd + d] = L > 0.0 ? o / L : 0.0; // L = 0: a row past the pass's tokens
    }
}
