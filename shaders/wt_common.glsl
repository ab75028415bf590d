// Helpers of the weight-type decoders (wt_<type>.glsl). The including
// shader defines the accessors first:
//   WT_W(i)  32-bit word i of the weight binding
//   WT_W4(i) 16-byte chunk i of the same binding (an alias of it)
//   WT_X(i)  vec4 i of the input vector (elements 4i .. 4i+3)
// and calls wt_il_set(pc.il) at the start of main (the matrix's layout,
// below). A row is reached through its handle, WT_ROW(r, ldw, nb) (uvec2:
// where its quant plane and its scale plane start; wt_row.glsl, which each
// decoder includes after its constants). Every decoder then provides, for a
// row of nb blocks (layout: wtype_layout.h):
//   const uint WT_UNIT                 elements per step of a dot product
//   const uint WT_QW                   quant-plane words per block
//   void wt_load_x(u)                 loads the x of unit u into wt_xs (wt_x.glsl)
//   float wt_dot(h, nb, u)            row h's unit u . the x loaded for it
//   float wt_value(h, nb, i)          element i of the row
//   void wt_part(h, nb, u, c, lo, hi) part c (0 .. WT_XN/2 - 1) of unit
//                                     u decoded to f32: the weights of x's
//                                     vec4 wt_xi(u, 2c) (lo) and 2c + 1 (hi)
//                                     (the batched products, mm.comp), where
//                                     the type defines WT_HAS_PART, else
//                                     from wt_value (wt_part.glsl)
//   vec4 wt_part_prep(h, nb, u)       what every part of unit u of row h
//                                     shares (a k-quant's sub-block scales
//                                     times d), computed once per unit and
//                                     row and handed to
//   wt_part_p(h, nb, u, c, p, lo, hi) wt_part with it (wt_part.glsl
//                                     defines both for types without it)
// Units are numbered 0 .. nb * WT_BLOCK / WT_UNIT - 1. A kernel loads the
// x of a unit once and dots it with several rows: on every device that
// saves loads, and on a CPU driver, where each invocation's load is a
// separate memory access, x loads otherwise outnumber weight loads.
//
// Row interleaving (runtime/memory.c, mkv_matrix.il; wt_row.glsl): a
// matrix's rows are stored in groups of G consecutive rows. Within a group
// the G quant planes take turns in runs of B blocks (run 0 of row 0, run 0
// of row 1, .., run 1 of row 0, ..), then the G scale planes, taking
// turns word by word (word 0 of row 0, word 0 of row 1, ..). G = 1 is
// plain row-major storage, what GPUs get. On lavapipe (G = the rows a
// subgroup takes at once, B = the blocks its lanes read in one step) a
// subgroup's loads then walk memory in one sequential stream instead of
// one per row, which the CPU's prefetcher follows, and a unit's scales of
// all G rows come in G / 4 loads instead of G (tuning.c). Only types whose
// blocks' quants are whole 16-byte chunks are interleaved.
//
// Types whose dot product reads one scale-plane word per unit (WT_SW, from
// wtype_layout.h: Q8_0, Q4_0, Q4_1, Q6_K) also define
//   uint wt_sw_of(u)                   that word's index in the plane
//   float wt_dot_sw(h, nb, u, sw)      wt_dot given that word
// for the kernels that load it for a group's rows at once (wt_sw4).
#include "wtype_layout.h"

// The four bytes of w, each shifted right and masked.
vec4 wt_bytes(uint w, uint shift, uint mask) { return vec4((uvec4(w, w >> 8u, w >> 16u, w >> 24u) >> shift) & mask); }
// The four bytes of w as signed int8 values.
vec4 wt_i8(uint w) { return vec4(ivec4(uvec4(w << 24u, w << 16u, w << 8u, w)) >> 24); }

// Masked in place: the nibbles (or bytes) of a quant word as floats still
// multiplied by 2^(their bit position), not shifted down. The decoder
// scales x by the inverse once per unit instead (WT_X_SCALE, defined before
// wt_x.glsl is included), which saves a shift a weight. Every masked value
// converts as a positive int (a uint conversion costs more on CPUs): the
// top nibble is shifted by 4 first.
const vec4 WT_SCALE_BYTES = vec4(1.0, 0.00390625, 1.52587890625e-05, 5.9604644775390625e-08);    // 2^-0, -8, -16, -24
const vec4 WT_SCALE_HI_NIBBLES = vec4(0.0625, 0.000244140625, 9.5367431640625e-07, 5.9604644775390625e-08); // 2^-4, -12, -20, -24
// The low nibbles of w's bytes (x scaled by WT_SCALE_BYTES).
vec4 wt_nib_lo(uint w) { return vec4(ivec4(uvec4(w) & uvec4(0xFu, 0xF00u, 0xF0000u, 0xF000000u))); }
// The high nibbles of w's bytes (x scaled by WT_SCALE_HI_NIBBLES).
vec4 wt_nib_hi(uint w) { return vec4(ivec4(uvec4(w, w, w, w >> 4u) & uvec4(0xF0u, 0xF000u, 0xF00000u, 0xF000000u))); }
// w's bytes, each below 64 (x scaled by WT_SCALE_BYTES).
vec4 wt_b6(uint w) { return vec4(ivec4(uvec4(w) & uvec4(0x3Fu, 0x3F00u, 0x3F0000u, 0x3F000000u))); }
// Sum of the components of a vec4 accumulator.
float wt_hsum(vec4 a) { return (a.x + a.y) + (a.z + a.w); }
