#version 450
// Bandwidth probe: reads a buffer once, as fast as the device can, so that
// bench can set decode's achieved GB/s against what memory delivers. Which
// access pattern and launch shape stream fastest differs by device (a GPU
// wants adjacent lanes on adjacent addresses, a CPU driver's thread one long
// contiguous stream), so runtime/probe.c sweeps the variants below and keeps
// the best. Workgroup g owns chunks [g * per_group, (g + 1) * per_group) of
// 16 bytes, except in the grid variant, which strides over the whole buffer.
//
// Variants (kernels.cmake), the access pattern:
//   bw_probe           block: the workgroup's invocations interleave over its
//                      block (invocation t reads chunks t, t + WG, ...):
//                      adjacent lanes, adjacent addresses (coalesced)
//   bw_probe_run       run: each invocation streams its own contiguous
//                      run of ceil(per_group / WG) chunks of the block
//   bw_probe_grid      grid: grid-stride, invocation i of n in the whole
//                      dispatch reads chunks i, i + n, ... (per_group only
//                      sizes the dispatch)
//   *_tb               the same, reading through a uniform texel buffer
//                      (the weights' path on devices whose tuning row
//                      picks it, wt_bind.glsl)
// Spec constants: 0 WG, 1 VEC: chunks each invocation loads per loop
// iteration (independent loads in flight; adjacent in run, WG or the
// grid's size apart in block and grid).
//
// Every workgroup XORs what it read into o[0], so no load can be optimised
// away and the tests can check that every variant read every byte
// (o[0] = the XOR of all the buffer's words). Host description: bw_probe.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint VEC = 1;

#if defined(WT_TEXEL)
layout(binding = 0) uniform usamplerBuffer dtex; // an RGBA32UI view
#define D(i) texelFetch(dtex, int(i))
#else
layout(std430, binding = 0) readonly buffer Data { uvec4 d[]; };
#define D(i) d[i]
#endif
layout(std430, binding = 1) writeonly buffer Out { uint o[]; };

layout(push_constant) uniform PushConstants {
    uint n16;        // 16-byte chunks in the buffer
    uint per_group;  // chunks per workgroup
} pc;

shared uint red[gl_WorkGroupSize.x];

// XOR of chunks [i, end), read `stride` apart, VEC loads per iteration.
uvec4 stream(uint i, uint end, uint stride)
{
    uvec4 acc = uvec4(0u);
    for (; i + (VEC - 1u) * stride < end; i += VEC * stride) {
        [[unroll]] for (uint j = 0u; j < VEC; j++) acc ^= D(i + j * stride);
    }
    for (; i < end; i += stride) acc ^= D(i);
    return acc;
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint begin = gl_WorkGroupID.x * pc.per_group, end = min(begin + pc.per_group, pc.n16);
#if defined(RUN)
    const uint run = (pc.per_group + WG - 1u) / WG, rb = min(begin + tid * run, end);
    uvec4 acc = stream(rb, min(rb + run, end), 1u);
#elif defined(GRID)
    uvec4 acc = stream(gl_GlobalInvocationID.x, pc.n16, gl_NumWorkGroups.x * WG);
#else
    uvec4 acc = stream(begin + tid, end, WG);
#endif
    red[tid] = acc.x ^ acc.y ^ acc.z ^ acc.w;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] ^= red[tid + s];
        barrier();
    }
    if (tid == 0u) atomicXor(o[0], red[0]);
}
