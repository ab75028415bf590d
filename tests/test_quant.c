/* ggml block formats on the CPU: runtime/dequant.c against hand-built
 * blocks whose expected values are worked out here element by element
 * (from ggml's block layouts, independent of the decoder's loop order),
 * hosttools/quantize.c round trips on random data with the error bound of
 * every type, and the dispatcher's refusals. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dequant.h"
#include "gguf.h"
#include "half.h"
#include "quantize.h"
#include "test_util.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static float h2f(uint16_t h) { return mkv_half_to_float(h); }

/* Decodes `blocks` blocks and checks every element against want(e). */
typedef float (*want_fn)(const uint8_t *blk, int e);

static void check_decode(uint32_t type, const uint8_t *blk, int n, want_fn want)
{
    float y[256];
    mkv_dequant_row(type, blk, (uint64_t)n, y);
    for (int e = 0; e < n; e++) {
        float w = want(blk, e);
        ck_assert_msg(memcmp(&y[e], &w, 4) == 0, "%s element %d = %a, want %a", mkv_ggml_type_name(type), e, y[e], w);
    }
}

/* Nibble of element e (< 32) of a 32-element block: e < 16 the low nibble
 * of qs[e], else the high nibble of qs[e - 16]. */
static int nib32(const uint8_t *qs, int e) { return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4; }

/* ---- hand-built blocks decode to ggml's numbers ------------------------------ */

START_TEST(f32_f16_bf16_decode_to_their_values)
{
    const float f[3] = {1.5f, -0.0f, 3.0e-39f};
    float y[3];
    mkv_dequant_row(MKV_GGML_F32, f, 3, y);
    ck_assert_mem_eq(y, f, sizeof f);
    uint8_t h[6];
    put16(h, 0x3c00);     /* 1 */
    put16(h + 2, 0x8001); /* -2^-24, subnormal */
    put16(h + 4, 0xfbff); /* -65504 */
    mkv_dequant_row(MKV_GGML_F16, h, 3, y);
    ck_assert(y[0] == 1.0f && y[1] == -ldexpf(1.0f, -24) && y[2] == -65504.0f);
    put16(h, 0x3fc0);     /* 1.5 */
    put16(h + 2, 0xc049); /* -3.140625 */
    put16(h + 4, 0x7fc0); /* NaN */
    mkv_dequant_row(MKV_GGML_BF16, h, 3, y);
    ck_assert(y[0] == 1.5f && y[1] == -3.140625f && isnan(y[2]));
}
END_TEST

static float want_q8_0(const uint8_t *b, int e) { return (float)(int8_t)b[2 + e] * h2f(0x3555); }

START_TEST(q8_0_block_is_d_times_int8)
{
    uint8_t b[34];
    put16(b, 0x3555); /* d = 0.33325195 */
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(j * 9 - 128);
    check_decode(MKV_GGML_Q8_0, b, 32, want_q8_0);
    float y[32];
    mkv_dequant_row(MKV_GGML_Q8_0, b, 32, y);
    ck_assert(y[0] == -128.0f * h2f(0x3555));
}
END_TEST

static float want_q4_0(const uint8_t *b, int e) { return (float)(nib32(b + 2, e) - 8) * h2f(0xb555); }

START_TEST(q4_0_block_is_d_times_nibble_minus_8)
{
    uint8_t b[18];
    put16(b, 0xb555); /* d negative */
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j * 37 + 5);
    check_decode(MKV_GGML_Q4_0, b, 32, want_q4_0);
    float y[32];
    mkv_dequant_row(MKV_GGML_Q4_0, b, 32, y);
    ck_assert(y[0] == -3.0f * h2f(0xb555) && y[16] == -8.0f * h2f(0xb555)); /* qs[0] = 0x05 */
}
END_TEST

static float want_q4_1(const uint8_t *b, int e) { return (float)nib32(b + 4, e) * h2f(0x3555) + h2f(0xbc40); }

START_TEST(q4_1_block_is_d_times_nibble_plus_m)
{
    uint8_t b[20];
    put16(b, 0x3555);     /* d */
    put16(b + 2, 0xbc40); /* m = -1.0625 */
    for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(j * 23 + 240);
    check_decode(MKV_GGML_Q4_1, b, 32, want_q4_1);
    float y[32];
    mkv_dequant_row(MKV_GGML_Q4_1, b, 32, y);
    ck_assert(y[16] == 15.0f * h2f(0x3555) + h2f(0xbc40)); /* qs[0] = 0xf0: high nibble 15 */
    ck_assert(y[0] == h2f(0xbc40));
}
END_TEST

