// Q4_K: super-blocks of 256 = 8 sub-blocks of 32, each with a 6-bit scale
// and min (wt_kquant.glsl); value d * scale * q - dmin * min. qs[128]: for
// chunk c of 64 elements, byte 32c + l holds element 64c + l (low nibble,
// sub-block 2c) and 64c + 32 + l (high nibble, sub-block 2c + 1). A unit is
// one chunk: two 16-byte loads of nibbles.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q4_K_BLOCK, WT_UNIT = MKV_WT_Q4_K_UNIT;
#define WT_SW MKV_WT_Q4_K_SW // wtype_layout.h
const uint WT_QW = (MKV_WT_Q4_K_BLOCK_BYTES - MKV_WT_Q4_K_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#include "wt_kquant.glsl"
#define WT_X_SCALE(k) ((k) < 8u ? WT_SCALE_BYTES : WT_SCALE_HI_NIBBLES) // wt_dot
#include "wt_x.glsl"

float wt_dot(uvec2 h, uint nb, uint u)
{
    const uint b = u / 4u, c = u % 4u, base = b * WT_QW;
    const uvec4 hdr = WT_Q4(h, base >> 2u); // d, dmin; the 12 bytes of scales and mins
    const vec2 dd = unpackHalf2x16(hdr.x);
    const vec2 sm1 = wt_k_scale_min_r(hdr.yzw, 2u * c), sm2 = wt_k_scale_min_r(hdr.yzw, 2u * c + 1u);
    const uvec4 a = WT_Q4(h, (base + 4u + 8u * c) >> 2u), e = WT_Q4(h, ((base + 4u + 8u * c) >> 2u) + 1u);
    // nibbles masked in place (WT_X_SCALE)
    vec4 lo = wt_fma4(WT_ACC0, 0u, wt_nib_lo(a.x), wt_nib_lo(a.y), wt_nib_lo(a.z), wt_nib_lo(a.w));
    lo = wt_fma4(lo, 4u, wt_nib_lo(e.x), wt_nib_lo(e.y), wt_nib_lo(e.z), wt_nib_lo(e.w));
    vec4 hi = wt_fma4(WT_ACC0, 8u, wt_nib_hi(a.x), wt_nib_hi(a.y), wt_nib_hi(a.z), wt_nib_hi(a.w));
    hi = wt_fma4(hi, 12u, wt_nib_hi(e.x), wt_nib_hi(e.y), wt_nib_hi(e.z), wt_nib_hi(e.w));
    const float s1 = wt_xsum4(0u) + wt_xsum4(4u), s2 = wt_xsum4(8u) + wt_xsum4(12u);
    return dd.x * (sm1.x * wt_hsum(lo) + sm2.x * wt_hsum(hi)) - dd.y * (sm1.y * s1 + sm2.y * s2);
}

float wt_value(uvec2 h, uint nb, uint i)
{
    const uint b = i / 256u, e = i % 256u, c = e / 64u, l = e % 32u, high = (e / 32u) & 1u;
    const uint base = b * WT_QW;
    const vec2 dd = unpackHalf2x16(wt_qw(h, base));
    const vec2 sm = wt_k_scale_min(h, base + 1u, 2u * c + high);
    const uint q = (wt_qbyte(h, base + 4u, 32u * c + l) >> (4u * high)) & 15u;
    return dd.x * sm.x * float(q) - dd.y * sm.y;
}

#define WT_HAS_PART
#define WT_HAS_PART_PREP
// A unit's two sub-blocks 2c' (low nibbles) and 2c' + 1 (high): their
// scales and mins times d and dmin, (s_lo, m_lo, s_hi, m_hi).
vec4 wt_part_prep(uvec2 h, uint nb, uint u)
{
    const uint b = u / 4u, cc = u % 4u;
    const uvec4 hdr = WT_Q4(h, (b * WT_QW) >> 2u);
    const vec2 dd = unpackHalf2x16(hdr.x);
    return vec4(dd, dd) * vec4(wt_k_scale_min_r(hdr.yzw, 2u * cc), wt_k_scale_min_r(hdr.yzw, 2u * cc + 1u));
}
// x's vec4 k of the unit: low nibbles of a (k < 4), of e (4..7), high
// nibbles of a (8..11), of e (12..15); sub-block 2c' (low) or 2c' + 1
// (high) of the super-block's 64-element chunk c'
void wt_part_p(uvec2 h, uint nb, uint u, uint c, vec4 p, out vec4 lo, out vec4 hi)
{
    const uint b = u / 4u, cc = u % 4u, base = b * WT_QW;
    const uint high = c >> 2u; // parts 4..7: the high nibbles
    const uvec4 q = WT_Q4(h, ((base + 4u + 8u * cc) >> 2u) + ((c >> 1u) & 1u));
    const uvec2 w = (c & 1u) != 0u ? q.zw : q.xy;
    const float s = high != 0u ? p.z : p.x, m = high != 0u ? p.w : p.y;
    lo = s * wt_bytes(w.x, 4u * high, 15u) - m;
    hi = s * wt_bytes(w.y, 4u * high, 15u) - m;
}
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    wt_part_p(h, nb, u, c, wt_part_prep(h, nb, u), lo, hi);
}
