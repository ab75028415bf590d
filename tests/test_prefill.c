/* Batched prefill (mkv_session_prefill) against the decode step: the logits
 * of every position of a prompt processed in batches equal those of the
 * same prompt stepped token by token, dense and MeKi, f16 and the
 * quantized types, at prompt lengths around the chunk size, split over
 * several calls; decoding then continues identically. One case against the
 * CPU reference directly. Faults: a failing bank read or a full context in
 * the middle of a batch leave the session where it was. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"
#include "device.h"
#include "mekivk.h"
#include "model_desc.h"
#include "ref.h"
#include "synth.h"
#include "test_util.h"

/* max|batched - stepped| / max|stepped| at every position: both sum in
 * f32, in another order (mm's lanes and tiles against matvec's), and for
 * the block types by another formula (matvec factors a block's scale and
 * offset out of its sum, d * (sum q x - 8 sum x); mm dequantizes each
 * weight first); the random models amplify that through the layers as for
 * the reference (test_e2e.c's E2E_TOL says how much). Measured on lavapipe
 * at subgroup sizes 4, 8, 16 (the printed worst per case): f16 and bf16
 * models up to 8.0e-5, q6_k 1.5e-4, q4_0, q4_k_m, q5_0 and q8_0 3.1e-4 to
 * 3.6e-4. PREFILL_TOL is about 3x the worst; a wrong formula moves logits
 * by O(1). */
#define PREFILL_TOL 1e-3
/* against the CPU reference: test_e2e.c's E2E_TOL */
#define REF_TOL 5e-4
/* Prefill on cooperative matrices (mm.coop): x and the weights enter the
 * products as f16, the stepped logits keep f32 x. Measured on lavapipe
 * with the tiles emulated (coop_prefill_stays_within_f16_rounding_of_stepped):
 * f16 1.0e-3, q4_k_m 1.2e-3, q4_0 1.4e-3, q6_k 2.3e-3; COOP_TOL about 4x
 * the worst (a misplaced tile moves logits by O(1)). */
#define COOP_TOL 1e-2

static char run_dir[4096];

static const char *file_in(const char *name, const char *file)
{
    static char ring[8][4300];
    static unsigned next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s/%s", run_dir, name, file);
    return p;
}

static bool synth_as(const char *name, bool dense, uint64_t seed, const char *arch, uint32_t wtype)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", run_dir, name);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    o.dense = dense;
    o.seed = seed;
    o.arch = arch;
    o.wtype = wtype;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    if (st != MKV_OK) fprintf(stderr, "synth %s: %s: %s\n", name, mkv_status_name(st), err.msg);
    return st == MKV_OK;
}

static const char *const dirs[] = {"f16", "dense", "q8_0", "q4_0", "q4_k_m", "q6_k", "q5_0", "bf16", "qwen2", "llama"};

static bool write_models(void)
{
    snprintf(run_dir, sizeof run_dir, "%s/prefill_%ld", tu_tmpdir(), (long)getpid());
    if (mkdir(run_dir, 0777) != 0 && errno != EEXIST) return false;
    return synth_as("f16", false, 31, "qwen3", MKV_GGML_F16) && synth_as("dense", true, 32, "qwen3", MKV_GGML_F16) &&
           synth_as("q8_0", false, 33, "qwen3", MKV_GGML_Q8_0) && synth_as("q4_0", false, 34, "qwen3", MKV_GGML_Q4_0) &&
           synth_as("q4_k_m", false, 35, "qwen3", MKV_SYNTH_Q4_K_M) &&
           synth_as("q6_k", true, 36, "qwen3", MKV_GGML_Q6_K) && synth_as("q5_0", false, 37, "llama", MKV_GGML_Q5_0) &&
           synth_as("bf16", true, 38, "qwen3", MKV_GGML_BF16) && synth_as("qwen2", false, 39, "qwen2", MKV_GGML_F16) &&
           synth_as("llama", false, 40, "llama", MKV_GGML_F16);
}

static void remove_models(void)
{
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        unlink(file_in(dirs[d], "model.gguf"));
        unlink(file_in(dirs[d], "bank.mkb"));
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", run_dir, dirs[d]);
        rmdir(dir);
    }
    rmdir(run_dir);
}

static bool has_bank(const char *name)
{
    return access(file_in(name, "bank.mkb"), F_OK) == 0;
}

