// Q8_0: blocks of 32 int8 q (two 16-byte chunks), value d * q; d in the
// row's scale plane.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q8_0_BLOCK, WT_UNIT = MKV_WT_Q8_0_UNIT;
#define WT_SW MKV_WT_Q8_0_SW // wtype_layout.h
const uint WT_QW = (MKV_WT_Q8_0_BLOCK_BYTES - MKV_WT_Q8_0_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#define WT_X_SCALE(k) vec4(WT_SCALE_BYTES.xyz, 1.0) // wt_q8_u
#include "wt_x.glsl"

uint wt_sw_of(uint u) { return u >> 1u; } // d: half u & 1 of the word
// The four quants of word w as q + 128 (the sign bit flipped: 0..255), each
// masked in place, not shifted down (its x was scaled by 2^-(its bit
// position): WT_X_SCALE); the top one shifted down, to convert as a positive
// int. sum q x = sum (q + 128) x - 128 sum x.
vec4 wt_q8_u(uint w)
{
    const uint f = w ^ 0x80808080u;
    return vec4(ivec4(uvec4(f, f, f, f >> 24u) & uvec4(0xFFu, 0xFF00u, 0xFF0000u, 0xFFu)));
}
float wt_dot_sw(uvec2 h, uint nb, uint u, uint sw)
{
    const uvec4 a = WT_Q4(h, 2u * u), b = WT_Q4(h, 2u * u + 1u);
    vec4 acc = wt_fma4(WT_ACC0, 0u, wt_q8_u(a.x), wt_q8_u(a.y), wt_q8_u(a.z), wt_q8_u(a.w));
    acc = wt_fma4(acc, 4u, wt_q8_u(b.x), wt_q8_u(b.y), wt_q8_u(b.z), wt_q8_u(b.w));
    const float s = wt_hsum(acc) - 128.0 * (wt_xsum4(0u) + wt_xsum4(4u));
    return unpackHalf2x16(sw)[u & 1u] * s;
}
float wt_dot(uvec2 h, uint nb, uint u) { return wt_dot_sw(h, nb, u, wt_sw(h, wt_sw_of(u))); }

float wt_value(uvec2 h, uint nb, uint i)
{
    const uint b = i / 32u, q = wt_qbyte(h, b * WT_QW, i % 32u);
    return wt_shalf(h, b) * float(int(q << 24u) >> 24);
}

#define WT_HAS_PART
// part c: quants 8c .. 8c + 7, words 2c and 2c + 1 of the block's 8
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    const uvec4 a = WT_Q4(h, 2u * u + (c >> 1u));
    const uvec2 w = (c & 1u) != 0u ? a.zw : a.xy;
    const float d = wt_shalf(h, u);
    lo = d * wt_i8(w.x);
    hi = d * wt_i8(w.y);
}
