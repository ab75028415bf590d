// F16 weights: 8 halves per 16-byte chunk (wt_common.glsl: the interface).
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_F16_BLOCK, WT_UNIT = MKV_WT_F16_UNIT;

float wt_dot(uint row, uint nb, uint u)
{
    const uvec4 q = WT_W4((row >> 2u) + u);
    return dot(vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)), WT_X(2u * u)) +
           dot(vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)), WT_X(2u * u + 1u));
}

float wt_value(uint row, uint nb, uint i) { return wt_half(row, i); }
