/* How a layer's K or V cache is stored, shared by the C side (session.c
 * sizes it, tests read it) and the shaders (rope_kv.comp writes it,
 * attn.comp reads it), and attention's partials. Plain #defines only: both C and GLSL include it.
 *
 * Rows of head_dim values, one per KV head and position, head after head:
 * KV head kvh's rows of positions 0 .. n_ctx - 1 are rows kvh * n_ctx ..
 * kvh * n_ctx + n_ctx - 1 (MKV_KV_ROW), so attention, which walks one KV
 * head's positions, reads one run of memory (positions first, heads inside
 * them, put a head's rows n_kv_head rows apart: lavapipe then read a
 * KV-10240 layer of the 0.6b shape in 26 ms, head after head in 11).
 * f16 (default): n_kv_head x n_ctx rows of head_dim f16 values.
 * q8_0 (rope_kv_q8, attn_q8*): n_kv_head x n_ctx rows of head_dim int8
 * quants (4 to a 32-bit word, element 4i in the low byte), then, starting
 * at word scale_base = n_ctx * n_kv_head * head_dim / 4, one f32 scale per
 * block of MKV_KV_Q8_BLOCK values of each row, rows in the same order:
 * value = scale * quant, scale = max |x| / 127 over the block, quant =
 * round(x / scale) (halves away from zero). head_dim must be a multiple of
 * the block. 36 bytes per 32 values against f16's 64. */
#ifndef MKV_KV_LAYOUT_H
#define MKV_KV_LAYOUT_H

#define MKV_KV_Q8_BLOCK 32

/* The row of position pos of KV head kvh in a cache of n_ctx positions
 * (C callers pass 64-bit values). */
#define MKV_KV_ROW(pos, kvh, n_ctx) ((kvh) * (n_ctx) + (pos))

/* Attention's partials (attn.comp -> attn_combine.comp), per query head and
 * chunk of the cache: the chunk's max score m, its sum of exponentials l,
 * two unused floats, then the head_dim floats of its output o (on 16
 * bytes when head_dim is a multiple of 4). */
#define MKV_ATTN_PART_HEAD 4u
/* Chunks (splits) a decode attention takes at most: attn_combine.comp
 * keeps a weight per chunk in shared memory (mkv_attn_splits). */
#define MKV_ATTN_MAX_SPLIT 64u

#endif
