/* The safetensors reader and its JSON parser: valid files (every supported
 * dtype, scalars, odd shapes, metadata, shards through an index) read back
 * exactly, and hostile files each fail with their own status and a message
 * naming the file, the tensor and the value, never a crash or a huge
 * allocation (every truncated prefix of a valid file is tried too). Files
 * come from the tests' own writer (st_writer.c). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "safetensors.h"
#include "st_writer.h"
#include "test_util.h"

static const char *tp(const char *name) { return tu_path_in("safetensors", name); }

static float vals[64];

static void init_vals(void)
{
    for (int i = 0; i < 64; i++) vals[i] = (float)(i - 20) * 0.375f; /* exact in f16 and bf16 */
}

/* A valid file: a [3,5] F32, a [7] F16, a scalar BF16, a [2,1,3] BF16. */
static void write_valid(const char *path)
{
    static uint8_t a[15 * 4], b[7 * 2], c[2], d[6 * 2];
    stw_to_f32(vals, 15, a);
    stw_to_f16(vals + 15, 7, b);
    stw_to_bf16(vals + 22, 1, c);
    stw_to_bf16(vals + 23, 6, d);
    stw_tensor t[] = {
        {"w.a", "F32", 2, {3, 5}, a, sizeof a},
        {"w.b", "F16", 1, {7}, b, sizeof b},
        {"alpha", "BF16", 0, {0}, c, sizeof c},
        {"x.d", "BF16", 3, {2, 1, 3}, d, sizeof d},
    };
    ck_assert_int_eq(stw_write(path, t, 4, "{\"format\":\"pt\",\"note\":\"caf\\u00e9\"}"), 0);
}

