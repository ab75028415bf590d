#version 450
// The MeKi memory vectors of a batch (prefill): v[b] = M_l[token b] + g[b],
// the bank row read in place from token b's staged slab (its byte offset
// in the staging ring: step.tok[b].y) plus the gate. mm.comp then
// projects v through W_mo. Workgroup (i, b): elements WG*i .. of token b.
// Host description: meki_v.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(std430, binding = 0) readonly buffer Slab { uint slab[]; }; // staging ring of bank slabs
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) writeonly buffer V { float v[]; };
STEP_PARAMS_BUFFER(3)
layout(push_constant) uniform PushConstants {
    uint n_mem;           // d_mem
    uint ldg, ldv;        // row strides in floats
    uint row_byte_offset; // this layer's row in a slab
    uint bank_dtype;      // 1 = F16, 2 = Q8 (bank.h)
} pc;

// Element i of the bank row at byte `base` of the ring (F16: d_mem halves;
// Q8: f16 scale, 2 zero bytes, d_mem int8), as ffn_out.comp reads it.
float bank_value(uint base, uint i)
{
    if (pc.bank_dtype == 1u) {
        const uint a = base + 2u * i;
        const vec2 h = unpackHalf2x16(slab[a >> 2]);
        return (a & 2u) != 0u ? h.y : h.x;
    }
    const float scale = unpackHalf2x16(slab[base >> 2]).x;
    const uint a = base + 4u + i;
    return scale * float(bitfieldExtract(int(slab[a >> 2]), int(8u * (a & 3u)), 8));
}

void main()
{
    const uint i = gl_GlobalInvocationID.x, b = gl_WorkGroupID.y;
    if (b >= step.n_tok || i >= pc.n_mem) return;
    v[b * pc.ldv + i] = bank_value(step.tok[b].y + pc.row_byte_offset, i) + g[b * pc.ldg + i];
}
