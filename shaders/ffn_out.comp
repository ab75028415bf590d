#version 450
// The end of a layer in one dispatch: the FFN's down projection (W_down of
// any weight type: wtype.glsl) into the residual stream, then (the last workgroup to finish) the norm the next
// layer's attention reads, or the LM head's after the last layer.
//   ffn_out       each workgroup, ROWS rows r: h[r] += W_down[r] . t
//                 the last one, then:        xn = RMSNorm_next(h)
//   ffn_out_meki  each workgroup, ROWS rows r: h[r] += W_down[r] . t
//                                              z[r]  = (W_mo v)[r]
//                 with v = M[x] + g: the token's bank row (row l of the
//                 slab staged for it) plus the gate g from matvec_swiglu_meki
//                 the last one, then: h += RMSNorm_meki(z); xn = RMSNorm_next(h)
//                 (RMSNorm_meki's sum of squares: each workgroup's share of
//                 it, stored past z's n values)
// Each workgroup takes the same rows of W_down and of W_mo, so every
// workgroup does the same work. (Appending W_mo's rows as extra workgroups
// instead doubled the dispatch's time on lavapipe, which splits the grid
// statically between its threads: one got all of W_down.)
// W_mo is stored transposed, in bands of outputs (wmo_layout.h, model.c):
// its rows are only d_mem long, so a subgroup reduction per row cost as
// much as the row's loads. Transposed, each invocation sums v[k] times 8
// consecutive outputs over a share of the k, lanes read consecutive 16-byte
// chunks, and one pass through shared memory adds the shares: no reduction
// per row; in bands, a workgroup's chunks for every k are one run of memory.
// The norms need whole vectors, which only exist once every workgroup is
// done: each workgroup publishes its rows and counts itself in an atomic;
// the last one does the vector tail and sets the counter back to zero for
// the next layer (last_group.glsl: no workgroup waits for another). The
// fusion saves a norm dispatch per layer in both modes (lavapipe: ~0.1 ms
// each); with MeKi, W_mo's rows ride in the same dispatch as W_down's, so
// MeKi adds no dispatch at all.
// W_down, t, W_mo, g and the staged slab are read as storage buffers or,
// in the _tb variants, as uniform texel buffers (wt_bind.glsl). Host description: ffn_out.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
#include "wg_sum.glsl"
#include "vec_read.glsl"
#include "last_group.glsl"
#include "wmo_layout.h"

layout(constant_id = 1) const uint ROWS = 8; // rows per workgroup (of W_down, and of W_mo): a multiple of 8
layout(constant_id = 2) const uint NR = 4;   // rows of W_down a subgroup takes at once (as in matvec.comp)
layout(constant_id = 3) const uint SG = 8;   // the subgroup size (gl_SubgroupSize must equal it)
layout(constant_id = 4) const uint SW = 0;   // 1: the NR rows' scale words at once (as in matvec.comp)
layout(constant_id = 5) const uint V4 = 0;   // 1: n % 4 == 0, the tail's passes take vec4s
// the NR rows' sums, padded to a power of two, meet in a butterfly (sg_sums.glsl)
const uint SG_N = POW2_CEIL(NR);
#include "sg_sums.glsl"

#define WT_BINDING_W 0 // W_down, rows of ldw words (wtype_layout.h)
#define WT_BINDING_X 1 // t, padded with zeros
#include "wt_bind.glsl"
layout(std430, binding = 2) coherent buffer Hidden { float h[]; };      // residual stream, in/out
layout(std430, binding = 2) coherent buffer Hidden4 { vec4 h4[]; };
READ_VEC(3, wn)                                                         // next attn_norm / output_norm
layout(std430, binding = 4) writeonly buffer Normed { float xn[]; };
layout(std430, binding = 4) writeonly buffer Normed4 { vec4 xn4[]; };
layout(std430, binding = 5) coherent buffer Counter { uint groups_done; };
#if defined(MEKI)
#if defined(WT_TEXEL)
layout(binding = 6) uniform usamplerBuffer w2tex;                       // W_mo in bands (wmo_layout.h)
#define W2(i) texelFetch(w2tex, int(i))
#else
layout(std430, binding = 6) readonly buffer Weights2 { uvec4 w2[]; };   // W_mo in bands (wmo_layout.h)
#define W2(i) w2[i]
#endif
#if defined(WT_TEXEL)
layout(binding = 7) uniform usamplerBuffer x2tex;                       // g, n_mem
#define X2_4(kg) uintBitsToFloat(texelFetch(x2tex, int(kg))) // g[4kg .. 4kg + 3]
#else
layout(std430, binding = 7) readonly buffer Input2 { vec4 x2_4[]; };    // g, n_mem (in whole 16 bytes)
#define X2_4(kg) x2_4[kg]
#endif
layout(std430, binding = 8) coherent buffer Z { float z[]; };           // W_mo v, d_model
layout(std430, binding = 8) coherent buffer Z4 { vec4 z4[]; };
READ_VEC(9, wm)                                                         // meki_norm
#if defined(WT_TEXEL)
layout(binding = 10) uniform usamplerBuffer slabtex;                    // staging ring of bank slabs
#define SLAB(i) texelFetch(slabtex, int((i) >> 2u))[(i) & 3u]
#define SLAB_WORDS (4u * uint(textureSize(slabtex)))
#else
layout(std430, binding = 10) readonly buffer Slab { uint slab[]; };     // staging ring of bank slabs
#define SLAB(i) slab[i]
#define SLAB_WORDS uint(slab.length())
#endif
STEP_PARAMS_BUFFER(11)                                                  // step.tok[0].y: this token's slab
#endif

