#version 450
// Fused GQA decode attention, split over the cache ("flash decoding"), and
// causal attention for a batch of tokens (prefill): token b of the pass, at
// position step.pos + b, attends to positions 0 .. step.pos + b (its own
// K/V were appended by rope_kv before). Workgroup (kvh, b * n_split + s)
// takes KV head kvh, token b and the s-th of n_split equal chunks of its
// positions 0..n_kv-1, and serves the whole query group of that KV head
// (query heads kvh*G .. kvh*G+G-1) in one pass that reads every K and V row
// of the chunk once. It writes, per query head, the chunk's max score m,
// its sum of exponentials l and the unnormalised output o; attn_combine.comp
// merges the chunks into a stable softmax over the whole cache. With one
// split (n_split = 1: a prefill pass, a short cache) the chunk is the whole
// softmax: binding 4 is then the attention output itself, o / l is written
// there, and attn_combine does not run. With MERGE (attn.merge, a GPU's
// tuning), attn_combine does not run either: each workgroup counts itself
// in its KV head's counter once its partials are out, and the last of the
// head's splits merges them (attn_merge.glsl) into the output, binding 5,
// in the same dispatch (it saves a dispatch a layer: on an NVIDIA H200 a
// dispatch costs 6-7 us whatever it does).
//
// Layout: a team of P lanes of a subgroup takes one position at a time; lane
// j of the team owns chunks j, j+P, ... of the head's row (a chunk is 16
// bytes, 8 f16, when head_dim % 8 == 0, else one 32-bit word), so a team's
// loads of a row are adjacent (coalesced) and as wide as the data allows.
// The lane keeps its slice of the G queries and of the G outputs in
// registers (compile-time sizes: G, HD, P are specialization constants), so
// the main loop touches memory only to read K and V. Each team runs its own
// online softmax over U positions at a time (U independent row loads in
// flight); the team's dot products are summed with subgroupAdd. The teams
// of a workgroup are merged through shared memory at the end: the only
// barriers (none when the workgroup is a single team).
// For a CPU driver (lavapipe), where every invocation's load is a memory
// access of its own and runs a per-lane loop: loads sit under no per-lane
// condition (positions past the chunk re-read its last row and get weight
// 0), and the register arrays are only ever indexed by unrolled, constant
// indices (an array indexed at run time goes to memory, 5x slower here).
// Variant attn_rope (attn.rope, a GPU's tuning; decode, f16 caches,
// storage reads) also does rope_kv's work, saving its dispatch: every
// workgroup biases, norms and rotates its G query heads from the raw
// [q | k | v] row itself (binding 7), and the workgroup whose split holds
// the new position appends its K and V rows to the caches, then reads them
// back as the others are read (a workgroup barrier between; the caches are
// coherent there).
// Variants attn_q8 and attn_q8_tb read a q8_0 cache (kv_layout.h).
// Variant attn_tb reads the caches as uniform texel buffers (a device's
// tuning picks it, as for the weights: wt_bind.glsl). Host description:
// attn.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "kv_layout.h"

layout(constant_id = 1) const uint G = 1;    // query heads per KV head
layout(constant_id = 2) const uint HD = 128; // head_dim (even)
layout(constant_id = 3) const uint SG = 8;   // the subgroup size (gl_SubgroupSize)
// Positions a team takes per step (its U row loads of K, then of V, are in
// flight together): 2 on lavapipe, where more only grows the unrolled body;
// a GPU hides its memory latency with more (tuning.c).
layout(constant_id = 4) const uint U = 2;
// 1: the last split of each KV head merges the splits (attn.merge)
layout(constant_id = 5) const uint MERGE = 0;
// attn_rope: as rope_kv.comp's (1: NEOX pairs (i, i + HD/2), 0: NORM pairs
// (2i, 2i + 1); q/k RMSNorm; q/k/v bias)
layout(constant_id = 6) const uint NEOX = 1;
layout(constant_id = 7) const uint QK_NORM = 0;
layout(constant_id = 8) const uint HAS_BIAS = 0;

