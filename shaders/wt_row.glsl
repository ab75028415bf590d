// Row handles and the accessors of a row's planes (wt_common.glsl: the
// layout). Included by each decoder after its constants (WT_QW).
// The matrix's interleaving: log2 G and log2 B (pc.il = log2 G | log2 B << 8).
uint wt_il_lg, wt_il_lb;
void wt_il_set(uint il)
{
    wt_il_lg = il & 31u;
    wt_il_lb = (il >> 8u) & 31u;
}
// 16-byte chunks of a block's quants (meaningful where the type is
// interleaved: F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K).
const uint WT_CPB = WT_QW / 4u > 0u ? WT_QW / 4u : 1u;

// The handle of row r of a matrix of row stride ldw words whose rows hold
// qw quant-plane words (nb * WT_QW): the first word of its quant plane and
// of its scale plane (whose words lie G apart: wt_sw).
uvec2 wt_row(uint r, uint ldw, uint qw)
{
    const uint i = r & ((1u << wt_il_lg) - 1u), g0 = (r - i) * ldw; // row i of the group starting at word g0
    return uvec2(g0 + ((i * WT_CPB) << (wt_il_lb + 2u)), g0 + (qw << wt_il_lg) + i);
}
#define WT_ROW(r, ldw, nb) wt_row((r), (ldw), (nb) * WT_QW)

// Chunk c of row h's quant plane, its index in the binding: past each of
// the row's runs before c, the other G - 1 rows' runs.
uint wt_qc(uvec2 h, uint c)
{
    return (h.x >> 2u) + c + ((c / WT_CPB) >> wt_il_lb) * (((1u << wt_il_lg) - 1u) * (WT_CPB << wt_il_lb));
}
#define WT_Q4(h, c) WT_W4(wt_qc((h), (c)))
// Word j of row h's quant plane, and of its scale plane. The G rows of a
// group take turns word by word in their scale planes (word j of row i at
// G j + i), so a subgroup taking the group's rows at once reads a unit's
// scale word of all of them in G / 4 16-byte loads (wt_sw4). (No parameter is
// named w: the storage-buffer accessors name the binding so.)
uint wt_qw(uvec2 h, uint j) { return WT_W(4u * wt_qc(h, j >> 2u) + (j & 3u)); }
uint wt_sw(uvec2 h, uint j) { return WT_W(h.y + (j << wt_il_lg)); }
// Byte k of the quant-plane words starting at word j.
uint wt_qbyte(uvec2 h, uint j, uint k) { return (wt_qw(h, j + (k >> 2u)) >> (8u * (k & 3u))) & 0xffu; }
// f16 number k of the quant plane, and of the scale plane.
float wt_qhalf(uvec2 h, uint k)
{
    const vec2 v = unpackHalf2x16(wt_qw(h, k >> 1u));
    return (k & 1u) != 0u ? v.y : v.x;
}
float wt_shalf(uvec2 h, uint k)
{
    const vec2 v = unpackHalf2x16(wt_sw(h, k >> 1u));
    return (k & 1u) != 0u ? v.y : v.x;
}
// 16-byte chunk k of the scale words j of the rows from h on, for nr rows
// from a multiple of nr that lie in one group (nr a multiple of 4 dividing
// G: the host checks, runtime/ops.c).
uvec4 wt_sw4(uvec2 h, uint j, uint k) { return WT_W4(((h.y + (j << wt_il_lg)) >> 2u) + k); }