#include "wtype.glsl"

// The tail's vectors, V elements at a time (the rest 0): h, z (storage:
// other workgroups wrote them in this dispatch), the norm weights (texel
// views in the _tb variants), xn.
const uint V = V4 != 0u ? 4u : 1u;
#define TAIL_LD(B, i) (V4 != 0u ? B##4[(i) / 4u] : vec4(B[i], 0.0, 0.0, 0.0))
#define TAIL_ST(B, i, v) if (V4 != 0u) B##4[(i) / 4u] = (v); else B[i] = (v).x
#define NORM_W(B, i) (V4 != 0u ? LD4(B, (i) / 4u) : vec4(LD(B, i), 0.0, 0.0, 0.0)) // vec_read.glsl

layout(push_constant) uniform PushConstants {
    uint n;          // rows of W_down (and of W_mo) = d_model
    uint ldw;        // W_down's row stride in 32-bit words
    uint nb;         // W_down's blocks per row
    uint ld8_2;      // W_mo: chunks of 8 outputs per k, whole bands (MEKI)
    uint n_mem;      // W_mo: d_mem (MEKI)
    uint n_groups;   // workgroups dispatched
    float eps;       // both norms (one model-wide RMSNorm eps)
    uint row_byte_offset; // MEKI: byte offset of this layer's row in a slab
    uint bank_dtype;      // MEKI: 1 = F16 row, 2 = Q8 row
    uint il;              // W_down's row interleaving (wt_common.glsl)
} pc;

#if defined(MEKI)
shared vec4 zpart[2u * gl_WorkGroupSize.x]; // 8 partial outputs per invocation
#endif

#if defined(MEKI)
// W_mo's chunk of outputs 8j .. 8j + 7 for k (wmo_layout.h).
uint wmo_chunk(uint k, uint j) { return (j / MKV_WMO_BAND) * (pc.n_mem * MKV_WMO_BAND) + k * MKV_WMO_BAND + j % MKV_WMO_BAND; }

// Elements 4kg .. 4kg + 3 of this layer's bank row, which starts at byte
// `base` of the staging ring (F16: d_mem halves; Q8: f16 scale, 2 zero
// bytes, d_mem int8), q8_scale its Q8 scale (past d_mem: whatever the slab
// holds there). Both dtypes' bytes come from the same three words and are
// decoded without a branch: lavapipe runs both sides of every branch, and
// this runs once per 4 k of W_mo's loop.
vec4 bank_value4(uint base, uint kg, float q8_scale)
{
    const bool f16 = pc.bank_dtype == 1u;
    const uint b0 = f16 ? base + 8u * kg : base + 4u + 4u * kg, w = b0 >> 2u, sh = 8u * (b0 & 3u);
    const uint a = SLAB(w), b = SLAB(min(w + 1u, SLAB_WORDS - 1u)), c = SLAB(min(w + 2u, SLAB_WORDS - 1u));
    // the 8 bytes from b0 (F16: 4 halves; Q8: the first 4 are the int8s)
    const uint lo = (a >> sh) | ((b << (31u - sh)) << 1u), hi = (b >> sh) | ((c << (31u - sh)) << 1u);
    const vec4 h = vec4(unpackHalf2x16(lo), unpackHalf2x16(hi));
    const vec4 q = q8_scale * vec4(ivec4(uvec4(lo << 24u, lo << 16u, lo << 8u, lo)) >> 24);
    return f16 ? h : q;
}
#endif

