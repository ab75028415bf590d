/* How the GPU stores each weight type, shared by the C side (runtime/wtype.c
 * repacks rows at load) and the shaders (shaders/wt_<type>.glsl decode them).
 * Plain #defines only: both C and GLSL include this file.
 *
 * A row of cols elements is stored as nb = cols / BLOCK blocks. Each ggml
 * block's bytes are split in two: SCALE_BYTES bytes starting at SCALE_OFF
 * (its f16 scale, or scale and min) go to the row's scale plane, the rest
 * (QUANT_BYTES = BLOCK_BYTES - SCALE_BYTES, a multiple of 4, in the block's
 * order) to its quant plane:
 *     row = [quant part of block 0 .. nb-1][scale part of block 0 .. nb-1][zeros]
 * padded to a multiple of 16 bytes. Quants thus start on 4-byte words (on
 * 16 bytes where QUANT_BYTES is a multiple of 16), which the ggml layouts
 * with a leading f16 (Q4_0: 18 bytes, Q8_0: 34) do not; the row's bytes
 * are exactly the file's. F16 and BF16 rows are blocks of 8 values (16
 * bytes), the last one padded with zeros.
 * UNIT is the elements one invocation consumes per step of a dot product.
 * SW is 1 where a dot product reads one scale-plane word per unit (the
 * decoder then provides wt_sw_of and wt_dot_sw, wt_common.glsl): kernels
 * may load that word for several interleaved rows at once.
 * Rows may further be interleaved in groups (runtime/memory.c; the picture
 * is in wt_common.glsl, the accessors in wt_row.glsl): this is each row's
 * own layout, before that. */
#ifndef MKV_WTYPE_LAYOUT_H
#define MKV_WTYPE_LAYOUT_H

#define MKV_WT_F16_BLOCK 8
#define MKV_WT_F16_BLOCK_BYTES 16
#define MKV_WT_F16_SCALE_OFF 0
#define MKV_WT_F16_SCALE_BYTES 0
#define MKV_WT_F16_UNIT 8
#define MKV_WT_F16_SW 0

#define MKV_WT_BF16_BLOCK 8
#define MKV_WT_BF16_BLOCK_BYTES 16
#define MKV_WT_BF16_SCALE_OFF 0
#define MKV_WT_BF16_SCALE_BYTES 0
#define MKV_WT_BF16_UNIT 8
#define MKV_WT_BF16_SW 0

/* {f16 d; int8 qs[32]} */
#define MKV_WT_Q8_0_BLOCK 32
#define MKV_WT_Q8_0_BLOCK_BYTES 34
#define MKV_WT_Q8_0_SCALE_OFF 0
#define MKV_WT_Q8_0_SCALE_BYTES 2
#define MKV_WT_Q8_0_UNIT 32
#define MKV_WT_Q8_0_SW 1

/* {f16 d; u8 qs[16]} */
#define MKV_WT_Q4_0_BLOCK 32
#define MKV_WT_Q4_0_BLOCK_BYTES 18
#define MKV_WT_Q4_0_SCALE_OFF 0
#define MKV_WT_Q4_0_SCALE_BYTES 2
#define MKV_WT_Q4_0_UNIT 32
#define MKV_WT_Q4_0_SW 1

/* {f16 d; f16 m; u8 qs[16]} */
#define MKV_WT_Q4_1_BLOCK 32
#define MKV_WT_Q4_1_BLOCK_BYTES 20
#define MKV_WT_Q4_1_SCALE_OFF 0
#define MKV_WT_Q4_1_SCALE_BYTES 4
#define MKV_WT_Q4_1_UNIT 32
#define MKV_WT_Q4_1_SW 1

/* {f16 d; u8 qh[4]; u8 qs[16]} */
#define MKV_WT_Q5_0_BLOCK 32
#define MKV_WT_Q5_0_BLOCK_BYTES 22
#define MKV_WT_Q5_0_SCALE_OFF 0
#define MKV_WT_Q5_0_SCALE_BYTES 2
#define MKV_WT_Q5_0_UNIT 32
#define MKV_WT_Q5_0_SW 0

/* {f16 d; f16 m; u8 qh[4]; u8 qs[16]} */
#define MKV_WT_Q5_1_BLOCK 32
#define MKV_WT_Q5_1_BLOCK_BYTES 24
#define MKV_WT_Q5_1_SCALE_OFF 0
#define MKV_WT_Q5_1_SCALE_BYTES 4
#define MKV_WT_Q5_1_UNIT 32
#define MKV_WT_Q5_1_SW 0

/* {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}: kept whole (144 = 9 x 16) */
#define MKV_WT_Q4_K_BLOCK 256
#define MKV_WT_Q4_K_BLOCK_BYTES 144
#define MKV_WT_Q4_K_SCALE_OFF 0
#define MKV_WT_Q4_K_SCALE_BYTES 0
#define MKV_WT_Q4_K_UNIT 64
#define MKV_WT_Q4_K_SW 0

/* {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: kept whole (176 = 11 x 16) */
#define MKV_WT_Q5_K_BLOCK 256
#define MKV_WT_Q5_K_BLOCK_BYTES 176
#define MKV_WT_Q5_K_SCALE_OFF 0
#define MKV_WT_Q5_K_SCALE_BYTES 0
#define MKV_WT_Q5_K_UNIT 64
#define MKV_WT_Q5_K_SW 0

/* {u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d} */
#define MKV_WT_Q6_K_BLOCK 256
#define MKV_WT_Q6_K_BLOCK_BYTES 210
#define MKV_WT_Q6_K_SCALE_OFF 208
#define MKV_WT_Q6_K_SCALE_BYTES 2
#define MKV_WT_Q6_K_UNIT 64
#define MKV_WT_Q6_K_SW 1

#endif
