#version 450
// Embedding gather: h = token_embd[token] as f32. The table may be split in
// parts (each within maxStorageBufferRange); one dispatch per part, and only
// the part that holds the token writes. Host description: embed.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

STEP_PARAMS_BUFFER(0)
layout(std430, binding = 1) readonly buffer Table { uint tw[]; }; // f16 pairs, row stride ld halves
layout(std430, binding = 2) writeonly buffer Hidden { float h[]; };

layout(push_constant) uniform PushConstants {
    uint row_begin; // first token id in this part
    uint n_rows;    // token ids in this part
    uint d_model;
    uint ld;        // row stride in halves (even)
} pc;

void main()
{
    uint t = step.token;
    if (t < pc.row_begin || t - pc.row_begin >= pc.n_rows) return;
    uint base = (t - pc.row_begin) * pc.ld;
    for (uint i = gl_GlobalInvocationID.x; i < pc.d_model; i += gl_NumWorkGroups.x * WG) {
        vec2 v = unpackHalf2x16(tw[(base + i) >> 1]);
        h[i] = (i & 1u) != 0u ? v.y : v.x;
    }
}
