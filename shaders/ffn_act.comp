#version 450
// SwiGLU and MeKi gate activations of a batch (prefill), after mm.comp
// computed gu = [W_gate; W_up] u (w_ffn's rows, model.c) for every token:
//   r <  n_ffn: t[b][r] = silu(gu[b][r]) * gu[b][up_row + r]
//   r >= n_ffn (w_ffn with the MeKi gate rows stacked in, matvec.comp says
//   how), j = r - n_ffn, h = n_rows - n_ffn:
//     g[b][j]     = sigmoid(gu[b][r])
//     g[b][h + j] = sigmoid(gu[b][up_row + r])   (if h + j < n_mem)
// Workgroup (i, b): token b, rows WG*i + k and every WG * (workgroups in x)
// on (MKV_FFN_ACT_ROWS rows per invocation: on lavapipe a workgroup of
// one row per invocation cost more to launch than its rows to compute).
// Host description: ffn_act.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(std430, binding = 0) readonly buffer GU { float gu[]; };
layout(std430, binding = 1) writeonly buffer T { float t[]; };
layout(std430, binding = 2) writeonly buffer G { float g[]; };
STEP_PARAMS_BUFFER(3)
layout(push_constant) uniform PushConstants {
    uint n_rows; // rows of each half of w_ffn
    uint n_ffn;  // SwiGLU rows (d_ffn)
    uint up_row; // first row of the up half
    uint n_mem;  // MeKi gate values (0: none)
    uint ldgu, ldt, ldg; // row strides in floats
} pc;
void main()
{
    const uint b = gl_WorkGroupID.y;
    if (b >= step.n_tok) return;
    // rows r0, r0 + stride, ..; the loop tests at its end (common.glsl, END_TESTED)
    const uint r0 = gl_GlobalInvocationID.x, stride = gl_NumWorkGroups.x * WG;
    uint r = r0;
    do {
        if (r < pc.n_rows) {
            const float a = gu[b * pc.ldgu + r], c = gu[b * pc.ldgu + pc.up_row + r];
            if (r < pc.n_ffn) {
                t[b * pc.ldt + r] = a / (1.0 + exp(-a)) * c;
            } else {
                const uint j = r - pc.n_ffn, j2 = pc.n_rows - pc.n_ffn + j;
                g[b * pc.ldg + j] = 1.0 / (1.0 + exp(-a));
                if (j2 < pc.n_mem) g[b * pc.ldg + j2] = 1.0 / (1.0 + exp(-c));
            }
        }
        r += stride;
    } while (r - r0 < pc.n_rows);
}
