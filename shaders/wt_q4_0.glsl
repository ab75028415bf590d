// Q4_0: blocks of 32 4-bit q (one 16-byte chunk: byte j holds element j in
// its low nibble, element j + 16 in its high one), value d * (q - 8).
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q4_0_BLOCK, WT_UNIT = MKV_WT_Q4_0_UNIT;
const uint WT_QW = (MKV_WT_Q4_0_BLOCK_BYTES - MKV_WT_Q4_0_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_x.glsl"
#include "wt_q4.glsl"

float wt_dot(uint row, uint nb, uint u)
{
    const vec2 s = wt_q4_sums(WT_W4((row >> 2u) + u));
    return wt_half(row + nb * WT_QW, u) * (s.x - 8.0 * s.y);
}

float wt_value(uint row, uint nb, uint i)
{
    return wt_half(row + nb * WT_QW, i / 32u) * (float(wt_q4_value(row, i, WT_QW)) - 8.0);
}
