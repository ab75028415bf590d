/* ggml block formats -> float on the host, exactly as ggml's
 * dequantize_row_* computes them (same operations, same order, in float):
 *   F32, F16, BF16                       plain conversion
 *   Q8_0  {f16 d; i8 q[32]}              y = d*q
 *   Q4_0  {f16 d; u8 qs[16]}             y = d*(q - 8)
 *   Q4_1  {f16 d, m; u8 qs[16]}          y = d*q + m
 *   Q5_0  {f16 d; u8 qh[4]; u8 qs[16]}   y = d*(q - 16), q = nibble | bit << 4
 *   Q5_1  {f16 d, m; u8 qh[4]; u8 qs[16]} y = d*q + m
 *   Q4_K  {f16 d, dmin; u8 scales[12]; u8 qs[128]}            y = (d*sc)*q - dmin*m
 *   Q5_K  {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]} y = (d*sc)*q - dmin*m
 *   Q6_K  {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}       y = (d*sc)*(q - 32)
 * (32-element blocks: element j < 16 in the low nibble of qs[j], j + 16 in
 * its high nibble, bit j of the little-endian u32 qh the fifth bit. The
 * K-quants' 256-element layouts are described at their decoders.) */
#ifndef MKV_DEQUANT_H
#define MKV_DEQUANT_H

#include <stdbool.h>
#include <stdint.h>

/* True for the types above (mkv_ggml_type values). */
bool mkv_dequant_supported(uint32_t type);

/* Decodes n elements of `type` from src (packed ggml blocks, any
 * alignment) into dst. n must be a multiple of the type's block size (1,
 * 32 or 256) and the type supported: for an unsupported type dst is filled
 * with NaN. */
void mkv_dequant_row(uint32_t type, const void *src, uint64_t n, float *dst);

#endif
