// Q5_1: 5-bit q (wt_q5.glsl), value d * q + m; d and m in the scale plane.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q5_1_BLOCK, WT_UNIT = MKV_WT_Q5_1_UNIT;
#define WT_SW MKV_WT_Q5_1_SW // wtype_layout.h
const uint WT_QW = (MKV_WT_Q5_1_BLOCK_BYTES - MKV_WT_Q5_1_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#define WT_X_SCALE(k) WT_SCALE_BYTES // wt_q5_sums
#include "wt_x.glsl"
#include "wt_q5.glsl"

float wt_dot(uvec2 h, uint nb, uint u)
{
    const vec2 s = wt_q5_sums(h, u, WT_QW);
    const vec2 dm = unpackHalf2x16(wt_sw(h, u));
    return dm.x * s.x + dm.y * s.y;
}

float wt_value(uvec2 h, uint nb, uint i)
{
    const vec2 dm = unpackHalf2x16(wt_sw(h, i / 32u));
    return dm.x * float(wt_q5_value(h, i, WT_QW)) + dm.y;
}

#define WT_HAS_PART
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    wt_q5_part(h, u, c, WT_QW, lo, hi);
    const vec2 dm = unpackHalf2x16(wt_sw(h, u));
    lo = dm.x * lo + dm.y;
    hi = dm.x * hi + dm.y;
}
