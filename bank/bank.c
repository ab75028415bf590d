/* The MeKi bank file, version 1 (DESIGN §5): header codec, CRC-32C, the
 * per-token pread reader and the sequential writer. All offsets are u64:
 * real banks are several GB. */
#include "bank.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "fileio.h"
#include "half.h"

/* ---- little-endian helpers ----------------------------------------------- */

static uint32_t ld32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }
static uint64_t ld64(const uint8_t *b) { return ld32(b) | (uint64_t)ld32(b + 4) << 32; }
static void st16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static void st32(uint8_t *b, uint32_t v) { for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i)); }
static void st64(uint8_t *b, uint64_t v) { for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i)); }

/* ---- header -------------------------------------------------------------- */

static const char bank_magic[8] = {'M', 'E', 'K', 'I', 'B', 'A', 'N', 'K'};

static uint32_t row_bytes_for(uint32_t dtype, uint32_t d_mem)
{
    return dtype == MKV_BANK_F16 ? 2 * d_mem : 4 + d_mem;
}

/* n_layer*row_bytes + 4 (CRC), rounded up to align; 0 if it does not fit in u32. */
static uint32_t slab_bytes_for(uint32_t n_layer, uint32_t row_bytes, uint32_t align)
{
    uint64_t s = (uint64_t)n_layer * row_bytes + 4;
    s = (s + align - 1) / align * align;
    return s > UINT32_MAX ? 0 : (uint32_t)s;
}

static bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

