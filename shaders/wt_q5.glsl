// Four bits of b (bits 0..3) spread to bit 4 of each byte: the product
// places bit i at bits i + 7j (j < 4), all distinct, so bit i lands alone
// at 8i.
uint wt_q5_spread(uint b) { return ((b * 0x00204081u) & 0x01010101u) << 4u; }

// Shared by Q5_0 and Q5_1: a block's quant part is qh (32 fifth bits, one
// word) then 16 bytes of nibbles as in Q4_0; element j < 16 is the low
// nibble of byte j plus bit j of qh times 16, element j + 16 the high
// nibble plus bit j + 16. Returns sum q * x and sum x over unit u (x loaded,
// scaled by WT_SCALE_BYTES: the including decoder's WT_X_SCALE).
vec2 wt_q5_sums(uvec2 h, uint u, uint words)
{
    const uint base = u * words, qh = wt_qw(h, base);
    // 5-bit q joined byte-wise (nibble | fifth bit << 4), each byte masked in
    // place (the decoders' WT_X_SCALE: WT_SCALE_BYTES)
    vec4 acc = vec4(0.0);
    [[unroll]] for (uint k = 0u; k < 4u; k++) {
        const uint nib = wt_qw(h, base + 1u + k);
        acc = fma(wt_b6((nib & 0x0f0f0f0fu) | wt_q5_spread((qh >> (4u * k)) & 15u)), wt_xs[k], acc);
        acc = fma(wt_b6(((nib >> 4u) & 0x0f0f0f0fu) | wt_q5_spread((qh >> (16u + 4u * k)) & 15u)), wt_xs[4u + k], acc);
    }
    return vec2(wt_hsum(acc), wt_xsum4(0u) + wt_xsum4(4u));
}

// q (0..31) of element i.
uint wt_q5_value(uvec2 h, uint i, uint words)
{
    const uint b = i / 32u, j = i % 32u, base = b * words;
    const uint nib = (wt_qbyte(h, base + 1u, j % 16u) >> (j < 16u ? 0u : 4u)) & 15u;
    return nib | (((wt_qw(h, base) >> j) & 1u) << 4u);
}

// Part c (0..3) of unit u, as q (0..31): elements 8c .. 8c + 7 of the
// block, the low (c < 2) or high nibbles of nibble words 2 (c & 1) and the
// next, plus qh's bits 8c .. 8c + 7 times 16 (the batched products, mm.comp).
void wt_q5_part(uvec2 h, uint u, uint c, uint words, out vec4 lo, out vec4 hi)
{
    const uint base = u * words, k0 = 2u * (c & 1u), sh = 4u * (c >> 1u);
    const uint qb = wt_qw(h, base) >> (8u * c); // the part's 8 fifth bits
    lo = wt_bytes(wt_qw(h, base + 1u + k0), sh, 15u) + 16.0 * vec4((uvec4(qb) >> uvec4(0u, 1u, 2u, 3u)) & 1u);
    hi = wt_bytes(wt_qw(h, base + 2u + k0), sh, 15u) + 16.0 * vec4((uvec4(qb) >> uvec4(4u, 5u, 6u, 7u)) & 1u);
}