static mkv_model *load(mkv_device *dev, const char *name, const char *bank)
{
    mkv_model_opts mo = {.bank_path = bank};
    mkv_model *m = NULL;
    mkv_error err;
    mkv_status st = mkv_model_load(dev, file_in(name, "model.gguf"), &mo, &m, &err);
    ck_assert_msg(st == MKV_OK, "load %s: %s", name, err.msg);
    return m;
}

static mkv_session *session(mkv_model *m, uint32_t n_ctx, uint32_t chunk, bool bank_sync)
{
    mkv_session_opts so = {.n_ctx = n_ctx, .prefill_chunk = chunk, .bank_sync = bank_sync};
    mkv_session *s = NULL;
    mkv_error err;
    mkv_status st = mkv_session_create(m, &so, &s, &err);
    ck_assert_msg(st == MKV_OK, "session: %s", err.msg);
    return s;
}

static uint32_t *rand_tokens(uint32_t n, uint32_t n_vocab, uint64_t seed)
{
    uint32_t *t = malloc(n * sizeof *t);
    uint64_t rng = seed;
    for (uint32_t i = 0; i < n; i++) t[i] = (uint32_t)(tu_rand_u64(&rng) % n_vocab);
    if (n > 3) t[n - 2] = t[1]; /* a token repeated: its slab is shared */
    return t;
}

static uint32_t vocab_of(const mkv_model *m)
{
    mkv_model_info info;
    mkv_model_get_info(m, &info);
    return info.n_vocab;
}

/* Prefills `n` tokens in the calls `splits` (sizes summing to n, 0-ended)
 * with every position's logits, steps the same tokens in a second session,
 * compares every position, then decodes 3 more tokens in both, each
 * within tol. Returns the worst relative difference. */
static double compare(mkv_model *m, const uint32_t *tok, uint32_t n, const uint32_t *splits, uint32_t chunk,
                      bool bank_sync, double tol, const char *label)
{
    const uint32_t nv = vocab_of(m), n_ctx = n + 8;
    mkv_session *a = session(m, n_ctx, chunk, bank_sync), *b = session(m, n_ctx, chunk, bank_sync);
    float *la = malloc((size_t)n * nv * sizeof *la), *lb = malloc((size_t)nv * sizeof *lb);
    ck_assert(la && lb);
    mkv_error err;
    uint32_t at = 0, arg_a = 0, arg_b = 0;
    for (const uint32_t *sp = splits; at < n; sp++) {
        const uint32_t k = *sp ? *sp : n - at;
        mkv_status st = mkv_session_prefill(a, tok + at, k, MKV_PREFILL_ALL, la + (size_t)at * nv, &arg_a, &err);
        ck_assert_msg(st == MKV_OK, "%s: prefill %u at %u: %s", label, k, at, err.msg);
        at += k;
        ck_assert_uint_eq(mkv_session_pos(a), at);
    }
    double worst = 0;
    for (uint32_t i = 0; i < n; i++) {
        mkv_status st = mkv_session_step(b, tok[i], lb, &arg_b, &err);
        ck_assert_msg(st == MKV_OK, "%s: step %u: %s", label, i, err.msg);
        const double e = tu_max_rel_err(la + (size_t)i * nv, lb, nv);
        ck_assert_msg(e <= tol, "%s: n = %u, position %u: batched vs stepped %.3e > %.1e", label, n, i, e, tol);
        if (e > worst) worst = e;
    }
    /* the last-token path (MKV_PREFILL_LAST) and its argmax agree with the stepped ones */
    ck_assert_uint_eq(arg_a, tu_argmax(la + (size_t)(n - 1) * nv, nv));
    /* decoding continues from the same cache */
    float *lc = malloc((size_t)nv * sizeof *lc);
    uint32_t next = arg_b;
    for (uint32_t i = 0; i < 3; i++) {
        mkv_status st = mkv_session_step(a, next, lc, NULL, &err);
        ck_assert_msg(st == MKV_OK, "%s: decode after prefill: %s", label, err.msg);
        ck_assert(mkv_session_step(b, next, lb, NULL, &err) == MKV_OK);
        const double e = tu_max_rel_err(lc, lb, nv);
        ck_assert_msg(e <= tol, "%s: decode step %u after the prefill: %.3e", label, i, e);
        if (e > worst) worst = e;
        next = tu_argmax(lb, nv);
    }
    free(lc);
    free(la);
    free(lb);
    mkv_session_destroy(a);
    mkv_session_destroy(b);
    printf("prefill %-28s n = %4u: batched vs stepped, max rel err %.3e\n", label, n, worst);
    fflush(stdout);
    return worst;
}