/* Fifth bit of element e: bit e of the little-endian u32 at qh. */
static int qh_bit(const uint8_t *qh, int e)
{
    uint32_t v = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    return (int)(v >> e) & 1;
}

static float want_q5_0(const uint8_t *b, int e)
{
    return (float)((nib32(b + 6, e) | qh_bit(b + 2, e) << 4) - 16) * h2f(0x2e66);
}

START_TEST(q5_0_block_takes_the_fifth_bit_from_qh)
{
    uint8_t b[22];
    put16(b, 0x2e66);
    const uint8_t qh[4] = {0x01, 0x80, 0x05, 0xf0}; /* bits 0, 15, 16, 18, 28-31 */
    memcpy(b + 2, qh, 4);
    for (int j = 0; j < 16; j++) b[6 + j] = (uint8_t)(j * 41 + 15);
    check_decode(MKV_GGML_Q5_0, b, 32, want_q5_0);
    float y[32];
    mkv_dequant_row(MKV_GGML_Q5_0, b, 32, y);
    /* qs[0] = 0x0f: element 0 = 15 | 16 -> +15, element 16 = 0 | 16 -> 0; element 1 (no bit) = 8 - 16 */
    ck_assert(y[0] == 15.0f * h2f(0x2e66) && y[16] == 0.0f);
    ck_assert(y[1] == (float)(((41 + 15) & 15) - 16) * h2f(0x2e66));
}
END_TEST

static float want_q5_1(const uint8_t *b, int e)
{
    return (float)(nib32(b + 8, e) | qh_bit(b + 4, e) << 4) * h2f(0x3555) + h2f(0xc100);
}

START_TEST(q5_1_block_takes_the_fifth_bit_from_qh_and_adds_m)
{
    uint8_t b[24];
    put16(b, 0x3555);
    put16(b + 2, 0xc100); /* m = -2.5 */
    const uint8_t qh[4] = {0xff, 0x00, 0x81, 0x42};
    memcpy(b + 4, qh, 4);
    for (int j = 0; j < 16; j++) b[8 + j] = (uint8_t)(j * 29 + 255);
    check_decode(MKV_GGML_Q5_1, b, 32, want_q5_1);
    float y[32];
    mkv_dequant_row(MKV_GGML_Q5_1, b, 32, y);
    ck_assert(y[0] == 31.0f * h2f(0x3555) + h2f(0xc100)); /* qs[0] = 0xff, bit 0 set */
    ck_assert(y[16] == 31.0f * h2f(0x3555) + h2f(0xc100)); /* bit 16 set */
    ck_assert(y[17] == (float)(((29 + 255) & 0xff) >> 4) * h2f(0x3555) + h2f(0xc100)); /* bit 17 clear */
}
END_TEST

/* Q4_K / Q5_K test block: sub-block scales and mins (6 bits), packed by
 * hand into the 12 bytes below. Sub-blocks 0-3: low 6 bits of bytes 0-3
 * (scales) and 4-7 (mins); sub-blocks 4-7: low nibble of bytes 8-11 the
 * scale's low 4 bits, high nibble the min's, and the top 2 bits in bits
 * 6-7 of bytes 0-3 (scales) and 4-7 (mins). */
static const int k_sc[8] = {1, 2, 3, 4, 18, 37, 56, 63}, k_m[8] = {5, 6, 7, 8, 20, 41, 50, 61};
static const uint8_t k_scales[12] = {
    0x41, 0x82, 0xc3, 0xc4, /* 1 | 18>>4 << 6, 2 | 37>>4 << 6, 3 | 56>>4 << 6, 4 | 63>>4 << 6 */
    0x45, 0x86, 0xc7, 0xc8, /* 5 | 20>>4 << 6, 6 | 41>>4 << 6, 7 | 50>>4 << 6, 8 | 61>>4 << 6 */
    0x42, 0x95, 0x28, 0xdf, /* (18 & 15) | (20 & 15) << 4, 5 | 9 << 4, 8 | 2 << 4, 15 | 13 << 4 */
};
#define K_D 0x3555
#define K_DMIN 0x2c66

/* Element e of a Q4_K/Q5_K block: sub-block e/32; chunk e/64 of 32 qs
 * bytes holds its even sub-block in the low nibbles, its odd one in the
 * high nibbles. */
