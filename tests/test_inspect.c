/* mekivk inspect (hosttools/cmd_inspect*.c): the report on sound files says
 * OK and returns 0; damaged or refused files return 1 with the reason in
 * the report; kinds told by content, not by name. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gguf.h"
#include "synth.h"
#include "test_util.h"

static char dir[PATH_MAX];

static const char *in_dir(const char *file)
{
    static char ring[4][PATH_MAX + 64];
    static unsigned next;
    char *p = ring[next++ % 4];
    snprintf(p, sizeof ring[0], "%s/%s", dir, file);
    return p;
}

/* Once, in the runner: a tiny qwen2 MeKi model with Q8_0 matrices. */
static void make_model(void)
{
    snprintf(dir, sizeof dir, "%s", tu_path_in("inspect", "tiny"));
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    o.arch = "qwen2";
    o.wtype = MKV_GGML_Q8_0;
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
}

/* Runs mkv_inspect_file on path; the report in a malloc'd string. */
static int inspect(const char *path, bool verify, char **report)
{
    size_t len;
    FILE *f = open_memstream(report, &len);
    ck_assert_ptr_nonnull(f);
    int rc = mkv_inspect_file(path, verify, f);
    fclose(f);
    if (getenv("MKV_TEST_VERBOSE")) printf("%s", *report);
    return rc;
}

static void expect(const char *path, bool verify, int want_rc, const char *s1, const char *s2)
{
    char *r = NULL;
    int rc = inspect(path, verify, &r);
    ck_assert_msg(rc == want_rc, "%s: rc %d, want %d; report:\n%s", path, rc, want_rc, r);
    ck_assert_msg(strstr(r, s1), "%s: report lacks '%s':\n%s", path, s1, r);
    if (s2) ck_assert_msg(strstr(r, s2), "%s: report lacks '%s':\n%s", path, s2, r);
    free(r);
}

START_TEST(sound_gguf_lists_keys_tensors_and_says_ok)
{
    expect(in_dir("model.gguf"), false, 0, "format: GGUF v3", "model: qwen2, 4 layers");
    char *r = NULL;
    ck_assert_int_eq(inspect(in_dir("model.gguf"), false, &r), 0);
    ck_assert_ptr_nonnull(strstr(r, "q/k/v bias, tied output: OK"));
    ck_assert_ptr_nonnull(strstr(r, "meki.bank_fingerprint"));
    ck_assert_ptr_nonnull(strstr(r, "u8[32]"));
    ck_assert_ptr_nonnull(strstr(r, "blk.3.attn_v.bias"));
    ck_assert_ptr_nonnull(strstr(r, "Q8_0"));
    ck_assert_ptr_nonnull(strstr(r, "totals: 62 tensors"));
    free(r);
}
END_TEST

START_TEST(gguf_the_engine_refuses_returns_1_with_the_reason)
{
    uint64_t n;
    uint8_t *b = tu_read_file(in_dir("model.gguf"), &n);
    uint8_t *hit = memmem(b, n, "qwen2", 5); /* the first: general.architecture's value */
    ck_assert_ptr_nonnull(hit);
    memcpy(hit, "gpt-9", 5);
    tu_write_file(in_dir("arch.bin"), b, n);
    expect(in_dir("arch.bin"), false, 1, "model: error:", "general.architecture = 'gpt-9'");
    tu_write_file(in_dir("short.gguf"), b, 100);
    expect(in_dir("short.gguf"), false, 1, "error:", "cannot fit");
    free(b);
}
END_TEST

START_TEST(gguf_report_shows_the_meki_gate_input)
{
    expect(in_dir("model.gguf"), false, 0, "MeKi d_mem 64, gate input norm,", NULL); /* no key: norm */
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof sub, "%s/residual", dir);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), sub);
    o.gate_input = "residual";
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    expect(in_dir("residual/model.gguf"), false, 0, "MeKi d_mem 64, gate input residual,", "meki.gate_input");
}
END_TEST

