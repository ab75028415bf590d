#version 450
// Merges attn.comp's per-chunk partials into the attention output of each
// query head: with M = max_s m_s, out = sum_s e^(m_s-M) o_s / sum_s e^(m_s-M) l_s.
// Empty chunks have l = 0 and o = 0 and drop out. Workgroup (h, b): head h
// of token b of the pass (rows past the pass's tokens merge stale partials
// into rows nothing reads). An invocation takes P output values at a time
// (4 where head_dim and the output rows are multiples of 4: one vec4 of
// each chunk's o; attn_combine_tb reads the partials through their texel
// view, wt_bind.glsl says why). Host description: attn.h.
// The merge itself is attn_merge.glsl's (attn.comp's merge runs it too).
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

#define MERGE_P P
#define MERGE_LD(i) LD(part, i)
#define MERGE_LD4(i) LD4(part, i)
#define MERGE_ST(i, v) outv[i] = (v)
#define MERGE_ST4(i, v) outv4[i] = (v)
#include "attn_merge.glsl"

void main()
{
    // head h of token b (the partials of token b follow those of b - 1)
    const uint h = gl_WorkGroupID.x, b = gl_WorkGroupID.y, stride = pc.head_dim + MKV_ATTN_PART_HEAD;
    merge_head((b * gl_NumWorkGroups.x + h) * pc.n_split * stride, pc.n_split, pc.head_dim, b * pc.ld_out + h * pc.head_dim);
}