static int k_nibble(const uint8_t *qs, int e)
{
    const uint8_t q = qs[32 * (e / 64) + e % 32];
    return (e / 32) % 2 ? q >> 4 : q & 15;
}

static float k_value(int e, int q)
{
    const int s = e / 32;
    return h2f(K_D) * (float)k_sc[s] * (float)q - h2f(K_DMIN) * (float)k_m[s];
}

static float want_q4_k(const uint8_t *b, int e) { return k_value(e, k_nibble(b + 16, e)); }

START_TEST(q4_k_block_unpacks_6_bit_scales_and_mins_of_all_eight_sub_blocks)
{
    uint8_t b[144];
    put16(b, K_D);
    put16(b + 2, K_DMIN);
    memcpy(b + 4, k_scales, 12);
    for (int i = 0; i < 128; i++) b[16 + i] = (uint8_t)(i * 53 + 7);
    check_decode(MKV_GGML_Q4_K, b, 256, want_q4_k);
    /* element 224 (sub-block 7, high nibbles of qs[96]): scale 63, min 61 */
    float y[256];
    mkv_dequant_row(MKV_GGML_Q4_K, b, 256, y);
    const int q = (uint8_t)(96 * 53 + 7) >> 4;
    ck_assert(y[224] == h2f(K_D) * 63.0f * (float)q - h2f(K_DMIN) * 61.0f);
}
END_TEST

/* Q5_K: element e's fifth bit is bit (e/32) of qh[e % 32]. */
static float want_q5_k(const uint8_t *b, int e)
{
    return k_value(e, k_nibble(b + 48, e) + 16 * ((b[16 + e % 32] >> (e / 32)) & 1));
}

START_TEST(q5_k_block_adds_the_fifth_bit_per_sub_block)
{
    uint8_t b[176];
    put16(b, K_D);
    put16(b + 2, K_DMIN);
    memcpy(b + 4, k_scales, 12);
    for (int l = 0; l < 32; l++) b[16 + l] = (uint8_t)(l * 29 + 3);
    for (int i = 0; i < 128; i++) b[48 + i] = (uint8_t)(i * 53 + 7);
    check_decode(MKV_GGML_Q5_K, b, 256, want_q5_k);
    /* qh[0] = 3: elements 0 and 32 get +16, element 64 does not */
    float y[256];
    mkv_dequant_row(MKV_GGML_Q5_K, b, 256, y);
    ck_assert(y[0] == k_value(0, (7 & 15) + 16) && y[32] == k_value(32, (7 >> 4) + 16));
    ck_assert(y[64] == k_value(64, (uint8_t)(32 * 53 + 7) & 15));
}
END_TEST

/* Q6_K element e: half h = e/128, r = e%128, group g = r/32, l = r%32;
 * low 4 bits: ql[64h + l] (g 0, 2) or ql[64h + 32 + l] (g 1, 3), low
 * nibble for g < 2, high for g >= 2; top 2 bits: bits 2g..2g+1 of
 * qh[32h + l]; scale: scales[e/16] (int8). */
static const int8_t q6_scales[16] = {-128, -5, 127, 1, 33, -1, 64, -77, 3, 100, -100, 17, -17, 42, -42, 9};
#define Q6_D 0x2155

static float want_q6_k(const uint8_t *b, int e)
{
    const int h = e / 128, r = e % 128, g = r / 32, l = r % 32;
    const uint8_t lo = b[64 * h + (g % 2) * 32 + l];
    const int q = (g < 2 ? lo & 15 : lo >> 4) | ((b[128 + 32 * h + l] >> (2 * g)) & 3) << 4;
    return h2f(Q6_D) * (float)q6_scales[e / 16] * (float)(q - 32);
}

START_TEST(q6_k_block_with_negative_scales_and_high_bits)
{
    uint8_t b[210];
    for (int i = 0; i < 128; i++) b[i] = (uint8_t)(i * 71 + 13);
    for (int i = 0; i < 64; i++) b[128 + i] = (uint8_t)(i * 113 + 5);
    memcpy(b + 192, q6_scales, 16);
    put16(b + 208, Q6_D);
    check_decode(MKV_GGML_Q6_K, b, 256, want_q6_k);
    /* element 0: ql[0] = 13, qh[0] = 5 (bits 0-1 = 1): q = 29, times d * -128 */
    float y[256];
    mkv_dequant_row(MKV_GGML_Q6_K, b, 256, y);
    ck_assert(y[0] == h2f(Q6_D) * -128.0f * -3.0f);
    /* element 64 (group 2): ql[0] >> 4 = 0, qh[0] bits 4-5 = 0: q - 32 = -32, scale[4] = 33 */
    ck_assert(y[64] == h2f(Q6_D) * 33.0f * -32.0f);
}
END_TEST

