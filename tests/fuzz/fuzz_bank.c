/* Fuzz target: the bank format (bank/bank.c): the header parser on the
 * bytes themselves, then the file opened as the engine opens it, and slabs
 * read, CRC-checked and decoded (first, middle, last token). Each input is
 * also tried with its header CRC and slab CRCs made right, so mutations of
 * the fields behind the CRCs reach the checks and reads after them. */
#include <stdlib.h>
#include <string.h>

#include "bank.h"
#include "fuzz_common.h"

#define MAX_FIXED_SLABS 64

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void read_slabs(mkv_bank *b)
{
    const mkv_bank_header *h = mkv_bank_info(b);
    uint8_t *slab = malloc(h->slab_bytes);
    float *row = malloc((size_t)h->d_mem * sizeof *row);
    uint32_t tokens[4] = {0, h->n_vocab / 2, h->n_vocab - 1, h->n_vocab}; /* the last one is out of range */
    mkv_error err;
    for (int i = 0; slab && row && i < 4; i++) {
        if (mkv_bank_read_slab(b, tokens[i], slab, &err) != MKV_OK) continue;
        for (uint32_t l = 0; l < h->n_layer; l++) mkv_bank_row_to_f32(h, slab, l, row);
    }
    free(slab);
    free(row);
}

static void run(const uint8_t *data, size_t size)
{
    mkv_error err;
    mkv_bank_header h;
    uint8_t *hdr = calloc(1, MKV_BANK_HEADER_BYTES); /* a short input reads as zeros past its end */
    if (hdr) {
        memcpy(hdr, data, size < MKV_BANK_HEADER_BYTES ? size : MKV_BANK_HEADER_BYTES);
        (void)mkv_bank_header_parse(hdr, size, "fuzz.mkb", &h, &err);
        free(hdr);
    }
    const char *path = fz_put("bank.mkb", data, size);
    mkv_bank *b = NULL;
    if (mkv_bank_open(path, &b, &err) == MKV_OK) {
        read_slabs(b);
        mkv_bank_close(b);
    }
}

/* The input with a correct header CRC and, once the header parses, correct
 * CRCs on its first slabs; NULL if it is too short to hold a header. */
static uint8_t *with_crcs(const uint8_t *data, size_t size)
{
    if (size < MKV_BANK_HEADER_BYTES) return NULL;
    uint8_t *d = malloc(size);
    if (!d) return NULL;
    memcpy(d, data, size);
    st32(d + MKV_BANK_HEADER_BYTES - 4, mkv_crc32c(0, d, MKV_BANK_HEADER_BYTES - 4));
    mkv_bank_header h;
    mkv_error err;
    if (mkv_bank_header_parse(d, size, "fuzz.mkb", &h, &err) != MKV_OK || !(h.flags & MKV_BANK_FLAG_SLAB_CRC)) return d;
    uint64_t rows = (uint64_t)h.n_layer * h.row_bytes;
    for (uint32_t t = 0; t < h.n_vocab && t < MAX_FIXED_SLABS; t++) {
        uint8_t *slab = d + h.data_offset + (uint64_t)t * h.slab_bytes;
        st32(slab + rows, mkv_crc32c(0, slab, (size_t)rows));
    }
    if (h.n_vocab > MAX_FIXED_SLABS) { /* the middle and last tokens read_slabs asks for */
        uint32_t far[2] = {h.n_vocab / 2, h.n_vocab - 1};
        for (int i = 0; i < 2; i++) {
            uint8_t *slab = d + h.data_offset + (uint64_t)far[i] * h.slab_bytes;
            st32(slab + rows, mkv_crc32c(0, slab, (size_t)rows));
        }
    }
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    uint8_t *fixed = with_crcs(data, size);
    if (fixed) {
        run(fixed, size);
        free(fixed);
    }
    return 0;
}
