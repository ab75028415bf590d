// Shared by Q4_0 and Q4_1: 16 bytes of nibbles (byte j: element j in its
// low nibble, element j + 16 in its high one) dotted with the loaded x:
// returns sum q * x over the block (q = 0..15) and sum x.
vec2 wt_q4_sums(uvec4 a)
{
    const float s = dot(wt_bytes(a.x, 0u, 15u), wt_xs[0]) + dot(wt_bytes(a.y, 0u, 15u), wt_xs[1]) +
                    dot(wt_bytes(a.z, 0u, 15u), wt_xs[2]) + dot(wt_bytes(a.w, 0u, 15u), wt_xs[3]) +
                    dot(wt_bytes(a.x, 4u, 15u), wt_xs[4]) + dot(wt_bytes(a.y, 4u, 15u), wt_xs[5]) +
                    dot(wt_bytes(a.z, 4u, 15u), wt_xs[6]) + dot(wt_bytes(a.w, 4u, 15u), wt_xs[7]);
    return vec2(s, wt_xsum4(0u) + wt_xsum4(4u));
}

// q (0..15) of element i of a row of blocks of qw words.
uint wt_q4_value(uvec2 h, uint i, uint qw)
{
    const uint j = i % 32u;
    return (wt_qbyte(h, (i / 32u) * qw, j % 16u) >> (j < 16u ? 0u : 4u)) & 15u;
}