void main()
{
    wt_il_set(pc.il);
    const uint tid = gl_LocalInvocationID.x, lane = gl_SubgroupInvocationID;
    const uint r_end = min(gl_WorkGroupID.x * ROWS + ROWS, pc.n), n_units = pc.nb * (WT_BLOCK / WT_UNIT);
    // (the loops test at their end: common.glsl, END_TESTED)
    uint r0 = gl_WorkGroupID.x * ROWS + gl_SubgroupID * NR;
    if (r0 < r_end) do {
        [[unroll]] for (uint i = 0u; i < SG_N; i++) sg_v[i] = 0.0;
        uvec2 hw[NR]; // the rows' handles
        [[unroll]] for (uint i = 0u; i < NR; i++) hw[i] = WT_ROW(min(r0 + i, r_end - 1u), pc.ldw, pc.nb);
        uint u = lane; // the lanes take units u, u + subgroup size, ..
        do {
            if (u < n_units) {
                wt_load_x(u);
#if WT_SW
              if (SW != 0u) { // a unit's scale word of the NR rows in NR / 4 loads
                uvec4 sw[(NR + 3u) / 4u]; // row i's word: sw[i / 4][i % 4] (size > 0 for any NR)
                [[unroll]] for (uint k = 0u; k < NR / 4u; k++) sw[k] = wt_sw4(hw[0], wt_sw_of(u), k);
                [[unroll]] for (uint i = 0u; i < NR; i++) sg_v[i] += wt_dot_sw(hw[i], pc.nb, u, sw[i / 4u][i % 4u]);
              } else
#endif
                [[unroll]] for (uint i = 0u; i < NR; i++) sg_v[i] += wt_dot(hw[i], pc.nb, u);
            }
            u += gl_SubgroupSize;
        } while (u - lane < n_units);
        sg_sums(lane);
        [[unroll]] for (uint j = 0u; j < SG_R; j++) {
            const uint i = sg_first(lane) + j;
            if (sg_owner(lane) && i < NR && r0 + i < r_end) h[r0 + i] += sg_v[j];
        }
        r0 += gl_NumSubgroups * NR;
    } while (r0 < r_end);
#if defined(MEKI)
    // z for this workgroup's rows: C chunks of 8 outputs; invocation (j, p)
    // takes chunk j and every P-th k starting at p. (Reading the bank row
    // here, where v is used, rather than in matvec_swiglu_meki's gate
    // rows, measured cheaper on lavapipe: there it slowed every SwiGLU row.)
    const uint C = ROWS / 8u, P = WG / C, j = tid % C, p = tid / C, chunk = gl_WorkGroupID.x * C + j;
    // the shares' sum by a butterfly: C a power of two below the subgroup size (every lane then has a share)
    const bool SG_TREE = (C & (C - 1u)) == 0u && C < SG;
    vec4 za = vec4(0.0), zb = vec4(0.0);
    // Four k at a time (group kg: k = 4kg .. 4kg + 3, every P-th group from
    // p): v's four values from one x2 load and three slab words. The loop
    // tests at its end (common.glsl, END_TESTED).
    const uint n4 = (pc.n_mem + 3u) / 4u;
    if (P == 1u) {
        // Every invocation takes every k (one chunk each: lavapipe's shape),
        // so a subgroup's lanes need the same v: they decode a tile of SG
        // groups of it, one group each, and hand them round by shuffles
        // (per lane, that is 1 decode of the bank row and g per SG groups
        // rather than per group). Shuffles run on every lane: a lane past
        // the last chunk reads the last chunk and its sums are not used.
        const uint row = step.tok[0].y + pc.row_byte_offset;
        const float q8_scale = unpackHalf2x16(SLAB(row >> 2)).x;
        const uint ch = min(chunk, pc.ld8_2 - 1u), sg = gl_SubgroupSize;
        uint kt = 0u;
        do {
            const uint kl = kt + lane; // this lane's group of the tile
            vec4 vl = vec4(0.0);
            if (kl < n4) {
                const vec4 v = bank_value4(row, kl, q8_scale) + X2_4(kl);
                vl = mix(vec4(0.0), v, lessThan(uvec4(4u * kl) + uvec4(0u, 1u, 2u, 3u), uvec4(pc.n_mem))); // 0 past n_mem
            }
            const uint m = min(sg, n4 - kt);
            uint e = 0u;
            do {
                const vec4 v = subgroupShuffle(vl, e);
                [[unroll]] for (uint i = 0u; i < 4u; i++) {
                    const uvec4 w = W2(wmo_chunk(min(4u * (kt + e) + i, pc.n_mem - 1u), ch)); // past n_mem: v is 0
                    za += v[i] * vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
                    zb += v[i] * vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
                }
                e++;
            } while (e < m);
            kt += sg;
        } while (kt < n4);
    } else if (p < P && chunk < pc.ld8_2 && p < n4) {
        const uint row = step.tok[0].y + pc.row_byte_offset; // read once, not per k
        const float q8_scale = unpackHalf2x16(SLAB(row >> 2)).x;
        uint kg = p;
        do {
            const uint k0 = 4u * kg;
            vec4 v = bank_value4(row, kg, q8_scale) + X2_4(kg);
            [[unroll]] for (uint e = 0u; e < 4u; e++) {
                const uint k = min(k0 + e, pc.n_mem - 1u); // past n_mem: weight 0 on the last row
                const float s = k0 + e < pc.n_mem ? v[e] : 0.0;
                const uvec4 q = W2(wmo_chunk(k, chunk));
                za += s * vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
                zb += s * vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
            }
            kg += P;
        } while (kg < n4);
    }
    float zss = 0.0; // this workgroup's share of sum z^2, for RMSNorm_meki
    if (P == 1u) {
        // one share per chunk: this invocation's sums are its outputs
        [[unroll]] for (uint e = 0u; e < 8u; e++) {
            const float s = e < 4u ? za[e] : zb[e - 4u];
            if (8u * chunk + e < pc.n) {
                z[8u * chunk + e] = s;
                zss += s * s;
            }
        }
    } else if (SG_TREE) {
        // The shares of chunk j sit in the lanes l = j mod C of every
        // subgroup: a butterfly over the lanes C, 2C, .. apart sums them
        // (the shuffles run on every lane), then the subgroups' sums meet
        // in shared memory: log2(SG / C) shuffles and WG / SG adds rather
        // than P adds one after another (a GPU's wide workgroups hold
        // one chunk: P = 128 shares).
        [[unroll]] for (uint d = C; d < SG; d *= 2u) {
            za += subgroupShuffleXor(za, d);
            zb += subgroupShuffleXor(zb, d);
        }
        if (lane < C) {
            zpart[2u * (gl_SubgroupID * C + lane)] = za;
            zpart[2u * (gl_SubgroupID * C + lane) + 1u] = zb;
        }
        barrier();
        for (uint i = tid; i < ROWS && gl_WorkGroupID.x * ROWS + i < pc.n; i += WG) {
            float s = 0.0; // output i is element i % 8 of chunk i / 8, in each subgroup's sum
            for (uint q = 0u; q < gl_NumSubgroups; q++) s += zpart[2u * (q * C + i / 8u) + (i % 8u) / 4u][i % 4u];
            z[gl_WorkGroupID.x * ROWS + i] = s;
            zss += s * s;
        }
    } else {
        zpart[2u * tid] = za;
        zpart[2u * tid + 1u] = zb;
        barrier();
        for (uint i = tid; i < ROWS && gl_WorkGroupID.x * ROWS + i < pc.n; i += WG) {
            float s = 0.0; // output i is element i % 8 of chunk i / 8, in each of the P shares
            for (uint q = 0u; q < P; q++) s += zpart[2u * (q * C + i / 8u) + (i % 8u) / 4u][i % 4u];
            z[gl_WorkGroupID.x * ROWS + i] = s;
            zss += s * s;
        }
    }
    zss = workgroup_sum(zss);
    if (tid == 0u) z[pc.n + gl_WorkGroupID.x] = zss; // past z's n values
#endif
    // Publish this workgroup's rows and count it; the last one goes on.
    LAST_GROUP(groups_done, pc.n_groups);

    // The tail runs on one workgroup while the others are done: as few
    // passes over the vectors as can be (lavapipe: one CPU thread; the
    // MeKi tail's own passes over z had cost 1.3 ms per 0.6b token).
    // An invocation takes V elements at a time (V4: vec4s), the loops test
    // at their end (common.glsl, END_TESTED).
    const uint first = V * tid, stride = V * WG;
    float hs = 0.0;
    uint i = first;
#if defined(MEKI)
    // RMSNorm_meki from the workgroups' shares of sum z^2, then h += its
    // output and sum h^2 in one pass (each invocation rereads only its own h[i])
    float zs = 0.0;
    for (uint g = tid; g < pc.n_groups; g += WG) zs += z[pc.n + g];
    const float inv_z = inversesqrt(workgroup_sum(zs) / float(pc.n) + pc.eps);
    do {
        if (i < pc.n) {
            const vec4 v = TAIL_LD(h, i) + TAIL_LD(z, i) * inv_z * NORM_W(wm, i);
            TAIL_ST(h, i, v);
            hs += dot(v, v);
        }
        i += stride;
    } while (i - first < pc.n);
#else
    do {
        if (i < pc.n) {
            const vec4 v = TAIL_LD(h, i);
            hs += dot(v, v);
        }
        i += stride;
    } while (i - first < pc.n);
#endif
    const float inv_h = inversesqrt(workgroup_sum(hs) / float(pc.n) + pc.eps);
    i = first;
    do {
        if (i < pc.n) TAIL_ST(xn, i, TAIL_LD(h, i) * inv_h * NORM_W(wn, i));
        i += stride;
    } while (i - first < pc.n);
    LAST_GROUP_RESET(groups_done);
}
