/* GGUF reader and writer, model description: valid files round-trip, and
 * every kind of hostile file is refused with the right status and a message
 * naming the file and the field. Hostile files are made by patching bytes
 * of valid ones, located by construction (raw emitter below) or by search. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"
#include "gguf.h"
#include "gguf_write.h"
#include "half.h"
#include "indep_writer.h"
#include "model_desc.h"
#include "quantize.h"
#include "synth.h"
#include "test_util.h"

/* ---- local file helpers (test_util.c links the Vulkan runtime) ---------- */

static const char *tmp_path(const char *name) { return tu_path_in("gguf", name); }



static void put_le(uint8_t *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
}

/* Opens path and checks the status and that the message names the file
 * and contains `field` (and `also`, when given). */
static void expect_open_fails(const char *path, mkv_status want, const char *field, const char *also)
{
    mkv_gguf *g = NULL;
    mkv_error err;
    memset(&err, 0, sizeof err);
    mkv_status st = mkv_gguf_open(path, &g, &err);
    if (getenv("MKV_TEST_VERBOSE")) printf("%s: %s\n", mkv_status_name(st), err.msg);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", path, mkv_status_name(st), err.msg, mkv_status_name(want));
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, field) != NULL, "message does not name '%s': %s", field, err.msg);
    if (also) ck_assert_msg(strstr(err.msg, also) != NULL, "message lacks '%s': %s", also, err.msg);
}

/* ---- a raw GGUF emitter with the positions of its fields ------------------ */

typedef struct raw {
    uint8_t b[4096];
    uint64_t n;
    /* positions of fields, for patching */
    uint64_t n_tensors, n_kv, key0_len, key_arr_name, str_len, arr_n, sarr_n, sarr_s0_len, align_val, kv_type1;
    uint64_t t_name[2], t_ndims[2], t_ne[2], t_type[2], t_off[2];
    uint64_t data_start;
} raw;

static void r_u(raw *r, uint64_t v, int n)
{
    ck_assert(r->n + (uint64_t)n <= sizeof r->b);
    put_le(r->b + r->n, v, n);
    r->n += (uint64_t)n;
}

static void r_s(raw *r, const char *s)
{
    r_u(r, strlen(s), 8);
    memcpy(r->b + r->n, s, strlen(s));
    r->n += strlen(s);
}

/* A small valid file: keys general.alignment (32), a.str (string),
 * a.arr (u32[3]), a.sarr (string[2]); tensors t.a F32 [8] at 0 and t.b F16
 * [16, 2] at 32. The last tensor ends exactly at the end of the file, so
 * every proper prefix is invalid. */
static void raw_build(raw *r)
{
    memset(r, 0, sizeof *r);
    r_u(r, 0x46554747, 4); /* "GGUF" */
    r_u(r, 3, 4);
    r->n_tensors = r->n;
    r_u(r, 2, 8);
    r->n_kv = r->n;
    r_u(r, 4, 8);
    r->key0_len = r->n;
    r_s(r, "general.alignment");
    r_u(r, MKV_GGUF_U32, 4);
    r->align_val = r->n;
    r_u(r, 32, 4);
    r_s(r, "a.str");
    r->kv_type1 = r->n;
    r_u(r, MKV_GGUF_STRING, 4);
    r->str_len = r->n;
    r_s(r, "hello");
    r->key_arr_name = r->n + 8;
    r_s(r, "a.arr");
    r_u(r, MKV_GGUF_ARRAY, 4);
    r_u(r, MKV_GGUF_U32, 4);
    r->arr_n = r->n;
    r_u(r, 3, 8);
    for (int i = 0; i < 3; i++) r_u(r, (uint64_t)(10 + i), 4);
    r_s(r, "a.sarr");
    r_u(r, MKV_GGUF_ARRAY, 4);
    r_u(r, MKV_GGUF_STRING, 4);
    r->sarr_n = r->n;
    r_u(r, 2, 8);
    r->sarr_s0_len = r->n;
    r_s(r, "x");
    r_s(r, "yz");
    const char *names[2] = {"t.a", "t.b"};
    const uint32_t ndims[2] = {1, 2}, types[2] = {MKV_GGML_F32, MKV_GGML_F16};
    const uint64_t ne[2][2] = {{8, 1}, {16, 2}}, offs[2] = {0, 32};
    for (int t = 0; t < 2; t++) {
        r->t_name[t] = r->n + 8;
        r_s(r, names[t]);
        r->t_ndims[t] = r->n;
        r_u(r, ndims[t], 4);
        r->t_ne[t] = r->n;
        for (uint32_t d = 0; d < ndims[t]; d++) r_u(r, ne[t][d], 8);
        r->t_type[t] = r->n;
        r_u(r, types[t], 4);
        r->t_off[t] = r->n;
        r_u(r, offs[t], 8);
    }
    while (r->n % 32) r_u(r, 0, 1);
    r->data_start = r->n;
    for (int i = 0; i < 8; i++) {
        float f = (float)i + 0.5f;
        uint32_t u;
        memcpy(&u, &f, 4);
        r_u(r, u, 4);
    }
    for (int i = 0; i < 32; i++) r_u(r, mkv_float_to_half((float)i * 0.25f), 2);
}

static const char *raw_write(const raw *r, const char *name)
{
    const char *p = tmp_path(name);
    tu_write_file(p, r->b, r->n);
    return p;
}

/* ---- writer -> reader round trip ---------------------------------------- */

#define RT_N 4
static const uint32_t rt_types[RT_N] = {MKV_GGML_F32, MKV_GGML_F16, MKV_GGML_Q8_0, MKV_GGML_Q4_0};
static const uint64_t rt_ne[RT_N][4] = {{5, 1, 1, 1}, {7, 3, 1, 1}, {64, 2, 1, 1}, {32, 1, 1, 2}};
static const uint32_t rt_nd[RT_N] = {1, 2, 2, 4};
static const char *const rt_names[RT_N] = {"t.f32", "t.f16", "t.q8", "t.q4"};

static float rt_value(uint32_t t, uint64_t i) { return sinf((float)(t * 1000 + i) * 0.37f) * 3.0f; }

static mkv_status rt_fill(void *user, uint32_t index, const char *name, void *dst, uint64_t nbytes, mkv_error *err)
{
    const uint64_t *ne = rt_ne[index];
    uint64_t n = ne[0] * ne[1] * ne[2] * ne[3];
    ck_assert_uint_eq(nbytes, mkv_ggml_nbytes(rt_types[index], n));
    ck_assert_str_eq(name, rt_names[index]);
    float *x = malloc(n * sizeof *x);
    for (uint64_t i = 0; i < n; i++) x[i] = rt_value(index, i);
    uint8_t *d = dst;
    switch (rt_types[index]) {
    case MKV_GGML_F32: memcpy(d, x, n * 4); break;
    case MKV_GGML_F16: for (uint64_t i = 0; i < n; i++) put_le(d + 2 * i, mkv_float_to_half(x[i]), 2); break;
    case MKV_GGML_Q8_0: mkv_quantize_q8_0(x, n, d); break;
    default: mkv_quantize_q4_0(x, n, d); break;
    }
    free(x);
    (void)user;
    (void)err;
    return MKV_OK;
}

