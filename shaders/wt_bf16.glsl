// BF16 weights: the upper 16 bits of an f32, 8 per 16-byte chunk.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_BF16_BLOCK, WT_UNIT = MKV_WT_BF16_UNIT;
#define WT_SW MKV_WT_BF16_SW // wtype_layout.h
const uint WT_QW = MKV_WT_BF16_BLOCK_BYTES / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#include "wt_x.glsl"

vec2 wt_bf16x2(uint w) { return vec2(uintBitsToFloat(w << 16u), uintBitsToFloat(w & 0xffff0000u)); }

float wt_dot(uvec2 h, uint nb, uint u)
{
    const uvec4 q = WT_Q4(h, u);
    return dot(vec4(wt_bf16x2(q.x), wt_bf16x2(q.y)), wt_xs[0]) +
           dot(vec4(wt_bf16x2(q.z), wt_bf16x2(q.w)), wt_xs[1]);
}

float wt_value(uvec2 h, uint nb, uint i)
{
    const vec2 v = wt_bf16x2(wt_qw(h, i >> 1u));
    return (i & 1u) != 0u ? v.y : v.x;
}

#define WT_HAS_PART
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    const uvec4 q = WT_Q4(h, u);
    lo = vec4(wt_bf16x2(q.x), wt_bf16x2(q.y));
    hi = vec4(wt_bf16x2(q.z), wt_bf16x2(q.w));
}