START_TEST(rows_of_several_blocks_decode_block_after_block)
{
    /* three Q4_K blocks: the second one's values land at 256..511 */
    uint8_t b[3 * 144];
    memset(b, 0, sizeof b);
    uint8_t *k = b + 144;
    put16(k, K_D);
    put16(k + 2, K_DMIN);
    memcpy(k + 4, k_scales, 12);
    for (int i = 0; i < 128; i++) k[16 + i] = (uint8_t)(i * 53 + 7);
    float *y = malloc(768 * sizeof *y);
    mkv_dequant_row(MKV_GGML_Q4_K, b, 768, y);
    for (int e = 0; e < 256; e++) {
        ck_assert(y[e] == 0.0f && y[512 + e] == 0.0f);
        ck_assert(y[256 + e] == want_q4_k(k, e));
    }
    free(y);
}
END_TEST

START_TEST(supported_types_are_the_eleven_and_others_decode_to_nan)
{
    const uint32_t yes[] = {MKV_GGML_F32,  MKV_GGML_F16,  MKV_GGML_BF16, MKV_GGML_Q8_0, MKV_GGML_Q4_0, MKV_GGML_Q4_1,
                            MKV_GGML_Q5_0, MKV_GGML_Q5_1, MKV_GGML_Q4_K, MKV_GGML_Q5_K, MKV_GGML_Q6_K};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) ck_assert(mkv_dequant_supported(yes[i]));
    const uint32_t no[] = {MKV_GGML_Q8_1, MKV_GGML_Q2_K, MKV_GGML_Q3_K, MKV_GGML_Q8_K, 24, 99};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) ck_assert(!mkv_dequant_supported(no[i]));
    uint8_t b[84] = {0};
    float y[256];
    mkv_dequant_row(MKV_GGML_Q2_K, b, 256, y);
    for (int i = 0; i < 256; i++) ck_assert(isnan(y[i]));
}
END_TEST

/* ---- quantize -> dequantize ----------------------------------------------------- */

typedef struct qcase {
    uint32_t type, blck;
    double rel; /* |error| <= rel * (max |x| of the block) + abs */
    double abs;
} qcase;

/* Bounds, measured (worst over 1000 trials here, and over 300000 blocks of
 * max |x| from 1e-2 to 1e3 while writing them) and rounded up: F16 2^-11
 * and BF16 2^-8 of |x|; Q8_0 half a step of max/127; Q4_0, Q5_0 one step
 * (max/8, max/16) on the side opposite the extreme; Q4_1, Q5_1 half a step
 * of the range (2max/15 / 2, 2max/31 / 2); Q4_K, Q5_K about the same,
 * Q6_K about one step of max/32, each plus the rounding of its 6- or 8-bit
 * sub-block scales. `abs`: the f16 block scale's rounding when it is
 * subnormal (< 2^-14; a step of 2^-24 times the largest code), which the
 * test's 0.003-scaled block reaches. */
#define SUB (1.0 / 33554432.0) /* 2^-25: half the f16 subnormal step */
static const qcase qcases[] = {
    {MKV_GGML_F32, 1, 0.0, 0.0},          {MKV_GGML_F16, 1, 4.9e-4, SUB},      {MKV_GGML_BF16, 1, 3.91e-3, 0.0},
    {MKV_GGML_Q8_0, 32, 0.0045, 127 * SUB}, {MKV_GGML_Q4_0, 32, 0.126, 8 * SUB}, {MKV_GGML_Q4_1, 32, 0.068, 16 * SUB},
    {MKV_GGML_Q5_0, 32, 0.0632, 16 * SUB}, {MKV_GGML_Q5_1, 32, 0.0336, 32 * SUB}, {MKV_GGML_Q4_K, 256, 0.068, 64 * SUB},
    {MKV_GGML_Q5_K, 256, 0.033, 64 * SUB}, {MKV_GGML_Q6_K, 256, 0.039, 64 * SUB},
};

/* Fills 7 blocks of blck with random data of varied shape: block scales
 * from 1e-3 to 1e2, an all-positive and an all-negative block, a block
 * with a zero run, and one outlier. */
