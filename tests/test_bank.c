/* The bank format (DESIGN §5): CRC-32C, header codec, the reader's checks
 * of every header field and of each slab, faults while open, row codecs. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bank.h"
#include "test_util.h"
#include "half.h"
#include "indep_writer.h"

/* ---- local helpers ---- */

static const char *tmp_path(const char *name) { return tu_path_in("bank", name); }



static void put32(uint8_t *b, uint32_t v) { for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i)); }

static uint32_t get32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Value of row element (t, l, j) in the test banks. */
static float bank_value(uint32_t t, uint32_t l, uint32_t j)
{
    return sinf((float)(t * 131 + l * 17 + j) * 0.71f) * (1.0f + (float)(t % 5));
}

/* Test bank: n_layer 3, n_vocab 10, d_mem 8, align 512. */
#define NL 3u
#define NV 10u
#define DM 8u

static const char *make_bank(const char *name, uint32_t dtype, uint32_t flags, mkv_bank_header *out_h)
{
    const char *p = tmp_path(name);
    mkv_bank_header h;
    mkv_error err;
    uint8_t fp[32];
    for (int i = 0; i < 32; i++) fp[i] = (uint8_t)(i * 7 + 1);
    ck_assert_int_eq(mkv_bank_header_init(&h, dtype, NL, NV, DM, 512, flags, fp, &err), MKV_OK);
    mkv_bank_writer *w;
    ck_assert_msg(mkv_bank_writer_open(p, &h, &w, &err) == MKV_OK, "%s", err.msg);
    uint8_t rows[NL * (4 + 2 * DM)];
    for (uint32_t t = 0; t < NV; t++) {
        for (uint32_t l = 0; l < NL; l++) {
            float x[DM];
            for (uint32_t j = 0; j < DM; j++) x[j] = bank_value(t, l, j);
            mkv_bank_encode_row(dtype, DM, x, rows + l * h.row_bytes);
        }
        ck_assert_int_eq(mkv_bank_writer_put(w, t, rows, &err), MKV_OK);
    }
    ck_assert_int_eq(mkv_bank_writer_close(w, &err), MKV_OK);
    if (out_h) *out_h = h;
    return p;
}

static void expect_open_fails(const char *path, mkv_status want, const char *field, const char *also)
{
    mkv_bank *b = NULL;
    mkv_error err;
    memset(&err, 0, sizeof err);
    mkv_status st = mkv_bank_open(path, &b, &err);
    if (getenv("MKV_TEST_VERBOSE")) printf("%s: %s\n", mkv_status_name(st), err.msg);
    ck_assert_msg(st == want, "got %s (%s), want %s", mkv_status_name(st), err.msg, mkv_status_name(want));
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, field) != NULL, "message lacks '%s': %s", field, err.msg);
    if (also) ck_assert_msg(strstr(err.msg, also) != NULL, "message lacks '%s': %s", also, err.msg);
}

/* Copies a valid bank with one header u32 changed (and the header CRC
 * recomputed unless keep_crc), and expects the open to fail. */
static void patched_header_fails(uint32_t off, uint32_t value, bool keep_crc, mkv_status want, const char *field,
                                 const char *also)
{
    const char *src = make_bank("hdr_src.mkb", MKV_BANK_F16, MKV_BANK_FLAG_SLAB_CRC, NULL);
    uint64_t n;
    uint8_t *b = tu_read_file(src, &n);
    put32(b + off, value);
    if (!keep_crc) put32(b + 4092, mkv_crc32c(0, b, 4092));
    const char *p = tmp_path("hdr_bad.mkb");
    tu_write_file(p, b, n);
    free(b);
    expect_open_fails(p, want, field, also);
}

/* ---- CRC ---------------------------------------------------------------- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

START_TEST(test_crc32c_known_vector_and_incremental)
{
    ck_assert_uint_eq(mkv_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(mkv_crc32c(0, "", 0), 0);
    /* every length and misalignment against the bitwise definition, and
     * split computation equal to the whole */
    uint8_t buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t start = 0; start < 8; start++)
        for (size_t n = 0; n + start <= 300; n += 7) {
            uint32_t whole = mkv_crc32c(0, buf + start, n);
            ck_assert_uint_eq(whole, crc_bitwise(buf + start, n));
            size_t cut = n / 3;
            ck_assert_uint_eq(mkv_crc32c(mkv_crc32c(0, buf + start, cut), buf + start + cut, n - cut), whole);
        }
}
END_TEST

