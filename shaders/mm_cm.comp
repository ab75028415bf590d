#version 450
// The batched product of mm.comp (Y[b] = act(W X[b]) for the tokens
// b < step.n_tok of the pass, any weight type, f32 sums) on the device's
// matrix units: cooperative matrices of 16 x 16 x 16 (f16 A and B, f32
// accumulators), VK_NV_cooperative_matrix. (VK_KHR_cooperative_matrix is
// the same model; Debian 12's glslang 12.0.0 predates GL_KHR_cooperative_matrix,
// so this variant is written against the NV extension, which that glslang
// compiles.)
//
// Workgroup (i, j) owns TM = 16 NSG rows of W and TN = 32 tokens from 32 j.
// For each tile of KT weights along the rows (KT: 64, or a whole block of
// 256 where a unit's elements are spread over its block, Q6_K) the
// workgroup
//   - decodes the TM x KT weights into shared memory as f16 (wt_part: the
//     dequantization is this loader, 8 elements per part, each thread a
//     few parts),
//   - converts the TN tokens' x to f16 beside them (B, column-major),
// and after a barrier subgroup s multiplies its 16 rows by both 16-token
// halves, KT / 16 steps of coopMatMulAddNV. At the end each subgroup stores
// its two 16 x 16 sums to shared memory and writes them out (act, bounds,
// accumulate), lane by lane. Rows past n_rows and tokens past the pass
// are zeros in the tiles and never written.
// x in f16 keeps 11 bits of each activation (the sums stay f32): the
// batched logits then differ from the f32 path's by about f16's rounding
// (about 5e-3 of the largest output at 2080 columns; tests/test_kernels.c).
// Host description: mm_cm.h.
//
// Variant mm_cm_emu (MM_CM_EMULATE) runs the same tiles with the three
// cooperative-matrix steps done by the lanes themselves (load, 16 x 16 x 16
// multiply-add, store: each lane owns 256 / SG elements of each sum), and
// the tiles as f16 pairs packed in 32-bit words, which needs no f16
// feature: the tests run it on any device (lavapipe), so everything but
// the matrix units' own steps is checked where no device has them.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#if !defined(MM_CM_EMULATE)
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#include "common.glsl"

layout(constant_id = 1) const uint SG = 32; // the subgroup size (gl_SubgroupSize must equal it)

#define WT_BINDING_W 0 // W: rows of ldw words (wtype_layout.h)
#define WT_BINDING_X 1 // x: a row of ldx4 vec4 per token
#include "wt_bind.glsl"
layout(std430, binding = 2) buffer Output { float y[]; };
STEP_PARAMS_BUFFER(3)

#include "wtype.glsl"
#include "wt_part.glsl"

layout(push_constant) uniform PushConstants {
    uint n_rows;     // rows of W
    uint ldw;        // W's row stride in 32-bit words
    uint nb;         // W's blocks per row
    uint ldx4;       // x's row stride in vec4
    uint ldy;        // y's row stride in floats
    uint y_offset;   // first output column
    uint accumulate; // 1 adds into y
    uint act;        // 1 applies sigmoid
    uint il;         // W's row interleaving (wt_common.glsl)
} pc;

const uint NSG = WG / SG;   // subgroups per workgroup
const uint TM = 16u * NSG;  // rows per workgroup: 16 per subgroup
const uint TN = 32u;        // tokens per workgroup: two fragments of 16
#if defined(WT_Q6_K)
const uint KT = WT_BLOCK;   // a Q6_K unit's elements are spread over its block
#else
const uint KT = 64u;        // a whole number of units of every other type
#endif
const uint UPT = KT / WT_UNIT; // units per tile and row

// The tiles: a_sh the weights, row-major (row stride KT); b_sh the tokens'
// x, column-major (token stride KT); element i of either through ST4 (four
// from i, i a multiple of 4) and LD.
#if defined(MM_CM_EMULATE)
shared uint a_sh[TM * KT / 2u]; // f16 pairs: element i in half i % 2 of word i / 2
shared uint b_sh[TN * KT / 2u];
#define ST4(arr, i, v) { arr[(i) / 2u] = packHalf2x16((v).xy); arr[(i) / 2u + 1u] = packHalf2x16((v).zw); }
#define LD(arr, i) unpackHalf2x16(arr[(i) / 2u])[(i) % 2u]
#else
shared float16_t a_sh[TM * KT];
shared float16_t b_sh[TN * KT];
#define ST4(arr, i, v) { [[unroll]] for (uint j_ = 0u; j_ < 4u; j_++) arr[(i) + j_] = float16_t((v)[j_]); }
#endif
shared float c_sh[NSG * 256u];  // each subgroup's 16 x 16 sums on their way out

