#version 450
// Greedy sampling on the GPU in two stages. Stage 1 (variant argmax; argmax_tb
// reads x through its RGBA32UI texel view, wt_bind.glsl says why):
// workgroup g finds the largest value of x[g*chunk .. ) and writes (value,
// index) to its slot, each invocation taking 4 values (a vec4) at a time.
// Stage 2 (variant argmax_final): one workgroup reduces the slots. Ties go
// to the lowest index; NaN never wins.
// Host description: argmax.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "vec_read.glsl"

#if defined(FINAL)
layout(std430, binding = 0) readonly buffer Slots { vec2 slots[]; }; // (value, index bits)
#else
READ_VEC(0, x) // float n, read in whole 16 bytes
#endif
layout(std430, binding = 1) writeonly buffer Result { vec2 res[]; };

layout(push_constant) uniform PushConstants {
    uint n;      // values (stage 1) or slots (stage 2)
    uint chunk;  // values per workgroup (stage 1): a multiple of 4
} pc;

shared float bv[gl_WorkGroupSize.x];
shared uint bi[gl_WorkGroupSize.x];

bool better(float v, uint i, float v2, uint i2) { return v > v2 || (v == v2 && i < i2); }

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    float best = -3.4e38;
    uint idx = 0xffffffffu;
    // (the loops test at their end: common.glsl, END_TESTED)
#if defined(FINAL)
    uint i = tid;
    do {
        if (i < pc.n) {
            const float v = slots[i].x;
            const uint j = floatBitsToUint(slots[i].y);
            if (j != 0xffffffffu && better(v, j, best, idx)) { best = v; idx = j; }
        }
        i += WG;
    } while (i - tid < pc.n);
#else
    const uint b = gl_WorkGroupID.x * pc.chunk, e = min(b + pc.chunk, pc.n);
    uint t = b / 4u + tid; // values 4t .. 4t + 3
    do {
        if (4u * t < e) {
            const vec4 v = LD4(x, t);
            [[unroll]] for (uint k = 0u; k < 4u; k++) // in index order: a tie keeps the first
                if (4u * t + k < e && !isnan(v[k]) && v[k] > best) { best = v[k]; idx = 4u * t + k; }
        }
        t += WG;
    } while (4u * t < e);
#endif
    // the subgroup's best: its largest value, the lowest index holding it
    const float m = subgroupMax(best);
    const uint mi = subgroupMin(best == m ? idx : 0xffffffffu);
    if (subgroupElect()) {
        bv[gl_SubgroupID] = m;
        bi[gl_SubgroupID] = mi;
    }
    barrier();
    if (tid == 0u) {
        float v = bv[0];
        uint j = bi[0];
        for (uint s = 1u; s < gl_NumSubgroups; s++)
            if (better(bv[s], bi[s], v, j)) { v = bv[s]; j = bi[s]; }
        res[gl_WorkGroupID.x] = vec2(v, uintBitsToFloat(j));
    }
}