START_TEST(sound_bank_verifies_every_slab)
{
    expect(in_dir("bank.mkb"), true, 0, "bank: 4 layers x 4096 tokens x d_mem 64: OK",
           "verify: 4096 slabs read, 0 CRC mismatches, 0 read errors");
    expect(in_dir("bank.mkb"), false, 0, "fingerprint", "file size    16781312 bytes, header says 16781312 (matches)");
}
END_TEST

START_TEST(bank_with_a_flipped_row_byte_fails_verify_naming_the_token)
{
    uint64_t n;
    uint8_t *b = tu_read_file(in_dir("bank.mkb"), &n);
    b[4096 + 7 * 4096 + 10] ^= 0x20; /* token 7, layer 0 row */
    tu_write_file(in_dir("flipped.mkb"), b, n);
    expect(in_dir("flipped.mkb"), false, 0, "bank: 4 layers", NULL); /* header alone is sound */
    expect(in_dir("flipped.mkb"), true, 1, "token = 7", "1 CRC mismatches");
    tu_write_file(in_dir("truncated.mkb"), b, n - 1);
    expect(in_dir("truncated.mkb"), false, 1, "(MISMATCH)", "bank: error:");
    b[30] ^= 1; /* row_bytes: the header CRC no longer matches */
    tu_write_file(in_dir("badhdr.mkb"), b, n);
    expect(in_dir("badhdr.mkb"), true, 1, "header crc", "MKV_ERR_CRC");
    free(b);
}
END_TEST

START_TEST(kind_is_told_by_content_not_by_name)
{
    /* a bank named .gguf is reported as a bank, and the reverse */
    uint64_t n;
    uint8_t *b = tu_read_file(in_dir("bank.mkb"), &n);
    tu_write_file(in_dir("bank_named.gguf"), b, 8192);
    free(b);
    expect(in_dir("bank_named.gguf"), false, 1, "format: MeKi bank", NULL);
    b = tu_read_file(in_dir("model.gguf"), &n);
    tu_write_file(in_dir("model_named.mkb"), b, n);
    free(b);
    expect(in_dir("model_named.mkb"), false, 0, "format: GGUF v3", NULL);
    /* safetensors: u64 header length, then '{' */
    static const char st_bad[] = "\x07\0\0\0\0\0\0\0{\"a\":1}";
    tu_write_file(in_dir("ckpt.bin"), st_bad, sizeof st_bad - 1);
    expect(in_dir("ckpt.bin"), false, 1, "ckpt.bin", NULL);
    static const char st_ok[] = "\x36\0\0\0\0\0\0\0{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
                                "\0\0\x80\x3f\0\0\0\x40";
    tu_write_file(in_dir("ckpt_ok.bin"), st_ok, sizeof st_ok - 1);
    expect(in_dir("ckpt_ok.bin"), false, 0, "F32", "total: 1 tensors");
    tu_write_file(in_dir("text.gguf"), "hello world\n", 12);
    expect(in_dir("text.gguf"), false, 1, "unknown format", NULL);
    expect(in_dir("absent.gguf"), false, 1, "open", NULL);
    expect(dir, false, 1, "is a directory, not a regular file", NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("inspect");
    TCase *tc = tcase_create("inspect");
    tcase_add_unchecked_fixture(tc, make_model, NULL);
    tcase_add_test(tc, sound_gguf_lists_keys_tensors_and_says_ok);
    tcase_add_test(tc, gguf_the_engine_refuses_returns_1_with_the_reason);
    tcase_add_test(tc, gguf_report_shows_the_meki_gate_input);
    tcase_add_test(tc, sound_bank_verifies_every_slab);
    tcase_add_test(tc, bank_with_a_flipped_row_byte_fails_verify_naming_the_token);
    tcase_add_test(tc, kind_is_told_by_content_not_by_name);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
