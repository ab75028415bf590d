#version 450
// Bandwidth probe: reads a buffer once, as fast as the device can, so that
// bench can set decode's achieved GB/s against what memory delivers. Each
// workgroup reads one contiguous block of 16-byte chunks (a CPU driver's
// thread streams it), its invocations striding by WG (adjacent invocations,
// adjacent addresses: coalesced on GPUs). Every workgroup XORs what it read
// into o[0], so no load can be optimised away and the test can check that
// the probe read every byte (o[0] = the XOR of the whole buffer).
// Host description: bw_probe.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Data { uvec4 d[]; };
layout(std430, binding = 1) writeonly buffer Out { uint o[]; };

layout(push_constant) uniform PushConstants {
    uint n16;        // 16-byte chunks in the buffer
    uint per_group;  // chunks per workgroup
} pc;

shared uint red[gl_WorkGroupSize.x];

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint begin = gl_WorkGroupID.x * pc.per_group, end = min(begin + pc.per_group, pc.n16);
    uvec4 acc = uvec4(0u);
    for (uint i = begin + tid; i < end; i += WG) acc ^= d[i];
    red[tid] = acc.x ^ acc.y ^ acc.z ^ acc.w;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] ^= red[tid + s];
        barrier();
    }
    if (tid == 0u) atomicXor(o[0], red[0]);
}
