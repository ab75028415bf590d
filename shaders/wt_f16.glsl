// F16 weights: 8 halves per 16-byte chunk (wt_common.glsl: the interface).
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_F16_BLOCK, WT_UNIT = MKV_WT_F16_UNIT;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_x.glsl"

float wt_dot(uint row, uint nb, uint u)
{
    const uvec4 q = WT_W4((row >> 2u) + u);
    return dot(vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)), wt_xs[0]) +
           dot(vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)), wt_xs[1]);
}

float wt_value(uint row, uint nb, uint i) { return wt_half(row, i); }

#define WT_HAS_PART
void wt_part(uint row, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    const uvec4 q = WT_W4((row >> 2u) + u);
    lo = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
    hi = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
}
