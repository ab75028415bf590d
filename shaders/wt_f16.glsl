// F16 weights: 8 halves per 16-byte chunk (wt_common.glsl: the interface).
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_F16_BLOCK, WT_UNIT = MKV_WT_F16_UNIT;
#define WT_SW MKV_WT_F16_SW // wtype_layout.h
const uint WT_QW = MKV_WT_F16_BLOCK_BYTES / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#include "wt_x.glsl"

float wt_dot(uvec2 h, uint nb, uint u)
{
    const uvec4 q = WT_Q4(h, u);
    return dot(vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)), wt_xs[0]) +
           dot(vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)), wt_xs[1]);
}

float wt_value(uvec2 h, uint nb, uint i) { return wt_qhalf(h, i); }

#define WT_HAS_PART
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    const uvec4 q = WT_Q4(h, u);
    lo = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));
    hi = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));
}
