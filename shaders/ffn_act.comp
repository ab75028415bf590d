#version 450
// SwiGLU and MeKi gate activations of a batch (prefill), after mm.comp
// computed gu = [W_gate; W_up] u (w_ffn's rows, model.c) for every token:
//   r <  n_ffn: t[b][r] = silu(gu[b][r]) * gu[b][up_row + r]
//   r >= n_ffn (w_ffn with the MeKi gate rows stacked in, matvec.comp says
//   how), j = r - n_ffn, h = n_rows - n_ffn:
//     g[b][j]     = sigmoid(gu[b][r])
//     g[b][h + j] = sigmoid(gu[b][up_row + r])   (if h + j < n_mem)
// Workgroup (i, b): token b; an invocation takes P rows at a time (4 where
// every row it reads or writes starts on 16 bytes: one vec4 of each half
// and of t -- on lavapipe, texel fetches with ffn_act_tb, wt_bind.glsl says
// why), striding over the rows by the grid's width.
// Host description: ffn_act.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "vec_read.glsl"
layout(constant_id = 1) const uint P = 1; // rows an invocation takes at once: 1 or 4
READ_VEC(0, gu)
layout(std430, binding = 1) writeonly buffer T { float t[]; };
layout(std430, binding = 1) writeonly buffer T4 { vec4 t4[]; };
layout(std430, binding = 2) writeonly buffer G { float g[]; };
STEP_PARAMS_BUFFER(3)
layout(push_constant) uniform PushConstants {
    uint n_rows; // rows of each half of w_ffn
    uint n_ffn;  // SwiGLU rows (d_ffn)
    uint up_row; // first row of the up half
    uint n_mem;  // MeKi gate values (0: none)
    uint ldgu, ldt, ldg; // row strides in floats
} pc;

// gu[b][r .. r + 3] (P = 4) or gu[b][r] (P = 1, the rest 0)
vec4 gu_rows(uint at) { return P == 4u ? LD4(gu, at / 4u) : vec4(LD(gu, at), 0.0, 0.0, 0.0); }

void main()
{
    const uint b = gl_WorkGroupID.y;
    if (b >= step.n_tok) return;
    // rows r0, r0 + stride, ..; the loop tests at its end (common.glsl, END_TESTED)
    const uint r0 = P * gl_GlobalInvocationID.x, stride = P * gl_NumWorkGroups.x * WG;
    const uint gb = b * pc.ldgu;
    uint r = r0;
    do {
        if (r < pc.n_rows) {
            const vec4 a = gu_rows(gb + r), c = gu_rows(gb + pc.up_row + r);
            if (r < pc.n_ffn) {
                // (P = 4: n_ffn is a multiple of 4, so the four rows are SwiGLU rows)
                const vec4 s = a / (1.0 + exp(-a)) * c;
                if (P == 4u) t4[(b * pc.ldt + r) / 4u] = s; else t[b * pc.ldt + r] = s.x;
            } else {
                const vec4 ga = 1.0 / (1.0 + exp(-a)), gc = 1.0 / (1.0 + exp(-c));
                [[unroll]] for (uint k = 0u; k < P; k++) {
                    const uint j = r + k - pc.n_ffn, j2 = pc.n_rows - pc.n_ffn + j;
                    if (r + k < pc.n_rows) g[b * pc.ldg + j] = ga[k];
                    if (r + k < pc.n_rows && j2 < pc.n_mem) g[b * pc.ldg + j2] = gc[k];
                }
            }
        }
        r += stride;
    } while (r - r0 < pc.n_rows);
}
