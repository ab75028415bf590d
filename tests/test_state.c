/* KV-cache control (mekivk.h): mkv_session_truncate, and a session's state
 * saved and restored, in memory and through files. Every comparison is bit
 * for bit (memcmp of the logits), dense and MeKi:
 *  - truncate then decode = a fresh session decoding the same tokens, by
 *    steps and by prefill; truncating a MeKi session whose prefetch list
 *    holds every staging slot, again and again, leaks none;
 *  - save -> more tokens -> restore (into the same session, into fresh
 *    ones, into one with another n_ctx) -> decode = the uninterrupted
 *    run, f16 and q8_0 K/V; the prefetch list travels with the state, and
 *    a restored session saves the same bytes again;
 *  - damaged and foreign states (a flipped byte, magic, version, sizes,
 *    fields, another model, another KV type, the MeKi branch off, a small
 *    n_ctx, special files), a truncate beyond the position and a small
 *    save buffer: each its own status, the session as it was, decoding
 *    continuing as if nothing had happened. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"
#include "mekivk.h"
#include "synth.h"
#include "test_util.h"

/* Small enough that a step takes milliseconds on lavapipe with the
 * validation layer; head_dim a multiple of 32 for q8_0 K/V. */
static const mkv_synth_shape shape = {"state", 2, 128, 2, 1, 64, 256, 32, 512, 10000.0f, 1e-6f};
/* the same with two K/V heads: another model's state */
static const mkv_synth_shape shape2 = {"state2", 2, 128, 2, 2, 64, 256, 32, 512, 10000.0f, 1e-6f};

static const uint32_t A[7] = {5, 17, 300, 42, 17, 99, 250};
static const uint32_t B[5] = {7, 8, 401, 3, 77};
static const uint32_t C[6] = {11, 12, 13, 500, 1, 2};
#define NA 7u
#define NB 5u
#define NC 6u

static char run_dir[4096];

static const char *file_in(const char *name, const char *file)
{
    static char ring[8][4400];
    static unsigned next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s/%s", run_dir, name, file);
    return p;
}

static bool synth_as(const char *name, const mkv_synth_shape *sh, bool dense, uint64_t seed)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", run_dir, name);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, sh, dir);
    o.dense = dense;
    o.seed = seed;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    if (st != MKV_OK) fprintf(stderr, "synth %s: %s: %s\n", name, mkv_status_name(st), err.msg);
    return st == MKV_OK;
}

static const char *const names[] = {"meki", "dense", "dense2", "other"};

static bool write_models(void)
{
    snprintf(run_dir, sizeof run_dir, "%s/state_%ld", tu_tmpdir(), (long)getpid());
    if (mkdir(run_dir, 0777) != 0 && errno != EEXIST) return false;
    return synth_as("meki", &shape, false, 51) && synth_as("dense", &shape, true, 52) &&
           synth_as("dense2", &shape, true, 53) && /* the same shape, other weights */
           synth_as("other", &shape2, true, 54);
}

static void remove_models(void)
{
    for (size_t d = 0; d < sizeof names / sizeof names[0]; d++) {
        unlink(file_in(names[d], "model.gguf"));
        unlink(file_in(names[d], "bank.mkb"));
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", run_dir, names[d]);
        rmdir(dir);
    }
    rmdir(run_dir);
}

static mkv_model *load(mkv_device *dev, const char *name)
{
    const char *bank = file_in(name, "bank.mkb");
    mkv_model_opts mo = {.bank_path = access(bank, F_OK) == 0 ? bank : NULL};
    mkv_model *m = NULL;
    mkv_error err;
    mkv_status st = mkv_model_load(dev, file_in(name, "model.gguf"), &mo, &m, &err);
    ck_assert_msg(st == MKV_OK, "load %s: %s", name, err.msg);
    return m;
}

typedef struct sopts {
    uint32_t n_ctx, chunk, slots;
    mkv_kv_type kv;
    bool meki_off;
} sopts;