static void fill_blocks(float *x, uint32_t blck, uint64_t *rng)
{
    static const float scale[7] = {1.0f, 0.01f, 100.0f, 0.003f, 1.0f, 7.0f, 0.5f};
    for (uint32_t b = 0; b < 7; b++)
        for (uint32_t j = 0; j < blck; j++) {
            float u = tu_rand_f(rng);
            float v = b == 4 ? 1.0f + 0.5f * u : b == 6 ? -2.0f + u : u; /* offset blocks */
            x[b * blck + j] = scale[b] * v;
        }
    for (uint32_t j = 0; j < blck / 4; j++) x[3 * blck + j] = 0.0f; /* zero run */
    x[5 * blck + blck / 2] *= 4.0f;                                  /* outlier */
}

START_TEST(quantize_then_dequantize_stays_within_each_types_bound)
{
    for (size_t c = 0; c < sizeof qcases / sizeof qcases[0]; c++) {
        const qcase *q = &qcases[c];
        const uint64_t n = 7 * (uint64_t)q->blck * (q->blck == 1 ? 256 : 1);
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        uint8_t *buf = malloc(mkv_ggml_nbytes(q->type, n));
        uint64_t rng = 0x5eed + c;
        double worst = 0; /* max over blocks of (|error| - abs) / max |x| */
        for (int trial = 0; trial < 1000; trial++) {
            fill_blocks(x, (uint32_t)(n / 7), &rng);
            mkv_error err;
            ck_assert_int_eq(mkv_quantize(q->type, x, n, buf, &err), MKV_OK);
            mkv_dequant_row(q->type, buf, n, y);
            const uint32_t bl = (uint32_t)(n / 7); /* the type's block; 256 for the element types */
            for (uint64_t b = 0; b < 7; b++) {
                float amax = 0;
                double e = 0;
                for (uint32_t j = 0; j < bl; j++) {
                    amax = fmaxf(amax, fabsf(x[b * bl + j]));
                    e = fmax(e, fabs((double)y[b * bl + j] - x[b * bl + j]));
                }
                ck_assert_msg(e <= q->rel * amax + q->abs, "%s: trial %d block %" PRIu64 ": |error| %g, max |x| %g",
                              mkv_ggml_type_name(q->type), trial, b, e, amax);
                worst = fmax(worst, (e - q->abs) / amax);
            }
        }
        printf("quant %-5s 7 blocks x 1000 trials: max (|err| - %.2g) / block max|x| = %.4g (bound %.4g)\n",
               mkv_ggml_type_name(q->type), q->abs, worst, q->rel);
        free(x);
        free(y);
        free(buf);
    }
}
END_TEST

START_TEST(zero_input_quantizes_to_zero_in_every_type)
{
    for (size_t c = 0; c < sizeof qcases / sizeof qcases[0]; c++) {
        float x[512] = {0}, y[512];
        uint8_t buf[2048];
        mkv_error err;
        ck_assert_int_eq(mkv_quantize(qcases[c].type, x, 512, buf, &err), MKV_OK);
        mkv_dequant_row(qcases[c].type, buf, 512, y);
        for (int i = 0; i < 512; i++) ck_assert_msg(y[i] == 0.0f, "%s[%d] = %g", mkv_ggml_type_name(qcases[c].type), i, y[i]);
    }
}
END_TEST

/* The extreme of a Q6_K / Q5_0 / Q4_0 block is exact up to the f16 scale:
 * it maps to the most negative code. */
START_TEST(symmetric_types_map_the_block_extreme_to_the_end_code)
{
    float x[256];
    uint64_t rng = 7;
    for (int i = 0; i < 256; i++) x[i] = tu_rand_f(&rng);
    x[3] = -2.0f; /* the extreme of sub-block 0 and block 0 */
    uint8_t b[210];
    mkv_quantize_q6_k(x, 256, b);
    ck_assert_uint_eq(b[3] & 15, 0); /* q = 0 (q - 32 = -32): low nibble 0 ... */
    ck_assert_uint_eq(b[128 + 3] & 3, 0); /* ... and top bits 0 */
    float y[256];
    mkv_dequant_row(MKV_GGML_Q6_K, b, 256, y);
    ck_assert_float_eq_tol(y[3], -2.0f, 2.0f * 2e-3f);
    uint8_t q5[22];
    mkv_quantize_q5_0(x, 32, q5);
    ck_assert_uint_eq(q5[6 + 3] & 15, 0);
    ck_assert_uint_eq(q5[2] & 8, 0); /* fifth bit of element 3 */
}
END_TEST

