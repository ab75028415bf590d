/* The MeKi bank file, format version 1 (DESIGN §5), and its reader.
 * The bank is never loaded whole: rows are read per token (pread) into
 * caller memory, typically a host-visible staging buffer. */
#ifndef MKV_BANK_H
#define MKV_BANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "mekivk.h"

#define MKV_BANK_HEADER_BYTES 4096u
#define MKV_BANK_VERSION 1u
#define MKV_BANK_FLAG_SLAB_CRC 1u /* bit 0: each slab ends its rows with a CRC-32C */

typedef enum mkv_bank_dtype {
    MKV_BANK_F16 = 1, /* row = d_mem f16 values */
    MKV_BANK_Q8 = 2,  /* row = f16 scale, 2 zero bytes, d_mem int8; value = scale*q */
} mkv_bank_dtype;

typedef struct mkv_bank_header {
    uint32_t version, dtype, n_layer, n_vocab, d_mem;
    uint32_t row_bytes;   /* F16: 2*d_mem; Q8: 4 + d_mem */
    uint32_t slab_bytes;  /* n_layer*row_bytes + 4, rounded up to align */
    uint32_t align;       /* power of two, 512..65536 */
    uint64_t data_offset; /* multiple of align, >= 4096 */
    uint8_t fingerprint[32];
    uint32_t flags;
} mkv_bank_header;

/* CRC-32C (Castagnoli, reflected, init/xorout ~0). Pass crc = 0 to start;
 * feed the previous result to continue over more bytes. */
uint32_t mkv_crc32c(uint32_t crc, const void *data, size_t n);
/* The same with the portable table code only (tests compare the two). */
uint32_t mkv_crc32c_portable(uint32_t crc, const void *data, size_t n);
/* Which implementation mkv_crc32c uses on this CPU, for logs and bench. */
const char *mkv_crc32c_impl(void);

/* Fills every derived field (row_bytes, slab_bytes, data_offset) from
 * dtype, n_layer, n_vocab, d_mem, align; checks them (MKV_ERR_INVALID_ARG). */
mkv_status mkv_bank_header_init(mkv_bank_header *h, uint32_t dtype, uint32_t n_layer,
                                uint32_t n_vocab, uint32_t d_mem, uint32_t align, uint32_t flags,
                                const uint8_t fingerprint[32], mkv_error *err);
/* Writes the 4096-byte header, CRC included. */
void mkv_bank_header_encode(const mkv_bank_header *h, uint8_t out[MKV_BANK_HEADER_BYTES]);
/* Parses and validates a header read from `path` whose size is file_size:
 * magic, version, dtype, d_mem, row_bytes, slab_bytes, align, data_offset,
 * header CRC, reserved bytes, and file size == data_offset + n_vocab*slab.
 * Distinct statuses: BAD_MAGIC, BAD_VERSION, CRC, TRUNCATED, FORMAT. */
mkv_status mkv_bank_header_parse(const uint8_t buf[MKV_BANK_HEADER_BYTES], uint64_t file_size,
                                 const char *path, mkv_bank_header *h, mkv_error *err);

/* Decodes row `layer` of a slab into d_mem floats (F16 or Q8). */
void mkv_bank_row_to_f32(const mkv_bank_header *h, const void *slab, uint32_t layer, float *out);

typedef struct mkv_bank mkv_bank;

/* Opens the bank, reads and validates the header (file size included). */
mkv_status mkv_bank_open(const char *path, mkv_bank **out, mkv_error *err);
void mkv_bank_close(mkv_bank *b);
const mkv_bank_header *mkv_bank_info(const mkv_bank *b);
const char *mkv_bank_path(const mkv_bank *b);