static void check_valid(const mkv_safetensors *st)
{
    ck_assert_uint_eq(st->n_tensors, 4);
    const mkv_st_tensor *t;
    float out[16];
    mkv_error err;
    ck_assert_int_eq(mkv_st_get(st, "w.a", &t, &err), MKV_OK);
    ck_assert_uint_eq(t->dtype, MKV_ST_F32);
    ck_assert_uint_eq(t->n_dims, 2);
    ck_assert_uint_eq(t->shape[1], 5);
    ck_assert_int_eq(mkv_st_rows_f32(t, 1, 2, out, &err), MKV_OK);
    for (int i = 0; i < 10; i++) ck_assert_float_eq(out[i], vals[5 + i]);
    ck_assert_int_eq(mkv_st_rows_f32(t, 2, 2, out, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_st_get(st, "w.b", &t, &err), MKV_OK);
    mkv_st_to_f32(t, 0, 7, out);
    for (int i = 0; i < 7; i++) ck_assert_float_eq(out[i], vals[15 + i]);
    ck_assert_int_eq(mkv_st_get(st, "alpha", &t, &err), MKV_OK);
    ck_assert_uint_eq(t->n_dims, 0);
    ck_assert_uint_eq(t->numel, 1);
    mkv_st_to_f32(t, 0, 1, out);
    ck_assert_float_eq(out[0], vals[22]);
    ck_assert_int_eq(mkv_st_get(st, "x.d", &t, &err), MKV_OK);
    ck_assert_uint_eq(t->numel, 6);
    ck_assert_int_eq(mkv_st_rows_f32(t, 1, 1, out, &err), MKV_OK);
    for (int i = 0; i < 3; i++) ck_assert_float_eq(out[i], vals[26 + i]);
}

START_TEST(valid_file_reads_back_every_dtype_scalar_and_metadata)
{
    write_valid(tp("valid.safetensors"));
    mkv_safetensors *st;
    mkv_error err;
    ck_assert_msg(mkv_st_open(tp("valid.safetensors"), &st, &err) == MKV_OK, "%s", err.msg);
    check_valid(st);
    ck_assert_uint_eq(st->n_meta, 2);
    ck_assert_str_eq(st->meta[1].key, "note");
    ck_assert_str_eq(st->meta[1].value, "caf\xc3\xa9");
    const mkv_st_tensor *t;
    ck_assert_int_eq(mkv_st_get(st, "nope", &t, &err), MKV_ERR_MISSING);
    ck_assert_ptr_nonnull(strstr(err.msg, "'nope'"));
    mkv_st_close(st);
}
END_TEST

/* Two shards and an index; opened by index path and by folder. */
static void write_sharded(const char *sub, bool missing_shard, bool wrong_shard, bool dup)
{
    static uint8_t a[15 * 4], b[7 * 2], c[2], d[6 * 2];
    stw_to_f32(vals, 15, a);
    stw_to_f16(vals + 15, 7, b);
    stw_to_bf16(vals + 22, 1, c);
    stw_to_bf16(vals + 23, 6, d);
    stw_tensor s1[] = {{"w.a", "F32", 2, {3, 5}, a, sizeof a}, {"alpha", "BF16", 0, {0}, c, sizeof c}};
    stw_tensor s2[] = {{"w.b", "F16", 1, {7}, b, sizeof b}, {"x.d", "BF16", 3, {2, 1, 3}, d, sizeof d},
                       {"w.a", "F32", 2, {3, 5}, a, sizeof a}};
    ck_assert_int_eq(stw_write(tu_path_in(sub, "model-00001-of-00002.safetensors"), s1, 2, NULL), 0);
    if (!missing_shard) ck_assert_int_eq(stw_write(tu_path_in(sub, "model-00002-of-00002.safetensors"), s2, dup ? 3 : 2, NULL), 0);
    else unlink(tu_path_in(sub, "model-00002-of-00002.safetensors"));
    char idx[1024];
    snprintf(idx, sizeof idx,
             "{\"metadata\": {\"total_size\": 104},\n \"weight_map\": {\"w.a\": \"model-00001-of-00002.safetensors\", "
             "\"alpha\": \"model-00001-of-00002.safetensors\", \"w.b\": \"model-00002-of-00002.safetensors\", "
             "\"x.d\": \"%s\"}}",
             wrong_shard ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
    tu_write_file(tu_path_in(sub, "model.safetensors.index.json"), idx, strlen(idx));
}

START_TEST(sharded_checkpoint_by_index_or_folder_reads_like_one_file)
{
    write_sharded("sharded", false, false, false);
    mkv_safetensors *st;
    mkv_error err;
    ck_assert_msg(mkv_st_open(tu_path_in("sharded", "model.safetensors.index.json"), &st, &err) == MKV_OK, "%s", err.msg);
    ck_assert_uint_eq(st->n_files, 2);
    check_valid(st);
    mkv_st_close(st);
    ck_assert_msg(mkv_st_open(tu_path_in("sharded", ""), &st, &err) == MKV_OK, "%s", err.msg);
    check_valid(st);
    mkv_st_close(st);
}
END_TEST

/* Opens path; expects status `want` and every needle in the message. */
static void expect(const char *path, mkv_status want, const char *n1, const char *n2)
{
    mkv_safetensors *st = (mkv_safetensors *)1;
    mkv_error err = {0};
    mkv_status s = mkv_st_open(path, &st, &err);
    ck_assert_msg(s == want, "%s: got %s (%s), want %s", path, mkv_status_name(s), err.msg, mkv_status_name(want));
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.msg, path) || strstr(err.msg, "index.json"), "message \"%s\" does not name the file", err.msg);
    if (n1) ck_assert_msg(strstr(err.msg, n1), "message \"%s\" lacks \"%s\"", err.msg, n1);
    if (n2) ck_assert_msg(strstr(err.msg, n2), "message \"%s\" lacks \"%s\"", err.msg, n2);
    printf("safetensors rejected as expected: %s\n", err.msg);
}

/* A one-tensor file with the given header text (length field correct). */
static const char *hostile(const char *name, const char *header, uint64_t data_len)
{
    static uint8_t zeros[256];
    const char *p = tp(name);
    ck_assert_int_eq(stw_write_raw(p, strlen(header), header, zeros, data_len), 0);
    return p;
}