/* ---- header ---------------------------------------------------------------- */

START_TEST(test_header_init_encode_parse_round_trip)
{
    mkv_bank_header h, r;
    mkv_error err;
    uint8_t fp[32], buf[MKV_BANK_HEADER_BYTES];
    for (int i = 0; i < 32; i++) fp[i] = (uint8_t)(255 - i);
    ck_assert_int_eq(mkv_bank_header_init(&h, MKV_BANK_F16, 28, 151680, 128, 4096, 1, fp, &err), MKV_OK);
    ck_assert_uint_eq(h.row_bytes, 256);
    ck_assert_uint_eq(h.slab_bytes, 8192); /* 28·256 + 4 = 7172 -> 8192 */
    ck_assert_uint_eq(h.data_offset, 4096);
    mkv_bank_header_encode(&h, buf);
    ck_assert_mem_eq(buf, "MEKIBANK", 8);
    ck_assert_uint_eq(get32(buf + 4092), mkv_crc32c(0, buf, 4092));
    uint64_t size = h.data_offset + (uint64_t)h.n_vocab * h.slab_bytes; /* > 4 GiB arithmetic is u64 */
    ck_assert_int_eq(mkv_bank_header_parse(buf, size, "x.mkb", &r, &err), MKV_OK);
    ck_assert_mem_eq(&r, &h, sizeof h);

    ck_assert_int_eq(mkv_bank_header_init(&h, MKV_BANK_Q8, 36, 151680, 512, 65536, 0, NULL, &err), MKV_OK);
    ck_assert_uint_eq(h.row_bytes, 516);
    ck_assert_uint_eq(h.slab_bytes, 65536);  /* 36·516 + 4 = 18580 -> 65536 */
    ck_assert_uint_eq(h.data_offset, 65536); /* >= 4096 and a multiple of align */
    uint8_t zero[32] = {0};
    ck_assert_mem_eq(h.fingerprint, zero, 32);
    mkv_bank_header_encode(&h, buf);
    ck_assert_int_eq(mkv_bank_header_parse(buf, h.data_offset + (uint64_t)h.n_vocab * h.slab_bytes, "x.mkb", &r, &err),
                     MKV_OK);

    /* init refuses what a reader would */
    ck_assert_int_eq(mkv_bank_header_init(&h, 3, 1, 1, 8, 4096, 0, NULL, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_bank_header_init(&h, 1, 1, 1, 30, 4096, 0, NULL, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_bank_header_init(&h, 1, 1, 1, 8, 1000, 0, NULL, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_bank_header_init(&h, 1, 1, 1, 8, 256, 0, NULL, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_bank_header_init(&h, 1, 0, 1, 8, 4096, 0, NULL, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_bank_header_init(&h, 1, 1, 1, 8, 4096, 2, NULL, &err), MKV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_written_bank_opens_and_every_slab_decodes)
{
    for (uint32_t dtype = 1; dtype <= 2; dtype++) {
        mkv_bank_header h;
        const char *p = make_bank("ok.mkb", dtype, MKV_BANK_FLAG_SLAB_CRC, &h);
        mkv_bank *b;
        mkv_error err;
        ck_assert_msg(mkv_bank_open(p, &b, &err) == MKV_OK, "%s", err.msg);
        ck_assert_mem_eq(mkv_bank_info(b), &h, sizeof h);
        ck_assert_str_eq(mkv_bank_path(b), p);
        uint8_t *slab = malloc(h.slab_bytes);
        for (uint32_t t = 0; t < NV; t++) {
            ck_assert_msg(mkv_bank_read_slab(b, t, slab, &err) == MKV_OK, "%s", err.msg);
            for (uint32_t l = 0; l < NL; l++) {
                float x[DM];
                mkv_bank_row_to_f32(&h, slab, l, x);
                float amax = 0;
                for (uint32_t j = 0; j < DM; j++) amax = fmaxf(amax, fabsf(bank_value(t, l, j)));
                for (uint32_t j = 0; j < DM; j++) {
                    float v = bank_value(t, l, j);
                    float tol = dtype == 1 ? 0.0f : amax / 127.0f * 0.51f;
                    if (dtype == 1) ck_assert_float_eq(x[j], mkv_round_f16(v));
                    else ck_assert_float_eq_tol(x[j], v, tol);
                }
            }
            /* CRC right after the rows, then zero padding */
            uint64_t n = (uint64_t)NL * h.row_bytes;
            ck_assert_uint_eq(get32(slab + n), mkv_crc32c(0, slab, n));
            for (uint64_t i = n + 4; i < h.slab_bytes; i++) ck_assert_uint_eq(slab[i], 0);
        }
        free(slab);
        mkv_bank_close(b);
    }
}
END_TEST

START_TEST(test_wrong_magic_is_bad_magic)
{
    patched_header_fails(0, 0x4b4e4142, false, MKV_ERR_BAD_MAGIC, "magic", NULL);
}
END_TEST

START_TEST(test_version_2_is_bad_version)
{
    patched_header_fails(8, 2, false, MKV_ERR_BAD_VERSION, "version = 2", NULL);
}
END_TEST

START_TEST(test_header_crc_mismatch_is_crc_error)
{
    patched_header_fails(48, 0x12345678, true, MKV_ERR_CRC, "header crc", NULL); /* fingerprint changed, CRC not */
}
END_TEST

START_TEST(test_bad_header_fields_are_format_errors_naming_field_and_value)
{
    patched_header_fails(12, 3, false, MKV_ERR_FORMAT, "dtype = 3", NULL);
    patched_header_fails(24, 30, false, MKV_ERR_FORMAT, "d_mem = 30", "not a multiple of 4");
    patched_header_fails(24, 0, false, MKV_ERR_FORMAT, "d_mem = 0", NULL);
    patched_header_fails(16, 0, false, MKV_ERR_FORMAT, "n_layer = 0", NULL);
    patched_header_fails(20, 0, false, MKV_ERR_FORMAT, "n_vocab = 0", NULL);
    patched_header_fails(28, 17, false, MKV_ERR_FORMAT, "row_bytes = 17", "expected 16");
    patched_header_fails(32, 1024, false, MKV_ERR_FORMAT, "slab_bytes = 1024", "expected 512");
    patched_header_fails(36, 1000, false, MKV_ERR_FORMAT, "align = 1000", "power of two");
    patched_header_fails(36, 256, false, MKV_ERR_FORMAT, "align = 256", NULL);
    patched_header_fails(40, 4096 + 512 + 1, false, MKV_ERR_FORMAT, "data_offset = 4609", NULL);
    patched_header_fails(40, 0, false, MKV_ERR_FORMAT, "data_offset = 0", NULL);
    patched_header_fails(80, 6, false, MKV_ERR_FORMAT, "flags = 0x6", "unknown bits");
    patched_header_fails(2000, 1, false, MKV_ERR_FORMAT, "reserved byte 2000", NULL);
    patched_header_fails(84, 0x100, false, MKV_ERR_FORMAT, "reserved byte 85", NULL);
    /* a data_offset near 2^64 must not wrap the size check */
    patched_header_fails(44, 0xffffffffu, false, MKV_ERR_TRUNCATED, "size", NULL);
}
END_TEST

START_TEST(test_file_size_must_match_exactly)
{
    mkv_bank_header h;
    const char *src = make_bank("size_src.mkb", MKV_BANK_Q8, MKV_BANK_FLAG_SLAB_CRC, &h);
    uint64_t n;
    uint8_t *b = tu_read_file(src, &n);
    ck_assert_uint_eq(n, h.data_offset + (uint64_t)NV * h.slab_bytes);
    const char *p = tmp_path("size.mkb");
    tu_write_file(p, b, n - 1);
    expect_open_fails(p, MKV_ERR_TRUNCATED, "size", NULL);
    tu_write_file(p, b, n - h.slab_bytes);
    expect_open_fails(p, MKV_ERR_TRUNCATED, "size", NULL);
    uint8_t *big = calloc(1, n + 3);
    memcpy(big, b, n);
    tu_write_file(p, big, n + 3);
    expect_open_fails(p, MKV_ERR_FORMAT, "size", "3 trailing bytes");
    tu_write_file(p, b, 100); /* shorter than the header */
    expect_open_fails(p, MKV_ERR_TRUNCATED, "size = 100", NULL);
    tu_write_file(p, b, 0);
    expect_open_fails(p, MKV_ERR_TRUNCATED, "size = 0", NULL);
    expect_open_fails(tmp_path("absent.mkb"), MKV_ERR_IO, "open", NULL);
    free(big);
    free(b);
}
END_TEST

START_TEST(test_slab_crc_mismatch_names_token_and_offset_and_bank_stays_usable)
{
    mkv_bank_header h;
    const char *src = make_bank("crc_src.mkb", MKV_BANK_F16, MKV_BANK_FLAG_SLAB_CRC, &h);
    uint64_t n;
    uint8_t *b = tu_read_file(src, &n);
    uint64_t off5 = h.data_offset + 5ull * h.slab_bytes;
    b[off5 + h.row_bytes + 3] ^= 0x10; /* one bit of layer 1's row of token 5 */
    const char *p = tmp_path("crc.mkb");
    tu_write_file(p, b, n);
    free(b);

    mkv_bank *bank;
    mkv_error err;
    ck_assert_msg(mkv_bank_open(p, &bank, &err) == MKV_OK, "%s", err.msg);
    uint8_t *slab = malloc(h.slab_bytes);
    ck_assert_int_eq(mkv_bank_read_slab(bank, 4, slab, &err), MKV_OK);
    ck_assert_int_eq(mkv_bank_read_slab(bank, 5, slab, &err), MKV_ERR_CRC);
    char want[64];
    snprintf(want, sizeof want, "offset %" PRIu64, off5);
    ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "token = 5") && strstr(err.msg, want) &&
                      strstr(err.msg, "stored 0x") && strstr(err.msg, "rows give 0x"),
                  "%s", err.msg);
    for (uint32_t t = 0; t < NV; t++)
        ck_assert_int_eq(mkv_bank_read_slab(bank, t, slab, &err), t == 5 ? MKV_ERR_CRC : MKV_OK);
    free(slab);
    mkv_bank_close(bank);
}
END_TEST

START_TEST(test_bank_without_slab_crcs_skips_the_check)
{
    mkv_bank_header h;
    const char *src = make_bank("nocrc_src.mkb", MKV_BANK_Q8, 0, &h);
    uint64_t n;
    uint8_t *b = tu_read_file(src, &n);
    ck_assert_uint_eq(get32(b + h.data_offset + (uint64_t)NL * h.row_bytes), 0); /* CRC field zero */
    b[h.data_offset + 10] ^= 1;
    const char *p = tmp_path("nocrc.mkb");
    tu_write_file(p, b, n);
    free(b);
    mkv_bank *bank;
    mkv_error err;
    ck_assert_int_eq(mkv_bank_open(p, &bank, &err), MKV_OK);
    uint8_t *slab = malloc(h.slab_bytes);
    ck_assert_int_eq(mkv_bank_read_slab(bank, 0, slab, &err), MKV_OK);
    free(slab);
    mkv_bank_close(bank);
}
END_TEST

START_TEST(test_token_out_of_range_is_token_range)
{
    mkv_bank_header h;
    const char *p = make_bank("range.mkb", MKV_BANK_F16, MKV_BANK_FLAG_SLAB_CRC, &h);
    mkv_bank *bank;
    mkv_error err;
    ck_assert_int_eq(mkv_bank_open(p, &bank, &err), MKV_OK);
    uint8_t *slab = malloc(h.slab_bytes);
    ck_assert_int_eq(mkv_bank_read_slab(bank, NV, slab, &err), MKV_ERR_TOKEN_RANGE);
    ck_assert_msg(strstr(err.msg, "token = 10") && strstr(err.msg, p), "%s", err.msg);
    ck_assert_int_eq(mkv_bank_read_slab(bank, UINT32_MAX, slab, &err), MKV_ERR_TOKEN_RANGE);
    ck_assert_int_eq(mkv_bank_read_slab(bank, NV - 1, slab, &err), MKV_OK);
    free(slab);
    mkv_bank_close(bank);
}
END_TEST

START_TEST(test_file_truncated_while_open_gives_clean_truncated_error)
{
    mkv_bank_header h;
    const char *p = make_bank("shrink.mkb", MKV_BANK_F16, MKV_BANK_FLAG_SLAB_CRC, &h);
    mkv_bank *bank;
    mkv_error err;
    ck_assert_int_eq(mkv_bank_open(p, &bank, &err), MKV_OK);
    /* cut in the middle of token 6's slab */
    ck_assert_int_eq(truncate(p, (off_t)(h.data_offset + 6ull * h.slab_bytes + 100)), 0);
    uint8_t *slab = malloc(h.slab_bytes);
    ck_assert_int_eq(mkv_bank_read_slab(bank, 5, slab, &err), MKV_OK);
    ck_assert_int_eq(mkv_bank_read_slab(bank, 6, slab, &err), MKV_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "token = 6") && strstr(err.msg, "short read (100 of 512"), "%s", err.msg);
    ck_assert_int_eq(mkv_bank_read_slab(bank, 9, slab, &err), MKV_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, "token = 9") && strstr(err.msg, "(0 of 512"), "%s", err.msg);
    ck_assert_int_eq(mkv_bank_read_slab(bank, 0, slab, &err), MKV_OK);
    free(slab);
    mkv_bank_close(bank);
}
END_TEST

START_TEST(test_writer_refuses_out_of_order_and_incomplete_banks)
{
    mkv_bank_header h;
    mkv_error err;
    ck_assert_int_eq(mkv_bank_header_init(&h, MKV_BANK_F16, NL, NV, DM, 512, 1, NULL, &err), MKV_OK);
    const char *p = tmp_path("partial.mkb");
    unlink(p);
    mkv_bank_writer *w;
    ck_assert_int_eq(mkv_bank_writer_open(p, &h, &w, &err), MKV_OK);
    uint8_t rows[NL * 2 * DM] = {0};
    ck_assert_int_eq(mkv_bank_writer_put(w, 1, rows, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_bank_writer_put(w, 0, rows, &err), MKV_OK);
    ck_assert_int_eq(mkv_bank_writer_close(w, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "tokens written = 1"), "%s", err.msg);
    ck_assert_int_ne(access(p, F_OK), 0); /* an incomplete bank never appears (written atomically) */
    mkv_bank_header bad = h;
    bad.slab_bytes += 512;
    ck_assert_int_eq(mkv_bank_writer_open(p, &bad, &w, &err), MKV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_q8_row_error_is_within_half_a_step)
{
    uint64_t s = 12345;
    for (int trial = 0; trial < 200; trial++) {
        const uint32_t d = 4 * (uint32_t)(1 + trial % 40);
        float x[160], y[160];
        float mag = powf(10.0f, (float)(trial % 9) - 4.0f);
        for (uint32_t j = 0; j < d; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j] = ((float)(s >> 40) / 8388608.0f - 1.0f) * mag;
        }
        if (trial % 7 == 0) memset(x, 0, sizeof x); /* zero row: scale 0 */
        uint8_t row[4 + 160];
        mkv_bank_encode_row(MKV_BANK_Q8, d, x, row);
        ck_assert_uint_eq(row[2] | row[3], 0);
        mkv_bank_header h = {.dtype = MKV_BANK_Q8, .d_mem = d, .row_bytes = 4 + d};
        mkv_bank_row_to_f32(&h, row, 0, y);
        float scale = mkv_half_to_float((uint16_t)(row[0] | row[1] << 8));
        float amax = 0;
        for (uint32_t j = 0; j < d; j++) amax = fmaxf(amax, fabsf(x[j]));
        if (amax == 0) ck_assert(scale == 0.0f);
        else ck_assert(scale >= amax / 127.0f && scale <= amax / 127.0f * 1.001f + 6e-8f); /* f16, rounded up */
        for (uint32_t j = 0; j < d; j++) {
            ck_assert_msg(fabsf(y[j] - x[j]) <= scale * 0.5f * 1.00001f, "trial %d elem %u: %g vs %g (scale %g)",
                          trial, j, y[j], x[j], scale);
            ck_assert_int_le(abs((int8_t)row[4 + j]), 127);
        }
    }
}
END_TEST

START_TEST(test_reader_accepts_independently_written_banks)
{
    iw_shape sh = {.n_layer = 2, .d_model = 64, .n_head = 2, .n_kv_head = 1, .head_dim = 32, .d_ffn = 96,
                   .d_mem = 20, .n_vocab = 37, .rope_theta = 1e4f, .norm_eps = 1e-6f};
    for (int v = 0; v < 2; v++) {
        iw_opts o = {.meki = true, .qk_norm = true, .alignment = 32, .bank_dtype = v ? 2 : 1,
                     .bank_align = v ? 512 : 8192, .bank_crc = v == 0, .seed = 11};
        const char *mp = tmp_path("iw.gguf"), *bp = tmp_path("iw.mkb");
        ck_assert_int_eq(iw_write(mp, bp, &sh, &o), 0);
        mkv_bank *b;
        mkv_error err;
        ck_assert_msg(mkv_bank_open(bp, &b, &err) == MKV_OK, "%s", err.msg);
        const mkv_bank_header *h = mkv_bank_info(b);
        ck_assert_uint_eq(h->dtype, o.bank_dtype);
        ck_assert_uint_eq(h->align, o.bank_align);
        ck_assert_uint_eq(h->flags, v == 0 ? 1 : 0);
        uint8_t *slab = malloc(h->slab_bytes);
        double sum2 = 0;
        for (uint32_t t = 0; t < sh.n_vocab; t++) { /* the CRCs (v == 0) are the independent writer's */
            ck_assert_msg(mkv_bank_read_slab(b, t, slab, &err) == MKV_OK, "%s", err.msg);
            for (uint32_t l = 0; l < sh.n_layer; l++) {
                float x[20];
                mkv_bank_row_to_f32(h, slab, l, x);
                for (int j = 0; j < 20; j++) sum2 += (double)x[j] * x[j];
            }
        }
        double rms = sqrt(sum2 / (37.0 * 2 * 20));
        ck_assert_msg(rms > 0.8 && rms < 1.2, "bank rms %g", rms);
        free(slab);
        mkv_bank_close(b);
    }
}
END_TEST

static Suite *bank_suite(void)
{
    Suite *s = suite_create("bank");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_crc32c_known_vector_and_incremental);
    tcase_add_test(tc, test_header_init_encode_parse_round_trip);
    tcase_add_test(tc, test_written_bank_opens_and_every_slab_decodes);
    tcase_add_test(tc, test_q8_row_error_is_within_half_a_step);
    tcase_add_test(tc, test_reader_accepts_independently_written_banks);
    suite_add_tcase(s, tc);
    tc = tcase_create("hostile");
    tcase_add_test(tc, test_wrong_magic_is_bad_magic);
    tcase_add_test(tc, test_version_2_is_bad_version);
    tcase_add_test(tc, test_header_crc_mismatch_is_crc_error);
    tcase_add_test(tc, test_bad_header_fields_are_format_errors_naming_field_and_value);
    tcase_add_test(tc, test_file_size_must_match_exactly);
    tcase_add_test(tc, test_slab_crc_mismatch_names_token_and_offset_and_bank_stays_usable);
    tcase_add_test(tc, test_bank_without_slab_crcs_skips_the_check);
    tcase_add_test(tc, test_token_out_of_range_is_token_range);
    tcase_add_test(tc, test_file_truncated_while_open_gives_clean_truncated_error);
    tcase_add_test(tc, test_writer_refuses_out_of_order_and_incomplete_banks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(bank_suite());
}