STEP_PARAMS_BUFFER(0)
layout(std430, binding = 1) readonly buffer Q { float q[]; };        // [n_head][head_dim]
layout(std430, binding = 1) readonly buffer Q4 { vec4 q4[]; };
#if defined(WT_TEXEL) // attn_tb: the caches through their RGBA32UI views (wt_bind.glsl says why)
layout(binding = 2) uniform usamplerBuffer kctex;                    // f16 [n_kv_head][n_ctx][head_dim] (kv_layout.h)
layout(binding = 3) uniform usamplerBuffer vctex;
#define KC4(i) texelFetch(kctex, int(i))
#define VC4(i) texelFetch(vctex, int(i))
#define KC(i) (texelFetch(kctex, int((i) >> 2u))[(i) & 3u])
#define VC(i) (texelFetch(vctex, int((i) >> 2u))[(i) & 3u])
#else
#if defined(ROPE)
#define KV_ACCESS coherent // this workgroup's own appended rows are read back
#else
#define KV_ACCESS readonly
#endif
layout(std430, binding = 2) KV_ACCESS buffer KCache { uint kc[]; };   // f16 [n_kv_head][n_ctx][head_dim] (kv_layout.h)
layout(std430, binding = 2) KV_ACCESS buffer KCache4 { uvec4 kc4[]; };
layout(std430, binding = 3) KV_ACCESS buffer VCache { uint vc[]; };
layout(std430, binding = 3) KV_ACCESS buffer VCache4 { uvec4 vc4[]; };
#define KC4(i) kc4[i]
#define VC4(i) vc4[i]
#define KC(i) kc[i]
#define VC(i) vc[i]
#endif
// [n_head][n_split][head + head_dim] (kv_layout.h), or (n_split = 1) the
// output; coherent: the merging workgroup reads the others' partials
layout(std430, binding = 4) coherent buffer Partial { float part[]; };
layout(std430, binding = 4) coherent buffer Partial4 { vec4 part4[]; };
layout(std430, binding = 5) writeonly buffer Out { float outv[]; };   // MERGE: the output
layout(std430, binding = 5) writeonly buffer Out4 { vec4 outv4[]; };
layout(std430, binding = 6) coherent buffer Done { uint done[]; };    // MERGE: splits done, per token and KV head
#if defined(ROPE)
layout(std430, binding = 7) readonly buffer QKV { float qkv[]; };     // the raw [q | k | v] row
layout(std430, binding = 8) readonly buffer QNorm { float qn[]; };    // q_norm (QK_NORM)
layout(std430, binding = 9) readonly buffer KNorm { float kn[]; };    // k_norm (QK_NORM)
layout(std430, binding = 10) readonly buffer Rope { vec2 rope[]; };   // [pos][head_dim/2] (cos, sin)
layout(std430, binding = 11) readonly buffer Bias { float bias[]; };  // like qkv (HAS_BIAS)
#endif

layout(push_constant) uniform PushConstants {
    uint n_kv_head;
    uint n_split;
    float scale;   // 1/sqrt(head_dim)
    uint scale_base; // KV_Q8: word offset of the scales in each cache (kv_layout.h)
    uint ld_q;       // q's row stride in floats (one row per token)
    uint ld_out;     // n_split = 1: the output's row stride in floats
    uint n_ctx;      // positions the caches hold (kv_layout.h)
    float eps;       // attn_rope: the q/k RMSNorm's
} pc;

const uint CW = (HD % 8u == 0u) ? 8u : 2u; // dims per chunk
const uint NCH = HD / CW;                  // chunks per row
// Lanes per position: the power of two >= NCH, at most a subgroup.
const uint NCH2 = NCH <= 1u ? 1u : NCH <= 2u ? 2u : NCH <= 4u ? 4u : NCH <= 8u ? 8u : NCH <= 16u ? 16u : NCH <= 32u ? 32u : NCH <= 64u ? 64u : 128u;
const uint P = NCH2 < SG ? NCH2 : SG;
const uint TEAMS = SG / P;                 // teams per subgroup
const uint CPL = (NCH + P - 1u) / P;       // chunks per lane
const bool FULL = CPL * P == NCH;          // every lane's chunks exist
const float LN2 = 0.69314718;
const float NEG = -3.0e38;

// Team merge scratch (used when a workgroup holds more than one team).
shared float sh_m[WG / P];
shared float sh_l[WG / P];
shared float sh_o[(WG / P) * HD];