START_TEST(test_roundtrip_every_metadata_type_tensors_and_alignment)
{
    mkv_gguf_writer *w;
    mkv_error err;
    ck_assert_int_eq(mkv_gguf_writer_create(&w, &err), MKV_OK);
    uint8_t u8 = 250, bt = 1;
    int8_t i8 = -100;
    uint16_t u16 = 65000;
    int16_t i16 = -32000;
    int32_t i32 = -2000000000;
    uint64_t u64 = 0xfedcba9876543210ull;
    int64_t i64 = -(1ll << 60);
    double f64 = -1.0 / 3.0;
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.u8", MKV_GGUF_U8, &u8), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.i8", MKV_GGUF_I8, &i8), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.u16", MKV_GGUF_U16, &u16), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.i16", MKV_GGUF_I16, &i16), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_u32(w, "k.u32", 4000000000u), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.i32", MKV_GGUF_I32, &i32), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_f32(w, "k.f32", 1.5f), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.bool", MKV_GGUF_BOOL, &bt), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_str(w, "k.str", "qwen3"), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.u64", MKV_GGUF_U64, &u64), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.i64", MKV_GGUF_I64, &i64), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_scalar(w, "k.f64", MKV_GGUF_F64, &f64), MKV_OK);
    const uint8_t fp[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(mkv_gguf_set_u8_array(w, "k.u8arr", fp, 5), MKV_OK);
    const int32_t ia[3] = {-1, 0, 7};
    ck_assert_int_eq(mkv_gguf_set_array(w, "k.i32arr", MKV_GGUF_I32, ia, 3), MKV_OK);
    const char *sa[3] = {"a", "", "ccc"};
    ck_assert_int_eq(mkv_gguf_set_str_array(w, "k.strarr", sa, 3), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_str(w, "k.replaced", "old"), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_u32(w, "k.replaced", 9), MKV_OK); /* replaces: no duplicate key */
    ck_assert_int_eq(mkv_gguf_set_u32(w, "general.alignment", 48), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_gguf_set_u32(w, "general.alignment", 64), MKV_OK);

    for (int i = 0; i < RT_N; i++)
        ck_assert_int_eq(mkv_gguf_add_tensor(w, rt_names[i], rt_nd[i], rt_ne[i], rt_types[i]), MKV_OK);
    ck_assert_int_eq(mkv_gguf_add_tensor(w, "t.f32", 1, rt_ne[0], MKV_GGML_F32), MKV_ERR_INVALID_ARG);
    const uint64_t ne33[4] = {33, 1, 1, 1};
    ck_assert_int_eq(mkv_gguf_add_tensor(w, "t.bad", 1, ne33, MKV_GGML_Q8_0), MKV_ERR_INVALID_ARG);
    const char *path = tmp_path("roundtrip.gguf");
    ck_assert_int_eq(mkv_gguf_writer_write(w, path, rt_fill, NULL, &err), MKV_OK);
    uint64_t expect_size = mkv_gguf_writer_size(w);
    mkv_gguf_writer_free(w);

    mkv_gguf *g;
    mkv_status st = mkv_gguf_open(path, &g, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
    ck_assert_uint_eq(g->size, expect_size);
    ck_assert_uint_eq(g->version, 3);
    ck_assert_uint_eq(g->alignment, 64);
    ck_assert_uint_eq(g->data_offset % 64, 0);
    ck_assert_uint_eq(g->n_kv, 17);
    const mkv_gguf_kv *kv;
    ck_assert_uint_eq(mkv_gguf_find_kv(g, "k.u8")->v.u64, 250);
    ck_assert_int_eq(mkv_gguf_find_kv(g, "k.i8")->v.i64, -100);
    ck_assert_uint_eq(mkv_gguf_find_kv(g, "k.u16")->v.u64, 65000);
    ck_assert_int_eq(mkv_gguf_find_kv(g, "k.i16")->v.i64, -32000);
    ck_assert_int_eq(mkv_gguf_find_kv(g, "k.i32")->v.i64, -2000000000);
    ck_assert(mkv_gguf_find_kv(g, "k.f32")->v.f64 == 1.5);
    ck_assert_uint_eq(mkv_gguf_find_kv(g, "k.bool")->v.u64, 1);
    ck_assert_uint_eq(mkv_gguf_find_kv(g, "k.u64")->v.u64, u64);
    ck_assert_int_eq(mkv_gguf_find_kv(g, "k.i64")->v.i64, i64);
    ck_assert(mkv_gguf_find_kv(g, "k.f64")->v.f64 == f64);
    kv = mkv_gguf_find_kv(g, "k.u8arr");
    ck_assert(kv->type == MKV_GGUF_ARRAY && kv->arr_type == MKV_GGUF_U8 && kv->arr_n == 5);
    ck_assert_mem_eq(kv->arr_data, fp, 5);
    kv = mkv_gguf_find_kv(g, "k.i32arr");
    ck_assert(kv->arr_type == MKV_GGUF_I32 && kv->arr_n == 3);
    ck_assert_mem_eq(kv->arr_data, ia, 12);
    kv = mkv_gguf_find_kv(g, "k.strarr");
    ck_assert(kv->arr_type == MKV_GGUF_STRING && kv->arr_n == 3);
    ck_assert_ptr_null(mkv_gguf_find_kv(g, "k.absent"));

    /* typed getters: conversions that fit succeed, others are FORMAT */
    uint32_t u;
    float f;
    char s[8];
    ck_assert_int_eq(mkv_gguf_get_u32(g, "k.u32", &u, &err), MKV_OK);
    ck_assert_uint_eq(u, 4000000000u);
    ck_assert_int_eq(mkv_gguf_get_u32(g, "k.replaced", &u, &err), MKV_OK);
    ck_assert_uint_eq(u, 9);
    ck_assert_int_eq(mkv_gguf_get_u32(g, "k.u8", &u, &err), MKV_OK);
    ck_assert_uint_eq(u, 250);
    ck_assert_int_eq(mkv_gguf_get_u32(g, "k.i8", &u, &err), MKV_ERR_FORMAT);
    ck_assert_int_eq(mkv_gguf_get_u32(g, "k.u64", &u, &err), MKV_ERR_FORMAT);
    ck_assert_int_eq(mkv_gguf_get_u32(g, "k.str", &u, &err), MKV_ERR_FORMAT);
    ck_assert_int_eq(mkv_gguf_get_u32(g, "k.nope", &u, &err), MKV_ERR_MISSING);
    ck_assert_ptr_nonnull(strstr(err.msg, "k.nope"));
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_int_eq(mkv_gguf_get_f32(g, "k.f64", &f, &err), MKV_OK);
    ck_assert(f == (float)f64);
    ck_assert_int_eq(mkv_gguf_get_f32(g, "k.strarr", &f, &err), MKV_ERR_FORMAT);
    ck_assert_int_eq(mkv_gguf_get_str(g, "k.str", s, sizeof s, &err), MKV_OK);
    ck_assert_str_eq(s, "qwen3");
    ck_assert_int_eq(mkv_gguf_get_str(g, "k.str", s, 5, &err), MKV_ERR_FORMAT); /* no room for the NUL */
    ck_assert_int_eq(mkv_gguf_get_str(g, "k.u32", s, sizeof s, &err), MKV_ERR_FORMAT);

    /* tensors: shapes, types, aligned offsets, data exactly as written */
    ck_assert_uint_eq(g->n_tensors, RT_N);
    for (uint32_t i = 0; i < RT_N; i++) {
        const mkv_gguf_tensor *t = mkv_gguf_find_tensor(g, rt_names[i]);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(t->n_dims, rt_nd[i]);
        ck_assert_mem_eq(t->ne, rt_ne[i], sizeof rt_ne[i]);
        ck_assert_uint_eq(t->type, rt_types[i]);
        ck_assert_uint_eq(t->offset % 64, 0);
        uint64_t n = rt_ne[i][0] * rt_ne[i][1] * rt_ne[i][2] * rt_ne[i][3];
        ck_assert_uint_eq(t->nbytes, mkv_ggml_nbytes(rt_types[i], n));
        uint8_t *want = malloc(t->nbytes);
        rt_fill(NULL, i, rt_names[i], want, t->nbytes, &err);
        ck_assert_mem_eq(t->data, want, t->nbytes);
        free(want);
        float *x = malloc(n * sizeof *x);
        ck_assert_int_eq(mkv_gguf_tensor_to_f32(g, t, x, &err), MKV_OK);
        for (uint64_t k = 0; k < n; k++) {
            const uint8_t *blk;
            float r;
            switch (rt_types[i]) {
            case MKV_GGML_F32: r = rt_value(i, k); break;
            case MKV_GGML_F16: r = mkv_round_f16(rt_value(i, k)); break;
            case MKV_GGML_Q8_0: /* {f16 d; int8 q[32]} */
                blk = (const uint8_t *)t->data + k / 32 * 34;
                r = mkv_half_to_float((uint16_t)(blk[0] | blk[1] << 8)) * (float)(int8_t)blk[2 + k % 32];
                break;
            default: /* Q4_0: {f16 d; u8 qs[16]}, j < 16 low nibble, j + 16 high */
                blk = (const uint8_t *)t->data + k / 32 * 18;
                r = mkv_half_to_float((uint16_t)(blk[0] | blk[1] << 8)) *
                    (float)((k % 32 < 16 ? blk[2 + k % 32] & 15 : blk[2 + k % 32 - 16] >> 4) - 8);
                break;
            }
            ck_assert_msg(x[k] == r, "%s[%" PRIu64 "] = %g, want %g", rt_names[i], k, x[k], r);
            /* and near the value written: within the type's rounding */
            float tol = rt_types[i] == MKV_GGML_Q4_0 ? 3.0f / 8 : rt_types[i] == MKV_GGML_Q8_0 ? 3.0f / 127 : 2e-3f;
            ck_assert_msg(fabsf(x[k] - rt_value(i, k)) <= tol, "%s[%" PRIu64 "] = %g, written %g", rt_names[i], k, x[k],
                          rt_value(i, k));
        }
        /* rows one at a time agree with the whole tensor; rows past the end are refused */
        uint64_t rows = mkv_gguf_tensor_rows(t);
        for (uint64_t row = 0; row < rows; row++) {
            float y[64];
            ck_assert_int_eq(mkv_gguf_rows_to_f32(g, t, row, 1, y, &err), MKV_OK);
            ck_assert_mem_eq(y, x + row * rt_ne[i][0], rt_ne[i][0] * sizeof(float));
        }
        ck_assert_int_eq(mkv_gguf_rows_to_f32(g, t, rows, 1, x, &err), MKV_ERR_INVALID_ARG);
        free(x);
    }
    mkv_gguf_close(g);
}
END_TEST

START_TEST(test_ggml_nbytes_of_every_block_type)
{
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_F32, 10), 40);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_F16, 10), 20);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_BF16, 10), 20);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q8_0, 64), 68);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q4_0, 64), 36);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q4_1, 32), 20);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q5_0, 32), 22);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q5_1, 32), 24);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q8_1, 32), 36);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q2_K, 256), 84);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q3_K, 256), 110);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q4_K, 512), 288);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q5_K, 256), 176);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q6_K, 256), 210);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q8_K, 256), 292);
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_Q8_0, 33), 0);             /* not whole blocks */
    ck_assert_uint_eq(mkv_ggml_nbytes(99, 32), 0);                        /* unknown type */
    ck_assert_uint_eq(mkv_ggml_nbytes(MKV_GGML_F32, UINT64_MAX / 2), 0);  /* overflow */
    ck_assert_str_eq(mkv_ggml_type_name(MKV_GGML_BF16), "BF16");
    ck_assert_str_eq(mkv_ggml_type_name(MKV_GGML_Q8_0), "Q8_0");
    ck_assert_str_eq(mkv_ggml_type_name(99), "unknown");
}
END_TEST

