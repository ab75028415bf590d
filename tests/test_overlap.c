/* Bank streaming through a whole session (DESIGN §4, issue 3): the
 * overlap of the slab read with the first part of the step is measured,
 * not assumed; every read fault gives its error and the session decodes on;
 * streamed, cached and cold reads give logits bit-identical to the
 * synchronous reference path. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bank.h"
#include "indep_writer.h"
#include "mekivk.h"
#include "model.h"
#include "test_util.h"

/* Layer 0's FFN is large (25 MB of f16 weights) so the work the GPU does
 * before it needs the slab lasts milliseconds even on fast hosts. */
static const iw_shape shape = {.n_layer = 2, .d_model = 512, .n_head = 8, .n_kv_head = 4, .head_dim = 64,
                               .d_ffn = 8192, .d_mem = 64, .n_vocab = 600, .rope_theta = 10000.0f, .norm_eps = 1e-6f};
static const iw_opts wopts = {.meki = true, .qk_norm = true, .tied = true, .alignment = 32,
                              .bank_dtype = MKV_BANK_F16, .bank_align = 4096, .bank_crc = true, .seed = 303};

enum { N_CTX = 64, N_PROMPT = 12, N_GEN = 8 };
static const uint32_t prompt[N_PROMPT] = {7, 300, 7, 599, 42, 300, 7, 0, 1, 42, 42, 123};

static char run_dir[4096];
static const char *path_of(const char *file)
{
    static char ring[4][4200];
    static unsigned next;
    char *p = ring[next++ % 4];
    snprintf(p, sizeof ring[0], "%s/%s", run_dir, file);
    return p;
}

typedef struct engine {
    mkv_device *dev;
    mkv_model *model;
    mkv_session *s;
} engine;

/* cold: 0 page cache, 1 pages dropped after reads, 2 O_DIRECT */
static void engine_open(engine *e, int cold, const mkv_session_opts *so_in)
{
    mkv_error err;
    e->dev = tu_device();
    mkv_model_opts mo = {.bank_path = path_of("bank.mkb"), .bank_cold = cold > 0, .bank_cold_dontneed = cold == 1};
    ck_assert_msg(mkv_model_load(e->dev, path_of("model.gguf"), &mo, &e->model, &err) == MKV_OK, "%s", err.msg);
    mkv_session_opts so = *so_in;
    so.n_ctx = N_CTX;
    ck_assert_msg(mkv_session_create(e->model, &so, &e->s, &err) == MKV_OK, "%s", err.msg);
}

static void engine_close(engine *e)
{
    mkv_session_destroy(e->s);
    mkv_model_destroy(e->model);
    tu_assert_no_validation(e->dev);
    mkv_device_destroy(e->dev);
}

static mkv_bank *bank_of(engine *e) { return e->model->bank; }

static void step_ok(engine *e, uint32_t tok, float *logits, uint32_t *next)
{
    mkv_error err;
    mkv_status st = mkv_session_step(e->s, tok, logits, next, &err);
    ck_assert_msg(st == MKV_OK, "step token %u: %s: %s", tok, mkv_status_name(st), err.msg);
}

/* The prompt (prefetched), then N_GEN greedy tokens: all logits. */
static float *run_sequence(engine *e)
{
    const uint32_t nv = shape.n_vocab;
    float *all = malloc(sizeof(float) * nv * (N_PROMPT + N_GEN));
    mkv_error err;
    ck_assert_msg(mkv_session_prefetch(e->s, prompt, N_PROMPT, &err) == MKV_OK, "%s", err.msg);
    uint32_t next = 0;
    for (uint32_t i = 0; i < N_PROMPT; i++) step_ok(e, prompt[i], all + (size_t)i * nv, &next);
    for (uint32_t i = 0; i < N_GEN; i++) step_ok(e, next, all + (size_t)(N_PROMPT + i) * nv, &next);
    return all;
}

static float *reference_logits(void)
{
    engine e;
    mkv_session_opts so = {.bank_sync = true};
    engine_open(&e, 0, &so);
    float *r = run_sequence(&e);
    engine_close(&e);
    return r;
}

static void assert_bit_identical(const float *a, const float *b, const char *what)
{
    size_t n = (size_t)shape.n_vocab * (N_PROMPT + N_GEN);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], 4) == 0, "%s: position %zu logit %zu: %.9g vs %.9g (synchronous)", what,
                      i / shape.n_vocab, i % shape.n_vocab, a[i], b[i]);
}