/* Every model, chunk 16: lengths 1, 2, chunk - 1, chunk, chunk + 1 and 40
 * (several passes), and 40 split over three calls. */
static void lengths_case(const char *name)
{
    mkv_device *dev = tu_device();
    mkv_model *m = load(dev, name, has_bank(name) ? file_in(name, "bank.mkb") : NULL);
    const uint32_t nv = vocab_of(m);
    static const uint32_t lens[] = {1, 2, 15, 16, 17, 40};
    static const uint32_t whole[] = {0}, three[] = {7, 17, 0};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint32_t *tok = rand_tokens(lens[i], nv, 100 + i);
        compare(m, tok, lens[i], whole, 16, false, PREFILL_TOL, name);
        free(tok);
    }
    uint32_t *tok = rand_tokens(40, nv, 200);
    char label[64];
    snprintf(label, sizeof label, "%s (7+17+16 calls)", name);
    compare(m, tok, 40, three, 16, false, PREFILL_TOL, label);
    free(tok);
    mkv_model_destroy(m);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}

START_TEST(f16_meki_batched_equals_stepped) { lengths_case("f16"); }
END_TEST
START_TEST(f16_dense_batched_equals_stepped) { lengths_case("dense"); }
END_TEST
START_TEST(q8_0_batched_equals_stepped) { lengths_case("q8_0"); }
END_TEST
START_TEST(q4_0_batched_equals_stepped) { lengths_case("q4_0"); }
END_TEST
START_TEST(q4_k_m_batched_equals_stepped) { lengths_case("q4_k_m"); }
END_TEST
START_TEST(q6_k_dense_batched_equals_stepped) { lengths_case("q6_k"); }
END_TEST
START_TEST(q5_0_llama_batched_equals_stepped) { lengths_case("q5_0"); }
END_TEST
START_TEST(bf16_dense_batched_equals_stepped) { lengths_case("bf16"); }
END_TEST
START_TEST(qwen2_biases_batched_equals_stepped) { lengths_case("qwen2"); }
END_TEST
START_TEST(llama_batched_equals_stepped) { lengths_case("llama"); }
END_TEST

/* The default chunk (128): 127, 128, 129 and 1000 tokens, MeKi and dense;
 * MeKi also with the synchronous bank path. */
START_TEST(default_chunk_127_128_129_and_1000)
{
    mkv_device *dev = tu_device();
    const char *names[] = {"f16", "dense"};
    static const uint32_t lens[] = {127, 128, 129, 1000};
    static const uint32_t whole[] = {0};
    for (int k = 0; k < 2; k++) {
        mkv_model *m = load(dev, names[k], k == 0 ? file_in("f16", "bank.mkb") : NULL);
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            uint32_t *tok = rand_tokens(lens[i], vocab_of(m), 300 + i);
            compare(m, tok, lens[i], whole, 0, false, PREFILL_TOL, names[k]);
            if (k == 0 && lens[i] == 129) compare(m, tok, lens[i], whole, 0, true, PREFILL_TOL, "f16 bank_sync");
            free(tok);
        }
        mkv_model_destroy(m);
    }
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

