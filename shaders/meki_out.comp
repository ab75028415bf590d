#version 450
// The end of a MeKi layer in one dispatch:
//   z  = W_mo v                      (every workgroup: ROWS rows, as matvec.comp)
//   h' = h + f + RMSNorm_meki(z)     (the last workgroup to finish, then)
//   xn = RMSNorm_next(h')            (next layer's attention input, or the
//                                     LM head's after the last layer)
// The norms need all of z, which only exists once every workgroup is done:
// each workgroup publishes its rows (coherent writes + memoryBarrierBuffer)
// and counts itself in an atomic; the one that sees the count reach the
// total does the vector tail and sets the counter back to zero for the next
// layer. No workgroup ever waits for another, so there is no forward-progress
// assumption. This saves the separate residual dispatch, which costs about
// as much as the work itself on dispatch-bound drivers (lavapipe: ~0.1 ms).
// Host description: meki_out.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

layout(constant_id = 1) const uint ROWS = 8; // rows of W_mo per workgroup

layout(std430, binding = 0) readonly buffer Weights { uvec4 w[]; };    // W_mo, f16 rows of ld8*8
layout(std430, binding = 1) readonly buffer Input { vec4 x[]; };       // v, padded with zeros
layout(std430, binding = 2) coherent buffer Z { float z[]; };          // d_model
layout(std430, binding = 3) buffer Hidden { float h[]; };              // residual stream, in/out
layout(std430, binding = 4) readonly buffer Ffn { float f[]; };        // FFN output
layout(std430, binding = 5) readonly buffer Weight { float wm[]; };    // meki_norm
layout(std430, binding = 6) readonly buffer NextWeight { float wn[]; };// next attn_norm / output_norm
layout(std430, binding = 7) writeonly buffer Normed { float xn[]; };
layout(std430, binding = 8) coherent buffer Counter { uint groups_done; };

layout(push_constant) uniform PushConstants {
    uint n;          // rows of W_mo = d_model
    uint ld8;        // W_mo's row stride in 16-byte chunks
    uint n_groups;   // workgroups dispatched
    float eps;       // both norms (one model-wide RMSNorm eps)
} pc;

shared float red[gl_WorkGroupSize.x];
shared bool is_last;

float dot8(uvec4 q, vec4 a, vec4 b)
{
    vec2 w0 = unpackHalf2x16(q.x), w1 = unpackHalf2x16(q.y);
    vec2 w2 = unpackHalf2x16(q.z), w3 = unpackHalf2x16(q.w);
    return dot(vec4(w0, w1), a) + dot(vec4(w2, w3), b);
}

// Sum of v over the workgroup (every invocation gets it). WG is a power of two.
float workgroup_sum(float v)
{
    const uint tid = gl_LocalInvocationID.x;
    barrier(); // red[] may still be read from a previous call
    red[tid] = v;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    return red[0];
}

void main()
{
    const uint tid = gl_LocalInvocationID.x, lane = gl_SubgroupInvocationID;
    const uint r_end = min(gl_WorkGroupID.x * ROWS + ROWS, pc.n);
    for (uint r = gl_WorkGroupID.x * ROWS + gl_SubgroupID; r < r_end; r += gl_NumSubgroups) {
        float acc = 0.0;
        for (uint c = lane; c < pc.ld8; c += gl_SubgroupSize) acc += dot8(w[r * pc.ld8 + c], x[2u * c], x[2u * c + 1u]);
        float d = subgroupAdd(acc);
        if (subgroupElect()) z[r] = d;
    }
    // Publish this workgroup's rows, then count it.
    memoryBarrierBuffer();
    barrier();
    if (tid == 0u) is_last = atomicAdd(groups_done, 1u) == pc.n_groups - 1u;
    barrier();
    if (!is_last) return;
    memoryBarrierBuffer(); // every other workgroup's z is visible past its count

    float ss = 0.0;
    for (uint i = tid; i < pc.n; i += WG) ss += z[i] * z[i];
    const float inv = inversesqrt(workgroup_sum(ss) / float(pc.n) + pc.eps);
    float hs = 0.0;
    for (uint i = tid; i < pc.n; i += WG) { // each invocation rereads only its own h[i]
        float v = h[i] + f[i] + z[i] * inv * wm[i];
        h[i] = v;
        hs += v * v;
    }
    const float inv_h = inversesqrt(workgroup_sum(hs) / float(pc.n) + pc.eps);
    for (uint i = tid; i < pc.n; i += WG) xn[i] = h[i] * inv_h * wn[i];
    if (tid == 0u) groups_done = 0u;
}
