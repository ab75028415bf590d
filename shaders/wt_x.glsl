// The x of one unit, held in registers (wt_common.glsl). The type's file
// defines WT_XN (vec4 per unit) and wt_xi(u, k), the x vec4 index of the
// k-th vec4 of unit u, before including this.
vec4 wt_xs[WT_XN];

void wt_load_x(uint u)
{
    [[unroll]] for (uint k = 0u; k < WT_XN; k++) wt_xs[k] = WT_X(wt_xi(u, k));
}

// Sum of the 4 loaded x vectors from wt_xs[k].
float wt_xsum4(uint k) { return dot(wt_xs[k] + wt_xs[k + 1u] + wt_xs[k + 2u] + wt_xs[k + 3u], vec4(1.0)); }
