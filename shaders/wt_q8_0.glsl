// Q8_0: blocks of 32 int8 q (two 16-byte chunks), value d * q; d in the
// row's scale plane.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q8_0_BLOCK, WT_UNIT = MKV_WT_Q8_0_UNIT;
const uint WT_QW = (MKV_WT_Q8_0_BLOCK_BYTES - MKV_WT_Q8_0_SCALE_BYTES) / 4u;

float wt_dot(uint row, uint nb, uint u)
{
    const uvec4 a = WT_W4((row >> 2u) + 2u * u), b = WT_W4((row >> 2u) + 2u * u + 1u);
    const uint xi = 8u * u;
    const float s = dot(wt_i8(a.x), WT_X(xi)) + dot(wt_i8(a.y), WT_X(xi + 1u)) + dot(wt_i8(a.z), WT_X(xi + 2u)) +
                    dot(wt_i8(a.w), WT_X(xi + 3u)) + dot(wt_i8(b.x), WT_X(xi + 4u)) + dot(wt_i8(b.y), WT_X(xi + 5u)) +
                    dot(wt_i8(b.z), WT_X(xi + 6u)) + dot(wt_i8(b.w), WT_X(xi + 7u));
    return wt_half(row + nb * WT_QW, u) * s;
}

float wt_value(uint row, uint nb, uint i)
{
    const uint b = i / 32u, q = wt_byte(row + b * WT_QW, i % 32u);
    return wt_half(row + nb * WT_QW, b) * float(int(q << 24u) >> 24);
}
