// Q4_0: blocks of 32 4-bit q (one 16-byte chunk: byte j holds element j in
// its low nibble, element j + 16 in its high one), value d * (q - 8).
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q4_0_BLOCK, WT_UNIT = MKV_WT_Q4_0_UNIT;
#define WT_SW MKV_WT_Q4_0_SW // wtype_layout.h
const uint WT_QW = (MKV_WT_Q4_0_BLOCK_BYTES - MKV_WT_Q4_0_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#define WT_X_SCALE(k) ((k) < 4u ? WT_SCALE_BYTES : WT_SCALE_HI_NIBBLES) // wt_q4_sums
#include "wt_x.glsl"
#include "wt_q4.glsl"

uint wt_sw_of(uint u) { return u >> 1u; } // d: half u & 1 of the word
float wt_dot_sw(uvec2 h, uint nb, uint u, uint sw)
{
    const vec2 s = wt_q4_sums(WT_Q4(h, u));
    return unpackHalf2x16(sw)[u & 1u] * (s.x - 8.0 * s.y);
}
float wt_dot(uvec2 h, uint nb, uint u) { return wt_dot_sw(h, nb, u, wt_sw(h, wt_sw_of(u))); }

float wt_value(uvec2 h, uint nb, uint i)
{
    return wt_shalf(h, i / 32u) * (float(wt_q4_value(h, i, WT_QW)) - 8.0);
}

#define WT_HAS_PART
// part c: elements 8c .. 8c + 7: the low (c < 2) or high nibbles of words
// 2c % 4 and the next
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    const uvec4 a = WT_Q4(h, u);
    const uvec2 w = (c & 1u) != 0u ? a.zw : a.xy;
    const uint sh = (c >> 1u) * 4u;
    const float d = wt_shalf(h, u);
    lo = d * (wt_bytes(w.x, sh, 15u) - 8.0);
    hi = d * (wt_bytes(w.y, sh, 15u) - 8.0);
}