/* The batched logits against the CPU reference itself (MeKi, f16). */
START_TEST(meki_prefill_matches_reference)
{
    mkv_device *dev = tu_device();
    mkv_model *m = load(dev, "f16", file_in("f16", "bank.mkb"));
    const uint32_t nv = vocab_of(m), n = 45;
    mkv_error err;
    mkv_model_desc *desc = NULL;
    mkv_bank *bank = NULL;
    ref_model *ref = NULL;
    ck_assert_msg(mkv_model_desc_load(file_in("f16", "model.gguf"), &desc, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(mkv_bank_open(file_in("f16", "bank.mkb"), &bank, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(ref_model_create(desc, bank, false, 64, &ref, &err) == MKV_OK, "%s", err.msg);
    mkv_session *s = session(m, 64, 16, false);
    uint32_t *tok = rand_tokens(n, nv, 400);
    float *gl = malloc((size_t)n * nv * sizeof *gl), *rl = malloc((size_t)nv * sizeof *rl);
    ck_assert_msg(mkv_session_prefill(s, tok, n, MKV_PREFILL_ALL, gl, NULL, &err) == MKV_OK, "%s", err.msg);
    double worst = 0;
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_msg(ref_model_step(ref, tok[i], rl, &err) == MKV_OK, "%s", err.msg);
        const double e = tu_max_rel_err(gl + (size_t)i * nv, rl, nv);
        ck_assert_msg(e <= REF_TOL, "position %u: batched vs reference %.3e", i, e);
        if (e > worst) worst = e;
    }
    printf("prefill f16 meki n = %u: batched vs CPU reference, max rel err %.3e\n", n, worst);
    free(tok);
    free(gl);
    free(rl);
    mkv_session_destroy(s);
    ref_model_free(ref);
    mkv_bank_close(bank);
    mkv_model_desc_free(desc);
    mkv_model_destroy(m);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

/* Flips a byte inside token t's slab of a copy of the bank: its CRC fails. */
static void corrupt_slab(const char *path, uint32_t t)
{
    mkv_bank *b = NULL;
    mkv_error err;
    ck_assert_msg(mkv_bank_open(path, &b, &err) == MKV_OK, "%s", err.msg);
    const mkv_bank_header *h = mkv_bank_info(b);
    const off_t at = (off_t)(h->data_offset + (uint64_t)t * h->slab_bytes + 10);
    mkv_bank_close(b);
    int fd = open(path, O_RDWR);
    ck_assert(fd >= 0);
    unsigned char c;
    ck_assert(pread(fd, &c, 1, at) == 1);
    c ^= 0x40;
    ck_assert(pwrite(fd, &c, 1, at) == 1);
    close(fd);
}

/* A bank read failing in the middle of a batch (streamed and synchronous),
 * a full context and a token out of range: each an error, the position
 * unchanged, and the session still gives the stepped logits afterwards. */
START_TEST(faults_leave_the_session_where_it_was)
{
    char bad[4400];
    snprintf(bad, sizeof bad, "%s/bad_bank.mkb", run_dir);
    ck_assert(tu_copy_file(file_in("f16", "bank.mkb"), bad));
    mkv_device *dev = tu_device();
    mkv_model *m = load(dev, "f16", bad);
    const uint32_t nv = vocab_of(m), n = 40;
    uint32_t *tok = rand_tokens(n, nv, 500);
    const uint32_t poison = (tok[0] + 1) % nv;
    for (uint32_t i = 0; i < n; i++)
        if (tok[i] == poison) tok[i] = (poison + 1) % nv;
    corrupt_slab(bad, poison);
    for (int sync = 0; sync < 2; sync++) {
        mkv_session *s = session(m, 64, 16, sync), *ref = session(m, 64, 16, sync);
        mkv_error err;
        float *la = malloc((size_t)nv * sizeof *la), *lb = malloc((size_t)nv * sizeof *lb);
        /* 10 good tokens first */
        ck_assert_msg(mkv_session_prefill(s, tok, 10, MKV_PREFILL_LAST, la, NULL, &err) == MKV_OK, "%s", err.msg);
        for (uint32_t i = 0; i < 10; i++) ck_assert(mkv_session_step(ref, tok[i], lb, NULL, &err) == MKV_OK);
        /* a batch of 30 whose 20th token's slab is bad (second pass of 16) */
        uint32_t batch[30];
        memcpy(batch, tok + 10, sizeof batch);
        batch[19] = poison;
        mkv_status st = mkv_session_prefill(s, batch, 30, MKV_PREFILL_LAST, la, NULL, &err);
        ck_assert_int_eq(st, MKV_ERR_CRC);
        ck_assert_uint_eq(mkv_session_pos(s), 10);
        printf("prefill fault (%s): %s\n", sync ? "bank_sync" : "streamed", err.msg);
        /* context full: 10 + 60 > 64 */
        uint32_t many[60];
        for (uint32_t i = 0; i < 60; i++) many[i] = tok[i % n];
        ck_assert_int_eq(mkv_session_prefill(s, many, 60, MKV_PREFILL_LAST, la, NULL, &err), MKV_ERR_CONTEXT_FULL);
        ck_assert_uint_eq(mkv_session_pos(s), 10);
        /* a token out of range */
        uint32_t oob[3] = {tok[0], nv, tok[1]};
        ck_assert_int_eq(mkv_session_prefill(s, oob, 3, MKV_PREFILL_LAST, la, NULL, &err), MKV_ERR_TOKEN_RANGE);
        ck_assert_uint_eq(mkv_session_pos(s), 10);
        /* the rest, good: the same logits as stepping */
        ck_assert_msg(mkv_session_prefill(s, tok + 10, 30, MKV_PREFILL_LAST, la, NULL, &err) == MKV_OK, "%s", err.msg);
        for (uint32_t i = 10; i < 40; i++) ck_assert(mkv_session_step(ref, tok[i], lb, NULL, &err) == MKV_OK);
        const double e = tu_max_rel_err(la, lb, nv);
        ck_assert_msg(e <= PREFILL_TOL, "after the faults: %.3e", e);
        free(la);
        free(lb);
        mkv_session_destroy(s);
        mkv_session_destroy(ref);
    }
    free(tok);
    mkv_model_destroy(m);
    unlink(bad);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

/* The prefill's products on cooperative matrices (mm_cm: the tuning's
 * mm.coop), emulated where the device has none (mm_cm_emu: the same f16
 * tiles, only the order of the f32 sums differs; device.h), against the
 * stepped logits (matvec, f32 x): a whole model's error from x and the
 * weights entering the tiles as f16. Passes of 16 tokens (half a tile of
 * 32) and of 128, MeKi and dense, the block types and Q6_K's 256-wide
 * tiles. */
START_TEST(coop_prefill_stays_within_f16_rounding_of_stepped)
{
    mkv_device *dev = tu_device();
    dev->tune.coop_mm = true;
    dev->coop_emulate = !dev->coop_nv;
    const char *names[] = {"f16", "q4_0", "q4_k_m", "q6_k"};
    static const uint32_t whole[] = {0};
    double worst = 0;
    for (int k = 0; k < 4; k++) {
        mkv_model *m = load(dev, names[k], has_bank(names[k]) ? file_in(names[k], "bank.mkb") : NULL);
        const uint32_t nv = vocab_of(m);
        uint32_t *tok = rand_tokens(129, nv, 300 + k);
        char label[64];
        snprintf(label, sizeof label, "%s coop", names[k]);
        double e = compare(m, tok, 40, whole, 16, false, COOP_TOL, label);
        worst = e > worst ? e : worst;
        e = compare(m, tok, 129, whole, 128, false, COOP_TOL, label);
        worst = e > worst ? e : worst;
        free(tok);
        mkv_model_destroy(m);
    }
    /* the products did run on the tiles: their pipelines are in the device's cache */
    uint32_t n_cm = 0;
    for (uint32_t i = 0; i < dev->n_pipelines; i++)
        n_cm += !strncmp(mkv_kernel_spirv_table[dev->pipelines[i]->kernel].name, "mm_cm_", 6);
    ck_assert_msg(n_cm >= 4, "%u mm_cm pipelines made: the prefill's products did not run on the tiles", n_cm);
    printf("prefill on cooperative matrices (%s): worst batched vs stepped %.3e\n", dev->coop_nv ? "the device's" : "emulated",
           worst);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

static Suite *prefill_suite(void)
{
    Suite *s = suite_create("prefill");
    TCase *tc = tcase_create("prefill");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, f16_meki_batched_equals_stepped);
    tcase_add_test(tc, f16_dense_batched_equals_stepped);
    tcase_add_test(tc, q8_0_batched_equals_stepped);
    tcase_add_test(tc, q4_0_batched_equals_stepped);
    tcase_add_test(tc, q4_k_m_batched_equals_stepped);
    tcase_add_test(tc, q6_k_dense_batched_equals_stepped);
    tcase_add_test(tc, q5_0_llama_batched_equals_stepped);
    tcase_add_test(tc, bf16_dense_batched_equals_stepped);
    tcase_add_test(tc, qwen2_biases_batched_equals_stepped);
    tcase_add_test(tc, llama_batched_equals_stepped);
    tcase_add_test(tc, default_chunk_127_128_129_and_1000);
    tcase_add_test(tc, meki_prefill_matches_reference);
    tcase_add_test(tc, faults_leave_the_session_where_it_was);
    tcase_add_test(tc, coop_prefill_stays_within_f16_rounding_of_stepped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = write_models() ? tu_run_suite(prefill_suite()) : EXIT_FAILURE;
    remove_models();
    return rc;
}
