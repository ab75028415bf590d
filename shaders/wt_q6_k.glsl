// Q6_K: super-blocks of 256 in two halves n of 128; int8 scales[16]; value
// d * scale * (q - 32) with q 6 bits: for l < 32 in half n (ql from byte
// 64n, qh from byte 32n, scales from 8n):
//   element 128n + l      : ql[l] & 15       | (qh[l] >> 0 & 3) << 4, scale[l/16]
//   element 128n + 32 + l : ql[l + 32] & 15  | (qh[l] >> 2 & 3) << 4, scale[l/16 + 2]
//   element 128n + 64 + l : ql[l] >> 4       | (qh[l] >> 4 & 3) << 4, scale[l/16 + 4]
//   element 128n + 96 + l : ql[l + 32] >> 4  | (qh[l] >> 6 & 3) << 4, scale[l/16 + 6]
// A unit is 16 consecutive l of one half (64 elements): three 16-byte
// loads. d sits in the scale plane.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q6_K_BLOCK, WT_UNIT = MKV_WT_Q6_K_UNIT;
#define WT_SW MKV_WT_Q6_K_SW // wtype_layout.h
const uint WT_QW = (MKV_WT_Q6_K_BLOCK_BYTES - MKV_WT_Q6_K_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
// unit u = 16 l of half n of block b: 4 runs of 4 vec4, 8 vec4 apart
uint wt_xi(uint u, uint k) { return 64u * (u / 4u) + 32u * ((u / 2u) % 2u) + 4u * (u % 2u) + 8u * (k / 4u) + k % 4u; }
#include "wt_row.glsl"
#define WT_X_SCALE(k) WT_SCALE_BYTES // wt_dot_sw
#include "wt_x.glsl"

float wt_i8_byte(uvec2 h, uint base, uint k) { return float(int(wt_qbyte(h, base, k) << 24u) >> 24); }

uint wt_sw_of(uint u) { return u >> 3u; } // d of block u / 4: half (u / 4) & 1 of the word
float wt_dot_sw(uvec2 h, uint nb, uint u, uint sw)
{
    const uint b = u / 4u, n = (u / 2u) % 2u, g = u % 2u, base = b * WT_QW;
    const uvec4 qa = WT_Q4(h, (base + 16u * n + 4u * g) >> 2u);      // ql[64n + 16g ..]
    const uvec4 qb = WT_Q4(h, (base + 16u * n + 8u + 4u * g) >> 2u); // ql[64n + 32 + 16g ..]
    const uvec4 qh = WT_Q4(h, (base + 32u + 8u * n + 4u * g) >> 2u); // qh[32n + 16g ..]
    // the four runs' 6-bit q, four to a word: nibbles and high bits joined
    // byte-wise in the packed words, then each byte masked in place (its x
    // was scaled by 2^-(its bit position): WT_X_SCALE)
    vec4 a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0), a4 = vec4(0.0);
    [[unroll]] for (uint k = 0u; k < 4u; k++) {
        const uint hk = qh[k];
        a1 = fma(wt_b6((qa[k] & 0x0f0f0f0fu) | ((hk << 4u) & 0x30303030u)), wt_xs[k], a1);
        a2 = fma(wt_b6((qb[k] & 0x0f0f0f0fu) | ((hk << 2u) & 0x30303030u)), wt_xs[4u + k], a2);
        a3 = fma(wt_b6(((qa[k] >> 4u) & 0x0f0f0f0fu) | (hk & 0x30303030u)), wt_xs[8u + k], a3);
        a4 = fma(wt_b6(((qb[k] >> 4u) & 0x0f0f0f0fu) | ((hk >> 2u) & 0x30303030u)), wt_xs[12u + k], a4);
    }
    float s1 = wt_hsum(a1), s2 = wt_hsum(a2), s3 = wt_hsum(a3), s4 = wt_hsum(a4);
    // q - 32: the offset times each run's x sum, once per unit (wt_x.glsl)
    s1 -= 32.0 * wt_xsums[0];
    s2 -= 32.0 * wt_xsums[1];
    s3 -= 32.0 * wt_xsums[2];
    s4 -= 32.0 * wt_xsums[3];
    // scales 8n + g + {0, 2, 4, 6}: bytes g, g + 2 of word 48 + 2n, bytes g, g + 2 of the next
    const uvec4 st = WT_Q4(h, (base + 48u) >> 2u); // words 48..51: the 16 scales
    const uint sa = n == 0u ? st.x : st.z, sb = n == 0u ? st.y : st.w;
    const vec4 sc = vec4(ivec4(uvec4(sa << (24u - 8u * g), sa << (8u - 8u * g), sb << (24u - 8u * g), sb << (8u - 8u * g))) >> 24);
    return unpackHalf2x16(sw)[b & 1u] * dot(sc, vec4(s1, s2, s3, s4));
}
float wt_dot(uvec2 h, uint nb, uint u) { return wt_dot_sw(h, nb, u, wt_sw(h, wt_sw_of(u))); }