static mkv_session *session(mkv_model *m, sopts o)
{
    mkv_session_opts so = {.n_ctx = o.n_ctx ? o.n_ctx : 64, .prefill_chunk = o.chunk ? o.chunk : 4,
                           .bank_slots = o.slots, .kv_type = o.kv, .meki_off = o.meki_off};
    mkv_session *s = NULL;
    mkv_error err;
    mkv_status st = mkv_session_create(m, &so, &s, &err);
    ck_assert_msg(st == MKV_OK, "session: %s", err.msg);
    return s;
}

static uint32_t vocab_of(const mkv_model *m)
{
    mkv_model_info info;
    mkv_model_get_info(m, &info);
    return info.n_vocab;
}

/* Steps n tokens; token i's logits at logits + i * nv (if logits). */
static void steps(mkv_session *s, const uint32_t *tok, uint32_t n, float *logits, uint32_t nv)
{
    for (uint32_t i = 0; i < n; i++) {
        mkv_error err;
        mkv_status st = mkv_session_step(s, tok[i], logits ? logits + (size_t)i * nv : NULL, NULL, &err);
        ck_assert_msg(st == MKV_OK, "step %u (token %u) at %u: %s", i, tok[i], mkv_session_pos(s), err.msg);
    }
}

static void prefill(mkv_session *s, const uint32_t *tok, uint32_t n, float *logits)
{
    mkv_error err;
    mkv_status st = mkv_session_prefill(s, tok, n, MKV_PREFILL_ALL, logits, NULL, &err);
    ck_assert_msg(st == MKV_OK, "prefill %u at %u: %s", n, mkv_session_pos(s), err.msg);
}

static void prefetch(mkv_session *s, const uint32_t *tok, uint32_t n)
{
    mkv_error err;
    ck_assert_msg(mkv_session_prefetch(s, tok, n, &err) == MKV_OK, "prefetch: %s", err.msg);
}

static void truncate_to(mkv_session *s, uint32_t pos)
{
    mkv_error err;
    ck_assert_msg(mkv_session_truncate(s, pos, &err) == MKV_OK, "truncate to %u: %s", pos, err.msg);
    ck_assert_uint_eq(mkv_session_pos(s), pos);
}

