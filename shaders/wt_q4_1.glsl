// Q4_1: as Q4_0, value d * q + m; d and m together in the scale plane.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q4_1_BLOCK, WT_UNIT = MKV_WT_Q4_1_UNIT;
#define WT_SW MKV_WT_Q4_1_SW // wtype_layout.h
const uint WT_QW = (MKV_WT_Q4_1_BLOCK_BYTES - MKV_WT_Q4_1_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#define WT_X_SCALE(k) ((k) < 4u ? WT_SCALE_BYTES : WT_SCALE_HI_NIBBLES) // wt_q4_sums
#include "wt_x.glsl"
#include "wt_q4.glsl"

uint wt_sw_of(uint u) { return u; } // d, m
float wt_dot_sw(uvec2 h, uint nb, uint u, uint sw)
{
    const vec2 s = wt_q4_sums(WT_Q4(h, u));
    const vec2 dm = unpackHalf2x16(sw);
    return dm.x * s.x + dm.y * s.y;
}
float wt_dot(uvec2 h, uint nb, uint u) { return wt_dot_sw(h, nb, u, wt_sw(h, wt_sw_of(u))); }

float wt_value(uvec2 h, uint nb, uint i)
{
    const vec2 dm = unpackHalf2x16(wt_sw(h, i / 32u));
    return dm.x * float(wt_q4_value(h, i, WT_QW)) + dm.y;
}

#define WT_HAS_PART
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    const vec2 dm = unpackHalf2x16(wt_sw(h, u));
    const uint sh = (c >> 1u) * 4u, k = (c & 1u) * 2u;
    lo = dm.x * wt_bytes(wt_qw(h, 4u * u + k), sh, 15u) + dm.y;
    hi = dm.x * wt_bytes(wt_qw(h, 4u * u + k + 1u), sh, 15u) + dm.y;
}
