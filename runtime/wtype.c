/* The weight-type table and the row repacking (layout: shaders/wtype_layout.h). */
#include "wtype.h"

#include <math.h>
#include <string.h>

#include "gguf.h"
#include "half.h"
#include "wtype_layout.h"

#define ROW(T, t, g) [MKV_WT_##T] = {t, g, MKV_WT_##T##_BLOCK, MKV_WT_##T##_BLOCK_BYTES, MKV_WT_##T##_SCALE_OFF, \
                                      MKV_WT_##T##_SCALE_BYTES, MKV_WT_##T##_UNIT, MKV_WT_##T##_SW}
static const mkv_wtype_info table[MKV_WT_COUNT] = {
    ROW(F16, "f16", MKV_GGML_F16),    ROW(BF16, "bf16", MKV_GGML_BF16), ROW(Q8_0, "q8_0", MKV_GGML_Q8_0),
    ROW(Q4_0, "q4_0", MKV_GGML_Q4_0), ROW(Q4_1, "q4_1", MKV_GGML_Q4_1), ROW(Q5_0, "q5_0", MKV_GGML_Q5_0),
    ROW(Q5_1, "q5_1", MKV_GGML_Q5_1), ROW(Q4_K, "q4_k", MKV_GGML_Q4_K), ROW(Q5_K, "q5_k", MKV_GGML_Q5_K),
    ROW(Q6_K, "q6_k", MKV_GGML_Q6_K),
};
#undef ROW

const mkv_wtype_info *mkv_wtype_get(mkv_wtype t) { return (unsigned)t < MKV_WT_COUNT ? &table[t] : NULL; }

bool mkv_wtype_for_ggml(uint32_t ggml, mkv_wtype *out)
{
    if (ggml == MKV_GGML_F32) ggml = MKV_GGML_F16;
    for (int t = 0; t < MKV_WT_COUNT; t++)
        if (table[t].ggml == ggml) {
            *out = (mkv_wtype)t;
            return true;
        }
    return false;
}

/* F16 and BF16 rows are plain 2-byte values, padded to whole blocks. */
static bool is_plain(mkv_wtype t) { return t == MKV_WT_F16 || t == MKV_WT_BF16; }

bool mkv_wtype_cols_ok(mkv_wtype t, uint32_t cols) { return cols > 0 && (is_plain(t) || cols % table[t].block == 0); }

uint32_t mkv_wtype_blocks(mkv_wtype t, uint32_t cols) { return (cols + table[t].block - 1) / table[t].block; }

uint32_t mkv_wtype_row_words(mkv_wtype t, uint32_t cols)
{
    uint64_t bytes = (uint64_t)mkv_wtype_blocks(t, cols) * table[t].block_bytes;
    return (uint32_t)(((bytes + 15) & ~15ull) / 4);
}

uint64_t mkv_wtype_src_row_bytes(mkv_wtype t, uint32_t cols)
{
    return is_plain(t) ? 2ull * cols : (uint64_t)mkv_wtype_blocks(t, cols) * table[t].block_bytes;
}

void mkv_wtype_repack_row(mkv_wtype t, uint32_t cols, const void *src, uint32_t *dst)
{
    const mkv_wtype_info *w = &table[t];
    uint8_t *out = (uint8_t *)dst;
    const uint8_t *in = src;
    const size_t row = 4ull * mkv_wtype_row_words(t, cols);
    if (is_plain(t)) {
        memcpy(out, in, 2ull * cols);
        memset(out + 2ull * cols, 0, row - 2ull * cols);
        return;
    }
    const uint32_t nb = mkv_wtype_blocks(t, cols), qb = w->block_bytes - w->scale_bytes;
    uint8_t *q = out, *s = out + (size_t)nb * qb;
    for (uint32_t b = 0; b < nb; b++, in += w->block_bytes) {
        memcpy(q + (size_t)b * qb, in, w->scale_off);
        memcpy(q + (size_t)b * qb + w->scale_off, in + w->scale_off + w->scale_bytes,
               w->block_bytes - w->scale_off - w->scale_bytes);
        memcpy(s + (size_t)b * w->scale_bytes, in + w->scale_off, w->scale_bytes);
    }
    const size_t used = (size_t)nb * w->block_bytes;
    memset(out + used, 0, row - used);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1): 24 random bits, exact in a float. */
static float uniform_pm1(uint64_t *s) { return (float)((double)(splitmix64(s) >> 40) / (double)(1ull << 23) - 1.0); }

void mkv_wtype_random_row(mkv_wtype t, uint32_t cols, uint64_t *state, uint8_t *dst)
{
    const mkv_wtype_info *wi = mkv_wtype_get(t);
    const uint64_t rb = mkv_wtype_src_row_bytes(t, cols);
    if (t == MKV_WT_F16 || t == MKV_WT_BF16) {
        for (uint64_t i = 0; i < rb / 2; i++) {
            const float f = uniform_pm1(state);
            uint32_t bits;
            memcpy(&bits, &f, 4);
            const uint16_t v = t == MKV_WT_F16 ? mkv_float_to_half(f) : (uint16_t)(bits >> 16);
            memcpy(dst + 2 * i, &v, 2);
        }
        return;
    }
    for (uint64_t i = 0; i < rb; i += 8) {
        const uint64_t r = splitmix64(state);
        memcpy(dst + i, &r, rb - i < 8 ? rb - i : 8);
    }
    /* the block's f16 fields: d, and m or dmin right after it where the type has one (Q6_K: d at its end) */
    const uint32_t n_f16 = wi->ggml == MKV_GGML_Q4_1 || wi->ggml == MKV_GGML_Q5_1 || wi->ggml == MKV_GGML_Q4_K ||
                                   wi->ggml == MKV_GGML_Q5_K ? 2 : 1;
    const uint32_t at = wi->ggml == MKV_GGML_Q6_K ? wi->block_bytes - 2 : 0;
    for (uint64_t b = 0; b < rb / wi->block_bytes; b++)
        for (uint32_t k = 0; k < n_f16; k++) {
            const uint16_t v = mkv_float_to_half((0.2f + 0.8f * fabsf(uniform_pm1(state))) * (k ? 0.01f : 0.02f));
            memcpy(dst + b * wi->block_bytes + at + 2 * k, &v, 2);
        }
}