START_TEST(test_quantizers_follow_ggml_block_layout_and_error_bounds)
{
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = sinf((float)i * 1.3f) * (i < 32 ? 2.0f : 0.01f);
    x[5] = -3.0f; /* largest magnitude of block 0, negative */
    uint8_t q8[68], q4[36];
    mkv_quantize_q8_0(x, 64, q8);
    mkv_quantize_q4_0(x, 64, q4);
    for (int b = 0; b < 2; b++) {
        const uint8_t *y8 = q8 + 34 * b, *y4 = q4 + 18 * b;
        float d8 = mkv_half_to_float((uint16_t)(y8[0] | y8[1] << 8));
        float d4 = mkv_half_to_float((uint16_t)(y4[0] | y4[1] << 8));
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[32 * b + j]) > amax) {
                amax = fabsf(x[32 * b + j]);
                max = x[32 * b + j];
            }
        ck_assert_float_eq_tol(d8, amax / 127.0f, amax / 127.0f * 1e-3f);
        ck_assert_float_eq_tol(d4, max / -8.0f, amax / 8.0f * 1e-3f);
        for (int j = 0; j < 32; j++) {
            float v = x[32 * b + j];
            float r8 = d8 * (float)(int8_t)y8[2 + j];
            ck_assert_msg(fabsf(r8 - v) <= d8 * 0.5f + amax * 2e-3f, "q8 block %d elem %d: %g vs %g", b, j, r8, v);
            int q = j < 16 ? (y4[2 + j] & 15) : (y4[2 + j - 16] >> 4); /* j: low nibble, j+16: high */
            float r4 = d4 * (float)(q - 8);
            /* codes span [-8, 7]·d: values beyond 7.5·|d| on the side
             * opposite the extreme clamp to 15, within one step */
            float bound = (q == 15 ? 1.0f : 0.5f) * fabsf(d4) + amax * 2e-3f;
            ck_assert_msg(fabsf(r4 - v) <= bound, "q4 block %d elem %d: %g vs %g", b, j, r4, v);
        }
    }
    ck_assert_uint_eq(q4[2 + 5] & 15, 0); /* the extreme value maps to q = 0 (d = max / -8) */
    float z[32] = {0};
    mkv_quantize_q4_0(z, 32, q4);
    mkv_quantize_q8_0(z, 32, q8);
    ck_assert(mkv_half_to_float((uint16_t)(q4[0] | q4[1] << 8)) == 0.0f); /* -0 as in ggml */
    ck_assert_uint_eq(q4[2], 0x88); /* zeros are the mid code 8 */
    ck_assert_uint_eq(q8[0] | q8[1] | q8[2], 0);
}
END_TEST

/* ---- raw files ---------------------------------------------------------------- */

START_TEST(test_raw_file_opens_with_expected_tables_v3_and_v2)
{
    raw r;
    raw_build(&r);
    const char *p = raw_write(&r, "raw_ok.gguf");
    mkv_gguf *g;
    mkv_error err;
    ck_assert_msg(mkv_gguf_open(p, &g, &err) == MKV_OK, "%s", err.msg);
    ck_assert_uint_eq(g->data_offset, r.data_start);
    const mkv_gguf_tensor *b = mkv_gguf_find_tensor(g, "t.b");
    ck_assert_ptr_eq(b->data, g->map + r.data_start + 32);
    const mkv_gguf_kv *kv = mkv_gguf_find_kv(g, "a.str");
    ck_assert_uint_eq(kv->v.str.len, 5);
    ck_assert_mem_eq(kv->v.str.ptr, "hello", 5);
    float x[32];
    ck_assert_int_eq(mkv_gguf_tensor_to_f32(g, b, x, &err), MKV_OK);
    ck_assert_float_eq(x[31], 7.75f);
    /* array elements, scalars and strings */
    mkv_gguf_kv el;
    kv = mkv_gguf_find_kv(g, "a.arr");
    ck_assert_int_eq(mkv_gguf_array_get(g, kv, 2, &el, &err), MKV_OK);
    ck_assert(el.type == MKV_GGUF_U32 && el.v.u64 == 12);
    ck_assert_int_eq(mkv_gguf_array_get(g, kv, 3, &el, &err), MKV_ERR_INVALID_ARG);
    kv = mkv_gguf_find_kv(g, "a.sarr");
    ck_assert_int_eq(mkv_gguf_array_get(g, kv, 1, &el, &err), MKV_OK);
    ck_assert(el.type == MKV_GGUF_STRING && el.v.str.len == 2 && memcmp(el.v.str.ptr, "yz", 2) == 0);
    ck_assert_int_eq(mkv_gguf_array_get(g, mkv_gguf_find_kv(g, "a.str"), 0, &el, &err), MKV_ERR_INVALID_ARG);
    ck_assert_str_eq(mkv_gguf_vtype_name(MKV_GGUF_F64), "f64");
    ck_assert_str_eq(mkv_gguf_vtype_name(13), "unknown");
    mkv_gguf_close(g);

    put_le(r.b + 4, 2, 4); /* v2 has the same layout */
    p = raw_write(&r, "raw_v2.gguf");
    ck_assert_int_eq(mkv_gguf_open(p, &g, &err), MKV_OK);
    ck_assert_uint_eq(g->version, 2);
    mkv_gguf_close(g);
}
END_TEST