START_TEST(quantize_refuses_partial_blocks_and_unknown_types_by_name)
{
    float x[512] = {0};
    uint8_t buf[1024];
    mkv_error err;
    ck_assert_int_eq(mkv_quantize(MKV_GGML_Q8_0, x, 33, buf, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "Q8_0") && strstr(err.msg, "n = 33") && strstr(err.msg, "(32)"), "%s", err.msg);
    ck_assert_int_eq(mkv_quantize(MKV_GGML_Q4_K, x, 288, buf, &err), MKV_ERR_INVALID_ARG); /* whole 32s, not 256s */
    ck_assert_msg(strstr(err.msg, "Q4_K") && strstr(err.msg, "n = 288") && strstr(err.msg, "(256)"), "%s", err.msg);
    const uint32_t kq[] = {MKV_GGML_Q5_K, MKV_GGML_Q6_K};
    for (int i = 0; i < 2; i++) ck_assert_int_eq(mkv_quantize(kq[i], x, 32, buf, &err), MKV_ERR_INVALID_ARG);
    const uint32_t q32[] = {MKV_GGML_Q4_0, MKV_GGML_Q4_1, MKV_GGML_Q5_0, MKV_GGML_Q5_1};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(mkv_quantize(q32[i], x, 48, buf, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_quantize(MKV_GGML_Q2_K, x, 256, buf, &err), MKV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "Q2_K"), "%s", err.msg);
    ck_assert_int_eq(mkv_quantize(99, x, 256, buf, &err), MKV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "99"), "%s", err.msg);
    /* element types take any n, and n = 0 is nothing to do */
    ck_assert_int_eq(mkv_quantize(MKV_GGML_F16, x, 3, buf, &err), MKV_OK);
    ck_assert_int_eq(mkv_quantize(MKV_GGML_Q4_K, x, 0, buf, &err), MKV_OK);
}
END_TEST

/* The block sizes the decoder and quantizer use agree with the GGUF
 * reader's size table: n elements of each type fill mkv_ggml_nbytes bytes
 * (a quantizer writing past them would overwrite the guard). */
START_TEST(quantizers_write_exactly_the_bytes_the_reader_expects)
{
    for (size_t c = 0; c < sizeof qcases / sizeof qcases[0]; c++) {
        const uint64_t n = 512;
        const uint64_t nb = mkv_ggml_nbytes(qcases[c].type, n);
        ck_assert(nb > 0);
        uint8_t *buf = malloc(nb + 64);
        memset(buf, 0xa5, nb + 64);
        float x[512];
        uint64_t rng = 3;
        for (int i = 0; i < 512; i++) x[i] = tu_rand_f(&rng);
        mkv_error err;
        ck_assert_int_eq(mkv_quantize(qcases[c].type, x, n, buf, &err), MKV_OK);
        for (int i = 0; i < 64; i++) ck_assert_uint_eq(buf[nb + i], 0xa5);
        free(buf);
    }
}
END_TEST

static Suite *quant_suite(void)
{
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("dequant");
    tcase_add_test(tc, f32_f16_bf16_decode_to_their_values);
    tcase_add_test(tc, q8_0_block_is_d_times_int8);
    tcase_add_test(tc, q4_0_block_is_d_times_nibble_minus_8);
    tcase_add_test(tc, q4_1_block_is_d_times_nibble_plus_m);
    tcase_add_test(tc, q5_0_block_takes_the_fifth_bit_from_qh);
    tcase_add_test(tc, q5_1_block_takes_the_fifth_bit_from_qh_and_adds_m);
    tcase_add_test(tc, q4_k_block_unpacks_6_bit_scales_and_mins_of_all_eight_sub_blocks);
    tcase_add_test(tc, q5_k_block_adds_the_fifth_bit_per_sub_block);
    tcase_add_test(tc, q6_k_block_with_negative_scales_and_high_bits);
    tcase_add_test(tc, rows_of_several_blocks_decode_block_after_block);
    tcase_add_test(tc, supported_types_are_the_eleven_and_others_decode_to_nan);
    suite_add_tcase(s, tc);
    tc = tcase_create("quantize");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, quantize_then_dequantize_stays_within_each_types_bound);
    tcase_add_test(tc, zero_input_quantizes_to_zero_in_every_type);
    tcase_add_test(tc, symmetric_types_map_the_block_extreme_to_the_end_code);
    tcase_add_test(tc, quantize_refuses_partial_blocks_and_unknown_types_by_name);
    tcase_add_test(tc, quantizers_write_exactly_the_bytes_the_reader_expects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(quant_suite());
}