// MERGE: whether this workgroup merges (wg_sum.glsl's scratch and
// attn_merge.glsl's below)
#define MERGE_P (HD % 8u == 0u ? 4u : 1u) // (rows of q and the output then start on 16 bytes: ops.c)
#define MERGE_LD(i) part[i]
#define MERGE_LD4(i) part4[i]
#define MERGE_ST(i, v) outv[i] = (v)
#define MERGE_ST4(i, v) outv4[i] = (v)
#include "wg_sum.glsl"
#include "attn_merge.glsl"
#include "last_group.glsl"

// Chunk ci of a row starting at chunk index `row` (in chunks), as 8 floats
// (the upper 6 zero for word chunks).
void load_chunk(bool is_k, uint row, uint ci, out vec4 lo, out vec4 hi)
{
#if defined(KV_Q8)
    // q8_0 (kv_layout.h; head_dim a multiple of 32, so CW = 8): the chunk's
    // 8 quants are words 2 (row + ci) and the next, in one 16-byte texel;
    // its block's scale sits past the quants.
    const uint c = row + ci;
#if defined(WT_TEXEL)
    const uvec4 t = is_k ? KC4(c >> 1) : VC4(c >> 1);
    const uvec2 w = (c & 1u) != 0u ? t.zw : t.xy;
#else
    const uvec2 w = is_k ? uvec2(KC(2u * c), KC(2u * c + 1u)) : uvec2(VC(2u * c), VC(2u * c + 1u));
#endif
    const uint s_at = pc.scale_base + (row / NCH) * (HD / MKV_KV_Q8_BLOCK) + ci / (MKV_KV_Q8_BLOCK / 8u);
    const float d = uintBitsToFloat(is_k ? KC(s_at) : VC(s_at));
    lo = d * vec4(ivec4(uvec4(w.x << 24u, w.x << 16u, w.x << 8u, w.x)) >> 24);
    hi = d * vec4(ivec4(uvec4(w.y << 24u, w.y << 16u, w.y << 8u, w.y)) >> 24);
#else
    if (CW == 8u) {
        uvec4 w = is_k ? KC4(row + ci) : VC4(row + ci);
        lo = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
        hi = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
    } else {
        lo = vec4(unpackHalf2x16(is_k ? KC(row + ci) : VC(row + ci)), 0.0, 0.0);
        hi = vec4(0.0);
    }
#endif
}

// Sum over the lanes of this lane's team (teams are aligned runs of P lanes).
float team_sum(float x, uint team)
{
    if (TEAMS == 1u) return subgroupAdd(x);
    float r = 0.0;
    [[unroll]] for (uint k = 0u; k < TEAMS; k++) {
        float s = subgroupAdd(team == k ? x : 0.0);
        if (team == k) r = s;
    }
    return r;
}

#if defined(ROPE)
#include "attn_rope.glsl"
#endif