/* Bit for bit. */
static void same_logits(const float *a, const float *b, size_t n_floats, const char *what)
{
    if (memcmp(a, b, n_floats * sizeof *a) == 0) return;
    size_t i = 0;
    while (memcmp(a + i, b + i, sizeof *a) == 0) i++;
    ck_abort_msg("%s: logits differ, first at float %zu: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

/* ---- truncate ---- */

static void truncate_case(const char *name)
{
    mkv_device *dev = tu_device();
    mkv_model *m = load(dev, name);
    const uint32_t nv = vocab_of(m);
    float *lx = malloc((size_t)(NA + NC) * nv * sizeof *lx), *ly = malloc((size_t)(NA + NC) * nv * sizeof *ly);
    ck_assert(lx && ly);
    uint32_t AB[NA + NB];
    memcpy(AB, A, sizeof A);
    memcpy(AB + NA, B, sizeof B);

    /* steps: A, B (announced by a prefetch list), truncate to |A|, C = A, C */
    mkv_session *x = session(m, (sopts){0}), *y = session(m, (sopts){0});
    prefetch(x, AB, NA + NB);
    steps(x, A, NA, NULL, nv);
    steps(x, B, NB, NULL, nv);
    ck_assert_uint_eq(mkv_session_pos(x), NA + NB);
    truncate_to(x, NA);
    steps(x, C, NC, lx, nv);
    steps(y, A, NA, ly, nv);
    steps(y, C, NC, ly + (size_t)NA * nv, nv);
    same_logits(lx, ly + (size_t)NA * nv, (size_t)NC * nv, "steps: truncated vs fresh");
    /* truncate to 0: a fresh start */
    truncate_to(x, 0);
    steps(x, A, NA, lx, nv);
    same_logits(lx, ly, (size_t)NA * nv, "steps: truncated to 0 vs fresh");
    /* truncating to the position forgets nothing */
    truncate_to(x, NA);
    mkv_session_destroy(x);
    mkv_session_destroy(y);

    /* prefill (passes of 4): A, B, truncate, C = A, C; first a truncate into the middle of B's first pass */
    x = session(m, (sopts){0}), y = session(m, (sopts){0});
    prefill(x, A, NA, lx);
    prefill(x, B, NB, lx);
    truncate_to(x, NA + 2);
    truncate_to(x, NA);
    prefill(x, C, NC, lx);
    prefill(y, A, NA, ly);
    prefill(y, C, NC, ly);
    same_logits(lx, ly, (size_t)NC * nv, "prefill: truncated vs fresh");
    mkv_session_destroy(x);
    mkv_session_destroy(y);

    /* a prefetch list holding every staging slot (4), dropped by a
     * truncate eight times over: a slot leaked would leave the next step
     * without one ("no free bank staging slot") */
    x = session(m, (sopts){.chunk = 2, .slots = 4}), y = session(m, (sopts){.chunk = 2, .slots = 4});
    steps(x, A, 3, NULL, nv);
    for (int r = 0; r < 8; r++) {
        prefetch(x, B + (r % 2), 4);
        steps(x, B + (r % 2), 1, NULL, nv);
        truncate_to(x, 3);
    }
    mkv_session_stats stx;
    mkv_session_get_stats(x, &stx);
    steps(x, C, NC, lx, nv);
    steps(y, A, 3, NULL, nv);
    steps(y, C, NC, ly, nv);
    same_logits(lx, ly, (size_t)NC * nv, "truncates of a full prefetch list vs fresh");
    printf("truncate %-5s: steps and prefill bit-identical to a fresh session; bank reads %llu over 8 dropped lists\n",
           name, (unsigned long long)stx.bank_reads);
    fflush(stdout);
    mkv_session_destroy(x);
    mkv_session_destroy(y);

    free(lx);
    free(ly);
    mkv_model_destroy(m);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}

START_TEST(truncate_then_decode_equals_fresh_dense) { truncate_case("dense"); }
END_TEST
START_TEST(truncate_then_decode_equals_fresh_meki) { truncate_case("meki"); }
END_TEST

/* ---- save / restore ---- */

static uint64_t file_size(const char *path)
{
    struct stat sb;
    ck_assert_msg(stat(path, &sb) == 0, "%s: %s", path, strerror(errno));
    return (uint64_t)sb.st_size;
}

/* No temporary of an atomic write left beside the file. */
static void no_temporaries(void)
{
    DIR *d = opendir(run_dir);
    ck_assert(d);
    struct dirent *e;
    while ((e = readdir(d)))
        ck_assert_msg(!strstr(e->d_name, ".tmp"), "%s/%s: an atomic write's temporary left behind", run_dir, e->d_name);
    closedir(d);
}

static void restored_then_b(mkv_session *s, const void *buf, size_t n, const char *path, uint64_t size,
                            const float *lb, uint32_t nv, const char *what)
{
    mkv_error err;
    mkv_status st = path ? mkv_session_restore_file(s, path, &err) : mkv_session_restore(s, buf, n, &err);
    ck_assert_msg(st == MKV_OK, "%s: restore: %s: %s", what, mkv_status_name(st), err.msg);
    ck_assert_uint_eq(mkv_session_pos(s), NA);
    ck_assert_uint_eq(mkv_session_state_size(s), size); /* the prefetch list came back too */
    float *l = malloc((size_t)NB * nv * sizeof *l);
    steps(s, B, NB, l, nv);
    same_logits(l, lb, (size_t)NB * nv, what);
    free(l);
}

static void save_restore_case(const char *name, mkv_kv_type kv)
{
    mkv_device *dev = tu_device();
    mkv_model *m = load(dev, name);
    const uint32_t nv = vocab_of(m);
    const bool meki = strcmp(name, "meki") == 0;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s_%d.state", run_dir, name, (int)kv);
    float *lb = malloc((size_t)NB * nv * sizeof *lb);
    uint32_t AB[NA + NB];
    memcpy(AB, A, sizeof A);
    memcpy(AB + NA, B, sizeof B);
    mkv_error err;

    /* A, with B announced; saved; then B: the uninterrupted logits */
    mkv_session *s = session(m, (sopts){.kv = kv});
    prefetch(s, AB, NA + NB);
    steps(s, A, NA, NULL, nv);
    const uint64_t size = mkv_session_state_size(s);
    const uint64_t kv_bytes = kv == MKV_KV_Q8_0 ? NA * 64 + NA * 64 / 32 * 4 : NA * 64 * 2; /* n_kv_head 1 x head_dim 64 */
    ck_assert_uint_eq(size, 96 + 2 * 2 * kv_bytes + (meki ? 4 * NB : 0) + 4);
    uint8_t *buf = malloc(size), *again = malloc(size);
    size_t written = 0;
    ck_assert_msg(mkv_session_save(s, buf, size, &written, &err) == MKV_OK, "save: %s", err.msg);
    ck_assert_uint_eq(written, size);
    ck_assert_msg(mkv_session_save_file(s, path, &err) == MKV_OK, "save_file: %s", err.msg);
    ck_assert_uint_eq(file_size(path), size);
    uint64_t fn = 0;
    uint8_t *fb = tu_read_file(path, &fn);
    ck_assert_msg(fn == size && memcmp(fb, buf, size) == 0, "the file holds other bytes than the memory state");
    free(fb);
    no_temporaries();
    ck_assert_uint_eq(mkv_session_pos(s), NA); /* saving changes nothing */
    steps(s, B, NB, lb, nv);

    /* into the same session, which moved on: memory, then the file */
    restored_then_b(s, buf, written, NULL, size, lb, nv, "restored into the same session");
    restored_then_b(s, NULL, 0, path, size, lb, nv, "restored from the file into the same session");
    /* into fresh sessions */
    mkv_session *f = session(m, (sopts){.kv = kv});
    restored_then_b(f, buf, written, NULL, size, lb, nv, "restored into a fresh session");
    mkv_session_destroy(f);
    f = session(m, (sopts){.kv = kv});
    restored_then_b(f, NULL, 0, path, size, lb, nv, "restored from the file into a fresh session");
    mkv_session_destroy(f);
    /* into one with a smaller context (q8_0: the scales start elsewhere) and
     * another prefill chunk; attention is one split at both sizes */
    f = session(m, (sopts){.kv = kv, .n_ctx = 48, .chunk = 2});
    restored_then_b(f, buf, written, NULL, size, lb, nv, "restored into a session of n_ctx 48");
    mkv_session_destroy(f);
    /* a restored session saves the very same bytes */
    f = session(m, (sopts){.kv = kv});
    ck_assert(mkv_session_restore(f, buf, written, &err) == MKV_OK);
    ck_assert_msg(mkv_session_save(f, again, size, &written, &err) == MKV_OK, "save: %s", err.msg);
    ck_assert_msg(written == size && memcmp(again, buf, size) == 0, "a restored session saved other bytes");
    mkv_session_destroy(f);
    /* an empty session's state: a header and a CRC */
    f = session(m, (sopts){.kv = kv});
    ck_assert_uint_eq(mkv_session_state_size(f), 100);
    ck_assert(mkv_session_save(f, again, size, &written, &err) == MKV_OK && written == 100);
    ck_assert_msg(mkv_session_restore(s, again, written, &err) == MKV_OK, "restore of an empty state: %s", err.msg);
    ck_assert_uint_eq(mkv_session_pos(s), 0);
    mkv_session_destroy(f);
    printf("save/restore %-5s %s: %llu-byte state, B after restore bit-identical (same, fresh, file, n_ctx 48)\n", name,
           kv == MKV_KV_Q8_0 ? "q8_0" : "f16 ", (unsigned long long)size);
    fflush(stdout);

    unlink(path);
    free(buf);
    free(again);
    free(lb);
    mkv_session_destroy(s);
    mkv_model_destroy(m);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}

START_TEST(save_restore_decode_equals_uninterrupted_dense) { save_restore_case("dense", MKV_KV_F16); }
END_TEST
START_TEST(save_restore_decode_equals_uninterrupted_meki) { save_restore_case("meki", MKV_KV_F16); }
END_TEST
START_TEST(save_restore_decode_equals_uninterrupted_dense_q8_0_kv) { save_restore_case("dense", MKV_KV_Q8_0); }
END_TEST
START_TEST(save_restore_decode_equals_uninterrupted_meki_q8_0_kv) { save_restore_case("meki", MKV_KV_Q8_0); }
END_TEST

/* ---- errors ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* The CRC made right again after an edit: the fields are checked, not the checksum. */
static void fix_crc(uint8_t *b, size_t n) { put_le32(b + n - 4, mkv_crc32c(0, b, n - 4)); }

/* A restore that must fail with `want` (its message containing `needle`,
 * if not NULL), the session left as it was. */
static void refused(mkv_session *s, const void *buf, size_t n, const char *path, mkv_status want, const char *needle,
                    const char *what)
{
    const uint32_t pos = mkv_session_pos(s);
    const uint64_t size = mkv_session_state_size(s);
    mkv_error err;
    mkv_status st = path ? mkv_session_restore_file(s, path, &err) : mkv_session_restore(s, buf, n, &err);
    ck_assert_msg(st == want, "%s: %s (%s), expected %s", what, mkv_status_name(st), err.msg, mkv_status_name(want));
    if (needle) ck_assert_msg(strstr(err.msg, needle), "%s: \"%s\" does not name %s", what, err.msg, needle);
    ck_assert_uint_eq(mkv_session_pos(s), pos);
    ck_assert_uint_eq(mkv_session_state_size(s), size);
    printf("  %-34s %-22s %s\n", what, mkv_status_name(st), err.msg);
}

/* The state of `name` after A (n_ctx 64, f16 K/V) into *n bytes. */
static uint8_t *state_of(mkv_model *m, size_t *n)
{
    mkv_session *s = session(m, (sopts){0});
    steps(s, A, NA, NULL, vocab_of(m));
    const uint64_t size = mkv_session_state_size(s);
    uint8_t *b = malloc(size);
    mkv_error err;
    ck_assert_msg(mkv_session_save(s, b, size, n, &err) == MKV_OK, "save: %s", err.msg);
    mkv_session_destroy(s);
    return b;
}

START_TEST(damaged_or_foreign_states_are_refused_and_the_session_goes_on)
{
    mkv_device *dev = tu_device();
    mkv_model *m = load(dev, "meki");
    const uint32_t nv = vocab_of(m);
    mkv_error err;
    uint32_t AB[NA + NB];
    memcpy(AB, A, sizeof A);
    memcpy(AB + NA, B, sizeof B);
    printf("refused states:\n");

    /* the uninterrupted run */
    float *lb = malloc((size_t)NB * nv * sizeof *lb), *l = malloc((size_t)NB * nv * sizeof *l);
    mkv_session *r = session(m, (sopts){0});
    steps(r, A, NA, NULL, nv);
    steps(r, B, NB, lb, nv);
    mkv_session_destroy(r);

    /* the victim: A stepped, B announced; its own state saved */
    mkv_session *s = session(m, (sopts){0});
    prefetch(s, AB, NA + NB);
    steps(s, A, NA, NULL, nv);
    const size_t n = (size_t)mkv_session_state_size(s);
    uint8_t *good = malloc(n), *bad = malloc(n + 1);
    size_t written = 0;
    ck_assert(mkv_session_save(s, good, n, &written, &err) == MKV_OK && written == n);

    /* a small buffer, a truncate beyond the position */
    ck_assert_int_eq(mkv_session_save(s, bad, n - 1, &written, &err), MKV_ERR_INVALID_ARG);
    ck_assert_uint_eq(written, 0);
    char want[64];
    snprintf(want, sizeof want, "%zu", n);
    ck_assert_msg(strstr(err.msg, want), "\"%s\" does not name the size %zu", err.msg, n);
    ck_assert_int_eq(mkv_session_truncate(s, NA + 1, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "8") && strstr(err.msg, "7"), "\"%s\" does not name 8 and 7", err.msg);
    ck_assert_uint_eq(mkv_session_pos(s), NA);
    printf("  %-34s %-22s %s\n", "truncate beyond the position", "MKV_ERR_INVALID_ARG", err.msg);

    /* damaged bytes */
    memcpy(bad, good, n);
    bad[96 + 10] ^= 0x20;
    refused(s, bad, n, NULL, MKV_ERR_CRC, "CRC", "a K byte flipped");
    memcpy(bad, good, n);
    bad[n - 8] ^= 1; /* the last prefetch token */
    refused(s, bad, n, NULL, MKV_ERR_CRC, "CRC", "a prefetch token flipped");
    memcpy(bad, good, n);
    bad[48] ^= 1; /* pos */
    refused(s, bad, n, NULL, MKV_ERR_CRC, "CRC", "pos flipped");
    memcpy(bad, good, n);
    bad[0] = 'X';
    refused(s, bad, n, NULL, MKV_ERR_BAD_MAGIC, "magic", "another magic");
    memcpy(bad, good, n);
    put_le32(bad + 8, 3);
    refused(s, bad, n, NULL, MKV_ERR_BAD_VERSION, "version = 3", "version 3");
    put_le32(bad + 8, 1); /* the format before the cache held its rows head after head */
    refused(s, bad, n, NULL, MKV_ERR_BAD_VERSION, "position by position", "version 1");
    refused(s, good, n - 1, NULL, MKV_ERR_TRUNCATED, "truncated", "one byte short");
    refused(s, good, 50, NULL, MKV_ERR_TRUNCATED, "header", "half a header");
    refused(s, good, 0, NULL, MKV_ERR_TRUNCATED, NULL, "no bytes");
    memcpy(bad, good, n);
    bad[n] = 0;
    refused(s, bad, n + 1, NULL, MKV_ERR_FORMAT, "trailing", "a byte after the state");
    /* fields out of range, the CRC made right */
    memcpy(bad, good, n);
    put_le32(bad + 40, 7);
    fix_crc(bad, n);
    refused(s, bad, n, NULL, MKV_ERR_FORMAT, "kv_type = 7", "kv_type 7");
    memcpy(bad, good, n);
    put_le32(bad + 48, NA + 1);
    fix_crc(bad, n);
    refused(s, bad, n, NULL, MKV_ERR_FORMAT, "total_bytes", "pos 8 over 7 positions' rows");
    memcpy(bad, good, n);
    put_le32(bad + n - 8, nv);
    fix_crc(bad, n);
    refused(s, bad, n, NULL, MKV_ERR_FORMAT, "prefetch token", "a prefetch token >= n_vocab");
    memcpy(bad, good, n);
    bad[80] = 1;
    fix_crc(bad, n);
    refused(s, bad, n, NULL, MKV_ERR_FORMAT, "reserved", "a reserved byte set");

    /* other models, other sessions */
    mkv_model *dense = load(dev, "dense"), *dense2 = load(dev, "dense2"), *other = load(dev, "other");
    size_t n_other, n_dense;
    uint8_t *st_other = state_of(other, &n_other), *st_dense = state_of(dense, &n_dense);
    refused(s, st_other, n_other, NULL, MKV_ERR_MISMATCH, "n_kv_head = 2", "another config's state");
    refused(s, st_dense, n_dense, NULL, MKV_ERR_MISMATCH, "meki = off", "the dense model's state");
    mkv_session *d2 = session(dense2, (sopts){0});
    refused(d2, st_dense, n_dense, NULL, MKV_ERR_MISMATCH, "model_id", "other weights, same config");
    ck_assert_msg(mkv_session_restore(d2, st_dense, n_dense, &err) == MKV_ERR_MISMATCH, "%s", err.msg);
    steps(d2, A, 2, NULL, nv);
    mkv_session_destroy(d2);
    mkv_session *off = session(m, (sopts){.meki_off = true});
    refused(off, good, n, NULL, MKV_ERR_MISMATCH, "meki = on", "MeKi state, MeKi branch off");
    mkv_session_destroy(off);
    mkv_session *q8 = session(m, (sopts){.kv = MKV_KV_Q8_0});
    refused(q8, good, n, NULL, MKV_ERR_MISMATCH, "kv_type = f16", "f16 state, q8_0 session");
    mkv_session_destroy(q8);
    mkv_session *small = session(m, (sopts){.n_ctx = 5});
    refused(small, good, n, NULL, MKV_ERR_CONTEXT_FULL, "pos = 7", "n_ctx 5 < pos 7");
    steps(small, A, 5, NULL, nv); /* still a working session */
    mkv_session_destroy(small);
    free(st_other);
    free(st_dense);

    /* files */
    char path[4400], fifo[4400];
    snprintf(path, sizeof path, "%s/bad.state", run_dir);
    snprintf(fifo, sizeof fifo, "%s/fifo.state", run_dir);
    refused(s, NULL, 0, path, MKV_ERR_IO, "bad.state", "no such file");
    refused(s, NULL, 0, run_dir, MKV_ERR_IO, "directory", "a directory");
    ck_assert(mkfifo(fifo, 0600) == 0);
    refused(s, NULL, 0, fifo, MKV_ERR_IO, "FIFO", "a FIFO (no writer: must not block)");
    unlink(fifo);
    tu_write_file(path, good, n - 10);
    refused(s, NULL, 0, path, MKV_ERR_TRUNCATED, "bad.state", "a file cut short");
    memcpy(bad, good, n);
    bad[200] ^= 4;
    tu_write_file(path, bad, n);
    refused(s, NULL, 0, path, MKV_ERR_CRC, "bad.state", "a file with a flipped byte");
    snprintf(path, sizeof path, "%s/no/such/dir/x.state", run_dir);
    ck_assert_int_eq(mkv_session_save_file(s, path, &err), MKV_ERR_IO);
    printf("  %-34s %-22s %s\n", "save into a missing directory", "MKV_ERR_IO", err.msg);
    snprintf(path, sizeof path, "%s/bad.state", run_dir);
    unlink(path);
    no_temporaries();

    /* after all that: B as if nothing had happened (the prefetch list intact) */
    ck_assert_uint_eq(mkv_session_pos(s), NA);
    steps(s, B, NB, l, nv);
    same_logits(l, lb, (size_t)NB * nv, "after the refused restores");
    /* and the good state still goes in */
    ck_assert_msg(mkv_session_restore(s, good, n, &err) == MKV_OK, "%s", err.msg);
    steps(s, B, NB, l, nv);
    same_logits(l, lb, (size_t)NB * nv, "restored after the refused ones");
    fflush(stdout);

    free(good);
    free(bad);
    free(l);
    free(lb);
    mkv_session_destroy(s);
    mkv_model_destroy(other);
    mkv_model_destroy(dense2);
    mkv_model_destroy(dense);
    mkv_model_destroy(m);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("state");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, truncate_then_decode_equals_fresh_dense);
    tcase_add_test(tc, truncate_then_decode_equals_fresh_meki);
    tcase_add_test(tc, save_restore_decode_equals_uninterrupted_dense);
    tcase_add_test(tc, save_restore_decode_equals_uninterrupted_meki);
    tcase_add_test(tc, save_restore_decode_equals_uninterrupted_dense_q8_0_kv);
    tcase_add_test(tc, save_restore_decode_equals_uninterrupted_meki_q8_0_kv);
    tcase_add_test(tc, damaged_or_foreign_states_are_refused_and_the_session_goes_on);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = write_models() ? tu_run_suite(state_suite()) : EXIT_FAILURE;
    remove_models();
    return rc;
}