START_TEST(streamed_cached_and_cold_reads_give_bit_identical_logits)
{
    float *ref = reference_logits();
    struct { const char *what; int cold; mkv_session_opts so; } cases[] = {
        {"streamed", 0, {.bank_threads = 4}},
        {"one reader thread, two slots", 0, {.bank_threads = 1, .bank_slots = 2}},
        {"hot-row cache", 0, {.bank_cache_bytes = 64u << 20}},
        {"cold reads, pages dropped", 1, {0}},
        {"cold reads, O_DIRECT", 2, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        engine e;
        engine_open(&e, cases[c].cold, &cases[c].so);
        float *got = run_sequence(&e);
        assert_bit_identical(got, ref, cases[c].what);
        mkv_session_stats ss;
        mkv_session_get_stats(e.s, &ss);
        ck_assert_uint_eq(ss.steps, N_PROMPT + N_GEN);
        ck_assert_uint_eq(ss.cache_hits + ss.cache_misses + ss.bank_shared, N_PROMPT + N_GEN);
        ck_assert_uint_eq(ss.bank_bytes_read, ss.bank_reads * mkv_bank_info(bank_of(&e))->slab_bytes);
        if (c == 0) ck_assert_uint_gt(ss.bank_shared, 0);  /* repeated prompt tokens read once */
        if (c == 2) ck_assert_uint_gt(ss.cache_hits, 0);
        if (c == 3) ck_assert_str_eq(ss.bank_io, "fadvise_dontneed");
        if (c == 4) ck_assert_str_ne(ss.bank_io, "page_cache");
        ck_assert(ss.bank_read_ms > 0);
        free(got);
        engine_close(&e);
    }
    free(ref);
}
END_TEST

/* ---- overlap ---- */

typedef struct delay_hook {
    uint32_t delay_us;
    double last_us; /* how long the last read really took, sleep included */
} delay_hook;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static int64_t delayed_pread(void *ctx, int fd, void *dst, uint64_t n, uint64_t off)
{
    delay_hook *h = ctx;
    double t0 = now_us();
    struct timespec ts = {h->delay_us / 1000000, (long)(h->delay_us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
    int64_t r = mkv_bank_pread_full(fd, dst, n, off);
    h->last_us = now_us() - t0;
    return r;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { N_MEASURE = 7 };
typedef struct overlap_run {
    double stall, window;  /* medians, us */
    double excess_err;     /* median of stall - (read time - window), us */
} overlap_run;

/* N_MEASURE steps with reads delayed by delay_us (one reader thread, so
 * the hook's last_us is this step's read). */
static overlap_run measure(engine *e, delay_hook *h, uint32_t delay_us)
{
    double st[N_MEASURE], wi[N_MEASURE], ex[N_MEASURE];
    h->delay_us = delay_us;
    uint32_t tok = 5;
    mkv_session_reset(e->s);
    for (int i = 0; i < N_MEASURE; i++) {
        step_ok(e, tok, NULL, &tok);
        mkv_session_stats ss;
        mkv_session_get_stats(e->s, &ss);
        st[i] = ss.last_stall_us;
        wi[i] = ss.last_window_us;
        ex[i] = ss.last_stall_us - (h->last_us - ss.last_window_us);
    }
    qsort(st, N_MEASURE, sizeof st[0], cmp_d);
    qsort(wi, N_MEASURE, sizeof wi[0], cmp_d);
    qsort(ex, N_MEASURE, sizeof ex[0], cmp_d);
    return (overlap_run){st[N_MEASURE / 2], wi[N_MEASURE / 2], ex[N_MEASURE / 2]};
}

/* A read delayed by less than the GPU work before the first dispatch that reads the bank
 * (the "window", measured on the GPU clock, not assumed) costs nothing; one
 * delayed by more stalls the GPU by the excess: the read's real duration
 * (sleep overshoot included) minus the window. Tolerances: the stall is
 * timed from the end of the first part to the start of the second, so it
 * also holds the host's wake-up and one queue submission, and the read
 * starts a submission earlier than the window: near zero means under 1 ms
 * (measured: 0 us); the stall may fall short of the excess by 4 ms and
 * exceed it by 6 ms or half the window, whichever is less (so a read that
 * was not overlapped at all, stalling by the whole delay, fails). Measured
 * on lavapipe, 2 cores: +0.1 ms idle, up to +4.9 ms with other jobs
 * hogging the cores (the host's wake-up). ctest runs this test alone. */
START_TEST(reads_shorter_than_the_window_do_not_stall_and_longer_ones_stall_by_the_excess)
{
    engine e;
    mkv_session_opts so = {.bank_threads = 1};
    engine_open(&e, 0, &so);
    delay_hook h = {0};
    mkv_bank_set_pread(bank_of(&e), delayed_pread, &h);
    overlap_run r0 = measure(&e, &h, 0);
    fprintf(stderr, "overlap: no delay: window %.0f us, stall %.0f us\n", r0.window, r0.stall);
    /* A fast GPU runs the whole window in less than the host's wake-up (an NVIDIA H200: 49 us
     * for this model): the sleeps cannot be placed inside it, so its timing is checked on
     * slower devices only; lavapipe, where CI runs, must give a window to test. */
    if (r0.window <= 1000 && !mkv_device_is_cpu(e.dev)) {
        fprintf(stderr, "overlap: window %.0f us: under the 1 ms the delays need on this GPU; timing not tested\n",
                r0.window);
        mkv_bank_set_pread(bank_of(&e), NULL, NULL);
        engine_close(&e);
        return;
    }
    ck_assert_msg(r0.window > 1000, "window %.0f us: too short to test overlap on this machine", r0.window);
    ck_assert_msg(r0.stall < 1000, "no delay: median stall %.0f us", r0.stall);

    const uint32_t short_delay = (uint32_t)(r0.window * 0.3);
    overlap_run rs = measure(&e, &h, short_delay);
    fprintf(stderr, "overlap: delay %u us: window %.0f us, stall %.0f us\n", short_delay, rs.window, rs.stall);
    ck_assert_msg(rs.stall < 1000, "delay %u us < window %.0f us: median stall %.0f us", short_delay, rs.window, rs.stall);

    const uint32_t long_delay = (uint32_t)(r0.window + 20000);
    overlap_run rl = measure(&e, &h, long_delay);
    fprintf(stderr, "overlap: delay %u us: window %.0f us, stall %.0f us, stall - excess %.0f us\n", long_delay, rl.window,
            rl.stall, rl.excess_err);
    ck_assert_msg(rl.stall > 10000, "delay %u us > window %.0f us: median stall only %.0f us", long_delay, rl.window, rl.stall);
    const double hi = rl.window / 2 < 6000 ? rl.window / 2 : 6000; /* a stall of the whole read would exceed it */
    ck_assert_msg(rl.excess_err > -4000 && rl.excess_err < hi,
                  "delay %u us: stall differs from the excess by %.0f us (median; allowed -4000..%.0f)", long_delay,
                  rl.excess_err, hi);
    mkv_bank_set_pread(bank_of(&e), NULL, NULL);
    engine_close(&e);
}
END_TEST

/* ---- faults ---- */

typedef struct fault_hook {
    uint64_t bad_off;
    int mode; /* 0 pass, 1 EIO, 2 short read */
} fault_hook;

static int64_t faulty_pread(void *ctx, int fd, void *dst, uint64_t n, uint64_t off)
{
    const fault_hook *f = ctx;
    if (f->mode == 0 || off != f->bad_off) return mkv_bank_pread_full(fd, dst, n, off);
    if (f->mode == 1) {
        errno = EIO;
        return -1;
    }
    int64_t r = mkv_bank_pread_full(fd, dst, n, off);
    return r > 0 ? r - 1 : r;
}

/* The step fails with `want`, names the bank file, the token and the slab's
 * offset, and consumes nothing (the caller may retry). */
static void expect_step_error(engine *e, const char *bank_path, uint32_t tok, mkv_status want, const char *also)
{
    const mkv_bank_header *h = mkv_bank_info(bank_of(e));
    char tokstr[64], offstr[64];
    snprintf(tokstr, sizeof tokstr, "token = %u", tok);
    snprintf(offstr, sizeof offstr, "offset %llu", (unsigned long long)(h->data_offset + (uint64_t)tok * h->slab_bytes));
    uint32_t pos = mkv_session_pos(e->s);
    mkv_error err = {0};
    mkv_status st = mkv_session_step(e->s, tok, NULL, NULL, &err);
    ck_assert_msg(st == want, "%s: got %s (%s)", also, mkv_status_name(st), err.msg);
    ck_assert_msg(strstr(err.msg, bank_path) && strstr(err.msg, tokstr) && strstr(err.msg, offstr) && strstr(err.msg, also),
                  "message must name the file, %s, %s and say '%s': %s", tokstr, offstr, also, err.msg);
    ck_assert_uint_eq(mkv_session_pos(e->s), pos);
}

static void flip_byte(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

/* Every fault on token 42's slab, each followed by successful steps: the
 * logits of the whole run equal the fault-free synchronous run. */
START_TEST(every_read_fault_names_file_token_offset_and_the_session_decodes_on)
{
    float *ref = reference_logits();
    /* a private copy of the bank: this test changes it under the session */
    uint64_t size;
    uint8_t *orig = tu_read_file(path_of("bank.mkb"), &size);
    char copy[4300];
    snprintf(copy, sizeof copy, "%s", path_of("bank_faults.mkb"));
    tu_write_file(copy, orig, size);

    engine e;
    mkv_error err;
    e.dev = tu_device();
    mkv_model_opts mo = {.bank_path = copy};
    ck_assert_msg(mkv_model_load(e.dev, path_of("model.gguf"), &mo, &e.model, &err) == MKV_OK, "%s", err.msg);
    mkv_session_opts so = {.n_ctx = N_CTX};
    ck_assert_msg(mkv_session_create(e.model, &so, &e.s, &err) == MKV_OK, "%s", err.msg);
    const mkv_bank_header *h = mkv_bank_info(bank_of(&e));
    const uint32_t bad = 42;
    const uint64_t bad_off = h->data_offset + (uint64_t)bad * h->slab_bytes;
    fault_hook f = {.bad_off = bad_off};
    const uint32_t nv = shape.n_vocab;
    float *got = malloc(sizeof(float) * nv * (N_PROMPT + N_GEN));

    /* token 42's prefetched read fails first */
    mkv_bank_set_pread(bank_of(&e), faulty_pread, &f);
    f.mode = 1;
    ck_assert_msg(mkv_session_prefetch(e.s, prompt, N_PROMPT, &err) == MKV_OK, "%s", err.msg);
    uint32_t next = 0;
    bool faulted = false;
    for (uint32_t i = 0; i < N_PROMPT; i++) {
        if (prompt[i] == bad && !faulted) {
            /* the same position fails five ways, then succeeds */
            faulted = true;
            expect_step_error(&e, copy, bad, MKV_ERR_IO, "Input/output error"); /* the prefetched read */
            expect_step_error(&e, copy, bad, MKV_ERR_IO, "Input/output error");
            f.mode = 2;
            expect_step_error(&e, copy, bad, MKV_ERR_TRUNCATED, "short read");
            mkv_bank_set_pread(bank_of(&e), NULL, NULL);
            flip_byte(copy, bad_off + 3); /* a byte of the slab changed on storage */
            expect_step_error(&e, copy, bad, MKV_ERR_CRC, "crc mismatch");
            flip_byte(copy, bad_off + 3);
            /* the file truncated under the session: inside the slab, then before it */
            ck_assert_int_eq(truncate(copy, (off_t)(bad_off + h->slab_bytes / 2)), 0);
            expect_step_error(&e, copy, bad, MKV_ERR_TRUNCATED, "short read");
            ck_assert_int_eq(truncate(copy, (off_t)h->data_offset), 0);
            expect_step_error(&e, copy, bad, MKV_ERR_TRUNCATED, "short read");
            tu_write_file(copy, orig, size);
        }
        step_ok(&e, prompt[i], got + (size_t)i * nv, &next);
    }
    ck_assert(faulted);
    for (uint32_t i = 0; i < N_GEN; i++) step_ok(&e, next, got + (size_t)(N_PROMPT + i) * nv, &next);
    assert_bit_identical(got, ref, "after faults");
    free(got);
    free(ref);
    free(orig);
    engine_close(&e);
    unlink(copy);
}
END_TEST

static Suite *overlap_suite(void)
{
    Suite *s = suite_create("overlap");
    TCase *tc = tcase_create("streaming");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, streamed_cached_and_cold_reads_give_bit_identical_logits);
    tcase_add_test(tc, every_read_fault_names_file_token_offset_and_the_session_decodes_on);
    suite_add_tcase(s, tc);
    TCase *ov = tcase_create("overlap");
    tcase_set_timeout(ov, 600);
    tcase_add_test(ov, reads_shorter_than_the_window_do_not_stall_and_longer_ones_stall_by_the_excess);
    suite_add_tcase(s, ov);
    return s;
}

int main(void)
{
    snprintf(run_dir, sizeof run_dir, "%s/overlap_%ld", tu_tmpdir(), (long)getpid());
    if (mkdir(run_dir, 0777) != 0 && errno != EEXIST) return EXIT_FAILURE;
    if (iw_write(path_of("model.gguf"), path_of("bank.mkb"), &shape, &wopts) != 0) return EXIT_FAILURE;
    int rc = tu_run_suite(overlap_suite());
    unlink(path_of("model.gguf"));
    unlink(path_of("bank.mkb"));
    rmdir(run_dir);
    return rc;
}