START_TEST(test_bf16_tensor_converts_to_f32)
{
    raw r;
    raw_build(&r);
    put_le(r.b + r.t_type[1], MKV_GGML_BF16, 4); /* same size as F16 */
    for (int i = 0; i < 32; i++) put_le(r.b + r.data_start + 32 + 2 * i, 0x3f80u + (i == 3), 2);
    const char *p = raw_write(&r, "raw_bf16.gguf");
    mkv_gguf *g;
    mkv_error err;
    ck_assert_msg(mkv_gguf_open(p, &g, &err) == MKV_OK, "%s", err.msg);
    float x[32];
    ck_assert_int_eq(mkv_gguf_tensor_to_f32(g, mkv_gguf_find_tensor(g, "t.b"), x, &err), MKV_OK);
    ck_assert_float_eq(x[0], 1.0f);
    ck_assert_float_eq(x[3], 1.0078125f);
    mkv_gguf_close(g);
}
END_TEST

START_TEST(test_missing_file_and_directory_are_io_errors)
{
    expect_open_fails(tmp_path("does_not_exist.gguf"), MKV_ERR_IO, "open", NULL);
    const char *d = tmp_path("");
    expect_open_fails(d, MKV_ERR_IO, "regular file", NULL);
}
END_TEST

START_TEST(test_wrong_magic_is_bad_magic)
{
    raw r;
    raw_build(&r);
    memcpy(r.b, "GGML", 4);
    expect_open_fails(raw_write(&r, "bad_magic.gguf"), MKV_ERR_BAD_MAGIC, "magic", NULL);
}
END_TEST

START_TEST(test_unsupported_versions_are_bad_version)
{
    const uint32_t bad[] = {0, 1, 4, 0x03000000u /* big-endian v3 */};
    for (int i = 0; i < 4; i++) {
        raw r;
        raw_build(&r);
        put_le(r.b + 4, bad[i], 4);
        expect_open_fails(raw_write(&r, "bad_version.gguf"), MKV_ERR_BAD_VERSION, "version", NULL);
    }
}
END_TEST

START_TEST(test_every_truncated_prefix_fails_cleanly)
{
    raw r;
    raw_build(&r);
    const char *p = tmp_path("prefix.gguf");
    for (uint64_t n = 0; n < r.n; n++) {
        tu_write_file(p, r.b, n);
        mkv_gguf *g = NULL;
        mkv_error err;
        mkv_status st = mkv_gguf_open(p, &g, &err);
        ck_assert_msg(st == MKV_ERR_TRUNCATED || st == MKV_ERR_FORMAT, "prefix %" PRIu64 ": %s (%s)", n,
                      mkv_status_name(st), err.msg);
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(err.msg, p) != NULL, "prefix %" PRIu64 ": %s", n, err.msg);
        /* FORMAT only when a count or a tensor is found not to fit */
        if (st == MKV_ERR_FORMAT)
            ck_assert_msg(strstr(err.msg, "n_kv") || strstr(err.msg, "n_tensors") || strstr(err.msg, "past end"),
                          "prefix %" PRIu64 ": %s", n, err.msg);
    }
}
END_TEST

START_TEST(test_random_corruptions_fail_cleanly_or_parse)
{
    /* Not a proof, a net: thousands of files with a few random bytes
     * changed must each open or fail with a message naming the file (the
     * sanitizer builds catch any stray read). */
    raw r0;
    raw_build(&r0);
    const char *p = tmp_path("fuzz.gguf");
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int it = 0; it < 3000; it++) {
        raw r = r0;
        int n = 1 + it % 4;
        for (int k = 0; k < n; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t pos = (s >> 33) % r.n;
            /* bias toward the header and counts, where bounds matter most */
            if (it % 3 == 0) pos %= r.data_start;
            r.b[pos] = (uint8_t)(s >> 13);
        }
        tu_write_file(p, r.b, r.n);
        mkv_gguf *g = NULL;
        mkv_error err;
        mkv_status st = mkv_gguf_open(p, &g, &err);
        if (st == MKV_OK) {
            for (uint64_t t = 0; t < g->n_tensors; t++)
                ck_assert(g->tensors[t].data >= (const void *)g->map &&
                          (const uint8_t *)g->tensors[t].data + g->tensors[t].nbytes <= g->map + g->size);
            mkv_gguf_close(g);
        } else {
            ck_assert_ptr_null(g);
            ck_assert_msg(strstr(err.msg, p) != NULL, "iteration %d: %s", it, err.msg);
        }
    }
}
END_TEST

/* Patches the u64 at `pos` and expects the open to fail. */
static void patch_u64_fails(size_t field, uint64_t value, mkv_status want, const char *msg_field, const char *also)
{
    raw r;
    raw_build(&r);
    uint64_t pos;
    memcpy(&pos, (const uint8_t *)&r + field, sizeof pos);
    put_le(r.b + pos, value, 8);
    expect_open_fails(raw_write(&r, "huge.gguf"), want, msg_field, also);
}

START_TEST(test_huge_counts_are_refused_before_allocation)
{
    /* A 2^60-entry table would make calloc fail or the test run out of
     * memory: these must be refused by comparing with the bytes left. */
    patch_u64_fails(offsetof(raw, n_tensors), 1ull << 60, MKV_ERR_FORMAT, "n_tensors", "cannot fit");
    patch_u64_fails(offsetof(raw, n_kv), 1ull << 60, MKV_ERR_FORMAT, "n_kv", "cannot fit");
    patch_u64_fails(offsetof(raw, n_tensors), UINT64_MAX, MKV_ERR_FORMAT, "n_tensors", NULL);
    patch_u64_fails(offsetof(raw, key0_len), 1ull << 63, MKV_ERR_TRUNCATED, "key #0 length", NULL);
    patch_u64_fails(offsetof(raw, str_len), UINT64_MAX - 3, MKV_ERR_TRUNCATED, "key 'a.str' value length", NULL);
    patch_u64_fails(offsetof(raw, arr_n), 1ull << 61, MKV_ERR_TRUNCATED, "key 'a.arr' value array length", NULL);
    patch_u64_fails(offsetof(raw, arr_n), UINT64_MAX, MKV_ERR_TRUNCATED, "array length", NULL);
    patch_u64_fails(offsetof(raw, sarr_n), 1ull << 62, MKV_ERR_TRUNCATED, "key 'a.sarr' value array length", NULL);
    patch_u64_fails(offsetof(raw, sarr_s0_len), UINT64_MAX, MKV_ERR_TRUNCATED, "a.sarr", NULL);
}
END_TEST

START_TEST(test_tensor_offset_past_end_of_file_is_refused)
{
    patch_u64_fails(offsetof(raw, t_off[1]), 1ull << 20, MKV_ERR_FORMAT, "tensor 't.b' offset = 1048576", "past end");
    patch_u64_fails(offsetof(raw, t_off[1]), 64, MKV_ERR_FORMAT, "tensor 't.b' offset = 64", "past end");
    patch_u64_fails(offsetof(raw, t_off[1]), UINT64_MAX - 31, MKV_ERR_FORMAT, "tensor 't.b' offset", "past end");
}
END_TEST