/* How slabs are read. Cold modes measure storage, not RAM. */
typedef enum mkv_bank_io_mode {
    MKV_BANK_IO_CACHED = 0,     /* plain pread through the page cache */
    MKV_BANK_IO_DIRECT = 1,     /* O_DIRECT, aligned reads */
    MKV_BANK_IO_DROP_CACHE = 2, /* pread + posix_fadvise(DONTNEED) */
} mkv_bank_io_mode;
/* Sets how every later read is done (not while reads of this bank are in
 * flight). DROP_CACHE first writes back and drops the file's cached pages;
 * DIRECT falls back to DROP_CACHE where the file system refuses O_DIRECT
 * (mkv_bank_get_io_mode tells). MKV_ERR_IO if the file cannot be reopened. */
mkv_status mkv_bank_set_io_mode(mkv_bank *b, mkv_bank_io_mode mode, mkv_error *err);
mkv_bank_io_mode mkv_bank_get_io_mode(const mkv_bank *b);
const char *mkv_bank_io_mode_name(mkv_bank_io_mode m);

/* pread until n bytes or end of file: bytes read, or -1 with errno set. */
int64_t mkv_bank_pread_full(int fd, void *dst, uint64_t n, uint64_t off);
/* Fault injection for tests: every slab read goes through fn (same
 * contract as mkv_bank_pread_full; fd is the bank's descriptor) instead of
 * the I/O mode's read. NULL restores normal reads. Not while reads of this
 * bank are in flight. */
typedef int64_t (*mkv_bank_pread_fn)(void *ctx, int fd, void *dst, uint64_t n, uint64_t off);
void mkv_bank_set_pread(mkv_bank *b, mkv_bank_pread_fn fn, void *ctx);

/* Reads token's slab (slab_bytes bytes) into dst with pread and verifies
 * its CRC when the bank has them. Errors name the file, token and offset:
 * MKV_ERR_TOKEN_RANGE, MKV_ERR_IO, MKV_ERR_TRUNCATED (short read),
 * MKV_ERR_CRC. The bank stays usable after an error. Safe to call from
 * several threads at once on one bank (pread, no shared state). */
mkv_status mkv_bank_read_slab(mkv_bank *b, uint32_t token, void *dst, mkv_error *err);

/* Sequential writer: header first, then every token's slab in order. The
 * file is written under a temporary name beside `path` and renamed over it
 * by a successful close (runtime/fileio.h): until then a file already at
 * `path` is untouched, and a failed or incomplete bank leaves nothing. */
typedef struct mkv_bank_writer mkv_bank_writer;
mkv_status mkv_bank_writer_open(const char *path, const mkv_bank_header *h,
                                mkv_bank_writer **out, mkv_error *err);
/* The same, but a successful close leaves the complete, synced file in
 * *staged under its temporary name, for the caller to publish together with
 * its model (mkv_atomic_publish_all: bank first) or remove (mkv_atomic_abort).
 * A failed open or close leaves *staged idle. */
mkv_status mkv_bank_writer_open_staged(const char *path, const mkv_bank_header *h, mkv_atomic_file *staged,
                                       mkv_bank_writer **out, mkv_error *err);
/* Sets the header's fingerprint, written at close (when it depends on the
 * slabs, as convert's does). */
void mkv_bank_writer_set_fingerprint(mkv_bank_writer *w, const uint8_t fp[32]);
/* rows: n_layer rows of row_bytes each, already encoded (F16 or Q8). The
 * writer appends the CRC (if flagged) and the padding. Tokens in order. */
mkv_status mkv_bank_writer_put(mkv_bank_writer *w, uint32_t token, const void *rows, mkv_error *err);
/* Finishes (checks every token was written), syncs and closes; renames
 * the file into place unless staged; frees w always. */
mkv_status mkv_bank_writer_close(mkv_bank_writer *w, mkv_error *err);
/* Discards what was written (the temporary is removed, a staged file
 * left idle, an earlier file at the path untouched); frees w. NULL: no-op. */
void mkv_bank_writer_abort(mkv_bank_writer *w);

/* Encodes d_mem floats as one row of the given dtype (Q8: per-row scale =
 * max|x|/127, stored as f16; q = round(x/scale) clamped to [-127,127]). */
void mkv_bank_encode_row(uint32_t dtype, uint32_t d_mem, const float *x, void *row);

#endif