START_TEST(header_length_huge_zero_or_past_eof_is_rejected)
{
    const char *h = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    ck_assert_int_eq(stw_write_raw(tp("huge.st"), 1ull << 40, h, "12345678", 8), 0);
    expect(tp("huge.st"), MKV_ERR_FORMAT, "header length = 1099511627776", "limit");
    ck_assert_int_eq(stw_write_raw(tp("zero.st"), 0, h, "12345678", 8), 0);
    expect(tp("zero.st"), MKV_ERR_FORMAT, "header length = 0", NULL);
    ck_assert_int_eq(stw_write_raw(tp("pasteof.st"), strlen(h) + 9, h, "12345678", 8), 0);
    expect(tp("pasteof.st"), MKV_ERR_TRUNCATED, "past the end of the file", NULL);
    ck_assert_int_eq(stw_write_raw(tp("short.st"), 0, "", NULL, 0), 0);
    tu_write_file(tp("short.st"), "\x10\0\0", 3);
    expect(tp("short.st"), MKV_ERR_TRUNCATED, "shorter than the 8-byte header length", NULL);
}
END_TEST

START_TEST(non_json_or_non_object_header_is_a_format_error)
{
    expect(hostile("nonjson.st", "this is not json", 0), MKV_ERR_FORMAT, "header: JSON byte 0", NULL);
    expect(hostile("trailing.st", "{\"a\":1,}", 0), MKV_ERR_FORMAT, "JSON byte", "trailing comma");
    expect(hostile("array.st", "[1,2]   ", 0), MKV_ERR_FORMAT, "not a JSON object", NULL);
    expect(hostile("garbage.st", "{}  x", 0), MKV_ERR_FORMAT, "after the top-level value", NULL);
}
END_TEST

