#version 450
// Fused GQA decode attention, split over the cache ("flash decoding").
// Workgroup (kvh, s) takes KV head kvh and the s-th of n_split equal chunks
// of positions 0..n_kv-1, and serves the whole query group of that KV head
// (query heads kvh*G .. kvh*G+G-1, G = n_head/n_kv_head) in one pass over K
// and V. It writes, per query head, the chunk's running max m, its sum of
// exponentials l and the unnormalised output o; attn_combine.comp merges
// the chunks into a stable softmax over the whole cache.
// Host description: attn.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

STEP_PARAMS_BUFFER(0)
layout(std430, binding = 1) readonly buffer Q { float q[]; };        // [n_head][head_dim]
layout(std430, binding = 2) readonly buffer KCache { uint kc[]; };   // f16 [pos][n_kv_head][head_dim]
layout(std430, binding = 3) readonly buffer VCache { uint vc[]; };
layout(std430, binding = 4) coherent buffer Scores { float sc[]; };           // [n_head][n_ctx] scratch
layout(std430, binding = 5) writeonly buffer Partial { float part[]; }; // [n_head][n_split][head_dim + 2]

layout(push_constant) uniform PushConstants {
    uint n_head;
    uint n_kv_head;
    uint head_dim;
    uint n_ctx;    // cache capacity (row count of Scores)
    uint n_split;
    float scale;   // 1/sqrt(head_dim)
} pc;

#define MAX_GROUP 16
#define MAX_HEAD_DIM 256
shared vec2 qs[MAX_GROUP * MAX_HEAD_DIM / 2];
shared float red[gl_WorkGroupSize.x];

float reduce_max(float v)
{
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] = max(red[tid], red[tid + s]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float reduce_sum(float v)
{
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint kvh = gl_WorkGroupID.x, split = gl_WorkGroupID.y;
    const uint G = pc.n_head / pc.n_kv_head, hd = pc.head_dim, hd2 = hd / 2u;
    const uint n_kv = step.n_kv;
    const uint chunk = (n_kv + pc.n_split - 1u) / pc.n_split;
    const uint t0 = min(split * chunk, n_kv), t1 = min(t0 + chunk, n_kv);
    const uint kv_stride2 = pc.n_kv_head * hd2; // words between positions

    // The group's queries, pre-scaled, as pairs.
    for (uint i = tid; i < G * hd2; i += WG) {
        uint g = i / hd2, j = i % hd2;
        uint qb = (kvh * G + g) * hd + 2u * j;
        qs[i] = vec2(q[qb], q[qb + 1u]) * pc.scale;
    }
    barrier();

    // Pass 1: scores of every position of the chunk, for every query head.
    // A subgroup per position: its lanes read the key row contiguously.
    for (uint t = t0 + gl_SubgroupID; t < t1; t += gl_NumSubgroups) {
        uint kb = t * kv_stride2 + kvh * hd2;
        for (uint g = 0; g < G; g++) {
            float s = 0.0;
            for (uint j = gl_SubgroupInvocationID; j < hd2; j += gl_SubgroupSize)
                s += dot(unpackHalf2x16(kc[kb + j]), qs[g * hd2 + j]);
            s = subgroupAdd(s);
            if (subgroupElect()) sc[(kvh * G + g) * pc.n_ctx + t] = s;
        }
    }
    memoryBarrierBuffer();
    barrier();

    for (uint g = 0; g < G; g++) {
        const uint h = kvh * G + g;
        const uint sb = h * pc.n_ctx;
        // Pass 2: max and sum of exponentials over the chunk.
        float m = -3.0e38;
        for (uint t = t0 + tid; t < t1; t += WG) m = max(m, sc[sb + t]);
        m = reduce_max(m);
        // The scores become probabilities (unnormalised) in place, each
        // exponential computed once.
        float l = 0.0;
        for (uint t = t0 + tid; t < t1; t += WG) {
            float p = exp(sc[sb + t] - m);
            sc[sb + t] = p;
            l += p;
        }
        l = reduce_sum(l);
        memoryBarrierBuffer();
        barrier();
        // Pass 3: o = sum_t p_t v_t; thread owns pairs of dims.
        const uint pb = (h * pc.n_split + split) * (hd + 2u);
        for (uint j = tid; j < hd2; j += WG) {
            vec2 o = vec2(0.0);
            for (uint t = t0; t < t1; t++)
                o += sc[sb + t] * unpackHalf2x16(vc[t * kv_stride2 + kvh * hd2 + j]);
            part[pb + 2u + 2u * j] = o.x;
            part[pb + 3u + 2u * j] = o.y;
        }
        if (tid == 0u) {
            part[pb] = m;
            part[pb + 1u] = l; // 0 for an empty chunk
        }
    }
}
