/* mekivk inspect for a MeKi bank (.mkb, DESIGN §5): the header fields as
 * stored (decoded here from the bytes, so a damaged header is still shown),
 * then the reader's own validation, the file size check and, with
 * --verify, every slab read back and its CRC checked. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"
#include "cli.h"
#include "fileio.h"

#define MAX_ERRORS_SHOWN 10

static uint32_t ld32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t ld64(const uint8_t *b) { return ld32(b) | (uint64_t)ld32(b + 4) << 32; }

static void print_header(FILE *out, const uint8_t *h, uint64_t size)
{
    uint32_t dtype = ld32(h + 12), flags = ld32(h + 80);
    fprintf(out, "format: MeKi bank, version %u\n", ld32(h + 8));
    fprintf(out, "  dtype        %u (%s)\n", dtype, dtype == MKV_BANK_F16 ? "F16 rows" : dtype == MKV_BANK_Q8 ? "Q8 rows" : "unknown");
    fprintf(out, "  n_layer      %u\n  n_vocab      %u\n  d_mem        %u\n", ld32(h + 16), ld32(h + 20), ld32(h + 24));
    fprintf(out, "  row_bytes    %u\n  slab_bytes   %u\n  align        %u\n", ld32(h + 28), ld32(h + 32), ld32(h + 36));
    fprintf(out, "  data_offset  %" PRIu64 "\n  flags        0x%x (%s)\n", ld64(h + 40), flags,
            flags & MKV_BANK_FLAG_SLAB_CRC ? "slab CRC-32C" : "no slab CRCs");
    bool zero = true;
    fprintf(out, "  fingerprint  ");
    for (int i = 0; i < 32; i++) {
        fprintf(out, "%02x", h[48 + i]);
        zero &= h[48 + i] == 0;
    }
    fprintf(out, "%s\n", zero ? " (unbound)" : "");
    uint32_t crc = ld32(h + 4092), want = mkv_crc32c(0, h, 4092);
    fprintf(out, "  header crc   0x%08x (%s)\n", crc, crc == want ? "matches" : "MISMATCH");
    uint64_t expect = ld64(h + 40) + (uint64_t)ld32(h + 20) * ld32(h + 32);
    fprintf(out, "  file size    %" PRIu64 " bytes, header says %" PRIu64 " (%s)\n", size, expect,
            size == expect ? "matches" : "MISMATCH");
}

/* Reads every slab; the reader checks each CRC when the bank has them. */
static int verify_slabs(FILE *out, const char *path)
{
    mkv_bank *b = NULL;
    mkv_error err = {0};
    if (mkv_bank_open(path, &b, &err) != MKV_OK) {
        fprintf(out, "verify: error: %s\n", err.msg);
        return 1;
    }
    const mkv_bank_header *h = mkv_bank_info(b);
    void *slab = malloc(h->slab_bytes);
    if (!slab) {
        fprintf(out, "verify: error: out of memory\n");
        mkv_bank_close(b);
        return 1;
    }
    bool tty = isatty(2);
    uint64_t n_crc = 0, n_other = 0;
    int shown = -1;
    for (uint32_t t = 0; t < h->n_vocab; t++) {
        mkv_status st = mkv_bank_read_slab(b, t, slab, &err);
        if (st != MKV_OK) {
            if (n_crc + n_other < MAX_ERRORS_SHOWN) fprintf(out, "verify: error: %s\n", err.msg);
            if (st == MKV_ERR_CRC) n_crc++;
            else n_other++;
        }
        int pct = (int)((uint64_t)(t + 1) * 100 / h->n_vocab);
        if (pct != shown && (tty || pct % 10 == 0)) {
            fprintf(stderr, tty ? "\rverify: %u/%u slabs (%d%%)%s" : "verify: %u/%u slabs (%d%%)%s\n", t + 1,
                    h->n_vocab, pct, tty && pct == 100 ? "\n" : "");
            shown = pct;
        }
    }
    if (n_crc + n_other > MAX_ERRORS_SHOWN)
        fprintf(out, "verify: ... %" PRIu64 " more errors\n", n_crc + n_other - MAX_ERRORS_SHOWN);
    fprintf(out, "verify: %u slabs read, %" PRIu64 " CRC mismatches, %" PRIu64 " read errors%s\n", h->n_vocab, n_crc,
            n_other, h->flags & MKV_BANK_FLAG_SLAB_CRC ? "" : " (no slab CRCs in this bank: reads checked only)");
    free(slab);
    mkv_bank_close(b);
    return n_crc || n_other ? 1 : 0;
}

int mkv_inspect_bank(const char *path, bool verify, FILE *out)
{
    fprintf(out, "file: %s\n", path);
    int fd;
    uint64_t size;
    mkv_error oerr;
    if (mkv_open_regular(path, 0, &fd, &size, &oerr) != MKV_OK) {
        fprintf(out, "error: %s\n", oerr.msg);
        return 1;
    }
    uint8_t *h = calloc(1, MKV_BANK_HEADER_BYTES);
    ssize_t n = h ? pread(fd, h, MKV_BANK_HEADER_BYTES, 0) : -1;
    close(fd);
    if (n < 0) {
        fprintf(out, "error: %s: read: %s\n", path, h ? strerror(errno) : "out of memory");
        free(h);
        return 1;
    }
    if ((uint64_t)n < MKV_BANK_HEADER_BYTES) {
        fprintf(out, "error: %s: size = %" PRIu64 ": shorter than the %u-byte header\n", path, size,
                MKV_BANK_HEADER_BYTES);
        free(h);
        return 1;
    }
    print_header(out, h, size);
    mkv_bank_header hdr;
    mkv_error err = {0};
    int rc = 0;
    if (mkv_bank_header_parse(h, size, path, &hdr, &err) != MKV_OK) {
        fprintf(out, "bank: error: %s (%s)\n", err.msg, mkv_status_name(err.status));
        rc = 1;
    } else {
        fprintf(out, "bank: %u layers x %u tokens x d_mem %u: OK\n", hdr.n_layer, hdr.n_vocab, hdr.d_mem);
        if (verify) rc = verify_slabs(out, path);
    }
    free(h);
    return rc;
}
