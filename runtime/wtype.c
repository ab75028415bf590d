/* The weight-type table and the row repacking (layout: shaders/wtype_layout.h). */
#include "wtype.h"

#include <string.h>

#include "gguf.h"
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