START_TEST(test_misaligned_tensor_offset_is_refused)
{
    patch_u64_fails(offsetof(raw, t_off[1]), 33, MKV_ERR_FORMAT, "tensor 't.b' offset = 33", "general.alignment");
}
END_TEST

START_TEST(test_overlapping_tensors_are_refused)
{
    patch_u64_fails(offsetof(raw, t_off[1]), 0, MKV_ERR_FORMAT, "offset = 0", "overlaps");
}
END_TEST

START_TEST(test_duplicate_tensor_names_and_keys_are_refused)
{
    raw r;
    raw_build(&r);
    memcpy(r.b + r.t_name[1], "t.a", 3);
    expect_open_fails(raw_write(&r, "dup_tensor.gguf"), MKV_ERR_FORMAT, "'t.a'", "duplicate");
    raw_build(&r);
    memcpy(r.b + r.key_arr_name, "a.str", 5);
    expect_open_fails(raw_write(&r, "dup_key.gguf"), MKV_ERR_FORMAT, "'a.str'", "duplicate");
}
END_TEST

START_TEST(test_bad_tensor_dims_and_types_are_refused)
{
    raw r;
    raw_build(&r);
    put_le(r.b + r.t_ndims[0], 5, 4);
    expect_open_fails(raw_write(&r, "ndims5.gguf"), MKV_ERR_FORMAT, "tensor 't.a' n_dims = 5", NULL);
    raw_build(&r);
    put_le(r.b + r.t_ndims[0], 0, 4);
    expect_open_fails(raw_write(&r, "ndims0.gguf"), MKV_ERR_FORMAT, "n_dims = 0", NULL);
    raw_build(&r);
    put_le(r.b + r.t_ne[1] + 8, 0, 8);
    expect_open_fails(raw_write(&r, "ne0.gguf"), MKV_ERR_FORMAT, "tensor 't.b' ne[1] = 0", NULL);
    raw_build(&r);
    put_le(r.b + r.t_ne[1], 1ull << 40, 8);
    put_le(r.b + r.t_ne[1] + 8, 1ull << 40, 8);
    expect_open_fails(raw_write(&r, "overflow.gguf"), MKV_ERR_FORMAT, "ne[1]", "overflow");
    raw_build(&r);
    put_le(r.b + r.t_type[1], 99, 4);
    expect_open_fails(raw_write(&r, "type99.gguf"), MKV_ERR_UNSUPPORTED, "tensor 't.b' type = 99", NULL);
    raw_build(&r);
    put_le(r.b + r.t_type[1], MKV_GGML_Q8_0, 4); /* ne[0] = 16: not a whole block */
    expect_open_fails(raw_write(&r, "q8_partial.gguf"), MKV_ERR_FORMAT, "ne[0] = 16", "Q8_0");
}
END_TEST

START_TEST(test_bad_metadata_values_are_refused)
{
    raw r;
    raw_build(&r);
    put_le(r.b + r.align_val, 48, 4);
    expect_open_fails(raw_write(&r, "align48.gguf"), MKV_ERR_FORMAT, "general.alignment = 48", "power of two");
    raw_build(&r);
    put_le(r.b + r.align_val, 0, 4);
    expect_open_fails(raw_write(&r, "align0.gguf"), MKV_ERR_FORMAT, "general.alignment = 0", NULL);
    raw_build(&r);
    put_le(r.b + r.kv_type1, 13, 4);
    expect_open_fails(raw_write(&r, "vtype13.gguf"), MKV_ERR_FORMAT, "key 'a.str'", "unknown value type");
    raw_build(&r);
    r.b[r.key_arr_name + 1] = 0; /* "a\0arr" */
    expect_open_fails(raw_write(&r, "nul_key.gguf"), MKV_ERR_FORMAT, "key #2", "NUL");
    raw_build(&r);
    put_le(r.b + r.key0_len, 0, 8);
    expect_open_fails(raw_write(&r, "empty_key.gguf"), MKV_ERR_FORMAT, "key #0 length = 0", NULL);
    raw_build(&r);
    put_le(r.b + r.align_val - 4, MKV_GGUF_F32, 4); /* general.alignment as f32 */
    expect_open_fails(raw_write(&r, "align_f32.gguf"), MKV_ERR_FORMAT, "key 'general.alignment' type = f32",
                      "expected an integer");
}
END_TEST

START_TEST(test_deeply_nested_arrays_are_refused_and_shallow_ones_skipped)
{
    for (int depth = 3; depth <= 20; depth += 17) {
        raw r;
        memset(&r, 0, sizeof r);
        r_u(&r, 0x46554747, 4);
        r_u(&r, 3, 4);
        r_u(&r, 0, 8);
        r_u(&r, 1, 8);
        r_s(&r, "nest");
        r_u(&r, MKV_GGUF_ARRAY, 4);
        for (int d = 0; d < depth; d++) {
            r_u(&r, MKV_GGUF_ARRAY, 4);
            r_u(&r, 1, 8);
        }
        r_u(&r, MKV_GGUF_U8, 4);
        r_u(&r, 1, 8);
        r_u(&r, 7, 1);
        const char *p = raw_write(&r, "nested.gguf");
        if (depth == 3) {
            mkv_gguf *g;
            mkv_error err;
            ck_assert_msg(mkv_gguf_open(p, &g, &err) == MKV_OK, "%s", err.msg);
            ck_assert_uint_eq(mkv_gguf_find_kv(g, "nest")->arr_type, MKV_GGUF_ARRAY);
            mkv_gguf_close(g);
        } else {
            expect_open_fails(p, MKV_ERR_FORMAT, "key 'nest'", "nested too deep");
        }
    }
}
END_TEST

/* ---- model description on synth / indep files ------------------------------ */

static char tiny_dir[PATH_MAX];

static void make_tiny(void)
{
    snprintf(tiny_dir, sizeof tiny_dir, "%s", tmp_path("tiny"));
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), tiny_dir);
    o.seed = 7;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
}

/* Copy of tiny's model.gguf, to be patched. */
static uint8_t *tiny_model(uint64_t *size)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/model.gguf", tiny_dir);
    return tu_read_file(p, size);
}

/* Position just after the GGUF string `s` (length + bytes) in buf. */
static uint64_t find_gguf_str(const uint8_t *buf, uint64_t size, const char *s)
{
    uint8_t pat[128];
    size_t n = strlen(s);
    put_le(pat, n, 8);
    memcpy(pat + 8, s, n);
    const uint8_t *hit = memmem(buf, size, pat, n + 8);
    ck_assert_msg(hit != NULL, "'%s' not in file", s);
    return (uint64_t)(hit - buf) + 8 + n;
}

static void desc_fails(const uint8_t *buf, uint64_t size, const char *name, mkv_status want, const char *f1,
                       const char *f2)
{
    const char *p = tmp_path(name);
    tu_write_file(p, buf, size);
    mkv_model_desc *d = NULL;
    mkv_error err;
    mkv_status st = mkv_model_desc_load(p, &d, &err);
    if (getenv("MKV_TEST_VERBOSE")) printf("%s: %s\n", mkv_status_name(st), err.msg);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", name, mkv_status_name(st), err.msg, mkv_status_name(want));
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err.msg, p) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, f1) != NULL, "message lacks '%s': %s", f1, err.msg);
    if (f2) ck_assert_msg(strstr(err.msg, f2) != NULL, "message lacks '%s': %s", f2, err.msg);
}

