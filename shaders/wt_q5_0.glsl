// Q5_0: 5-bit q (wt_q5.glsl), value d * (q - 16); d in the scale plane.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q5_0_BLOCK, WT_UNIT = MKV_WT_Q5_0_UNIT;
const uint WT_QW = (MKV_WT_Q5_0_BLOCK_BYTES - MKV_WT_Q5_0_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_x.glsl"
#include "wt_q5.glsl"

float wt_dot(uint row, uint nb, uint u)
{
    const vec2 s = wt_q5_sums(row, u, WT_QW);
    return wt_half(row + nb * WT_QW, u) * (s.x - 16.0 * s.y);
}

float wt_value(uint row, uint nb, uint i)
{
    return wt_half(row + nb * WT_QW, i / 32u) * (float(wt_q5_value(row, i, WT_QW)) - 16.0);
}
