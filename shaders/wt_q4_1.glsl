// Q4_1: as Q4_0, value d * q + m; d and m together in the scale plane.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q4_1_BLOCK, WT_UNIT = MKV_WT_Q4_1_UNIT;
const uint WT_QW = (MKV_WT_Q4_1_BLOCK_BYTES - MKV_WT_Q4_1_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_x.glsl"

float wt_dot(uint row, uint nb, uint u)
{
    const uvec4 a = WT_W4((row >> 2u) + u);
    const float s = dot(wt_bytes(a.x, 0u, 15u), wt_xs[0]) + dot(wt_bytes(a.y, 0u, 15u), wt_xs[1]) +
                    dot(wt_bytes(a.z, 0u, 15u), wt_xs[2]) + dot(wt_bytes(a.w, 0u, 15u), wt_xs[3]) +
                    dot(wt_bytes(a.x, 4u, 15u), wt_xs[4]) + dot(wt_bytes(a.y, 4u, 15u), wt_xs[5]) +
                    dot(wt_bytes(a.z, 4u, 15u), wt_xs[6]) + dot(wt_bytes(a.w, 4u, 15u), wt_xs[7]);
    const vec2 dm = unpackHalf2x16(WT_W(row + nb * WT_QW + u));
    return dm.x * s + dm.y * (wt_xsum4(0u) + wt_xsum4(4u));
}

float wt_value(uint row, uint nb, uint i)
{
    const uint b = i / 32u, j = i % 32u, q = (wt_byte(row + b * WT_QW, j % 16u) >> (j < 16u ? 0u : 4u)) & 15u;
    const vec2 dm = unpackHalf2x16(WT_W(row + nb * WT_QW + b));
    return dm.x * float(q) + dm.y;
}
