#version 450
// Embedding gather: h[b] = token_embd[token b] as f32 for each token of the
// pass (workgroup row b), decoded from the stored
// weight type (wtype.glsl). The table may be split in parts (each within
// maxStorageBufferRange); one dispatch per part, and only the part that
// holds the token writes. Host description: embed.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

STEP_PARAMS_BUFFER(0)
layout(std430, binding = 1) readonly buffer Table { uint w[]; };   // rows of ldw words (wtype_layout.h)
layout(std430, binding = 1) readonly buffer Table4 { uvec4 w4[]; };
layout(std430, binding = 2) writeonly buffer Hidden { float h[]; };

#define WT_W(i) w[i]
#define WT_W4(i) w4[i]
#define WT_X(i) vec4(0.0) // no input vector: only wt_value is used
#include "wtype.glsl"

layout(push_constant) uniform PushConstants {
    uint row_begin; // first token id in this part
    uint n_rows;    // token ids in this part
    uint d_model;
    uint ldw;       // row stride in 32-bit words
    uint nb;        // blocks per row
    uint ldh;       // h's row stride in floats (one row per token)
    uint il;        // the table's row interleaving (wt_common.glsl)
} pc;

void main()
{
    wt_il_set(pc.il);
    const uint b = gl_WorkGroupID.y;
    if (b >= step.n_tok) return;
    const uint t = step.tok[b].x;
    if (t < pc.row_begin || t - pc.row_begin >= pc.n_rows) return;
    const uvec2 row = WT_ROW(t - pc.row_begin, pc.ldw, pc.nb);
    for (uint i = gl_GlobalInvocationID.x; i < pc.d_model; i += gl_NumWorkGroups.x * WG)
        h[b * pc.ldh + i] = wt_value(row, pc.nb, i);
}
