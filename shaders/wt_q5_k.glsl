// Q5_K: as Q4_K (wt_q4_k.glsl) with a fifth bit per element: qh[32] after
// the scales; element 64c + l takes bit 2c of qh[l], element 64c + 32 + l
// bit 2c + 1. Value d * scale * q - dmin * min.
#include "wt_common.glsl"
const uint WT_BLOCK = MKV_WT_Q5_K_BLOCK, WT_UNIT = MKV_WT_Q5_K_UNIT;
#define WT_SW MKV_WT_Q5_K_SW // wtype_layout.h
const uint WT_QW = (MKV_WT_Q5_K_BLOCK_BYTES - MKV_WT_Q5_K_SCALE_BYTES) / 4u;
const uint WT_XN = WT_UNIT / 4u;
uint wt_xi(uint u, uint k) { return u * WT_XN + k; }
#include "wt_row.glsl"
#include "wt_kquant.glsl"
#define WT_X_SCALE(k) WT_SCALE_BYTES // wt_dot
#include "wt_x.glsl"

float wt_dot(uvec2 h, uint nb, uint u)
{
    const uint b = u / 4u, c = u % 4u, base = b * WT_QW;
    const uvec4 hdr = WT_Q4(h, base >> 2u); // d, dmin; the 12 bytes of scales and mins
    const vec2 dd = unpackHalf2x16(hdr.x);
    const vec2 sm1 = wt_k_scale_min_r(hdr.yzw, 2u * c), sm2 = wt_k_scale_min_r(hdr.yzw, 2u * c + 1u);
    const uvec4 h0 = WT_Q4(h, (base + 4u) >> 2u), h1 = WT_Q4(h, ((base + 4u) >> 2u) + 1u);         // qh
    const uvec4 q0 = WT_Q4(h, (base + 12u + 8u * c) >> 2u), q1 = WT_Q4(h, ((base + 12u + 8u * c) >> 2u) + 1u); // qs
    // 5-bit q joined byte-wise in the packed words (nibble | fifth bit << 4),
    // then each byte masked in place (WT_X_SCALE)
    vec4 lo = vec4(0.0), hi = vec4(0.0);
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        const uint qw = k < 4u ? q0[k] : q1[k - 4u], hb = (k < 4u ? h0[k] : h1[k - 4u]) >> (2u * c);
        lo = fma(wt_b6((qw & 0x0f0f0f0fu) | ((hb << 4u) & 0x10101010u)), wt_xs[k], lo);
        hi = fma(wt_b6(((qw >> 4u) & 0x0f0f0f0fu) | ((hb << 3u) & 0x10101010u)), wt_xs[8u + k], hi);
    }
    const float s1 = wt_xsum4(0u) + wt_xsum4(4u), s2 = wt_xsum4(8u) + wt_xsum4(12u);
    return dd.x * (sm1.x * wt_hsum(lo) + sm2.x * wt_hsum(hi)) - dd.y * (sm1.y * s1 + sm2.y * s2);
}

float wt_value(uvec2 h, uint nb, uint i)
{
    const uint b = i / 256u, e = i % 256u, c = e / 64u, l = e % 32u, high = (e / 32u) & 1u;
    const uint base = b * WT_QW;
    const vec2 dd = unpackHalf2x16(wt_qw(h, base));
    const vec2 sm = wt_k_scale_min(h, base + 1u, 2u * c + high);
    const uint q = ((wt_qbyte(h, base + 12u, 32u * c + l) >> (4u * high)) & 15u) |
                   (((wt_qbyte(h, base + 4u, l) >> (2u * c + high)) & 1u) << 4u);
    return dd.x * sm.x * float(q) - dd.y * sm.y;
}
