/* Asynchronous bank reads into a ring of staging slots (DESIGN §4).
 *
 * The caller owns the slot memory (on the GPU path: one host-visible
 * buffer the MeKi kernel reads in place) and asks for a token's slab as
 * soon as the token is known; reader threads pread it into a free slot
 * while the GPU works, and the caller waits for the slot only when the GPU
 * is about to need it. A token already staged or in flight is not read
 * twice; a token in the hot-row cache (cache.h) is copied, not read.
 * Portable: POSIX threads and pread only (Android apps cannot use
 * io_uring). All functions are for one caller thread; the readers are
 * internal. */
#ifndef MKV_BANK_STREAM_H
#define MKV_BANK_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "bank.h"

typedef struct mkv_bank_stream mkv_bank_stream;

typedef struct mkv_stream_opts {
    uint32_t n_slots;     /* staging slots, >= 1 */
    uint32_t n_threads;   /* reader threads, >= 1 */
    uint64_t cache_bytes; /* hot-row cache budget; 0 = pure streaming */
} mkv_stream_opts;

typedef struct mkv_stream_stats {
    uint64_t reads;        /* slab reads issued to storage */
    uint64_t bytes_read;   /* bytes those reads returned */
    uint64_t cache_hits;   /* requests served from the hot-row cache */
    uint64_t cache_misses; /* requests that had to read storage */
    uint64_t shared;       /* requests that joined a slab already staged or in flight */
    double read_ms;        /* summed duration of those reads (pread + CRC) */
} mkv_stream_stats;

#define MKV_STREAM_NO_SLOT UINT32_MAX

/* slots: n_slots * slab_bytes bytes, valid until destroy. Starts the
 * reader threads. */
mkv_status mkv_stream_create(mkv_bank *bank, const mkv_stream_opts *o, uint8_t *slots,
                             mkv_bank_stream **out, mkv_error *err);
/* Waits for reads in flight, stops the threads, frees. NULL is fine. */
void mkv_stream_destroy(mkv_bank_stream *st);

/* Asks for token's slab and takes a reference to its slot (*slot), which
 * then holds the slab once mkv_stream_wait says so and is not reused until
 * released. *slot = MKV_STREAM_NO_SLOT (status MKV_OK) when every slot is
 * referenced. MKV_ERR_TOKEN_RANGE for a token >= n_vocab. */
mkv_status mkv_stream_request(mkv_bank_stream *st, uint32_t token, uint32_t *slot, mkv_error *err);
/* Blocks until the slot's read is done: MKV_OK, or the read's error
 * (MKV_ERR_IO, MKV_ERR_TRUNCATED, MKV_ERR_CRC naming file, token, offset).
 * A failed slot is never shared with later requests. */
mkv_status mkv_stream_wait(mkv_bank_stream *st, uint32_t slot, mkv_error *err);
/* Drops one reference; the slot is reused once none is left (a read still
 * in flight finishes first). */
void mkv_stream_release(mkv_bank_stream *st, uint32_t slot);

uint8_t *mkv_stream_slot_data(const mkv_bank_stream *st, uint32_t slot);
void mkv_stream_get_stats(mkv_bank_stream *st, mkv_stream_stats *out);
/* Entries the hot-row cache can hold (0: no cache). */
uint32_t mkv_stream_cache_capacity(const mkv_bank_stream *st);

#endif