mkv_status mkv_bank_header_init(mkv_bank_header *h, uint32_t dtype, uint32_t n_layer, uint32_t n_vocab,
                                uint32_t d_mem, uint32_t align, uint32_t flags, const uint8_t fingerprint[32],
                                mkv_error *err)
{
    memset(h, 0, sizeof *h);
    if (dtype != MKV_BANK_F16 && dtype != MKV_BANK_Q8)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank: dtype = %u: not 1 (F16) or 2 (Q8)", dtype);
    if (n_layer == 0 || n_vocab == 0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank: n_layer = %u, n_vocab = %u: must be > 0", n_layer, n_vocab);
    if (d_mem == 0 || d_mem % 4 != 0 || d_mem > UINT32_MAX / 2 - 4)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank: d_mem = %u: not a positive multiple of 4", d_mem);
    if (!is_pow2(align) || align < 512 || align > 65536)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank: align = %u: not a power of two in 512..65536", align);
    if (flags & ~MKV_BANK_FLAG_SLAB_CRC)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank: flags = 0x%x: unknown bits", flags);
    h->version = MKV_BANK_VERSION;
    h->dtype = dtype;
    h->n_layer = n_layer;
    h->n_vocab = n_vocab;
    h->d_mem = d_mem;
    h->align = align;
    h->flags = flags;
    h->row_bytes = row_bytes_for(dtype, d_mem);
    h->slab_bytes = slab_bytes_for(n_layer, h->row_bytes, align);
    if (h->slab_bytes == 0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank: n_layer = %u: slab of %u-byte rows exceeds 4 GiB", n_layer,
                        h->row_bytes);
    h->data_offset = align > MKV_BANK_HEADER_BYTES ? align : MKV_BANK_HEADER_BYTES;
    if (fingerprint) memcpy(h->fingerprint, fingerprint, 32);
    return MKV_OK;
}

void mkv_bank_header_encode(const mkv_bank_header *h, uint8_t out[MKV_BANK_HEADER_BYTES])
{
    memset(out, 0, MKV_BANK_HEADER_BYTES);
    memcpy(out, bank_magic, 8);
    st32(out + 8, h->version);
    st32(out + 12, h->dtype);
    st32(out + 16, h->n_layer);
    st32(out + 20, h->n_vocab);
    st32(out + 24, h->d_mem);
    st32(out + 28, h->row_bytes);
    st32(out + 32, h->slab_bytes);
    st32(out + 36, h->align);
    st64(out + 40, h->data_offset);
    memcpy(out + 48, h->fingerprint, 32);
    st32(out + 80, h->flags);
    st32(out + 4092, mkv_crc32c(0, out, 4092));
}

mkv_status mkv_bank_header_parse(const uint8_t buf[MKV_BANK_HEADER_BYTES], uint64_t file_size, const char *path,
                                 mkv_bank_header *h, mkv_error *err)
{
    memset(h, 0, sizeof *h);
    /* Magic and version first: they say whether the rest can be read at all. */
    if (file_size < 8)
        return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: size = %" PRIu64 ": shorter than the magic", path, file_size);
    if (memcmp(buf, bank_magic, 8) != 0)
        return mkv_fail(err, MKV_ERR_BAD_MAGIC, "%s: magic = '%.8s': not a MeKi bank (MEKIBANK)", path,
                        (const char *)buf);
    if (file_size < MKV_BANK_HEADER_BYTES)
        return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: size = %" PRIu64 ": shorter than the %u-byte header", path,
                        file_size, MKV_BANK_HEADER_BYTES);
    h->version = ld32(buf + 8);
    if (h->version != MKV_BANK_VERSION)
        return mkv_fail(err, MKV_ERR_BAD_VERSION, "%s: version = %u: not supported (1)", path, h->version);
    uint32_t crc = ld32(buf + 4092), want_crc = mkv_crc32c(0, buf, 4092);
    if (crc != want_crc)
        return mkv_fail(err, MKV_ERR_CRC, "%s: header crc = 0x%08x: bytes 0..4091 give 0x%08x", path, crc, want_crc);

    h->dtype = ld32(buf + 12);
    h->n_layer = ld32(buf + 16);
    h->n_vocab = ld32(buf + 20);
    h->d_mem = ld32(buf + 24);
    h->row_bytes = ld32(buf + 28);
    h->slab_bytes = ld32(buf + 32);
    h->align = ld32(buf + 36);
    h->data_offset = ld64(buf + 40);
    memcpy(h->fingerprint, buf + 48, 32);
    h->flags = ld32(buf + 80);

    if (h->dtype != MKV_BANK_F16 && h->dtype != MKV_BANK_Q8)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: dtype = %u: not 1 (F16) or 2 (Q8)", path, h->dtype);
    if (h->n_layer == 0) return mkv_fail(err, MKV_ERR_FORMAT, "%s: n_layer = 0: must be > 0", path);
    if (h->n_vocab == 0) return mkv_fail(err, MKV_ERR_FORMAT, "%s: n_vocab = 0: must be > 0", path);
    if (h->d_mem == 0 || h->d_mem % 4 != 0 || h->d_mem > UINT32_MAX / 2 - 4)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: d_mem = %u: not a multiple of 4", path, h->d_mem);
    uint32_t rb = row_bytes_for(h->dtype, h->d_mem);
    if (h->row_bytes != rb)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: row_bytes = %u: expected %u for dtype %u, d_mem %u", path,
                        h->row_bytes, rb, h->dtype, h->d_mem);
    if (!is_pow2(h->align) || h->align < 512 || h->align > 65536)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: align = %u: not a power of two in 512..65536", path, h->align);
    uint32_t sb = slab_bytes_for(h->n_layer, rb, h->align);
    if (h->slab_bytes != sb || sb == 0)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: slab_bytes = %u: expected %u (%u layers of %u bytes + 4, align %u)",
                        path, h->slab_bytes, sb, h->n_layer, rb, h->align);
    if (h->data_offset < MKV_BANK_HEADER_BYTES || h->data_offset % h->align != 0)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: data_offset = %" PRIu64 ": not a multiple of align %u >= %u", path,
                        h->data_offset, h->align, MKV_BANK_HEADER_BYTES);
    if (h->flags & ~MKV_BANK_FLAG_SLAB_CRC)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: flags = 0x%x: unknown bits", path, h->flags);
    for (uint32_t i = 84; i < 4092; i++)
        if (buf[i] != 0)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: reserved byte %u = 0x%02x: must be zero", path, i, buf[i]);

    /* data_offset came from the file: compare without overflowing. */
    uint64_t data = (uint64_t)h->n_vocab * h->slab_bytes;
    if (h->data_offset > file_size || file_size - h->data_offset < data)
        return mkv_fail(err, MKV_ERR_TRUNCATED,
                        "%s: size = %" PRIu64 ": shorter than data_offset %" PRIu64 " + %u slabs of %u bytes", path,
                        file_size, h->data_offset, h->n_vocab, h->slab_bytes);
    if (file_size - h->data_offset > data)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: size = %" PRIu64 ": %" PRIu64 " trailing bytes after the last slab",
                        path, file_size, file_size - h->data_offset - data);
    return MKV_OK;
}