START_TEST(test_model_desc_loads_synth_tiny_config_and_tensors)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/model.gguf", tiny_dir);
    mkv_model_desc *d;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(p, &d, &err) == MKV_OK, "%s", err.msg);
    const mkv_model_config *c = &d->cfg;
    ck_assert_str_eq(c->arch, "qwen3");
    ck_assert_uint_eq(c->n_layer, 4);
    ck_assert_uint_eq(c->d_model, 256);
    ck_assert_uint_eq(c->n_head, 4);
    ck_assert_uint_eq(c->n_kv_head, 2);
    ck_assert_uint_eq(c->head_dim, 64);
    ck_assert_uint_eq(c->d_ffn, 768);
    ck_assert_uint_eq(c->d_mem, 64);
    ck_assert_uint_eq(c->n_vocab, 4096);
    ck_assert_float_eq(c->rope_theta, 10000.0f);
    ck_assert_float_eq(c->norm_eps, 1e-6f);
    ck_assert(c->has_qk_norm && c->tied_output);
    ck_assert_ptr_eq(d->output, d->tok_embd);
    uint8_t zero[32] = {0};
    ck_assert(memcmp(c->bank_fingerprint, zero, 32) != 0);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_layer_desc *L = &d->layers[l];
        ck_assert(L->q_norm && L->k_norm && L->meki_gate && L->meki_out && L->meki_norm);
        ck_assert_uint_eq(L->wq->type, MKV_GGML_F16);
        ck_assert_uint_eq(L->attn_norm->type, MKV_GGML_F32);
        ck_assert_uint_eq(L->meki_gate->ne[1], 64);
    }
    mkv_model_desc_free(d);
}
END_TEST

START_TEST(test_model_desc_missing_tensor_is_named)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "blk.2.ffn_gate.weight");
    b[pos - 8] = 'X'; /* blk.2.ffn_Xate.weight */
    desc_fails(b, n, "missing_tensor.gguf", MKV_ERR_MISSING, "blk.2.ffn_gate.weight", "missing");
    free(b);
}
END_TEST

START_TEST(test_model_desc_missing_key_is_named)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "qwen3.block_count");
    b[pos - 1] = 'X';
    desc_fails(b, n, "missing_key.gguf", MKV_ERR_MISSING, "qwen3.block_count", NULL);
    free(b);
}
END_TEST

START_TEST(test_model_desc_wrong_shape_is_named)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "blk.0.attn_q.weight"); /* then n_dims, ne0, ne1 */
    put_le(b + pos + 4 + 8, 128, 8); /* [256, 256] -> [256, 128]: smaller, stays inside the file */
    desc_fails(b, n, "wrong_shape.gguf", MKV_ERR_FORMAT, "tensor 'blk.0.attn_q.weight' shape = [256, 128]",
               "expected [256, 256]");
    free(b);
    b = tiny_model(&n);
    pos = find_gguf_str(b, n, "blk.3.attn_q_norm.weight");
    put_le(b + pos + 4, 32, 8); /* head_dim 64 -> 32 */
    desc_fails(b, n, "wrong_shape_norm.gguf", MKV_ERR_FORMAT, "blk.3.attn_q_norm.weight", "expected [64]");
    free(b);
}
END_TEST

START_TEST(test_model_desc_accepts_bf16_matrix_and_bf16_norm)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "blk.1.ffn_up.weight");
    put_le(b + pos + 4 + 16, MKV_GGML_BF16, 4); /* F16 -> BF16: same size */
    pos = find_gguf_str(b, n, "blk.1.ffn_norm.weight");
    put_le(b + pos + 4 + 8, MKV_GGML_BF16, 4); /* F32 -> BF16: smaller, stays in place */
    const char *p = tmp_path("bf16.gguf");
    tu_write_file(p, b, n);
    free(b);
    mkv_model_desc *d;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(p, &d, &err) == MKV_OK, "%s", err.msg);
    ck_assert_uint_eq(d->layers[1].w_up->type, MKV_GGML_BF16);
    ck_assert_uint_eq(d->layers[1].ffn_norm->type, MKV_GGML_BF16);
    mkv_model_desc_free(d);
}
END_TEST

/* tiny, dense, with every matrix of `wtype` (pure: no Q6_K LM head),
 * written once into tmp/<name>. */
static const char *tiny_of_type(const char *name, uint32_t wtype)
{
    static char p[PATH_MAX + 32];
    const char *dir = tmp_path(name);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    o.wtype = wtype;
    o.pure = true;
    o.dense = true;
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    snprintf(p, sizeof p, "%s/model.gguf", dir);
    return p;
}

START_TEST(test_model_desc_accepts_q8_0_and_q4_0_synth)
{
    const uint32_t types[2] = {MKV_GGML_Q8_0, MKV_GGML_Q4_0};
    for (int i = 0; i < 2; i++) {
        const char *p = tiny_of_type(i ? "tiny_q4" : "tiny_q8", types[i]);
        mkv_model_desc *d;
        mkv_error err;
        ck_assert_msg(mkv_model_desc_load(p, &d, &err) == MKV_OK, "%s", err.msg);
        ck_assert_uint_eq(d->layers[0].w_up->type, types[i]);
        ck_assert_uint_eq(d->tok_embd->type, types[i]);
        ck_assert_uint_eq(d->layers[0].ffn_norm->type, MKV_GGML_F32); /* vectors stay F32 */
        ck_assert_uint_eq(d->layers[0].w_up->nbytes, 768ull * 256 / 32 * (i ? 18 : 34));
        mkv_model_desc_free(d);
    }
}
END_TEST

START_TEST(test_model_desc_other_types_are_unsupported_by_name)
{
    const char *p = tiny_of_type("tiny_q8_types", MKV_GGML_Q8_0);
    uint64_t n;
    uint8_t *b = tu_read_file(p, &n);
    /* Q8_0 [256, 256] -> Q2_K: 256-element blocks of 84 bytes, smaller: still inside the file */
    uint64_t pos = find_gguf_str(b, n, "blk.0.attn_q.weight");
    put_le(b + pos + 4 + 16, MKV_GGML_Q2_K, 4);
    desc_fails(b, n, "q2_k.gguf", MKV_ERR_UNSUPPORTED, "tensor 'blk.0.attn_q.weight' type = Q2_K is not supported",
               "(F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
    free(b);
    /* a quantized norm vector: F32 [256] -> Q8_0 (272 bytes, smaller) */
    b = tu_read_file(p, &n);
    pos = find_gguf_str(b, n, "blk.2.attn_norm.weight");
    put_le(b + pos + 4 + 8, MKV_GGML_Q8_0, 4);
    desc_fails(b, n, "q8_norm.gguf", MKV_ERR_UNSUPPORTED, "tensor 'blk.2.attn_norm.weight' type = Q8_0",
               "(F32, F16, BF16 for a vector)");
    free(b);
}
END_TEST

START_TEST(test_model_desc_key_of_wrong_type_names_key_and_types)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "qwen3.block_count");
    put_le(b + pos, MKV_GGUF_F32, 4); /* u32 -> f32: same size */
    desc_fails(b, n, "key_type.gguf", MKV_ERR_FORMAT, "key 'qwen3.block_count' type = f32", "expected an integer");
    free(b);
    b = tiny_model(&n);
    pos = find_gguf_str(b, n, "meki.dim");
    put_le(b + pos, MKV_GGUF_F32, 4);
    desc_fails(b, n, "key_type_meki.gguf", MKV_ERR_FORMAT, "key 'meki.dim' type = f32", "expected an integer");
    free(b);
    b = tiny_model(&n);
    pos = find_gguf_str(b, n, "meki.bank_fingerprint"); /* array of u8 -> array of i8 */
    put_le(b + pos + 4, MKV_GGUF_I8, 4);
    desc_fails(b, n, "key_type_fp.gguf", MKV_ERR_FORMAT, "key 'meki.bank_fingerprint' type = array of i8",
               "expected array of u8");
    free(b);
}
END_TEST

