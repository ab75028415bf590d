/* ggml block formats -> float. Each decoder does ggml's arithmetic in the
 * same order (float products, then the sum), so a value equals what ggml's
 * dequantize_row_* gives bit for bit; the build is ISO C (-std=c11), which
 * keeps the compiler from contracting a*b + c into an FMA. */
#include "dequant.h"

#include <math.h>
#include <string.h>

#include "gguf.h"
#include "half.h"

static float ld_f16(const uint8_t *p) { return mkv_half_to_float((uint16_t)(p[0] | p[1] << 8)); }

/* 5th bit of element j (0..31) of a Q5_0 / Q5_1 block: bit j of qh (LE u32). */
static int q5_high(const uint8_t *qh, int j) { return (qh[j >> 3] >> (j & 7)) & 1; }

/* Scale and min of sub-block j (0..7) of a Q4_K / Q5_K block: 6 bits each,
 * packed in 12 bytes. Sub-blocks 0..3: scale = low 6 bits of byte j, min =
 * low 6 bits of byte j + 4. Sub-blocks 4..7: low 4 bits from byte j + 4
 * (scale in its low nibble, min in its high nibble), high 2 bits from the
 * top bits of byte j - 4 (scale) and byte j (min). */
static void k4_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void q8_0(const uint8_t *p, float *y)
{
    const float d = ld_f16(p);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)p[2 + j] * d;
}

static void q4_0(const uint8_t *p, float *y)
{
    const float d = ld_f16(p);
    const uint8_t *qs = p + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void q4_1(const uint8_t *p, float *y)
{
    const float d = ld_f16(p), m = ld_f16(p + 2);
    const uint8_t *qs = p + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 15) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

static void q5_0(const uint8_t *p, float *y)
{
    const float d = ld_f16(p);
    const uint8_t *qh = p + 2, *qs = p + 6;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(((qs[j] & 15) | q5_high(qh, j) << 4) - 16) * d;
        y[j + 16] = (float)(((qs[j] >> 4) | q5_high(qh, j + 16) << 4) - 16) * d;
    }
}

static void q5_1(const uint8_t *p, float *y)
{
    const float d = ld_f16(p), m = ld_f16(p + 2);
    const uint8_t *qh = p + 4, *qs = p + 8;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 15) | q5_high(qh, j) << 4) * d + m;
        y[j + 16] = (float)((qs[j] >> 4) | q5_high(qh, j + 16) << 4) * d + m;
    }
}

/* Q4_K: four 64-element chunks; chunk c's 32 bytes qs[32c..32c+31] hold
 * sub-block 2c in their low nibbles and sub-block 2c + 1 in their high
 * nibbles. */
static void q4_k(const uint8_t *p, float *y)
{
    const float d = ld_f16(p), dmin = ld_f16(p + 2);
    const uint8_t *scales = p + 4, *qs = p + 16;
    for (int c = 0; c < 4; c++, qs += 32, y += 64) {
        int sc, m;
        k4_scale_min(scales, 2 * c, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        k4_scale_min(scales, 2 * c + 1, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[l] = d1 * (float)(qs[l] & 15) - m1;
        for (int l = 0; l < 32; l++) y[32 + l] = d2 * (float)(qs[l] >> 4) - m2;
    }
}

/* Q5_K: as Q4_K, plus a fifth bit per element: element l of chunk c's
 * low-nibble sub-block has it in bit 2c of qh[l], the high-nibble
 * sub-block in bit 2c + 1. */
static void q5_k(const uint8_t *p, float *y)
{
    const float d = ld_f16(p), dmin = ld_f16(p + 2);
    const uint8_t *scales = p + 4, *qh = p + 16, *qs = p + 48;
    for (int c = 0; c < 4; c++, qs += 32, y += 64) {
        int sc, m;
        k4_scale_min(scales, 2 * c, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        k4_scale_min(scales, 2 * c + 1, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[l] = d1 * (float)((qs[l] & 15) + ((qh[l] >> (2 * c)) & 1) * 16) - m1;
        for (int l = 0; l < 32; l++)
            y[32 + l] = d2 * (float)((qs[l] >> 4) + ((qh[l] >> (2 * c + 1)) & 1) * 16) - m2;
    }
}

/* Q6_K: two halves of 128 elements, each with 64 bytes of ql, 32 of qh
 * and 8 scales (one per 16 elements). In a half, for l < 32:
 *   element l      = ql[l] low nibble      | (qh[l] bits 0-1) << 4
 *   element l + 32 = ql[l + 32] low nibble | (qh[l] bits 2-3) << 4
 *   element l + 64 = ql[l] high nibble     | (qh[l] bits 4-5) << 4
 *   element l + 96 = ql[l + 32] high nibble| (qh[l] bits 6-7) << 4
 * minus 32, times d * scales[element / 16]. */
static void q6_k(const uint8_t *p, float *y)
{
    const float d = ld_f16(p + 208);
    const uint8_t *ql = p, *qh = p + 128;
    const int8_t *sc = (const int8_t *)(p + 192);
    for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
            const int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
            const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

typedef void (*block_fn)(const uint8_t *p, float *y);

/* Block decoders: elements and bytes per block. */
static const struct {
    uint32_t type, blck, bytes;
    block_fn fn;
} blocks[] = {
    {MKV_GGML_Q8_0, 32, 34, q8_0},   {MKV_GGML_Q4_0, 32, 18, q4_0},   {MKV_GGML_Q4_1, 32, 20, q4_1},
    {MKV_GGML_Q5_0, 32, 22, q5_0},   {MKV_GGML_Q5_1, 32, 24, q5_1},   {MKV_GGML_Q4_K, 256, 144, q4_k},
    {MKV_GGML_Q5_K, 256, 176, q5_k}, {MKV_GGML_Q6_K, 256, 210, q6_k},
};

static int block_index(uint32_t type)
{
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        if (blocks[i].type == type) return (int)i;
    return -1;
}

bool mkv_dequant_supported(uint32_t type)
{
    return type == MKV_GGML_F32 || type == MKV_GGML_F16 || type == MKV_GGML_BF16 || block_index(type) >= 0;
}

void mkv_dequant_row(uint32_t type, const void *src, uint64_t n, float *dst)
{
    const uint8_t *p = src;
    switch (type) {
    case MKV_GGML_F32:
        memcpy(dst, p, (size_t)n * 4); /* src may be only 1-aligned: memcpy, not a cast */
        return;
    case MKV_GGML_F16:
        for (uint64_t i = 0; i < n; i++) dst[i] = ld_f16(p + 2 * i);
        return;
    case MKV_GGML_BF16:
        for (uint64_t i = 0; i < n; i++) dst[i] = mkv_bf16_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return;
    default:
        break;
    }
    int b = block_index(type);
    if (b < 0) {
        for (uint64_t i = 0; i < n; i++) dst[i] = NAN;
        return;
    }
    for (uint64_t k = 0; k < n / blocks[b].blck; k++)
        blocks[b].fn(p + k * blocks[b].bytes, dst + k * blocks[b].blck);
}