START_TEST(offsets_reversed_overlapping_or_past_the_end_are_rejected)
{
    expect(hostile("reversed.st", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8), MKV_ERR_FORMAT,
           "'t'", "begin after end");
    expect(hostile("overlap.st",
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
           MKV_ERR_FORMAT, "'a' [0, 8) and 'b' [4, 12) overlap", NULL);
    expect(hostile("pastend.st", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12),
           MKV_ERR_TRUNCATED, "'t'", "end = 16 is past the end of the data section (12 bytes)");
}
END_TEST

START_TEST(unsupported_or_unknown_dtype_is_refused_by_name)
{
    expect(hostile("i64.st", "{\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8), MKV_ERR_UNSUPPORTED,
           "dtype = I64 is not supported", "'t'");
    expect(hostile("q9.st", "{\"t\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8), MKV_ERR_FORMAT,
           "dtype = 'Q9' is not a safetensors dtype", NULL);
}
END_TEST

START_TEST(size_not_matching_shape_or_overflowing_shape_is_rejected)
{
    expect(hostile("size.st", "{\"t\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}", 8), MKV_ERR_FORMAT,
           "'t': data_offsets span 8 bytes, shape of 6 elements of F16 needs 12", NULL);
    expect(hostile("ovf.st",
                   "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8),
           MKV_ERR_FORMAT, "shape[1] = 4294967296", "overflows");
    expect(hostile("neg.st", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), MKV_ERR_FORMAT,
           "shape[0] = -2", NULL);
    expect(hostile("dims.st", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8),
           MKV_ERR_FORMAT, "9 dims", NULL);
    expect(hostile("field.st", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8),
           MKV_ERR_FORMAT, "unknown field 'x'", NULL);
    expect(hostile("dupname.st",
                   "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
           MKV_ERR_FORMAT, "'t' appears twice", NULL);
}
END_TEST

START_TEST(index_with_missing_shard_or_misplaced_tensor_is_rejected)
{
    write_sharded("noshard", true, false, false);
    expect(tu_path_in("noshard", "model.safetensors.index.json"), MKV_ERR_IO, "names shard 'model-00002-of-00002",
           "No such file");
    write_sharded("wrongshard", false, true, false);
    expect(tu_path_in("wrongshard", "model.safetensors.index.json"), MKV_ERR_MISSING,
           "tensor 'x.d' (weight_map -> model-00001-of-00002.safetensors) is not in shard", NULL);
    write_sharded("dupshard", false, false, true);
    expect(tu_path_in("dupshard", "model.safetensors.index.json"), MKV_ERR_FORMAT, "'w.a' appears twice", NULL);
    const char *bad = "{\"metadata\":{}}";
    tu_write_file(tu_path_in("nomap", "model.safetensors.index.json"), bad, strlen(bad));
    expect(tu_path_in("nomap", "model.safetensors.index.json"), MKV_ERR_FORMAT, "weight_map: missing", NULL);
    const char *up = "{\"weight_map\":{\"a\":\"../x.safetensors\"}}";
    tu_write_file(tu_path_in("escape", "model.safetensors.index.json"), up, strlen(up));
    expect(tu_path_in("escape", "model.safetensors.index.json"), MKV_ERR_FORMAT, "not a shard file name", NULL);
}
END_TEST

START_TEST(every_truncated_prefix_fails_cleanly)
{
    write_valid(tp("whole.st"));
    uint64_t n;
    uint8_t *whole = tu_read_file(tp("whole.st"), &n);
    for (uint64_t k = 0; k < n; k++) {
        tu_write_file(tp("prefix.st"), whole, k);
        mkv_safetensors *st;
        mkv_error err;
        mkv_status s = mkv_st_open(tp("prefix.st"), &st, &err);
        ck_assert_msg(s == MKV_ERR_TRUNCATED || s == MKV_ERR_FORMAT, "prefix %llu: got %s", (unsigned long long)k,
                      mkv_status_name(s));
    }
    free(whole);
}
END_TEST

/* ---- the JSON parser on its own ---- */

static mkv_status parse(const char *s, mkv_json *j)
{
    mkv_error err;
    return mkv_json_parse(s, strlen(s), "t", j, &err);
}

START_TEST(json_accepts_escapes_numbers_and_nesting)
{
    mkv_json j;
    ck_assert_int_eq(parse(" {\"a\": [1, -2.5e3, 0, 18446744073709551615, 18446744073709551616], \"b\": "
                           "\"x\\n\\u0041\\ud83d\\ude00\", \"c\": {\"d\": [true, false, null]}} ", &j), MKV_OK);
    uint32_t a = mkv_json_get(&j, 0, "a");
    ck_assert_uint_eq(j.v[a].n, 5);
    uint32_t e = j.v[a].first;
    ck_assert(j.v[e].is_uint && j.v[e].u == 1);
    e = j.v[e].next;
    ck_assert(!j.v[e].is_uint && j.v[e].num == -2500.0);
    e = j.v[j.v[e].next].next;
    ck_assert(j.v[e].is_uint && j.v[e].u == UINT64_MAX);
    ck_assert(!j.v[j.v[e].next].is_uint); /* 2^64 does not fit */
    ck_assert_str_eq(j.v[mkv_json_get(&j, 0, "b")].str, "x\nA\xf0\x9f\x98\x80");
    ck_assert_uint_eq(mkv_json_get(&j, 0, "zz"), MKV_JSON_NONE);
    mkv_json_free(&j);
}
END_TEST

START_TEST(json_rejects_what_the_grammar_forbids)
{
    const char *bad[] = {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "\"a\tb\"", "'a'", "{a:1}",
                         "[1] [2]", "/* c */ 1", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "[1 2]", "{\"a\" 1}",
                         "1e", "-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mkv_json j;
        mkv_error err;
        ck_assert_msg(mkv_json_parse(bad[i], strlen(bad[i]), "t", &j, &err) == MKV_ERR_FORMAT, "accepted '%s'", bad[i]);
    }
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    mkv_json j;
    mkv_error err;
    ck_assert_int_eq(mkv_json_parse(deep, 200, "t", &j, &err), MKV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "nesting"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, valid_file_reads_back_every_dtype_scalar_and_metadata);
    tcase_add_test(tc, sharded_checkpoint_by_index_or_folder_reads_like_one_file);
    tcase_add_test(tc, header_length_huge_zero_or_past_eof_is_rejected);
    tcase_add_test(tc, non_json_or_non_object_header_is_a_format_error);
    tcase_add_test(tc, offsets_reversed_overlapping_or_past_the_end_are_rejected);
    tcase_add_test(tc, unsupported_or_unknown_dtype_is_refused_by_name);
    tcase_add_test(tc, size_not_matching_shape_or_overflowing_shape_is_rejected);
    tcase_add_test(tc, index_with_missing_shard_or_misplaced_tensor_is_rejected);
    tcase_add_test(tc, every_truncated_prefix_fails_cleanly);
    suite_add_tcase(s, tc);
    TCase *tj = tcase_create("json");
    tcase_add_test(tj, json_accepts_escapes_numbers_and_nesting);
    tcase_add_test(tj, json_rejects_what_the_grammar_forbids);
    suite_add_tcase(s, tj);
    return s;
}

int main(void)
{
    init_vals();
    return tu_run_suite(suite());
}
