/* float -> ggml blocks. The 32-element types reproduce ggml's reference
 * quantizers (so synth's files match what llama-quantize writes from the
 * same floats without an importance matrix); the K-quants are plain round
 * to nearest from each sub-block's range, without ggml's scale search. */
#include "quantize.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "half.h"

static void st_f16(uint8_t *b, float f)
{
    uint16_t h = mkv_float_to_half(f);
    b[0] = (uint8_t)h;
    b[1] = (uint8_t)(h >> 8);
}

/* Stores f as the f16 nearest to it of at least its magnitude, and returns
 * that value: a block scale rounded this way leaves the integer sub-block
 * scales below it room to absorb its rounding (which is coarse when the
 * scale is an f16 subnormal, < 2^-14). */
static float st_f16_up(uint8_t *b, float f)
{
    uint16_t h = mkv_float_to_half(f);
    if (fabsf(mkv_half_to_float(h)) < fabsf(f)) h++; /* next magnitude up: sign-magnitude bits */
    b[0] = (uint8_t)h;
    b[1] = (uint8_t)(h >> 8);
    return mkv_half_to_float(h);
}

/* Nearest integer (ties to even) of v, clamped to [lo, hi]; v is clamped
 * first so that no float outside int range is converted. */
static int round_clamp(float v, int lo, int hi)
{
    v = fminf(fmaxf(v, (float)lo - 1.0f), (float)hi + 1.0f);
    int q = (int)lrintf(v);
    return q < lo ? lo : q > hi ? hi : q;
}

/* The value of largest magnitude in x[0..n) (the first one on ties), with its sign. */
static float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, int n, float *lo, float *hi)
{
    *lo = FLT_MAX;
    *hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        *lo = fminf(*lo, x[j]);
        *hi = fmaxf(*hi, x[j]);
    }
}

/* ---- 32-element blocks (ggml's *_ref arithmetic) --------------------------- */

