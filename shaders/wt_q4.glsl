// Shared by Q4_0 and Q4_1: 16 bytes of nibbles (byte j: element j in its
// low nibble, element j + 16 in its high one) dotted with the loaded x:
// returns sum q * x over the block (q = 0..15) and sum x. The nibbles are
// masked in place: the including decoder defines WT_X_SCALE as
// ((k) < 4u ? WT_SCALE_BYTES : WT_SCALE_HI_NIBBLES).
vec2 wt_q4_sums(uvec4 a)
{
    vec4 acc = wt_fma4(WT_ACC0, 0u, wt_nib_lo(a.x), wt_nib_lo(a.y), wt_nib_lo(a.z), wt_nib_lo(a.w));
    acc = wt_fma4(acc, 4u, wt_nib_hi(a.x), wt_nib_hi(a.y), wt_nib_hi(a.z), wt_nib_hi(a.w));
    return vec2(wt_hsum(acc), wt_xsum4(0u) + wt_xsum4(4u));
}

// q (0..15) of element i of a row of blocks of qw words.
uint wt_q4_value(uvec2 h, uint i, uint qw)
{
    const uint j = i % 32u;
    return (wt_qbyte(h, (i / 32u) * qw, j % 16u) >> (j < 16u ? 0u : 4u)) & 15u;
}
