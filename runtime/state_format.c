/* The saved session state's format (session_state.h): sizes, the header's
 * encoding and every check that needs no session. Host-only: no Vulkan. */
#include <inttypes.h>
#include <string.h>

#include "bank.h"
#include "kv_layout.h"
#include "session_state.h"

static void put_le64(uint8_t *p, uint64_t v)
{
    mkv_state_put_le32(p, (uint32_t)v);
    mkv_state_put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)mkv_state_le32(p) | (uint64_t)mkv_state_le32(p + 4) << 32; }

/* a * b, false when it overflows */
static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b && a > UINT64_MAX / b) return false;
    *out = a * b;
    return true;
}

static bool add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a > UINT64_MAX - b) return false;
    *out = a + b;
    return true;
}

uint32_t mkv_state_kv_n_ranges(const mkv_state_header *h)
{
    return h->kv_type == MKV_KV_Q8_0 ? 2 * h->n_kv_head : h->n_kv_head;
}

void mkv_state_kv_range(const mkv_state_header *h, uint32_t n_ctx, uint32_t i, uint64_t *off, uint64_t *len)
{
    const uint32_t n_kv_head = h->n_kv_head, head_dim = h->head_dim, pos = h->pos;
    if (h->kv_type != MKV_KV_Q8_0) { /* head i's rows of positions [0, pos) */
        *off = MKV_KV_ROW(0, (uint64_t)i, n_ctx) * head_dim * 2;
        *len = 2ull * pos * head_dim;
        return;
    }
    const uint64_t nb = head_dim / MKV_KV_Q8_BLOCK; /* scales per row */
    if (i < n_kv_head) { /* head i's quants */
        *off = MKV_KV_ROW(0, (uint64_t)i, n_ctx) * head_dim;
        *len = (uint64_t)pos * head_dim;
        return;
    }
    const uint64_t scales = (uint64_t)n_ctx * n_kv_head * head_dim; /* where the scales start */
    *off = scales + MKV_KV_ROW(0, (uint64_t)(i - n_kv_head), n_ctx) * nb * 4;
    *len = (uint64_t)pos * nb * 4;
}

uint64_t mkv_state_size(const mkv_state_header *h)
{
    uint64_t kv_dim = (uint64_t)h->n_kv_head * h->head_dim, vals, layer, all, total;
    if (!mul_ok(kv_dim, h->pos, &vals)) return 0;
    if (h->kv_type == MKV_KV_Q8_0) {
        if (!add_ok(vals, vals / MKV_KV_Q8_BLOCK * 4, &layer)) return 0;
    } else if (!mul_ok(vals, 2, &layer)) {
        return 0;
    }
    if (!mul_ok(layer, 2ull * h->n_layer, &all)) return 0;
    if (!add_ok(all, MKV_STATE_HEADER_BYTES + 4ull * h->n_prefetch + 4, &total)) return 0;
    return total;
}

void mkv_state_header_encode(const mkv_state_header *h, uint8_t out[MKV_STATE_HEADER_BYTES])
{
    memset(out, 0, MKV_STATE_HEADER_BYTES);
    memcpy(out, MKV_STATE_MAGIC, 8);
    const uint32_t f[] = {MKV_STATE_VERSION, MKV_STATE_HEADER_BYTES, h->n_layer, h->d_model, h->n_head, h->n_kv_head,
                          h->head_dim, h->n_vocab, h->kv_type, h->flags, h->pos, h->n_prefetch};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) mkv_state_put_le32(out + 8 + 4 * i, f[i]);
    put_le64(out + 56, h->model_id);
    put_le64(out + 64, h->total_bytes);
}

mkv_status mkv_state_check_frame(const uint8_t *hdr, uint64_t size, const char *what, mkv_state_header *h,
                                 mkv_error *err)
{
    memset(h, 0, sizeof *h);
    if (size >= 8 && memcmp(hdr, MKV_STATE_MAGIC, 8) != 0) {
        char hex[17];
        for (int i = 0; i < 8; i++) {
            static const char dig[] = "0123456789abcdef";
            hex[2 * i] = dig[hdr[i] >> 4], hex[2 * i + 1] = dig[hdr[i] & 15];
        }
        hex[16] = 0;
        return mkv_fail(err, MKV_ERR_BAD_MAGIC, "%s: magic = 0x%s: not a mekivk session state (\"%s\")", what, hex,
                        MKV_STATE_MAGIC);
    }
    if (size < MKV_STATE_HEADER_BYTES)
        return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: %" PRIu64 " bytes: shorter than the %u-byte state header", what,
                        size, MKV_STATE_HEADER_BYTES);
    h->version = mkv_state_le32(hdr + 8);
    if (h->version != MKV_STATE_VERSION)
        return mkv_fail(err, MKV_ERR_BAD_VERSION, "%s: version = %u: this build reads session states of version %u%s", what,
                        h->version, MKV_STATE_VERSION,
                        h->version == 1 ? " (version 1 stored the K/V rows position by position; replay the tokens "
                                          "and save the session again)" : "");
    const uint32_t header_bytes = mkv_state_le32(hdr + 12);
    if (header_bytes != MKV_STATE_HEADER_BYTES)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: header_bytes = %u: version %u's header is %u bytes", what,
                        header_bytes, MKV_STATE_VERSION, MKV_STATE_HEADER_BYTES);
    uint32_t *const f[] = {&h->n_layer, &h->d_model,  &h->n_head, &h->n_kv_head, &h->head_dim,
                           &h->n_vocab, &h->kv_type, &h->flags,  &h->pos,       &h->n_prefetch};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) *f[i] = mkv_state_le32(hdr + 16 + 4 * i);
    h->model_id = le64(hdr + 56);
    h->total_bytes = le64(hdr + 64);
    for (int i = 0; i < 6; i++) h->zero[i] = mkv_state_le32(hdr + 72 + 4 * i);
    if (h->total_bytes < MKV_STATE_HEADER_BYTES + 4)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: total_bytes = %" PRIu64 ": less than a header and a CRC", what,
                        h->total_bytes);
    if (size < h->total_bytes)
        return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: %" PRIu64 " bytes: the state declares total_bytes = %" PRIu64
                        ": truncated", what, size, h->total_bytes);
    if (size > h->total_bytes)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %" PRIu64 " bytes: the state declares total_bytes = %" PRIu64
                        ": trailing bytes", what, size, h->total_bytes);
    return MKV_OK;
}