START_TEST(test_model_desc_unknown_arch_is_unsupported_by_name)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "general.architecture"); /* then type, length, "qwen3" */
    ck_assert_mem_eq(b + pos + 12, "qwen3", 5);
    memcpy(b + pos + 12, "gpt-9", 5);
    desc_fails(b, n, "arch.gguf", MKV_ERR_UNSUPPORTED, "general.architecture = 'gpt-9'", "not supported");
    free(b);
}
END_TEST

START_TEST(test_model_desc_bad_meki_dim_is_refused)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "meki.dim");
    put_le(b + pos + 4, 30, 4);
    desc_fails(b, n, "meki_dim.gguf", MKV_ERR_FORMAT, "meki.dim = 30", NULL);
    free(b);
    /* meki tensors without meki.dim would silently be ignored: refused */
    b = tiny_model(&n);
    pos = find_gguf_str(b, n, "meki.dim");
    b[pos - 1] = 'X';
    desc_fails(b, n, "meki_nodim.gguf", MKV_ERR_MISSING, "meki.dim", "blk.0.meki_gate.weight");
    free(b);
}
END_TEST

START_TEST(test_model_desc_refuses_inconsistent_heads)
{
    uint64_t n;
    uint8_t *b = tiny_model(&n);
    uint64_t pos = find_gguf_str(b, n, "qwen3.attention.head_count_kv");
    put_le(b + pos + 4, 3, 4); /* 4 heads, 3 kv heads */
    desc_fails(b, n, "heads.gguf", MKV_ERR_FORMAT, "head_count_kv = 3", NULL);
    free(b);
}
END_TEST

/* tiny MeKi model of an architecture, written once into tmp/<name>; a copy of its bytes. */
static uint8_t *tiny_arch(const char *name, const char *arch, uint64_t *size)
{
    const char *dir = tmp_path(name);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    o.arch = arch;
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/model.gguf", dir);
    return tu_read_file(p, size);
}

START_TEST(test_model_desc_refuses_what_it_would_not_compute_by_name)
{
    uint64_t n;
    uint8_t *b = tiny_arch("tiny_qwen2", "qwen2", &n);
    uint64_t pos = find_gguf_str(b, n, "blk.1.attn_k.bias");
    put_le(b + pos + 4, 64, 8); /* [128] -> [64] */
    desc_fails(b, n, "bias_shape.gguf", MKV_ERR_FORMAT, "tensor 'blk.1.attn_k.bias' shape = [64]", "expected [128]");
    free(b);
    b = tiny_arch("tiny_qwen2", "qwen2", &n);
    pos = find_gguf_str(b, n, "blk.0.attn_k.bias"); /* same length as the name llama 3.1 uses */
    memcpy(b + pos - 17, "rope_freqs.weight", 17);
    desc_fails(b, n, "rope_freqs.gguf", MKV_ERR_UNSUPPORTED, "tensor 'rope_freqs.weight'", "frequency factors");
    free(b);
    b = tiny_arch("tiny_qwen2", "qwen2", &n);
    pos = find_gguf_str(b, n, "blk.0.meki_norm.weight");
    memcpy(b + pos - 22, "blk.0.attn_output.bias", 22);
    desc_fails(b, n, "out_bias.gguf", MKV_ERR_UNSUPPORTED, "tensor 'blk.0.attn_output.bias'", "not supported");
    free(b);
    b = tiny_arch("tiny_llama", "llama", &n);
    pos = find_gguf_str(b, n, "llama.rope.dimension_count");
    put_le(b + pos + 4, 32, 4);
    desc_fails(b, n, "partial_rotary.gguf", MKV_ERR_UNSUPPORTED, "llama.rope.dimension_count = 32", "partial rotary");
    free(b);
    /* q/k norms on an architecture without them would be ignored: refused */
    b = tiny_model(&n);
    mkv_gguf *g;
    mkv_error err;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/model.gguf", tiny_dir);
    ck_assert_int_eq(mkv_gguf_open(p, &g, &err), MKV_OK);
    for (uint8_t *h = b; (h = memmem(h, g->data_offset - (uint64_t)(h - b), "qwen3", 5)) != NULL; h += 5)
        memcpy(h, "llama", 5);
    mkv_gguf_close(g);
    desc_fails(b, n, "llama_qk_norm.gguf", MKV_ERR_UNSUPPORTED, "tensor 'blk.0.attn_q_norm.weight'",
               "llama models have no q/k norm");
    free(b);
}
END_TEST

/* Renames tensor `name` in buf to one the description does not look for
 * (its last letter before ".weight" becomes 'X'). */
static void hide_tensor(uint8_t *buf, uint64_t size, const char *name)
{
    uint64_t pos = find_gguf_str(buf, size, name);
    buf[pos - 8] = 'X'; /* blk.N.attn_q_norm.weight -> blk.N.attn_q_norX.weight */
}

START_TEST(test_model_desc_loads_qwen3_without_qk_norm)
{
    /* a llama tiny file (no q/k norms, no biases) relabelled qwen3 */
    uint64_t n;
    uint8_t *b = tiny_arch("tiny_llama_noqk", "llama", &n);
    char src[PATH_MAX + 16];
    snprintf(src, sizeof src, "%s/model.gguf", tmp_path("tiny_llama_noqk"));
    mkv_gguf *g;
    mkv_error err;
    ck_assert_int_eq(mkv_gguf_open(src, &g, &err), MKV_OK);
    for (uint8_t *h = b; (h = memmem(h, g->data_offset - (uint64_t)(h - b), "llama", 5)) != NULL; h += 5)
        memcpy(h, "qwen3", 5);
    mkv_gguf_close(g);
    const char *p = tmp_path("qwen3_no_qk_norm.gguf");
    tu_write_file(p, b, n);
    free(b);
    mkv_model_desc *d;
    ck_assert_msg(mkv_model_desc_load(p, &d, &err) == MKV_OK, "%s", err.msg);
    ck_assert_str_eq(d->cfg.arch, "qwen3");
    ck_assert(!d->cfg.has_qk_norm && !d->cfg.has_qkv_bias);
    ck_assert_int_eq(d->cfg.rope_style, MKV_ROPE_NEOX);
    ck_assert_uint_eq(d->cfg.d_mem, 64);
    for (uint32_t l = 0; l < d->cfg.n_layer; l++)
        ck_assert(d->layers[l].q_norm == NULL && d->layers[l].k_norm == NULL && d->layers[l].meki_gate != NULL);
    mkv_model_desc_free(d);
}
END_TEST

START_TEST(test_model_desc_refuses_qk_norm_in_some_layers_only_naming_the_layer)
{
    uint64_t n;
    /* layer 0 has them, layer 2 not */
    uint8_t *b = tiny_model(&n);
    hide_tensor(b, n, "blk.2.attn_q_norm.weight");
    hide_tensor(b, n, "blk.2.attn_k_norm.weight");
    desc_fails(b, n, "qk_norm_mix_missing.gguf", MKV_ERR_MISSING, "tensor 'blk.2.attn_q_norm.weight': missing",
               "layer 2");
    free(b);
    /* layer 0 has none, layer 1 has them */
    b = tiny_model(&n);
    hide_tensor(b, n, "blk.0.attn_q_norm.weight");
    hide_tensor(b, n, "blk.0.attn_k_norm.weight");
    desc_fails(b, n, "qk_norm_mix_present.gguf", MKV_ERR_FORMAT, "tensor 'blk.1.attn_q_norm.weight': present",
               "layer 1");
    free(b);
    /* one of a pair */
    b = tiny_model(&n);
    hide_tensor(b, n, "blk.3.attn_k_norm.weight");
    desc_fails(b, n, "qk_norm_half.gguf", MKV_ERR_MISSING, "tensor 'blk.3.attn_k_norm.weight': missing",
               "'blk.3.attn_q_norm.weight' is present");
    free(b);
    b = tiny_model(&n);
    hide_tensor(b, n, "blk.0.attn_q_norm.weight");
    desc_fails(b, n, "qk_norm_half0.gguf", MKV_ERR_MISSING, "tensor 'blk.0.attn_q_norm.weight': missing", "layer 0");
    free(b);
}
END_TEST

