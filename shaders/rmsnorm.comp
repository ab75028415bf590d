#version 450
// RMSNorm of n_vec vectors of length n (one workgroup each):
//   y = x / sqrt(mean(x^2) + eps) * w
// Variants (kernels.cmake; *_tb read x and the weights through their
// RGBA32UI texel views, wt_bind.glsl says why):
//   rmsnorm       y[v] = norm(x[v])            vectors ldx / ldy floats apart
//   rmsnorm_add   y[v] += norm(x[v])           (the MeKi branch of a batch
//                 into the residual)
//   rmsnorm_last  y = norm(x[step.n_tok - 1])  (the last token of a batch,
//                 before the LM head)
//   rmsnorm_add_norm  y[v] += norm(x[v]); y2[v] = norm2(y[v])  (the MeKi
//                 branch of a batch into the residual and the next layer's
//                 attention norm in one pass: y2's rows are ldy apart too)
// An invocation takes P elements at a time: 4 (one vec4) where n and the
// row strides are multiples of 4.
// Host description: rmsnorm.h.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "wg_sum.glsl"
#include "vec_read.glsl"
// ADD, ADD_NORM: y's old values are read through a binding of their own
// (the same buffer as y's binding 2), so the texel variants fetch them too
#if defined(ADD_NORM)
#define YIN 5
#else
#define YIN 3
#endif
layout(constant_id = 1) const uint P = 1; // elements an invocation takes at once: 1 or 4
READ_VEC(0, x)
READ_VEC(1, w)
#if defined(ADD_NORM)
READ_VEC(3, w2)
#endif
#if defined(ADD) || defined(ADD_NORM)
READ_VEC(YIN, yin)
#endif
// y: written once per element, by the invocation that read the element's
// old value (ADD, ADD_NORM: through binding YIN). No element is read after
// it is written, and its write depends on its read: the two bindings of one
// buffer need no other ordering.
layout(std430, binding = 2) writeonly buffer Output { float y[]; };
layout(std430, binding = 2) writeonly buffer Output4 { vec4 y4[]; };
#if defined(LAST)
STEP_PARAMS_BUFFER(3)
#endif
#if defined(ADD_NORM)
layout(std430, binding = 4) writeonly buffer Output2 { float y2[]; };
layout(std430, binding = 4) writeonly buffer Output2_4 { vec4 y24[]; };
#endif
layout(push_constant) uniform PushConstants {
    uint n;
    float eps;
    uint ldx; // row strides in floats
    uint ldy;
} pc;

// Elements e .. e + P - 1 (the rest 0) of an input; stored to y or y2.
#define LDP(B, e) (P == 4u ? LD4(B, (e) / 4u) : vec4(LD(B, e), 0.0, 0.0, 0.0))
#define STP(B, e, v) if (P == 4u) B##4[(e) / 4u] = (v); else B[e] = (v).x

void main()
{
    const uint tid = gl_LocalInvocationID.x;
#if defined(LAST)
    const uint base = (step.n_tok - 1u) * pc.ldx, ybase = 0u;
#else
    const uint base = gl_WorkGroupID.x * pc.ldx, ybase = gl_WorkGroupID.x * pc.ldy;
#endif
    // the loops take i = first, first + stride, .. < n and test at their
    // end (common.glsl, END_TESTED)
    const uint first = P * tid, stride = P * WG;
    float ss = 0.0;
    uint i = first;
    do {
        if (i < pc.n) {
            const vec4 v = LDP(x, base + i);
            ss += dot(v, v);
        }
        i += stride;
    } while (i - first < pc.n);
    const float inv = inversesqrt(workgroup_sum(ss) / float(pc.n) + pc.eps);
    i = first;
#if defined(ADD_NORM)
    // h = y + norm(x): its sum of squares first, then h recomputed, written
    // to y and normed into y2 (y's old values are read before any is written)
    float ss2 = 0.0;
    do {
        if (i < pc.n) {
            const vec4 h = LDP(yin, ybase + i) + LDP(x, base + i) * inv * LDP(w, i);
            ss2 += dot(h, h);
        }
        i += stride;
    } while (i - first < pc.n);
    const float inv2 = inversesqrt(workgroup_sum(ss2) / float(pc.n) + pc.eps);
    i = first;
    do {
        if (i < pc.n) {
            const vec4 h = LDP(yin, ybase + i) + LDP(x, base + i) * inv * LDP(w, i);
            STP(y, ybase + i, h);
            STP(y2, ybase + i, h * inv2 * LDP(w2, i));
        }
        i += stride;
    } while (i - first < pc.n);
#else
    do {
        if (i < pc.n) {
#if defined(ADD)
            STP(y, ybase + i, LDP(yin, ybase + i) + LDP(x, base + i) * inv * LDP(w, i));
#else
            STP(y, ybase + i, LDP(x, base + i) * inv * LDP(w, i));
#endif
        }
        i += stride;
    } while (i - first < pc.n);
#endif
}