/* ---- rows ---------------------------------------------------------------- */

void mkv_bank_encode_row(uint32_t dtype, uint32_t d_mem, const float *x, void *row)
{
    uint8_t *r = row;
    if (dtype == MKV_BANK_F16) {
        for (uint32_t i = 0; i < d_mem; i++) st16(r + 2 * i, mkv_float_to_half(x[i]));
        return;
    }
    float amax = 0.0f; /* branch-free loops: banks are GBs of rows */
    for (uint32_t i = 0; i < d_mem; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    /* The scale is stored as f16 rounded up (so |x|/scale <= 127 and no
     * value clamps) and q computed against the stored scale: every decoded
     * value is then within half a step of x. */
    float s = amax / 127.0f;
    if (s > 65504.0f) s = 65504.0f;
    uint16_t sh = mkv_float_to_half(s);
    if (mkv_half_to_float(sh) < s) sh++; /* next f16 up (s > 0 here) */
    float sf = mkv_half_to_float(sh);
    float inv = sf > 0.0f ? 1.0f / sf : 0.0f;
    st16(r, sh);
    r[2] = r[3] = 0;
    for (uint32_t i = 0; i < d_mem; i++) {
        float q = x[i] * inv;
        q = q > 127.0f ? 127.0f : q;
        q = q < -127.0f ? -127.0f : q;
        int qi = (int)(q + 128.5f) - 128; /* round half up; the sum is positive so truncation floors */
        r[4 + i] = (uint8_t)(int8_t)qi;
    }
}

void mkv_bank_row_to_f32(const mkv_bank_header *h, const void *slab, uint32_t layer, float *out)
{
    const uint8_t *r = (const uint8_t *)slab + (uint64_t)layer * h->row_bytes;
    if (h->dtype == MKV_BANK_F16) {
        for (uint32_t i = 0; i < h->d_mem; i++) out[i] = mkv_half_to_float((uint16_t)(r[2 * i] | r[2 * i + 1] << 8));
        return;
    }
    float s = mkv_half_to_float((uint16_t)(r[0] | r[1] << 8));
    for (uint32_t i = 0; i < h->d_mem; i++) out[i] = s * (float)(int8_t)r[4 + i];
}

/* ---- reader -------------------------------------------------------------- */

struct mkv_bank {
    int fd;
    int fd_direct;              /* O_DIRECT descriptor in cold mode, else -1 */
    char *path;
    mkv_bank_header h;
    mkv_bank_io_mode mode;
    mkv_bank_pread_fn pread_fn; /* fault-injection hook, NULL = pread */
    void *pread_ctx;
};

int64_t mkv_bank_pread_full(int fd, void *dst, uint64_t n, uint64_t off)
{
    uint64_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (uint8_t *)dst + got, (size_t)(n - got), (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (uint64_t)r;
    }
    return (int64_t)got;
}

mkv_status mkv_bank_open(const char *path, mkv_bank **out, mkv_error *err)
{
    mkv_status st = MKV_OK;
    uint8_t *hdr = NULL;
    mkv_bank *b = mkv_calloc(1, sizeof *b);
    *out = NULL;
    if (!b) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    b->fd = b->fd_direct = -1;
    if (!(b->path = mkv_strdup(path)) || !(hdr = mkv_calloc(1, MKV_BANK_HEADER_BYTES))) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    uint64_t size;
    if ((st = mkv_open_regular(path, 0, &b->fd, &size, err)) != MKV_OK) goto out;
    /* A short file reads as zeros past its end; parse reports TRUNCATED. */
    int64_t r = mkv_bank_pread_full(b->fd, hdr, MKV_BANK_HEADER_BYTES, 0);
    if (r < 0) {
        st = mkv_fail(err, MKV_ERR_IO, "%s: read header: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)r < size && r < (int64_t)MKV_BANK_HEADER_BYTES) size = (uint64_t)r; /* shrank meanwhile */
    if ((st = mkv_bank_header_parse(hdr, size, path, &b->h, err)) != MKV_OK) goto out;
    /* Reads are random per token: tell the kernel not to read ahead. */
#ifdef POSIX_FADV_RANDOM
    (void)posix_fadvise(b->fd, 0, 0, POSIX_FADV_RANDOM);
#endif
out:
    free(hdr);
    if (st != MKV_OK) {
        mkv_bank_close(b);
        return st;
    }
    *out = b;
    return MKV_OK;
}

void mkv_bank_close(mkv_bank *b)
{
    if (!b) return;
    if (b->fd >= 0) close(b->fd);
    if (b->fd_direct >= 0) close(b->fd_direct);
    free(b->path);
    free(b);
}

const mkv_bank_header *mkv_bank_info(const mkv_bank *b) { return &b->h; }
const char *mkv_bank_path(const mkv_bank *b) { return b->path; }

void mkv_bank_set_pread(mkv_bank *b, mkv_bank_pread_fn fn, void *ctx)
{
    b->pread_fn = fn;
    b->pread_ctx = ctx;
}

mkv_bank_io_mode mkv_bank_get_io_mode(const mkv_bank *b) { return b->mode; }

const char *mkv_bank_io_mode_name(mkv_bank_io_mode m)
{
    return m == MKV_BANK_IO_DIRECT ? "o_direct" : m == MKV_BANK_IO_DROP_CACHE ? "fadvise_dontneed" : "page_cache";
}

mkv_status mkv_bank_set_io_mode(mkv_bank *b, mkv_bank_io_mode mode, mkv_error *err)
{
    if (b->fd_direct >= 0) close(b->fd_direct);
    b->fd_direct = -1;
    b->mode = MKV_BANK_IO_CACHED;
    if (mode == MKV_BANK_IO_CACHED) return MKV_OK;
#ifdef O_DIRECT
    if (mode == MKV_BANK_IO_DIRECT) {
        /* Slab offsets and sizes are multiples of the bank's align (>= 512),
         * so every read is a valid direct read; tmpfs and some FUSE file
         * systems refuse O_DIRECT at open (EINVAL), hence the fallback. */
        mkv_error derr;
        if (mkv_open_regular(b->path, O_DIRECT, &b->fd_direct, NULL, &derr) == MKV_OK) {
            b->mode = MKV_BANK_IO_DIRECT;
            return MKV_OK;
        }
        if (b->fd_direct < 0 && errno != EINVAL)
            return mkv_fail(err, MKV_ERR_IO, "%s (with O_DIRECT)", derr.msg);
    }
#endif
    /* Drop the file's cached pages now and each slab's pages after it is
     * read (readahead is off: POSIX_FADV_RANDOM at open), so every read,
     * a repeated token's too, comes from storage. Dirty pages (a bank just
     * written) cannot be dropped: write them back first. */
    (void)fdatasync(b->fd);
    (void)posix_fadvise(b->fd, 0, 0, POSIX_FADV_DONTNEED);
    b->mode = MKV_BANK_IO_DROP_CACHE;
    return MKV_OK;
}

/* One slab read in the bank's I/O mode; returns bytes read or -1 (errno). */
static int64_t read_slab_bytes(mkv_bank *b, void *dst, uint64_t n, uint64_t off)
{
    if (b->pread_fn) return b->pread_fn(b->pread_ctx, b->fd, dst, n, off);
    if (b->mode == MKV_BANK_IO_DIRECT) {
        /* The destination must be aligned too: staging slots usually are
         * (slot size is a multiple of align); otherwise bounce. */
        if ((uintptr_t)dst % b->h.align == 0) return mkv_bank_pread_full(b->fd_direct, dst, n, off);
        void *tmp = NULL;
        if (mkv_posix_memalign(&tmp, b->h.align, (size_t)n) != 0) {
            errno = ENOMEM;
            return -1;
        }
        int64_t r = mkv_bank_pread_full(b->fd_direct, tmp, n, off);
        if (r > 0) memcpy(dst, tmp, (size_t)r);
        free(tmp);
        return r;
    }
    int64_t r = mkv_bank_pread_full(b->fd, dst, n, off);
    if (b->mode == MKV_BANK_IO_DROP_CACHE) (void)posix_fadvise(b->fd, (off_t)off, (off_t)n, POSIX_FADV_DONTNEED);
    return r;
}

mkv_status mkv_bank_read_slab(mkv_bank *b, uint32_t token, void *dst, mkv_error *err)
{
    const mkv_bank_header *h = &b->h;
    if (token >= h->n_vocab)
        return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "%s: token = %u: not below n_vocab %u", b->path, token, h->n_vocab);
    uint64_t off = h->data_offset + (uint64_t)token * h->slab_bytes;
    int64_t r = read_slab_bytes(b, dst, h->slab_bytes, off);
    if (r < 0)
        return mkv_fail(err, MKV_ERR_IO, "%s: token = %u at offset %" PRIu64 ": read: %s", b->path, token, off,
                        strerror(errno));
    if ((uint64_t)r < h->slab_bytes)
        return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: token = %u at offset %" PRIu64
                        ": short read (%" PRId64 " of %u bytes): file shrank?",
                        b->path, token, off, r, h->slab_bytes);
    if (h->flags & MKV_BANK_FLAG_SLAB_CRC) {
        uint64_t n = (uint64_t)h->n_layer * h->row_bytes;
        uint32_t want = ld32((const uint8_t *)dst + n), got = mkv_crc32c(0, dst, (size_t)n);
        if (want != got)
            return mkv_fail(err, MKV_ERR_CRC, "%s: token = %u at offset %" PRIu64
                            ": slab crc mismatch (stored 0x%08x, rows give 0x%08x)",
                            b->path, token, off, want, got);
    }
    return MKV_OK;
}

/* ---- writer -------------------------------------------------------------- */

/* Slabs are batched into about 1 MiB per write(): one syscall per 8 KB slab
 * would dominate writing a multi-GB bank. */
#define WRITE_BATCH (1u << 20)

struct mkv_bank_writer {
    int fd;
    char *path;
    mkv_atomic_file own;     /* the temporary when the writer publishes itself */
    mkv_atomic_file *file;   /* &own, or the caller's (staged) */
    bool staged;             /* close leaves the file finished, unpublished */
    bool set_fp;             /* header rewritten with fp at close */
    uint8_t fp[32];
    mkv_bank_header h;
    uint32_t next;        /* next token expected */
    uint8_t *buf;         /* batch of whole slabs */
    uint64_t buf_cap, buf_len;
};

static mkv_status writer_open(const char *path, const mkv_bank_header *h, mkv_atomic_file *staged,
                              mkv_bank_writer **out, mkv_error *err)
{
    mkv_status st = MKV_OK;
    uint8_t *hdr = NULL;
    mkv_bank_writer *w = mkv_calloc(1, sizeof *w);
    *out = NULL;
    if (staged) *staged = (mkv_atomic_file)MKV_ATOMIC_FILE_INIT;
    if (!w) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    w->fd = -1;
    w->h = *h;
    w->own = (mkv_atomic_file)MKV_ATOMIC_FILE_INIT;
    w->file = staged ? staged : &w->own;
    w->staged = staged != NULL;
    /* Check the header as a reader would (size aside) before writing it. */
    mkv_bank_header chk;
    if ((st = mkv_bank_header_init(&chk, h->dtype, h->n_layer, h->n_vocab, h->d_mem, h->align, h->flags,
                                   h->fingerprint, err)) != MKV_OK)
        goto out;
    if (chk.row_bytes != h->row_bytes || chk.slab_bytes != h->slab_bytes || chk.data_offset != h->data_offset ||
        h->version != MKV_BANK_VERSION) {
        st = mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: header: derived fields do not match (use mkv_bank_header_init)",
                      path);
        goto out;
    }
    w->buf_cap = (WRITE_BATCH / h->slab_bytes + 1) * (uint64_t)h->slab_bytes;
    w->path = mkv_strdup(path);
    w->buf = mkv_malloc(w->buf_cap);
    hdr = mkv_calloc(1, h->data_offset);
    if (!w->path || !w->buf || !hdr) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    if ((st = mkv_atomic_begin(w->file, path, err)) != MKV_OK) goto out;
    w->fd = w->file->fd;
    mkv_bank_header_encode(h, hdr); /* then zeros up to data_offset */
    st = mkv_write_full(w->fd, hdr, h->data_offset, path, err);
out:
    free(hdr);
    if (st != MKV_OK) {
        mkv_atomic_abort(w->file);
        free(w->path);
        free(w->buf);
        free(w);
        return st;
    }
    *out = w;
    return MKV_OK;
}