float wt_value(uvec2 h, uint nb, uint i)
{
    const uint b = i / 256u, e = i % 256u, n = e / 128u, r = e % 128u, part = r / 32u, l = r % 32u;
    const uint base = b * WT_QW;
    const uint ql = wt_qbyte(h, base, 64u * n + l + 32u * (part & 1u)) >> (4u * (part >> 1u));
    const uint q = (ql & 15u) | (((wt_qbyte(h, base + 32u, 32u * n + l) >> (2u * part)) & 3u) << 4u);
    return wt_shalf(h, b) * wt_i8_byte(h, base + 48u, 8u * n + l / 16u + 2u * part) * (float(q) - 32.0);
}

#define WT_HAS_PART
#define WT_HAS_PART_PREP
// The scales of the unit's four runs times d: scales 8n + g + 2r, r < 4.
vec4 wt_part_prep(uvec2 h, uint nb, uint u)
{
    const uint b = u / 4u, n = (u / 2u) % 2u, g = u % 2u;
    const uvec4 st = WT_Q4(h, (b * WT_QW + 48u) >> 2u); // words 48..51: the 16 scales
    const uint sa = n == 0u ? st.x : st.z, sb = n == 0u ? st.y : st.w;
    const vec4 sc = vec4(ivec4(uvec4(sa << (24u - 8u * g), sa << (8u - 8u * g), sb << (24u - 8u * g), sb << (8u - 8u * g))) >> 24);
    return wt_shalf(h, b) * sc;
}
// x's vec4 k of the unit: run r = k / 4 (ql of qa or qb, low or high
// nibble, qh bits 2r, 2r + 1; scale r of the four), word k % 4
void wt_part_p(uvec2 h, uint nb, uint u, uint c, vec4 p, out vec4 lo, out vec4 hi)
{
    const uint b = u / 4u, n = (u / 2u) % 2u, g = u % 2u, base = b * WT_QW;
    const uint r = c >> 1u, k0 = (c & 1u) * 2u; // run, first word of the part
    const uvec4 ql = WT_Q4(h, (base + 16u * n + 8u * (r & 1u) + 4u * g) >> 2u);
    const uvec4 qh = WT_Q4(h, (base + 32u + 8u * n + 4u * g) >> 2u);
    const float sc = p[r];
    const uint sh = 4u * (r >> 1u), hs = 2u * r;
    // 6-bit q four to a word: nibbles and high bits joined byte-wise first
    lo = sc * (wt_bytes(((ql[k0] >> sh) & 0x0f0f0f0fu) | (((qh[k0] >> hs) & 0x03030303u) << 4u), 0u, 63u) - 32.0);
    hi = sc * (wt_bytes(((ql[k0 + 1u] >> sh) & 0x0f0f0f0fu) | (((qh[k0 + 1u] >> hs) & 0x03030303u) << 4u), 0u, 63u) - 32.0);
}
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    wt_part_p(h, nb, u, c, wt_part_prep(h, nb, u), lo, hi);
}