#if defined(MM_CM_EMULATE)
// The sums' elements a lane owns: element e = 16 i + j (row i, token j) of
// both fragments for e = lane + SG q.
const uint EPL = 256u / SG;
float acc0[EPL], acc1[EPL];
// acc += A B for the 16 x 16 x 16 step at k: A rows from a_sh's row ar,
// B's two 16-token halves from b_sh's columns 0 and 16.
void emu_mul_add(uint ar, uint k)
{
    [[dont_unroll]] for (uint q = 0u; q < EPL; q++) { // (unrolled, LLVM took minutes to compile it on lavapipe)
        const uint e = gl_SubgroupInvocationID + SG * q, i = e / 16u, j = e % 16u;
        float s0 = 0.0, s1 = 0.0;
        for (uint kk = 0u; kk < 16u; kk++) {
            const float a = LD(a_sh, (ar + i) * KT + k + kk);
            s0 += a * LD(b_sh, j * KT + k + kk);
            s1 += a * LD(b_sh, (16u + j) * KT + k + kk);
        }
        acc0[q] += s0;
        acc1[q] += s1;
    }
}
#endif

// Output (token b, row r): act, then stored or added.
void put(uint b, uint r, float d)
{
    if (pc.act != 0u) d = 1.0 / (1.0 + exp(-d));
    const uint at = b * pc.ldy + pc.y_offset + r;
    y[at] = (pc.accumulate != 0u ? y[at] : 0.0) + d;
}

// This subgroup's 16 x 16 sums in c_sh (rows from r, tokens from b) out, lane by lane.
void write_out(uint r, uint b, uint n_tok)
{
    const uint base = gl_SubgroupID * 256u;
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint e = gl_SubgroupInvocationID; e < 256u; e += SG)
        if (r + e / 16u < pc.n_rows && b + e % 16u < n_tok) put(b + e % 16u, r + e / 16u, c_sh[base + e]);
    subgroupBarrier(); // every lane has read c_sh before the next store into it
}

void main()
{
    wt_il_set(pc.il);
    const uint tid = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    const uint n_units = pc.nb * (WT_BLOCK / WT_UNIT);
    const uint r0 = gl_WorkGroupID.x * TM, b0 = gl_WorkGroupID.y * TN, n_tok = step.n_tok;
    if (b0 >= n_tok) return; // uniform over the workgroup
#if defined(MM_CM_EMULATE)
    for (uint q = 0u; q < EPL; q++) acc0[q] = acc1[q] = 0.0;
#else
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc0 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc1 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
#endif
    const uint n_tiles = (n_units + UPT - 1u) / UPT;
    for (uint t = 0u; t < n_tiles; t++) {
        // A: part p (8 elements) of unit t UPT + q of row i, for every (i, q, p)
        const uint ppu = WT_XN / 2u, parts = TM * UPT * ppu;
        for (uint e = tid; e < parts; e += WG) {
            const uint i = e / (UPT * ppu), q = (e / ppu) % UPT, c = e % ppu, u = t * UPT + q, r = r0 + i;
            vec4 lo = vec4(0.0), hi = vec4(0.0);
            if (r < pc.n_rows && u < n_units) {
                const uvec2 h = WT_ROW(r, pc.ldw, pc.nb);
                wt_part_p(h, pc.nb, u, c, wt_part_prep(h, pc.nb, u), lo, hi);
            }
            // the part's elements sit at x's vec4s wt_xi(u, 2c) and wt_xi(u, 2c + 1)
            const uint k_lo = 4u * wt_xi(u, 2u * c) - t * KT, k_hi = 4u * wt_xi(u, 2u * c + 1u) - t * KT;
            ST4(a_sh, i * KT + k_lo, lo);
            ST4(a_sh, i * KT + k_hi, hi);
        }
        // B: vec4 v of the tile's x of token b
        for (uint e = tid; e < TN * (KT / 4u); e += WG) {
            const uint b = e / (KT / 4u), v = e % (KT / 4u), k4 = t * (KT / 4u) + v;
            vec4 xv = vec4(0.0);
            if (b0 + b < n_tok && k4 < n_units * (WT_UNIT / 4u)) xv = WT_X((b0 + b) * pc.ldx4 + k4);
            ST4(b_sh, b * KT + 4u * v, xv);
        }
        barrier();
#if defined(MM_CM_EMULATE)
        [[dont_unroll]] for (uint k = 0u; k < KT; k += 16u) {
            emu_mul_add(sg * 16u, k);
#else
        [[unroll]] for (uint k = 0u; k < KT; k += 16u) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a, b;
            coopMatLoadNV(a, a_sh, sg * 16u * KT + k, KT, false);
            coopMatLoadNV(b, b_sh, k, KT, true);
            acc0 = coopMatMulAddNV(a, b, acc0);
            coopMatLoadNV(b, b_sh, 16u * KT + k, KT, true);
            acc1 = coopMatMulAddNV(a, b, acc1);
#endif
        }
        barrier();
    }
    // out: element (row i, token j) of a fragment at c_sh[sg 256 + 16 i + j]
#if defined(MM_CM_EMULATE)
    for (uint q = 0u; q < EPL; q++) c_sh[sg * 256u + lane + SG * q] = acc0[q];
    write_out(r0 + sg * 16u, b0, n_tok);
    for (uint q = 0u; q < EPL; q++) c_sh[sg * 256u + lane + SG * q] = acc1[q];
    write_out(r0 + sg * 16u, b0 + 16u, n_tok);
#else
    coopMatStoreNV(acc0, c_sh, sg * 256u, 16u, false);
    write_out(r0 + sg * 16u, b0, n_tok);
    coopMatStoreNV(acc1, c_sh, sg * 256u, 16u, false);
    write_out(r0 + sg * 16u, b0 + 16u, n_tok);
#endif
}
