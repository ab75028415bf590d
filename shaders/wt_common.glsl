// Helpers of the weight-type decoders (wt_<type>.glsl). The including
// shader defines the accessors first:
//   WT_W(i)  32-bit word i of the weight binding
//   WT_W4(i) 16-byte chunk i of the same binding (an alias of it)
//   WT_X(i)  vec4 i of the input vector (elements 4i .. 4i+3)
// Every decoder then provides, for a row whose words start at `row` (a
// multiple of 4) and hold nb blocks (layout: wtype_layout.h):
//   const uint WT_UNIT                 elements per step of a dot product
//   void wt_load_x(u)                 loads the x of unit u into wt_xs (wt_x.glsl)
//   float wt_dot(row, nb, u)          row's unit u . the x loaded for it
//   float wt_value(row, nb, i)        element i of the row
//   void wt_part(row, nb, u, c, lo, hi) part c (0 .. WT_XN/2 - 1) of unit
//                                     u decoded to f32: the weights of x's
//                                     vec4 wt_xi(u, 2c) (lo) and 2c + 1 (hi)
//                                     (the batched products, mm.comp), where
//                                     the type defines WT_HAS_PART, else
//                                     from wt_value (wt_part.glsl)
// Units are numbered 0 .. nb * WT_BLOCK / WT_UNIT - 1. A kernel loads the
// x of a unit once and dots it with several rows: on every device that
// saves loads, and on a CPU driver, where each invocation's load is a
// separate memory access, x loads otherwise outnumber weight loads.
#include "wtype_layout.h"

// The four bytes of w, each shifted right and masked.
vec4 wt_bytes(uint w, uint shift, uint mask) { return vec4((uvec4(w, w >> 8u, w >> 16u, w >> 24u) >> shift) & mask); }
// The four bytes of w as signed int8 values.
vec4 wt_i8(uint w) { return vec4(ivec4(uvec4(w << 24u, w << 16u, w << 8u, w)) >> 24); }
// Byte k of the words starting at `base`.
uint wt_byte(uint base, uint k) { return (WT_W(base + (k >> 2u)) >> (8u * (k & 3u))) & 0xffu; }
// f16 number k of the words starting at `base`.
float wt_half(uint base, uint k)
{
    const vec2 h = unpackHalf2x16(WT_W(base + (k >> 1u)));
    return (k & 1u) != 0u ? h.y : h.x;
}
