// The 6-bit scales and mins of Q4_K and Q5_K: 12 bytes at quant words base..base+2
// for the 8 sub-blocks j of 32 elements (ggml's get_scale_min_k4):
//   j < 4: scale = q[j] & 63, min = q[j + 4] & 63
//   j >= 4: scale = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4,
//           min = (q[j + 4] >> 4) | (q[j] >> 6) << 4
vec2 wt_k_scale_min(uvec2 h, uint base, uint j)
{
    if (j < 4u) return vec2(float(wt_qbyte(h, base, j) & 63u), float(wt_qbyte(h, base, j + 4u) & 63u));
    const uint a = wt_qbyte(h, base, j + 4u);
    return vec2(float((a & 15u) | ((wt_qbyte(h, base, j - 4u) >> 6u) << 4u)),
                float((a >> 4u) | ((wt_qbyte(h, base, j) >> 6u) << 4u)));
}

// The same from the 12 bytes already loaded (q.x: bytes 0-3, q.y: 4-7, q.z: 8-11).
uint wt_k_byte(uvec3 q, uint k) { return (q[k >> 2u] >> (8u * (k & 3u))) & 0xffu; }
vec2 wt_k_scale_min_r(uvec3 q, uint j)
{
    if (j < 4u) return vec2(float(wt_k_byte(q, j) & 63u), float(wt_k_byte(q, j + 4u) & 63u));
    const uint a = wt_k_byte(q, j + 4u);
    return vec2(float((a & 15u) | ((wt_k_byte(q, j - 4u) >> 6u) << 4u)),
                float((a >> 4u) | ((wt_k_byte(q, j) >> 6u) << 4u)));
}