mkv_status mkv_bank_writer_open(const char *path, const mkv_bank_header *h, mkv_bank_writer **out, mkv_error *err)
{
    return writer_open(path, h, NULL, out, err);
}

mkv_status mkv_bank_writer_open_staged(const char *path, const mkv_bank_header *h, mkv_atomic_file *staged,
                                       mkv_bank_writer **out, mkv_error *err)
{
    return writer_open(path, h, staged, out, err);
}

void mkv_bank_writer_set_fingerprint(mkv_bank_writer *w, const uint8_t fp[32])
{
    memcpy(w->fp, fp, 32);
    w->set_fp = true;
}

/* The header again, with the fingerprint known only once every slab is written. */
static mkv_status rewrite_header(mkv_bank_writer *w, mkv_error *err)
{
    uint8_t buf[MKV_BANK_HEADER_BYTES];
    memcpy(w->h.fingerprint, w->fp, 32);
    mkv_bank_header_encode(&w->h, buf);
    ssize_t n;
    do n = pwrite(w->fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof buf)
        return mkv_fail(err, MKV_ERR_IO, "%s: rewriting the header: %s", w->path, n < 0 ? strerror(errno) : "short write");
    return MKV_OK;
}

mkv_status mkv_bank_writer_put(mkv_bank_writer *w, uint32_t token, const void *rows, mkv_error *err)
{
    const mkv_bank_header *h = &w->h;
    if (token != w->next || token >= h->n_vocab)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: token = %u: expected %u (tokens in order, n_vocab %u)", w->path,
                        token, w->next, h->n_vocab);
    uint8_t *slab = w->buf + w->buf_len;
    uint64_t n = (uint64_t)h->n_layer * h->row_bytes;
    memcpy(slab, rows, (size_t)n);
    uint32_t crc = h->flags & MKV_BANK_FLAG_SLAB_CRC ? mkv_crc32c(0, rows, (size_t)n) : 0;
    st32(slab + n, crc);
    memset(slab + n + 4, 0, (size_t)(h->slab_bytes - n - 4));
    w->buf_len += h->slab_bytes;
    w->next++;
    if (w->buf_len + h->slab_bytes > w->buf_cap || w->next == h->n_vocab) {
        mkv_status st = mkv_write_full(w->fd, w->buf, w->buf_len, w->path, err);
        w->buf_len = 0;
        if (st != MKV_OK) return st;
    }
    return MKV_OK;
}

void mkv_bank_writer_abort(mkv_bank_writer *w)
{
    if (!w) return;
    mkv_atomic_abort(w->file);
    free(w->path);
    free(w->buf);
    free(w);
}

mkv_status mkv_bank_writer_close(mkv_bank_writer *w, mkv_error *err)
{
    if (!w) return MKV_OK;
    mkv_status st = MKV_OK;
    if (w->next != w->h.n_vocab)
        st = mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: tokens written = %u: expected n_vocab %u", w->path, w->next,
                      w->h.n_vocab);
    if (st == MKV_OK && w->set_fp) st = rewrite_header(w, err);
    if (st == MKV_OK) st = mkv_atomic_finish(w->file, err); /* fsync + close: delayed write errors surface here */
    if (st == MKV_OK && !w->staged) st = mkv_atomic_publish(w->file, err);
    if (st != MKV_OK) mkv_atomic_abort(w->file); /* an earlier file at the path stays */
    free(w->path);
    free(w->buf);
    free(w);
    return st;
}