/* tiny MeKi qwen3 model written with meki.gate_input = `gate` (NULL: no key); its path. */
static const char *tiny_gate(const char *name, const char *gate)
{
    static char p[PATH_MAX + 32];
    const char *dir = tmp_path(name);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    o.gate_input = gate;
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    snprintf(p, sizeof p, "%s/model.gguf", dir);
    return p;
}

START_TEST(test_model_desc_reads_gate_input_and_refuses_other_values_by_name)
{
    static const struct { const char *value; bool residual; } ok[] = {
        {NULL, false}, {"norm", false}, {"residual", true}};
    for (int i = 0; i < 3; i++) {
        const char *p = tiny_gate("tiny_gate", ok[i].value);
        mkv_model_desc *d;
        mkv_error err;
        ck_assert_msg(mkv_model_desc_load(p, &d, &err) == MKV_OK, "%s", err.msg);
        ck_assert_msg(d->cfg.meki_gate_residual == ok[i].residual, "gate_input %s",
                      ok[i].value ? ok[i].value : "absent");
        ck_assert(mkv_gguf_find_kv(d->gguf, "meki.gate_input") ? ok[i].value != NULL : ok[i].value == NULL);
        mkv_model_desc_free(d);
    }
    static const char *bad[] = {"bogus", "Residual", "", "norm "};
    for (int i = 0; i < 4; i++) {
        uint64_t n;
        uint8_t *b = tu_read_file(tiny_gate("tiny_gate_bad", bad[i]), &n);
        char want[64];
        snprintf(want, sizeof want, "= '%s'", bad[i]);
        desc_fails(b, n, "gate_bad.gguf", MKV_ERR_FORMAT, "key 'meki.gate_input'", want);
        free(b);
    }
}
END_TEST

static void load_indep(bool qk_norm, bool tied, bool f32, uint32_t alignment)
{
    iw_shape sh = {.n_layer = 3, .d_model = 128, .n_head = 4, .n_kv_head = 1, .head_dim = 32, .d_ffn = 320,
                   .d_mem = 24, .n_vocab = 500, .rope_theta = 1e6f, .norm_eps = 1e-5f};
    iw_opts o = {.meki = true, .qk_norm = qk_norm, .tied = tied, .f32_matrices = f32, .alignment = alignment,
                 .bank_dtype = 2, .bank_align = 512, .bank_crc = false, .seed = 3};
    const char *mp = tmp_path("indep.gguf"), *bp = tmp_path("indep.mkb");
    ck_assert_int_eq(iw_write(mp, bp, &sh, &o), 0);
    mkv_model_desc *d;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(mp, &d, &err) == MKV_OK, "%s", err.msg);
    const mkv_model_config *c = &d->cfg;
    ck_assert_str_eq(c->arch, qk_norm ? "qwen3" : "qwen2");
    ck_assert_uint_eq(d->gguf->alignment, alignment);
    ck_assert(c->n_layer == 3 && c->d_model == 128 && c->n_head == 4 && c->n_kv_head == 1 && c->head_dim == 32);
    ck_assert(c->d_ffn == 320 && c->d_mem == 24 && c->n_vocab == 500);
    ck_assert_float_eq(c->rope_theta, 1e6f);
    ck_assert_float_eq(c->norm_eps, 1e-5f);
    ck_assert(c->has_qk_norm == qk_norm && c->tied_output == tied);
    ck_assert(tied ? d->output == d->tok_embd : d->output != d->tok_embd);
    ck_assert_uint_eq(d->layers[2].wv->type, f32 ? MKV_GGML_F32 : MKV_GGML_F16);
    ck_assert_uint_eq(d->layers[2].ffn_norm->type, MKV_GGML_F32);
    ck_assert(qk_norm ? d->layers[0].q_norm != NULL : d->layers[0].q_norm == NULL);
    /* the fingerprint is the bank's */
    mkv_bank *bank;
    ck_assert_msg(mkv_bank_open(bp, &bank, &err) == MKV_OK, "%s", err.msg);
    ck_assert_mem_eq(mkv_bank_info(bank)->fingerprint, c->bank_fingerprint, 32);
    mkv_bank_close(bank);
    mkv_model_desc_free(d);
}

START_TEST(test_model_desc_loads_independently_written_models)
{
    load_indep(true, false, false, 64);
    load_indep(true, true, true, 256);
    load_indep(false, false, true, 8);
}
END_TEST

static Suite *gguf_suite(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("reader_writer");
    tcase_add_test(tc, test_roundtrip_every_metadata_type_tensors_and_alignment);
    tcase_add_test(tc, test_ggml_nbytes_of_every_block_type);
    tcase_add_test(tc, test_quantizers_follow_ggml_block_layout_and_error_bounds);
    tcase_add_test(tc, test_raw_file_opens_with_expected_tables_v3_and_v2);
    tcase_add_test(tc, test_bf16_tensor_converts_to_f32);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_test(tc, test_missing_file_and_directory_are_io_errors);
    tcase_add_test(tc, test_wrong_magic_is_bad_magic);
    tcase_add_test(tc, test_unsupported_versions_are_bad_version);
    tcase_add_test(tc, test_every_truncated_prefix_fails_cleanly);
    tcase_add_test(tc, test_huge_counts_are_refused_before_allocation);
    tcase_add_test(tc, test_random_corruptions_fail_cleanly_or_parse);
    tcase_add_test(tc, test_tensor_offset_past_end_of_file_is_refused);
    tcase_add_test(tc, test_misaligned_tensor_offset_is_refused);
    tcase_add_test(tc, test_overlapping_tensors_are_refused);
    tcase_add_test(tc, test_duplicate_tensor_names_and_keys_are_refused);
    tcase_add_test(tc, test_bad_tensor_dims_and_types_are_refused);
    tcase_add_test(tc, test_bad_metadata_values_are_refused);
    tcase_add_test(tc, test_deeply_nested_arrays_are_refused_and_shallow_ones_skipped);
    suite_add_tcase(s, tc);

    tc = tcase_create("model_desc");
    tcase_add_unchecked_fixture(tc, make_tiny, NULL);
    tcase_add_test(tc, test_model_desc_loads_synth_tiny_config_and_tensors);
    tcase_add_test(tc, test_model_desc_missing_tensor_is_named);
    tcase_add_test(tc, test_model_desc_missing_key_is_named);
    tcase_add_test(tc, test_model_desc_wrong_shape_is_named);
    tcase_add_test(tc, test_model_desc_accepts_bf16_matrix_and_bf16_norm);
    tcase_add_test(tc, test_model_desc_accepts_q8_0_and_q4_0_synth);
    tcase_add_test(tc, test_model_desc_other_types_are_unsupported_by_name);
    tcase_add_test(tc, test_model_desc_key_of_wrong_type_names_key_and_types);
    tcase_add_test(tc, test_model_desc_refuses_what_it_would_not_compute_by_name);
    tcase_add_test(tc, test_model_desc_unknown_arch_is_unsupported_by_name);
    tcase_add_test(tc, test_model_desc_bad_meki_dim_is_refused);
    tcase_add_test(tc, test_model_desc_refuses_inconsistent_heads);
    tcase_add_test(tc, test_model_desc_loads_independently_written_models);
    tcase_add_test(tc, test_model_desc_loads_qwen3_without_qk_norm);
    tcase_add_test(tc, test_model_desc_refuses_qk_norm_in_some_layers_only_naming_the_layer);
    tcase_add_test(tc, test_model_desc_reads_gate_input_and_refuses_other_values_by_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(gguf_suite());
}