void main()
{
    const uint kvh = gl_WorkGroupID.x, split = gl_WorkGroupID.y % pc.n_split, tk = gl_WorkGroupID.y / pc.n_split;
    if (tk >= step.n_tok) return; // uniform over the workgroup
    const uint lane = gl_SubgroupInvocationID % P, team = gl_SubgroupInvocationID / P;
    const uint n_kv = step.pos + tk + 1u;
    const uint qb = tk * pc.ld_q, pbase = tk * (gl_NumWorkGroups.x * G) * pc.n_split * (HD + MKV_ATTN_PART_HEAD); // token b's q, partials
    const uint chunk = (n_kv + pc.n_split - 1u) / pc.n_split;
    const uint t0 = min(split * chunk, n_kv), t1 = min(t0 + chunk, n_kv);

    // This lane's slice of the group's queries, pre-scaled into log2 units.
    vec4 qlo[G * CPL], qhi[G * CPL], olo[G * CPL], ohi[G * CPL];
    float m[G], l[G];
    const float qscale = pc.scale * 1.44269504;
    float inv_q = 1.0; // attn_rope: the head's q RMSNorm scale
    [[unroll]] for (uint g = 0u; g < G; g++) {
        m[g] = NEG;
        l[g] = 0.0;
        const uint h = kvh * G + g;
        [[unroll]] for (uint c = 0u; c < CPL; c++) {
            const uint ci = c * P + lane;
            vec4 a = vec4(0.0), e = vec4(0.0);
#if defined(ROPE)
            if (c == 0u) inv_q = QK_NORM != 0u ? inversesqrt(team_sum(raw_squares(h * HD, lane), team) / float(HD) + pc.eps) : 1.0;
            if (ci < NCH) rope_chunk(h * HD, ci, true, inv_q, n_kv - 1u, a, e);
#else
            if (ci < NCH) {
                if (CW == 8u) {
                    a = q4[(qb + h * HD + ci * 8u) / 4u];
                    e = q4[(qb + h * HD + ci * 8u) / 4u + 1u];
                } else {
                    a = vec4(q[qb + h * HD + 2u * ci], q[qb + h * HD + 2u * ci + 1u], 0.0, 0.0);
                }
            }
#endif
            qlo[g * CPL + c] = a * qscale;
            qhi[g * CPL + c] = e * qscale;
            olo[g * CPL + c] = vec4(0.0);
            ohi[g * CPL + c] = vec4(0.0);
        }
    }

#if defined(ROPE)
    // The split holding the new position appends its K and V rows, then
    // every invocation may read them.
    if (t0 < t1 && t1 == n_kv && gl_SubgroupID == 0u) append_kv(kvh, n_kv - 1u, lane, team);
    memoryBarrierBuffer();
    barrier();
#endif

    // The subgroup's teams take U adjacent positions each; the loop bound is
    // uniform over the subgroup (subgroupAdd inside), positions past t1 are
    // masked.
    // (The loop tests at its end: common.glsl, END_TESTED.)
    const uint per_sg = TEAMS * U;
    uint base = t0 + gl_SubgroupID * per_sg;
    if (base < t1) do {
        const uint tb = base + team * U;
        // Scores of the U positions for the G heads.
        float s[U * G];
        [[unroll]] for (uint u = 0u; u < U; u++) {
            // Positions past t1 read row t1-1 (in bounds) and get weight 0.
            const uint row = MKV_KV_ROW(min(tb + u, t1 - 1u), kvh, pc.n_ctx) * NCH;
            vec4 klo[CPL], khi[CPL];
            [[unroll]] for (uint c = 0u; c < CPL; c++) {
                klo[c] = vec4(0.0);
                khi[c] = vec4(0.0);
                const uint ci = c * P + lane;
                if (FULL || ci < NCH) load_chunk(true, row, ci, klo[c], khi[c]);
            }
            [[unroll]] for (uint g = 0u; g < G; g++) {
                float acc = 0.0;
                [[unroll]] for (uint c = 0u; c < CPL; c++)
                    acc += dot(qlo[g * CPL + c], klo[c]) + dot(qhi[g * CPL + c], khi[c]);
                s[u * G + g] = team_sum(acc, team);
            }
        }
        // Online softmax: new max, rescale what was accumulated, weights.
        float p[U * G];
        [[unroll]] for (uint g = 0u; g < G; g++) {
            float mb = m[g];
            [[unroll]] for (uint u = 0u; u < U; u++)
                if (tb + u < t1) mb = max(mb, s[u * G + g]);
            const float corr = exp2(m[g] - mb);
            float sum = 0.0;
            [[unroll]] for (uint u = 0u; u < U; u++) {
                p[u * G + g] = tb + u < t1 ? exp2(s[u * G + g] - mb) : 0.0;
                sum += p[u * G + g];
            }
            m[g] = mb;
            l[g] = l[g] * corr + sum;
            [[unroll]] for (uint c = 0u; c < CPL; c++) {
                olo[g * CPL + c] *= corr;
                ohi[g * CPL + c] *= corr;
            }
        }
        // o += p v over the U positions.
        [[unroll]] for (uint u = 0u; u < U; u++) {
            const uint row = MKV_KV_ROW(min(tb + u, t1 - 1u), kvh, pc.n_ctx) * NCH;
            [[unroll]] for (uint c = 0u; c < CPL; c++) {
                vec4 vlo = vec4(0.0), vhi = vec4(0.0);
                const uint ci = c * P + lane;
                if (FULL || ci < NCH) load_chunk(false, row, ci, vlo, vhi);
                [[unroll]] for (uint g = 0u; g < G; g++) {
                    olo[g * CPL + c] += p[u * G + g] * vlo;
                    ohi[g * CPL + c] += p[u * G + g] * vhi;
                }
            }
        }
        base += gl_NumSubgroups * per_sg;
    } while (base < t1);

    // Write the chunk's partials (m back in natural-log units); with several
    // teams, merge them first. Every access to the register arrays sits in
    // a loop that unrolls (no loop nested inside), or they would go to
    // memory.
    const uint n_all = gl_NumSubgroups * TEAMS;
    const bool direct = pc.n_split == 1u;
    if (n_all == 1u) {
        [[unroll]] for (uint g = 0u; g < G; g++) {
            const uint pb = pbase + ((kvh * G + g) * pc.n_split + split) * (HD + MKV_ATTN_PART_HEAD);
            // where o starts, and its scale: 1 / l written straight to the output
            const uint ob = direct ? tk * pc.ld_out + (kvh * G + g) * HD : pb + MKV_ATTN_PART_HEAD;
            const float f = direct ? (l[g] > 0.0 ? 1.0 / l[g] : 0.0) : 1.0;
            [[unroll]] for (uint c = 0u; c < CPL; c++) {
                const uint ci = c * P + lane;
                if (ci < NCH) {
                    const vec4 a = olo[g * CPL + c] * f, b = ohi[g * CPL + c] * f;
                    const uint d = ob + ci * CW;
                    part[d] = a.x;
                    part[d + 1u] = a.y;
                    if (CW == 8u) {
                        part[d + 2u] = a.z; part[d + 3u] = a.w;
                        part[d + 4u] = b.x; part[d + 5u] = b.y; part[d + 6u] = b.z; part[d + 7u] = b.w;
                    }
                }
            }
            if (lane == 0u && !direct) {
                part[pb] = m[g] * LN2;
                part[pb + 1u] = l[g]; // 0 for an empty chunk
            }
        }
    } else {
        const uint me = gl_SubgroupID * TEAMS + team;
        for (uint g = 0u; g < G; g++) {
            float mg = 0.0, lg = 0.0;
            [[unroll]] for (uint k = 0u; k < G; k++)
                if (k == g) { mg = m[k]; lg = l[k]; }
            if (lane == 0u) sh_m[me] = mg;
            barrier();
            float M = NEG;
            for (uint k = 0u; k < n_all; k++) M = max(M, sh_m[k]);
            const float f = exp2(mg - M);
            [[unroll]] for (uint c = 0u; c < CPL; c++) {
                const uint ci = c * P + lane;
                vec4 a = vec4(0.0), b = vec4(0.0);
                [[unroll]] for (uint k = 0u; k < G; k++)
                    if (k == g) { a = olo[k * CPL + c]; b = ohi[k * CPL + c]; }
                a *= f;
                b *= f;
                if (ci < NCH) {
                    const uint d = me * HD + ci * CW;
                    sh_o[d] = a.x;
                    sh_o[d + 1u] = a.y;
                    if (CW == 8u) {
                        sh_o[d + 2u] = a.z; sh_o[d + 3u] = a.w;
                        sh_o[d + 4u] = b.x; sh_o[d + 5u] = b.y; sh_o[d + 6u] = b.z; sh_o[d + 7u] = b.w;
                    }
                }
            }
            if (lane == 0u) sh_l[me] = lg * f;
            barrier();
            const uint pb = pbase + ((kvh * G + g) * pc.n_split + split) * (HD + MKV_ATTN_PART_HEAD);
            float L = 0.0;
            for (uint k = 0u; k < n_all; k++) L += sh_l[k];
            const uint ob = direct ? tk * pc.ld_out + (kvh * G + g) * HD : pb + MKV_ATTN_PART_HEAD;
            const float fl = direct ? (L > 0.0 ? 1.0 / L : 0.0) : 1.0;
            for (uint d = gl_LocalInvocationID.x; d < HD; d += WG) {
                float o = 0.0;
                for (uint k = 0u; k < n_all; k++) o += sh_o[k * HD + d];
                part[ob + d] = o * fl;
            }
            if (gl_LocalInvocationID.x == 0u && !direct) {
                part[pb] = M * LN2;
                part[pb + 1u] = L;
            }
            barrier();
        }
    }
    if (MERGE == 0u || direct) return;

    // Publish this split's partials, count it; the last split of the KV
    // head (in any order: no workgroup waits for another) merges them all.
    const uint ci = tk * gl_NumWorkGroups.x + kvh;
    LAST_GROUP(done[ci], pc.n_split);
    for (uint g = 0u; g < G; g++) {
        const uint h = kvh * G + g;
        merge_head(pbase + h * pc.n_split * (HD + MKV_ATTN_PART_HEAD), pc.n_split, HD, tk * pc.ld_out + h * HD);
    }
    LAST_GROUP_RESET(done[ci]); // for the next layer
}
