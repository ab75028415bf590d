/* The saved session state (mkv_session_save / mkv_session_restore): its
 * format, and the checks that need no session and no GPU (state_format.c;
 * the fuzz target tests/fuzz/fuzz_state.c runs them on hostile bytes).
 * Internal.
 *
 * Format version 2, every integer little-endian (version 1, before the
 * cache held its rows head after head, stored them position by position;
 * this build refuses it):
 *
 *   offset  size  field
 *        0     8  magic "MKVSTATE"
 *        8     4  version (2)
 *       12     4  header_bytes (96)
 *       16     4  n_layer       \
 *       20     4  d_model        |
 *       24     4  n_head         | the model's shape
 *       28     4  n_kv_head      |
 *       32     4  head_dim       |
 *       36     4  n_vocab       /
 *       40     4  kv_type (mkv_kv_type: 0 f16, 1 q8_0)
 *       44     4  flags (bit 0: the MeKi branch ran; no other bit is defined)
 *       48     4  pos: positions held
 *       52     4  n_prefetch: tokens of the prefetch list saved after the K/V
 *       56     8  model_id: the model's identity (session_state.c: a hash of
 *                 its config, weight types, norm weights, a sample of its
 *                 weights and, with MeKi, its bank's fingerprint)
 *       64     8  total_bytes: the whole state, CRC included
 *       72    24  zero
 *       96        for each layer: K, then V, positions [0, pos) as the
 *                 cache stores them (shaders/kv_layout.h): f16, for each KV
 *                 head its pos rows of head_dim values; q8_0, each head's
 *                 pos x head_dim quants, then each head's pos x head_dim /
 *                 32 f32 scales (mkv_state_kv_range)
 *                 then n_prefetch uint32 tokens
 *   total-4    4  CRC-32C (bank.h's mkv_crc32c) of every byte before it */
#ifndef MKV_SESSION_STATE_H
#define MKV_SESSION_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define MKV_STATE_MAGIC "MKVSTATE"
#define MKV_STATE_VERSION 2u
#define MKV_STATE_HEADER_BYTES 96u
#define MKV_STATE_FLAG_MEKI 1u

typedef struct mkv_state_header {
    uint32_t version;
    uint32_t n_layer, d_model, n_head, n_kv_head, head_dim, n_vocab;
    uint32_t kv_type, flags, pos, n_prefetch;
    uint64_t model_id;
    uint64_t total_bytes;
    uint32_t zero[6];  /* bytes 72..95, as read (must be zero) */
} mkv_state_header;

/* The bytes of one layer's K (or V) cache that a state holds, positions
 * [0, pos), as ranges of the cache buffer in the state's order: each KV
 * head's rows (f16), or each head's quants, then each head's scales (q8_0;
 * the scales start at byte n_ctx x kv_dim of a cache of n_ctx positions).
 * mkv_state_kv_n_ranges says how many (n_kv_head, or twice that);
 * mkv_state_kv_range gives range i of h's positions as a byte offset and
 * length. */
uint32_t mkv_state_kv_n_ranges(const mkv_state_header *h);
void mkv_state_kv_range(const mkv_state_header *h, uint32_t n_ctx, uint32_t i, uint64_t *off, uint64_t *len);

/* The size of a state with h's fields (total_bytes ignored), or 0 when it
 * does not fit 64 bits. */
uint64_t mkv_state_size(const mkv_state_header *h);

/* Writes the 96-byte header (version, header_bytes and magic set here). */
void mkv_state_header_encode(const mkv_state_header *h, uint8_t out[MKV_STATE_HEADER_BYTES]);

/* The checks before the CRC: a state of `size` bytes whose first
 * min(size, 96) bytes are `hdr` (`what` names it in messages: "state" or
 * a path). MKV_ERR_TRUNCATED when size is under the header or under
 * total_bytes, MKV_ERR_BAD_MAGIC, MKV_ERR_BAD_VERSION, MKV_ERR_FORMAT
 * (header_bytes; size beyond total_bytes). Fills h. */
mkv_status mkv_state_check_frame(const uint8_t *hdr, uint64_t size, const char *what, mkv_state_header *h,
                                 mkv_error *err);

/* The checks after the CRC: every field in range and total_bytes equal to
 * the size the fields give (MKV_ERR_FORMAT naming the field and value). */
mkv_status mkv_state_check_fields(const mkv_state_header *h, const char *what, mkv_error *err);

/* The stored CRC against the computed one (MKV_ERR_CRC naming both). */
mkv_status mkv_state_check_crc(uint32_t stored, uint32_t computed, const char *what, mkv_error *err);

/* The prefetch tokens (n_prefetch, little-endian) each < n_vocab (MKV_ERR_FORMAT). */
mkv_status mkv_state_check_tokens(const mkv_state_header *h, const uint8_t *tokens, const char *what,
                                  mkv_error *err);

/* A whole state in memory (n bytes): frame, CRC, fields, tokens, in that
 * order; fills h. What mkv_session_restore checks before it looks at the
 * session. */
mkv_status mkv_state_check(const void *buf, size_t n, mkv_state_header *h, mkv_error *err);

static inline uint32_t mkv_state_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void mkv_state_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

#endif
