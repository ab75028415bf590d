// The x of one unit, held in registers (wt_common.glsl). The type's file
// defines WT_XN (vec4 per unit) and wt_xi(u, k), the x vec4 index of the
// k-th vec4 of unit u, before including this.
// Also the sums of each run of 4 vec4 (16 elements), which the block types
// with an offset (q - 8, q - 32, a min) need once per unit, not per row.
// A type whose dot product takes its quants masked in place (wt_common.glsl:
// wt_nib_lo, ..) defines WT_X_SCALE(k), the factors of the k-th vec4: x is
// scaled once per unit, after the sums (which stay those of x itself).
const uint WT_XSUMS = WT_XN / 4u > 0u ? WT_XN / 4u : 1u;
vec4 wt_xs[WT_XN];
float wt_xsums[WT_XSUMS];

void wt_load_x(uint u)
{
    [[unroll]] for (uint k = 0u; k < WT_XN; k++) wt_xs[k] = WT_X(wt_xi(u, k));
    if (WT_XN >= 4u) {
        [[unroll]] for (uint j = 0u; j < WT_XSUMS; j++)
            wt_xsums[j] = dot(wt_xs[4u * j] + wt_xs[4u * j + 1u] + wt_xs[4u * j + 2u] + wt_xs[4u * j + 3u], vec4(1.0));
    }
#ifdef WT_X_SCALE
    [[unroll]] for (uint k = 0u; k < WT_XN; k++) wt_xs[k] *= WT_X_SCALE(k);
#endif
}

// Sum of the 4 loaded x vectors from wt_xs[k] (k a multiple of 4).
float wt_xsum4(uint k) { return wt_xsums[k / 4u]; }

// The start of a wt_fma4 chain: -0, which an add leaves exactly as it was
// (+0 would not, for a -0 product), so the first add folds away.
const vec4 WT_ACC0 = vec4(-0.0);
// acc + the values of four quant words (decoded, masked in place: a decoder's
// WT_X_SCALE) times x's vec4 k .. k + 3.
vec4 wt_fma4(vec4 acc, uint k, vec4 a, vec4 b, vec4 c, vec4 d)
{
    acc = fma(a, wt_xs[k], acc);
    acc = fma(b, wt_xs[k + 1u], acc);
    acc = fma(c, wt_xs[k + 2u], acc);
    return fma(d, wt_xs[k + 3u], acc);
}