/* Q8_0: per 32 values, f16 d = max|x|/127, then 32 int8 q = round(x/d). */
void mkv_quantize_q8_0(const float *x, uint64_t n, void *dst)
{
    uint8_t *y = dst;
    for (uint64_t b = 0; b < n / 32; b++, x += 32, y += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_f16(y, d);
        for (int j = 0; j < 32; j++) y[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

/* Q4_0: per 32 values, d = (signed value of largest magnitude) / -8, so
 * that value maps to q = 0; q = x/d + 8 rounded, at most 15. Element j in
 * the low nibble of byte j, element j + 16 in its high nibble. */
void mkv_quantize_q4_0(const float *x, uint64_t n, void *dst)
{
    uint8_t *y = dst;
    for (uint64_t b = 0; b < n / 32; b++, x += 32, y += 18) {
        float max = signed_absmax(x, 32);
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_f16(y, d);
        for (int j = 0; j < 16; j++) {
            int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + 16] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            y[2 + j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Q4_1 / Q5_1: per 32 values, m = min, d = (max - min) / (2^bits - 1);
 * q = (x - m)/d + 0.5 truncated (x - m >= 0), at most 2^bits - 1. The
 * fifth bit of element j (Q5_1) is bit j of the little-endian u32 qh. */
static void quantize_affine(const float *x, uint64_t n, uint8_t *y, int bits)
{
    const int qmax = (1 << bits) - 1, bytes = bits == 4 ? 20 : 24;
    for (uint64_t b = 0; b < n / 32; b++, x += 32, y += bytes) {
        float lo, hi;
        min_max(x, 32, &lo, &hi);
        float d = (hi - lo) / (float)qmax, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_f16(y, d);
        st_f16(y + 2, lo);
        uint8_t *qs = y + (bits == 4 ? 4 : 8);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int)((x[j] - lo) * id + 0.5f), q1 = (int)((x[j + 16] - lo) * id + 0.5f);
            q0 = q0 > qmax ? qmax : q0;
            q1 = q1 > qmax ? qmax : q1;
            qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        if (bits == 5)
            for (int k = 0; k < 4; k++) y[4 + k] = (uint8_t)(qh >> (8 * k));
    }
}

void mkv_quantize_q4_1(const float *x, uint64_t n, void *dst) { quantize_affine(x, n, dst, 4); }
void mkv_quantize_q5_1(const float *x, uint64_t n, void *dst) { quantize_affine(x, n, dst, 5); }

/* Q5_0: as Q4_0 with 5 bits: d = (signed absmax) / -16, q = x/d + 16
 * rounded, at most 31; fifth bits in qh as for Q5_1. */
void mkv_quantize_q5_0(const float *x, uint64_t n, void *dst)
{
    uint8_t *y = dst;
    for (uint64_t b = 0; b < n / 32; b++, x += 32, y += 22) {
        float max = signed_absmax(x, 32);
        float d = max / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        st_f16(y, d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int)(int8_t)(x[j] * id + 16.5f), q1 = (int)(int8_t)(x[j + 16] * id + 16.5f);
            q0 = q0 > 31 ? 31 : q0;
            q1 = q1 > 31 ? 31 : q1;
            y[6 + j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) y[2 + k] = (uint8_t)(qh >> (8 * k));
    }
}

/* ---- 256-element super-blocks ------------------------------------------------ */

/* Q4_K / Q5_K (qmax 15 / 31): eight sub-blocks of 32, each x ≈ sc·d·q −
 * m·dmin. A sub-block's own scale is its range (max − min, min taken <= 0
 * as the format's mins are subtracted) over qmax, its min −min; the largest
 * of each over 63 gives d and dmin (f16, rounded up), and every sub-block's
 * scale and min round to 6 bits against them. Values are then rounded with
 * the scale and min as stored, so the only error is that rounding, plus
 * clipping where a 6-bit scale came out a little small. */
static void quantize_k_affine(const float *x, uint64_t n, uint8_t *y, int qmax)
{
    const int bytes = qmax == 15 ? 144 : 176;
    for (uint64_t b = 0; b < n / 256; b++, x += 256, y += bytes) {
        float scale[8], mn[8], smax = 0.0f, mmax = 0.0f;
        for (int j = 0; j < 8; j++) {
            float lo, hi;
            min_max(x + 32 * j, 32, &lo, &hi);
            lo = fminf(lo, 0.0f);
            scale[j] = (hi - lo) / (float)qmax;
            mn[j] = -lo;
            smax = fmaxf(smax, scale[j]);
            mmax = fmaxf(mmax, mn[j]);
        }
        const float d = st_f16_up(y, smax / 63.0f), dmin = st_f16_up(y + 2, mmax / 63.0f);
        const float is = d > 0.0f ? 1.0f / d : 0.0f, im = dmin > 0.0f ? 1.0f / dmin : 0.0f;
        uint8_t *sc = y + 4;
        memset(sc, 0, 12);
        int ls[8], lm[8];
        for (int j = 0; j < 8; j++) {
            ls[j] = round_clamp(is * scale[j], 0, 63);
            lm[j] = round_clamp(im * mn[j], 0, 63);
            if (j < 4) { /* 6 bits in bytes j (scale) and j + 4 (min) */
                sc[j] = (uint8_t)ls[j];
                sc[j + 4] = (uint8_t)lm[j];
            } else { /* low 4 bits in byte j + 4, top 2 in bits 6-7 of bytes j - 4 and j */
                sc[j + 4] = (uint8_t)((ls[j] & 15) | (lm[j] & 15) << 4);
                sc[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
                sc[j] |= (uint8_t)((lm[j] >> 4) << 6);
            }
        }
        uint8_t L[256];
        for (int j = 0; j < 8; j++) {
            const float ds = d * (float)ls[j], m = dmin * (float)lm[j];
            for (int i = 0; i < 32; i++)
                L[32 * j + i] = (uint8_t)(ds != 0.0f ? round_clamp((x[32 * j + i] + m) / ds, 0, qmax) : 0);
        }
        /* chunk c of 64: sub-block 2c in the low nibbles of 32 bytes, 2c + 1
         * in the high nibbles; Q5_K's fifth bits in bits 2c, 2c + 1 of qh[l] */
        uint8_t *qh = y + 16, *qs = y + (qmax == 15 ? 16 : 48);
        if (qmax == 31) memset(qh, 0, 32);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                const int a = L[64 * c + l], e = L[64 * c + 32 + l];
                qs[32 * c + l] = (uint8_t)((a & 15) | (e & 15) << 4);
                if (qmax == 31) qh[l] |= (uint8_t)((a >> 4) << (2 * c) | (e >> 4) << (2 * c + 1));
            }
    }
}

void mkv_quantize_q4_k(const float *x, uint64_t n, void *dst) { quantize_k_affine(x, n, dst, 15); }
void mkv_quantize_q5_k(const float *x, uint64_t n, void *dst) { quantize_k_affine(x, n, dst, 31); }

/* Q6_K: sixteen sub-blocks of 16, x ≈ d·sc·(q − 32), q in [0, 63]. A
 * sub-block's own scale maps its value of largest magnitude to q − 32 =
 * −32 (as Q4_0 does with −8); the sub-block scale of largest magnitude over
 * −128 gives d (f16, rounded up in magnitude), and every scale rounds to an
 * int8 against it. Values are rounded with d·sc as stored. */
void mkv_quantize_q6_k(const float *x, uint64_t n, void *dst)
{
    uint8_t *y = dst;
    for (uint64_t b = 0; b < n / 256; b++, x += 256, y += 210) {
        float scale[16], smax = 0.0f;
        for (int j = 0; j < 16; j++) {
            scale[j] = signed_absmax(x + 16 * j, 16) / -32.0f;
            if (fabsf(scale[j]) > fabsf(smax)) smax = scale[j];
        }
        const float d = st_f16_up(y + 208, smax / -128.0f), is = d != 0.0f ? 1.0f / d : 0.0f;
        int8_t *sc = (int8_t *)(y + 192);
        for (int j = 0; j < 16; j++) sc[j] = (int8_t)round_clamp(is * scale[j], -128, 127);
        uint8_t L[256];
        for (int j = 0; j < 16; j++) {
            const float ds = d * (float)sc[j];
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (uint8_t)(32 + (ds != 0.0f ? round_clamp(x[16 * j + i] / ds, -32, 31) : 0));
        }
        /* per half of 128 (64 bytes of ql, 32 of qh), l < 32: ql[l] holds
         * elements l | l + 64, ql[l + 32] holds l + 32 | l + 96 (low | high
         * nibble); qh[l] their top 2 bits, in element order l, l+32, l+64, l+96 */
        uint8_t *ql = y, *qh = y + 128;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            const uint8_t *q = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((q[l] & 15) | (q[l + 64] & 15) << 4);
                ql[l + 32] = (uint8_t)((q[l + 32] & 15) | (q[l + 96] & 15) << 4);
                qh[l] = (uint8_t)(q[l] >> 4 | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
            }
        }
    }
}

/* ---- any type -------------------------------------------------------------------- */

typedef void (*quantize_fn)(const float *x, uint64_t n, void *dst);

static const struct {
    uint32_t type, blck;
    quantize_fn fn;
} quantizers[] = {
    {MKV_GGML_Q8_0, 32, mkv_quantize_q8_0},   {MKV_GGML_Q4_0, 32, mkv_quantize_q4_0},
    {MKV_GGML_Q4_1, 32, mkv_quantize_q4_1},   {MKV_GGML_Q5_0, 32, mkv_quantize_q5_0},
    {MKV_GGML_Q5_1, 32, mkv_quantize_q5_1},   {MKV_GGML_Q4_K, 256, mkv_quantize_q4_k},
    {MKV_GGML_Q5_K, 256, mkv_quantize_q5_k},  {MKV_GGML_Q6_K, 256, mkv_quantize_q6_k},
};

mkv_status mkv_quantize(uint32_t type, const float *x, uint64_t n, void *dst, mkv_error *err)
{
    uint8_t *y = dst;
    switch (type) {
    case MKV_GGML_F32:
        memcpy(y, x, (size_t)n * 4);
        return MKV_OK;
    case MKV_GGML_F16:
        for (uint64_t i = 0; i < n; i++) st_f16(y + 2 * i, x[i]);
        return MKV_OK;
    case MKV_GGML_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h = mkv_float_to_bf16(x[i]);
            y[2 * i] = (uint8_t)h;
            y[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return MKV_OK;
    default:
        break;
    }
    for (size_t i = 0; i < sizeof quantizers / sizeof quantizers[0]; i++) {
        if (quantizers[i].type != type) continue;
        if (n % quantizers[i].blck)
            return mkv_fail(err, MKV_ERR_INVALID_ARG, "quantize: %s: n = %" PRIu64 " is not a multiple of the block (%u)",
                            mkv_ggml_type_name(type), n, quantizers[i].blck);
        quantizers[i].fn(x, n, dst);
        return MKV_OK;
    }
    return mkv_fail(err, MKV_ERR_UNSUPPORTED,
                    "quantize: type %s (%u): not F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K",
                    mkv_ggml_type_name(type), type);
}
