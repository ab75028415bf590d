// Sums over a subgroup of values each lane holds, by a butterfly that both
// adds and hands the sums out (mm.comp, matvec.comp, ffn_out.comp).
//
// Every lane holds SG_N values (a power of two) in sg_v, which the
// including kernel accumulates into; sum k is that of sg_v[k] over all
// lanes. Each of log2(SG) steps pairs the lanes one bit apart, the highest
// bit first: while a lane holds more than one value it keeps one half of
// them (the upper half when its bit is set), sends the other half to its
// partner and adds the partner's; once one value is left, a step only adds. Lane l then holds the SG_R sums sg_first(l) .. + SG_R - 1 in
// sg_v[0 ..]; when SG_N < SG, SG_D lanes hold each sum and the first of them
// (sg_owner) writes it. That is SG_N - 1 shuffles per lane, where one
// subgroupAdd per value takes log2(SG) steps each and leaves every sum in
// every lane for one lane to store: the stores after the butterfly are
// spread over the lanes too (on lavapipe, 128-token prefill of the 0.6b f16
// model: mm 36.1 -> 22.3 ms per token).
//
// The including shader enables GL_KHR_shader_subgroup_shuffle and defines
// SG (a specialization constant equal to gl_SubgroupSize) and SG_N first.
// Every index into sg_v is a constant once the loops unroll, so it stays in
// registers. (Passed to sg_sums as an inout array instead, a 128-value tile
// came out wrong on lavapipe, Mesa 22.3.6, while 16 values were right.)
const uint SG_LOG = SG >= 128u ? 7u : SG >= 64u ? 6u : SG >= 32u ? 5u : SG >= 16u ? 4u : SG >= 8u ? 3u : SG >= 4u ? 2u :
                    SG >= 2u ? 1u : 0u;
const uint SG_R = SG_N >= SG ? SG_N / SG : 1u;
const uint SG_D = SG_N >= SG ? 1u : SG / SG_N;

float sg_v[SG_N];

void sg_sums(uint lane)
{
    [[unroll]] for (uint s = 0u; s < SG_LOG; s++) {
        const uint o = SG >> (s + 1u), h = SG_N >> (s + 1u);
        const bool upper = (lane & o) != 0u;
        if (h >= 1u) {
            [[unroll]] for (uint j = 0u; j < SG_N / 2u; j++) {
                if (j < h) {
                    const float keep = upper ? sg_v[j + h] : sg_v[j], send = upper ? sg_v[j] : sg_v[j + h];
                    sg_v[j] = keep + subgroupShuffleXor(send, o);
                }
            }
        } else {
            sg_v[0] += subgroupShuffleXor(sg_v[0], o);
        }
    }
}

// The first sum lane holds after sg_sums, and whether it writes its sums.
uint sg_first(uint lane) { return (lane / SG_D) * SG_R; }
bool sg_owner(uint lane) { return lane % SG_D == 0u; }
