/* float -> ggml block formats (the layouts runtime/dequant.h decodes).
 * Round to nearest with a scale chosen from each block's extremes, no
 * search for better scales: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 do exactly the
 * arithmetic of ggml's quantize_row_*_ref; the K-quants pick each
 * sub-block's scale (and min) from its range, quantize those to 6 (Q4_K,
 * Q5_K) or 8 (Q6_K) bits against a per-block f16 scale, then round every
 * value with the scale as stored. Error bounds, measured on random data,
 * are stated in tests/test_quant.c. */
#ifndef MKV_QUANTIZE_H
#define MKV_QUANTIZE_H

#include <stdint.h>

#include "mekivk.h"

/* Quantizes n floats (finite) of x to `type` at dst (mkv_ggml_nbytes(type,
 * n) bytes): F32, F16 (round to nearest even), BF16 (round to nearest
 * even), Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K. MKV_ERR_UNSUPPORTED
 * for other types and MKV_ERR_INVALID_ARG when n is not a multiple of the
 * type's block size, both naming the type. */
mkv_status mkv_quantize(uint32_t type, const float *x, uint64_t n, void *dst, mkv_error *err);

/* The block quantizers behind mkv_quantize; n must be a multiple of the
 * block (32 for the _0/_1 types, 256 for the K-quants). */
void mkv_quantize_q8_0(const float *x, uint64_t n, void *dst);
void mkv_quantize_q4_0(const float *x, uint64_t n, void *dst);
void mkv_quantize_q4_1(const float *x, uint64_t n, void *dst);
void mkv_quantize_q5_0(const float *x, uint64_t n, void *dst);
void mkv_quantize_q5_1(const float *x, uint64_t n, void *dst);
void mkv_quantize_q4_k(const float *x, uint64_t n, void *dst);
void mkv_quantize_q5_k(const float *x, uint64_t n, void *dst);
void mkv_quantize_q6_k(const float *x, uint64_t n, void *dst);

#endif
