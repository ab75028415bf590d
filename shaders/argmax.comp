#version 450
// Greedy sampling on the GPU in two stages. Stage 1 (variant argmax):
// workgroup g finds the largest value of x[g*chunk .. ) and writes (value,
// index) to its slot. Stage 2 (variant argmax_final): one workgroup reduces
// the slots. Ties go to the lowest index; NaN never wins.
// Host description: argmax.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if defined(FINAL)
layout(std430, binding = 0) readonly buffer Slots { vec2 slots[]; }; // (value, index bits)
#else
layout(std430, binding = 0) readonly buffer Input { float x[]; };
#endif
layout(std430, binding = 1) writeonly buffer Result { vec2 res[]; };

layout(push_constant) uniform PushConstants {
    uint n;      // values (stage 1) or slots (stage 2)
    uint chunk;  // values per workgroup (stage 1)
} pc;

shared float bv[gl_WorkGroupSize.x];
shared uint bi[gl_WorkGroupSize.x];

bool better(float v, uint i, float v2, uint i2) { return v > v2 || (v == v2 && i < i2); }

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    float best = -3.4e38;
    uint idx = 0xffffffffu;
#if defined(FINAL)
    for (uint i = tid; i < pc.n; i += WG) {
        float v = slots[i].x;
        uint j = floatBitsToUint(slots[i].y);
        if (j != 0xffffffffu && better(v, j, best, idx)) { best = v; idx = j; }
    }
#else
    const uint b = gl_WorkGroupID.x * pc.chunk, e = min(b + pc.chunk, pc.n);
    for (uint i = b + tid; i < e; i += WG) {
        float v = x[i];
        if (!isnan(v) && better(v, i, best, idx)) { best = v; idx = i; }
    }
#endif
    bv[tid] = best;
    bi[tid] = idx;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s && better(bv[tid + s], bi[tid + s], bv[tid], bi[tid])) {
            bv[tid] = bv[tid + s];
            bi[tid] = bi[tid + s];
        }
        barrier();
    }
    if (tid == 0u) res[gl_WorkGroupID.x] = vec2(bv[0], uintBitsToFloat(bi[0]));
}
