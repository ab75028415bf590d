// wt_part for the weight types without their own (wt_common.glsl): the
// part's elements one by one through wt_value. Correct for every type,
// slower than a type's own decoder (Q5_K uses it).
#if !defined(WT_HAS_PART)
void wt_part(uvec2 h, uint nb, uint u, uint c, out vec4 lo, out vec4 hi)
{
    const uint e = 4u * wt_xi(u, 2u * c), f = 4u * wt_xi(u, 2u * c + 1u);
    lo = vec4(wt_value(h, nb, e), wt_value(h, nb, e + 1u), wt_value(h, nb, e + 2u), wt_value(h, nb, e + 3u));
    hi = vec4(wt_value(h, nb, f), wt_value(h, nb, f + 1u), wt_value(h, nb, f + 2u), wt_value(h, nb, f + 3u));
}
#endif

// A type without per-unit constants for its parts: wt_part alone.
#if !defined(WT_HAS_PART_PREP)
vec4 wt_part_prep(uvec2 h, uint nb, uint u) { return vec4(0.0); }
void wt_part_p(uvec2 h, uint nb, uint u, uint c, vec4 p, out vec4 lo, out vec4 hi) { wt_part(h, nb, u, c, lo, hi); }
#endif