mkv_status mkv_state_check_fields(const mkv_state_header *h, const char *what, mkv_error *err)
{
    const struct {
        const char *name;
        uint32_t v;
    } nonzero[] = {{"n_layer", h->n_layer},     {"d_model", h->d_model},   {"n_head", h->n_head},
                   {"n_kv_head", h->n_kv_head}, {"head_dim", h->head_dim}, {"n_vocab", h->n_vocab}};
    for (size_t i = 0; i < sizeof nonzero / sizeof nonzero[0]; i++)
        if (nonzero[i].v == 0) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s = 0", what, nonzero[i].name);
    if (h->kv_type != MKV_KV_F16 && h->kv_type != MKV_KV_Q8_0)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: kv_type = %u: not a KV cache type (0 f16, 1 q8_0)", what, h->kv_type);
    if (h->kv_type == MKV_KV_Q8_0 && h->head_dim % MKV_KV_Q8_BLOCK)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: head_dim = %u: q8_0 K/V needs a multiple of %u", what, h->head_dim,
                        MKV_KV_Q8_BLOCK);
    if (h->flags & ~MKV_STATE_FLAG_MEKI)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: flags = 0x%x: unknown bits", what, h->flags);
    if (h->pos > MKV_MAX_CTX)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: pos = %u: more than MKV_MAX_CTX (%u)", what, h->pos, MKV_MAX_CTX);
    if (h->n_prefetch > MKV_MAX_CTX)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: n_prefetch = %u: more than MKV_MAX_CTX (%u)", what, h->n_prefetch,
                        MKV_MAX_CTX);
    for (int i = 0; i < 6; i++)
        if (h->zero[i])
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: header byte %d = 0x%08x: reserved, must be zero", what, 72 + 4 * i,
                            h->zero[i]);
    const uint64_t want = mkv_state_size(h);
    if (want == 0)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: n_layer = %u, n_kv_head = %u, head_dim = %u, pos = %u: more than 2^64 bytes",
                        what, h->n_layer, h->n_kv_head, h->head_dim, h->pos);
    if (want != h->total_bytes)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: total_bytes = %" PRIu64 ": the fields give %" PRIu64, what,
                        h->total_bytes, want);
    return MKV_OK;
}

mkv_status mkv_state_check_crc(uint32_t stored, uint32_t computed, const char *what, mkv_error *err)
{
    if (stored != computed)
        return mkv_fail(err, MKV_ERR_CRC, "%s: CRC-32C = 0x%08x, computed 0x%08x: the state is corrupted", what, stored,
                        computed);
    return MKV_OK;
}

mkv_status mkv_state_check_tokens(const mkv_state_header *h, const uint8_t *tokens, const char *what, mkv_error *err)
{
    for (uint32_t i = 0; i < h->n_prefetch; i++) {
        const uint32_t t = mkv_state_le32(tokens + 4ull * i);
        if (t >= h->n_vocab)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: prefetch token %u = %u: n_vocab is %u", what, i, t, h->n_vocab);
    }
    return MKV_OK;
}

mkv_status mkv_state_check(const void *buf, size_t n, mkv_state_header *h, mkv_error *err)
{
    mkv_status st;
    const uint8_t *b = buf;
    if (!buf && n) return mkv_fail(err, MKV_ERR_INVALID_ARG, "state: buf = NULL with n = %zu", n);
    TRY(mkv_state_check_frame(b, n, "state", h, err));
    const uint64_t body = h->total_bytes - 4;
    TRY(mkv_state_check_crc(mkv_state_le32(b + body), mkv_crc32c(0, b, (size_t)body), "state", err));
    TRY(mkv_state_check_fields(h, "state", err));
    return mkv_state_check_tokens(h, b + body - 4ull * h->n_prefetch, "state", err);
}
