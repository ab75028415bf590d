/* The whole engine against the CPU reference, through the public API only
 * (mekivk.h): synthetic tiny and small models, MeKi and dense, the MeKi
 * branch switched off per session, and models written by the independent
 * writer. Plus determinism, context limits and the load-time checks that
 * bind a bank to its model. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bank.h"
#include "device.h"
#include "indep_writer.h"
#include "mekivk.h"
#include "model_desc.h"
#include "ref.h"
#include "synth.h"
#include "test_util.h"

/* Logit tolerance, as max|gpu - ref| / max|ref| over one position's logits
 * (tu_max_rel_err), checked at every position.
 *
 * Where the engine and the reference differ: not in the f16 weights (exact
 * in both) nor in K/V (rounded to f16 in both). What remains is (a) f32
 * accumulation in another order (subgroup and workgroup reductions vs. the
 * reference's float64); (b) exp, sin, cos, inversesqrt in f32 on the GPU vs.
 * libm in double; (c) any activation the engine chose to store in f16 (it
 * stores none today; 2^-11 relative per element if it did). A single f32
 * dot product errs by only ~sqrt(n) * 2^-24 ~ 1e-6, but these random models
 * amplify perturbations through the layers: the reference itself, with its
 * matrix products accumulated in f32 instead of f64, moves by 3e-5..5e-5 on
 * "small" -- that is the floor any f32 engine sits on.
 * Measured on lavapipe with subgroup sizes 4, 8 and 16 (validation on), over
 * every position of every f16-weight case below: at most 1.6e-4 (small
 * dense, subgroup 16); 1e-5..7e-5 typically. E2E_TOL is about 3x the worst.
 *
 * Models whose matrices are F32 in the file: the engine stores every matrix
 * as f16 (runtime/model.c) while the reference uses the F32 values as they
 * are, adding up to 2^-11 relative per weight. Measured: 6.65e-4 (indep A;
 * 3.5e-5 when the reference is made to round those weights to f16 too).
 * E2E_TOL_F32W is about 4.5x that.
 *
 * Models whose matrices are BF16 or quantized (every ggml type the engine
 * reads, and llama.cpp-style mixes: a Q4_0 file's LM head is Q6_K, a
 * Q4_K_M file mixes Q4_K, Q6_K and Q5_0 tensor by tensor): the engine
 * reads the stored blocks and the reference dequantizes the same blocks
 * exactly, so they sit under E2E_TOL like f16 weights (the quantization
 * error itself is the same on both sides and not measured here). W_mo,
 * which the engine stores transposed in f16, is rounded alike in both.
 *
 * Either bound still catches a wrong formula: a missing term, a wrong head
 * mapping or RoPE pairing changes logits by O(1) relative. */
#define E2E_TOL 5e-4
#define E2E_TOL_F32W 3e-3
/* q8_0 KV cache on both sides (shaders/kv_layout.h): the same blocks, but
 * x / d computed on the GPU and in C may round a quant the other way where
 * it sits at a half: one step of the block's scale in one value. */
/* Measured on lavapipe (subgroup 8): 2.9e-4 (small meki), 6.1e-4 (tiny
 * q4_k_m). */
#define E2E_TOL_KV_Q8 2e-3

enum { N_CTX = 64 };

/* Per-run directory (pid), so parallel ctest runs of the three subgroup
 * sizes do not rewrite each other's memory-mapped files. */
static char run_dir[4096];

static const char *case_dir(const char *name)
{
    static char ring[8][4200];
    static unsigned next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", run_dir, name);
    return p;
}

static const char *file_in(const char *name, const char *file)
{
    static char ring[8][4300];
    static unsigned next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s/%s", run_dir, name, file);
    return p;
}

/* ---- model files, written once in the runner's process ---- */

static bool synth_as(const char *name, const char *shape, bool dense, uint64_t seed, const char *arch, uint32_t wtype)
{
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape(shape), case_dir(name));
    o.dense = dense;
    o.seed = seed;
    o.arch = arch;
    o.wtype = wtype;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    if (st != MKV_OK) fprintf(stderr, "synth %s: %s: %s\n", name, mkv_status_name(st), err.msg);
    return st == MKV_OK;
}

static bool synth(const char *name, const char *shape, bool dense, uint64_t seed)
{
    return synth_as(name, shape, dense, seed, "qwen3", MKV_GGML_F16);
}

/* Independent writer, case A: MHA (n_head == n_kv_head), q/k norm, untied
 * F32 matrices and output, GGUF alignment 64, Q8 bank without slab CRCs
 * at align 512, odd vocabulary. */
static const iw_shape indep_a_shape = {.n_layer = 3, .d_model = 256, .n_head = 4, .n_kv_head = 4,
                                       .head_dim = 64, .d_ffn = 512, .d_mem = 48, .n_vocab = 2001,
                                       .rope_theta = 1000000.0f, .norm_eps = 1e-6f};
static const iw_opts indep_a_opts = {.meki = true, .qk_norm = true, .tied = false, .f32_matrices = true,
                                     .alignment = 64, .bank_dtype = MKV_BANK_Q8, .bank_align = 512,
                                     .bank_crc = false, .seed = 101};
/* Case B: one KV head for four query heads, n_head*head_dim != d_model,
 * no q/k norm, tied F16 matrices, GGUF alignment 32, F16 bank with CRCs. */
static const iw_shape indep_b_shape = {.n_layer = 2, .d_model = 192, .n_head = 4, .n_kv_head = 1,
                                       .head_dim = 64, .d_ffn = 320, .d_mem = 32, .n_vocab = 1003,
                                       .rope_theta = 10000.0f, .norm_eps = 1e-5f};
static const iw_opts indep_b_opts = {.meki = true, .qk_norm = false, .tied = true, .f32_matrices = false,
                                     .alignment = 32, .bank_dtype = MKV_BANK_F16, .bank_align = 512,
                                     .bank_crc = true, .seed = 202};

static bool indep(const char *name, const iw_shape *shape, const iw_opts *opts)
{
    mkdir(case_dir(name), 0777);
    int rc = iw_write(file_in(name, "model.gguf"), file_in(name, "bank.mkb"), shape, opts);
    if (rc != 0) fprintf(stderr, "independent writer failed on %s\n", name);
    return rc == 0;
}

static const char *const all_dirs[] = {"tiny", "tiny_dense", "small", "small_dense", "indep_a", "indep_b",
                                       "tiny_q8_0", "tiny_q4_0", "tiny_bf16", "tiny_qwen2", "tiny_llama",
                                       "tiny_llama_q4_0", "tiny_q4_k_m", "tiny_q5_k_m", "tiny_q6_k", "tiny_q5_0",
                                       "tiny_q4_1", "tiny_q5_1"};

static bool write_models(void)
{
    snprintf(run_dir, sizeof run_dir, "%s/e2e_%ld", tu_tmpdir(), (long)getpid());
    if (mkdir(run_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", run_dir, strerror(errno));
        return false;
    }
    return synth("tiny", "tiny", false, 11) && synth("tiny_dense", "tiny", true, 11) &&
           synth("small", "small", false, 12) && synth("small_dense", "small", true, 12) &&
           indep("indep_a", &indep_a_shape, &indep_a_opts) && indep("indep_b", &indep_b_shape, &indep_b_opts) &&
           synth_as("tiny_q8_0", "tiny", false, 13, "qwen3", MKV_GGML_Q8_0) &&
           synth_as("tiny_q4_0", "tiny", false, 14, "qwen3", MKV_GGML_Q4_0) &&
           synth_as("tiny_bf16", "tiny", false, 15, "qwen3", MKV_GGML_BF16) &&
           synth_as("tiny_qwen2", "tiny", false, 16, "qwen2", MKV_GGML_F16) &&
           synth_as("tiny_llama", "tiny", false, 17, "llama", MKV_GGML_F16) &&
           synth_as("tiny_llama_q4_0", "tiny", true, 18, "llama", MKV_GGML_Q4_0) &&
           synth_as("tiny_q4_k_m", "tiny", false, 19, "qwen3", MKV_SYNTH_Q4_K_M) &&
           synth_as("tiny_q5_k_m", "tiny", true, 20, "qwen2", MKV_SYNTH_Q5_K_M) &&
           synth_as("tiny_q6_k", "tiny", false, 21, "qwen3", MKV_GGML_Q6_K) &&
           synth_as("tiny_q5_0", "tiny", false, 22, "llama", MKV_GGML_Q5_0) &&
           synth_as("tiny_q4_1", "tiny", true, 23, "qwen3", MKV_GGML_Q4_1) &&
           synth_as("tiny_q5_1", "tiny", false, 24, "qwen3", MKV_GGML_Q5_1);
}

static void remove_models(void)
{
    const char *files[] = {"model.gguf", "bank.mkb", "bank_layers.mkb", "bank_dmem.mkb",
                           "bank_vocab.mkb", "bank_fp.mkb"};
    for (size_t d = 0; d < sizeof all_dirs / sizeof all_dirs[0]; d++) {
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) unlink(file_in(all_dirs[d], files[f]));
        rmdir(case_dir(all_dirs[d]));
    }
    rmdir(run_dir);
}

/* ---- engine and reference side by side ---- */

typedef struct pair {
    mkv_device *dev;
    mkv_model *model;
    mkv_session *sess;
    mkv_model_desc *desc;
    mkv_bank *bank;    /* the reference's own reader */
    ref_model *ref;
    uint32_t n_vocab;
} pair;

static mkv_model *load_model(mkv_device *dev, const char *name, bool with_bank)
{
    mkv_model_opts mo = {.bank_path = with_bank ? file_in(name, "bank.mkb") : NULL};
    mkv_model *model = NULL;
    mkv_error err;
    mkv_status st = mkv_model_load(dev, file_in(name, "model.gguf"), &mo, &model, &err);
    ck_assert_msg(st == MKV_OK, "load %s: %s: %s", name, mkv_status_name(st), err.msg);
    return model;
}

static mkv_session *new_session_kv(mkv_model *model, uint32_t n_ctx, bool meki_off, mkv_kv_type kv)
{
    mkv_session_opts so = {.n_ctx = n_ctx, .meki_off = meki_off, .kv_type = kv};
    mkv_session *s = NULL;
    mkv_error err;
    mkv_status st = mkv_session_create(model, &so, &s, &err);
    ck_assert_msg(st == MKV_OK, "session: %s: %s", mkv_status_name(st), err.msg);
    return s;
}

static mkv_session *new_session(mkv_model *model, uint32_t n_ctx, bool meki_off)
{
    return new_session_kv(model, n_ctx, meki_off, MKV_KV_F16);
}

/* chunk: decode attention's split size (0: the device's; the device's
 * chunk is larger than N_CTX on lavapipe and the H200, one split);
 * merge: the splits merged by attention's last split (attn.merge); rope:
 * rope_kv's work in decode attention (attn.rope). */
static void pair_open(pair *p, const char *name, bool meki_model, bool meki_off, bool kv_q8, uint32_t chunk, bool merge,
                      bool rope)
{
    memset(p, 0, sizeof *p);
    mkv_error err;
    p->dev = tu_device();
    if (chunk) p->dev->tune.attn_chunk = chunk;
    p->dev->tune.merge_attn |= merge;
    p->dev->tune.rope_attn |= rope;
    p->model = load_model(p->dev, name, meki_model);
    p->sess = new_session_kv(p->model, N_CTX, meki_off, kv_q8 ? MKV_KV_Q8_0 : MKV_KV_F16);
    ck_assert_msg(mkv_model_desc_load(file_in(name, "model.gguf"), &p->desc, &err) == MKV_OK, "%s", err.msg);
    if (meki_model && !meki_off)
        ck_assert_msg(mkv_bank_open(file_in(name, "bank.mkb"), &p->bank, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(ref_model_create(p->desc, p->bank, meki_off, N_CTX, &p->ref, &err) == MKV_OK, "%s", err.msg);
    ref_model_set_kv_q8(p->ref, kv_q8);
    p->n_vocab = p->desc->cfg.n_vocab;
    mkv_model_info info;
    mkv_model_get_info(p->model, &info);
    ck_assert_uint_eq(info.n_vocab, p->n_vocab);
    ck_assert_uint_eq(info.n_layer, p->desc->cfg.n_layer);
    ck_assert_uint_eq(info.d_mem, p->desc->cfg.d_mem);
}

static void pair_close(pair *p)
{
    ref_model_free(p->ref);
    mkv_bank_close(p->bank);
    mkv_model_desc_free(p->desc);
    mkv_session_destroy(p->sess);
    mkv_model_destroy(p->model);
    tu_assert_no_validation(p->dev);
    mkv_device_destroy(p->dev);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct e2e_case {
    const char *label, *dir;
    bool meki_model;        /* the model has MeKi tensors (and a bank) */
    bool meki_off;          /* run it with the MeKi branch off */
    bool f32_weights;       /* matrices stored F32 in the file: E2E_TOL_F32W */
    uint32_t n_forced;      /* teacher-forced pseudo-random tokens */
    uint32_t n_greedy;      /* then greedy tokens (n_forced + n_greedy <= N_CTX) */
    uint64_t seed;          /* of the forced tokens */
    bool kv_q8;             /* q8_0 KV cache in both (E2E_TOL_KV_Q8) */
    uint32_t chunk;         /* decode attention's split size (0: the device's) */
    bool merge;             /* the splits merged in attention (attn.merge) */
    bool rope;              /* rope_kv's work in decode attention (attn.rope) */
} e2e_case;

/* Teacher-forces n_forced pseudo-random tokens, then n_greedy tokens chosen
 * by the reference's argmax (fed to both, so both follow one path). Checks
 * every position's logits against the tolerance, the engine's argmax against
 * its own logits, and against the reference's argmax wherever the
 * reference's top-2 margin is larger than tolerance * max|logit|. */
static void compare_case(const e2e_case *c)
{
    const double tol = c->kv_q8 ? E2E_TOL_KV_Q8 : c->f32_weights ? E2E_TOL_F32W : E2E_TOL;
    mkv_error err;
    const uint32_t n_pos = c->n_forced + c->n_greedy;
    double t0 = seconds();
    pair p;
    pair_open(&p, c->dir, c->meki_model, c->meki_off, c->kv_q8, c->chunk, c->merge, c->rope);
    double t_open = seconds() - t0, t_gpu = 0, t_ref = 0;
    uint32_t nv = p.n_vocab;
    float *gl = malloc(nv * sizeof *gl), *rl = malloc(nv * sizeof *rl);
    ck_assert(gl && rl);
    uint64_t rng = c->seed;
    uint32_t token = (uint32_t)(tu_rand_u64(&rng) % nv);
    /* With a q8_0 cache, what it costs: the reference with an f16 cache on
     * the same tokens (reported, not asserted: the accuracy of q8_0 K/V). */
    ref_model *ref_f16 = NULL;
    float *fl = NULL;
    double kv_worst = 0;
    uint32_t kv_same_arg = 0;
    if (c->kv_q8) {
        ck_assert_msg(ref_model_create(p.desc, p.bank, c->meki_off, N_CTX, &ref_f16, &err) == MKV_OK, "%s", err.msg);
        fl = malloc(nv * sizeof *fl);
    }
    double worst = 0;
    uint32_t worst_pos = 0, n_argmax_checked = 0;
    for (uint32_t pos = 0; pos < n_pos; pos++) {
        uint32_t gpu_arg = UINT32_MAX;
        double t1 = seconds();
        mkv_status st = mkv_session_step(p.sess, token, gl, &gpu_arg, &err);
        ck_assert_msg(st == MKV_OK, "%s pos %u: %s: %s", c->label, pos, mkv_status_name(st), err.msg);
        double t2 = seconds();
        ck_assert_msg(ref_model_step(p.ref, token, rl, &err) == MKV_OK, "%s", err.msg);
        t_gpu += t2 - t1;
        t_ref += seconds() - t2;
        ck_assert_uint_eq(mkv_session_pos(p.sess), pos + 1);
        if (ref_f16) {
            ck_assert_msg(ref_model_step(ref_f16, token, fl, &err) == MKV_OK, "%s", err.msg);
            kv_worst = fmax(kv_worst, tu_max_rel_err(rl, fl, nv));
            kv_same_arg += ref_argmax(rl, nv) == ref_argmax(fl, nv);
        }

        double e = tu_max_rel_err(gl, rl, nv);
        ck_assert_msg(e <= tol, "%s pos %u (token %u): max rel err %.3g > %.3g", c->label, pos, token, e, tol);
        if (e > worst) {
            worst = e;
            worst_pos = pos;
        }
        /* the engine's argmax is a maximum of its own logits */
        ck_assert_msg(gpu_arg < nv && gl[gpu_arg] == gl[ref_argmax(gl, nv)],
                      "%s pos %u: engine argmax %u is not a maximum of its logits", c->label, pos, gpu_arg);
        /* and the reference's, where the reference's choice is clear */
        uint32_t ref_arg = ref_argmax(rl, nv);
        double scale = 0, second = -INFINITY;
        for (uint32_t i = 0; i < nv; i++) {
            scale = fmax(scale, fabs(rl[i]));
            if (i != ref_arg) second = fmax(second, rl[i]);
        }
        if (rl[ref_arg] - second > tol * scale) {
            ck_assert_msg(gpu_arg == ref_arg, "%s pos %u: engine argmax %u, reference %u (margin %.3g)", c->label,
                          pos, gpu_arg, ref_arg, (rl[ref_arg] - second) / scale);
            n_argmax_checked++;
        }
        /* next token: forced, then the reference's greedy choice */
        token = pos + 1 < c->n_forced ? (uint32_t)(tu_rand_u64(&rng) % nv) : ref_arg;
    }
    printf("e2e %-18s max rel err %.3e (pos %u, tol %.0e), argmax agreed at %u/%u clear positions; "
           "%.1f s: open %.1f, engine %.1f, reference %.1f\n",
           c->label, worst, worst_pos, tol, n_argmax_checked, n_pos, seconds() - t0, t_open, t_gpu, t_ref);
    if (ref_f16)
        printf("e2e %-18s q8_0 against f16 K/V (reference both): max rel err %.3e, same argmax at %u/%u positions\n",
               c->label, kv_worst, kv_same_arg, n_pos);
    fflush(stdout);
    ref_model_free(ref_f16);
    free(fl);
    free(gl);
    free(rl);
    pair_close(&p);
}

/* 48 teacher-forced positions, then 16 greedy ones, for every case. */
static const e2e_case e2e_cases[] = {
    {"tiny meki", "tiny", true, false, false, 48, 16, 1, false, 0, false, false},
    {"tiny dense", "tiny_dense", false, false, false, 48, 16, 2, false, 0, false, false},
    {"tiny meki_off", "tiny", true, true, false, 48, 16, 3, false, 0, false, false},
    {"small meki", "small", true, false, false, 48, 16, 4, false, 0, false, false},
    {"small dense", "small_dense", false, false, false, 48, 16, 5, false, 0, false, false},
    {"small meki_off", "small", true, true, false, 48, 16, 6, false, 0, false, false},
    {"indep A (mha,f32,q8)", "indep_a", true, false, true, 48, 16, 7, false, 0, false, false},
    {"indep B (kv=1,crc)", "indep_b", true, false, false, 48, 16, 8, false, 0, false, false},
    {"tiny q8_0", "tiny_q8_0", true, false, false, 48, 16, 9, false, 0, false, false},
    {"tiny q4_0", "tiny_q4_0", true, false, false, 48, 16, 10, false, 0, false, false},
    {"tiny bf16", "tiny_bf16", true, false, false, 48, 16, 11, false, 0, false, false},
    {"tiny qwen2 (bias)", "tiny_qwen2", true, false, false, 48, 16, 12, false, 0, false, false},
    {"tiny llama", "tiny_llama", true, false, false, 48, 16, 13, false, 0, false, false},
    {"tiny llama q4_0 dense", "tiny_llama_q4_0", false, false, false, 48, 16, 14, false, 0, false, false},
    {"tiny q4_k_m (mix)", "tiny_q4_k_m", true, false, false, 48, 16, 15, false, 0, false, false},
    {"tiny q5_k_m qwen2 dense", "tiny_q5_k_m", false, false, false, 48, 16, 16, false, 0, false, false},
    {"tiny q6_k", "tiny_q6_k", true, false, false, 48, 16, 17, false, 0, false, false},
    {"tiny q5_0 llama", "tiny_q5_0", true, false, false, 48, 16, 18, false, 0, false, false},
    {"tiny q4_1 dense", "tiny_q4_1", false, false, false, 48, 16, 19, false, 0, false, false},
    {"tiny q5_1", "tiny_q5_1", true, false, false, 48, 16, 20, false, 0, false, false},
    {"small meki q8_0 KV", "small", true, false, false, 48, 16, 21, true, 0, false, false},
    {"tiny q4_k_m q8_0 KV", "tiny_q4_k_m", true, false, false, 48, 16, 22, true, 0, false, false},
    /* decode attention split in 16-position chunks (up to 4 splits), merged by attn_combine and
     * by attention's last split (the tiny model: CI's sanitizer run spent 7.7 min in e2e with
     * the small one here) */
    {"tiny split 16", "tiny", true, false, false, 48, 16, 23, false, 16, false, false},
    {"tiny split merged", "tiny", true, false, false, 48, 16, 24, false, 16, true, false},
    {"tiny q8_0 KV merged", "tiny", true, false, false, 48, 16, 25, true, 16, true, false},
    /* rope_kv's work in decode attention (attn.rope), split and merged; qwen2's biases, llama's pairs
     * without q/k norm */
    {"tiny rope in attn", "tiny", true, false, false, 48, 16, 26, false, 16, true, true},
    {"tiny qwen2 rope in attn", "tiny_qwen2", true, false, false, 48, 16, 27, false, 0, false, true},
    {"tiny llama rope in attn", "tiny_llama", true, false, false, 48, 16, 28, false, 16, false, true},
};

START_TEST(tiny_meki_matches_reference) { compare_case(&e2e_cases[0]); }
END_TEST
START_TEST(tiny_dense_matches_reference) { compare_case(&e2e_cases[1]); }
END_TEST
START_TEST(tiny_meki_off_matches_reference_without_meki) { compare_case(&e2e_cases[2]); }
END_TEST
START_TEST(small_meki_matches_reference) { compare_case(&e2e_cases[3]); }
END_TEST
START_TEST(small_dense_matches_reference) { compare_case(&e2e_cases[4]); }
END_TEST
START_TEST(small_meki_off_matches_reference_without_meki) { compare_case(&e2e_cases[5]); }
END_TEST
START_TEST(indep_mha_f32_q8_bank_matches_reference) { compare_case(&e2e_cases[6]); }
END_TEST
START_TEST(indep_one_kv_head_crc_bank_matches_reference) { compare_case(&e2e_cases[7]); }
END_TEST
START_TEST(q8_0_weights_match_reference) { compare_case(&e2e_cases[8]); }
END_TEST
START_TEST(q4_0_weights_with_q6_k_head_match_reference) { compare_case(&e2e_cases[9]); }
END_TEST
START_TEST(bf16_weights_match_reference) { compare_case(&e2e_cases[10]); }
END_TEST
START_TEST(qwen2_with_qkv_biases_matches_reference) { compare_case(&e2e_cases[11]); }
END_TEST
START_TEST(llama_adjacent_pair_rope_matches_reference) { compare_case(&e2e_cases[12]); }
END_TEST
START_TEST(llama_q4_0_dense_matches_reference) { compare_case(&e2e_cases[13]); }
END_TEST
START_TEST(q4_k_m_mix_with_q6_k_head_and_q5_0_fallbacks_matches_reference) { compare_case(&e2e_cases[14]); }
END_TEST
START_TEST(q5_k_m_mix_dense_qwen2_matches_reference) { compare_case(&e2e_cases[15]); }
END_TEST
START_TEST(q6_k_weights_match_reference) { compare_case(&e2e_cases[16]); }
END_TEST
START_TEST(q5_0_weights_with_q6_k_head_match_reference) { compare_case(&e2e_cases[17]); }
END_TEST
START_TEST(q4_1_weights_dense_match_reference) { compare_case(&e2e_cases[18]); }
END_TEST
START_TEST(q5_1_weights_match_reference) { compare_case(&e2e_cases[19]); }
END_TEST
START_TEST(q8_0_kv_cache_matches_reference_with_q8_0_kv) { compare_case(&e2e_cases[20]); }
END_TEST
START_TEST(q8_0_kv_cache_on_a_q4_k_m_mix_matches_reference) { compare_case(&e2e_cases[21]); }
END_TEST
START_TEST(split_attention_matches_reference) { compare_case(&e2e_cases[22]); }
END_TEST
START_TEST(split_attention_merged_in_attention_matches_reference) { compare_case(&e2e_cases[23]); }
END_TEST
START_TEST(split_attention_merged_over_q8_0_kv_matches_reference) { compare_case(&e2e_cases[24]); }
END_TEST
START_TEST(rope_in_attention_matches_reference) { compare_case(&e2e_cases[25]); }
END_TEST
START_TEST(rope_in_attention_with_biases_matches_reference) { compare_case(&e2e_cases[26]); }
END_TEST
START_TEST(rope_in_attention_with_adjacent_pairs_matches_reference) { compare_case(&e2e_cases[27]); }
END_TEST

/* ---- determinism and session limits ---- */

/* Two sessions on one loaded model, each created and stepped on a thread of
 * its own at the same time (mekivk.h: different sessions may run
 * concurrently): every logit equals a run of the same tokens alone, and the
 * validation layer (threading checks included) reports nothing. */
enum { MT_STEPS = 12, MT_THREADS = 2 };

typedef struct mt_job {
    mkv_model *model;
    uint32_t n_vocab;
    uint32_t toks[MT_STEPS];
    float *logits; /* MT_STEPS x n_vocab */
    mkv_status st;
    mkv_error err;
} mt_job;

static void mt_run(mt_job *j)
{
    mkv_session_opts so = {.n_ctx = 32};
    mkv_session *s = NULL;
    if ((j->st = mkv_session_create(j->model, &so, &s, &j->err))) return;
    for (int i = 0; i < MT_STEPS && !j->st; i++)
        j->st = mkv_session_step(s, j->toks[i], j->logits + (size_t)i * j->n_vocab, NULL, &j->err);
    mkv_session_destroy(s);
}

static void *mt_main(void *arg)
{
    mt_run(arg);
    return NULL;
}

START_TEST(two_sessions_on_two_threads_give_the_logits_of_one)
{
    mkv_device *dev = tu_device();
    mkv_model *model = load_model(dev, "tiny", true);
    mkv_model_info info;
    mkv_model_get_info(model, &info);
    const size_t n = (size_t)MT_STEPS * info.n_vocab;
    mt_job jobs[MT_THREADS], alone[MT_THREADS];
    for (int t = 0; t < MT_THREADS; t++) {
        jobs[t] = (mt_job){.model = model, .n_vocab = info.n_vocab, .logits = malloc(n * sizeof(float))};
        for (int i = 0; i < MT_STEPS; i++) jobs[t].toks[i] = (uint32_t)((t * 977 + i * 131 + 7) % info.n_vocab);
        alone[t] = jobs[t];
        alone[t].logits = malloc(n * sizeof(float));
        mt_run(&alone[t]);
        ck_assert_msg(alone[t].st == MKV_OK, "alone %d: %s", t, alone[t].err.msg);
    }
    pthread_t th[MT_THREADS];
    for (int t = 0; t < MT_THREADS; t++) ck_assert_int_eq(pthread_create(&th[t], NULL, mt_main, &jobs[t]), 0);
    for (int t = 0; t < MT_THREADS; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < MT_THREADS; t++) {
        ck_assert_msg(jobs[t].st == MKV_OK, "thread %d: %s: %s", t, mkv_status_name(jobs[t].st), jobs[t].err.msg);
        ck_assert_msg(memcmp(jobs[t].logits, alone[t].logits, n * sizeof(float)) == 0,
                      "thread %d: logits differ from the same tokens run alone", t);
        free(jobs[t].logits);
        free(alone[t].logits);
    }
    mkv_model_destroy(model);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

START_TEST(same_tokens_give_bit_identical_logits_over_20_runs)
{
    enum { N = 8, RUNS = 20 };
    static const uint32_t toks[N] = {5, 4000, 17, 17, 0, 4095, 123, 2048};
    mkv_device *dev = tu_device();
    mkv_model *model = load_model(dev, "tiny", true);
    mkv_session *s = new_session(model, 32, false);
    mkv_model_info info;
    mkv_model_get_info(model, &info);
    size_t n = (size_t)N * info.n_vocab;
    float *first = malloc(n * sizeof *first), *again = malloc(n * sizeof *again);
    mkv_error err;
    for (int run = 0; run < RUNS; run++) {
        if (run == RUNS / 2) { /* half the runs on a fresh session */
            mkv_session_destroy(s);
            s = new_session(model, 32, false);
        } else if (run > 0) {
            mkv_session_reset(s);
        }
        ck_assert_uint_eq(mkv_session_pos(s), 0);
        float *out = run == 0 ? first : again;
        for (int i = 0; i < N; i++)
            ck_assert_msg(mkv_session_step(s, toks[i], out + (size_t)i * info.n_vocab, NULL, &err) == MKV_OK, "%s",
                          err.msg);
        if (run > 0) ck_assert_msg(memcmp(first, again, n * sizeof *first) == 0, "run %d differs from run 0", run);
    }
    free(first);
    free(again);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

START_TEST(context_full_after_n_ctx_steps_and_reset_recovers)
{
    mkv_device *dev = tu_device();
    mkv_model *model = load_model(dev, "tiny", true);
    mkv_session *s = new_session(model, 16, false);
    mkv_model_info info;
    mkv_model_get_info(model, &info);
    float *l0 = malloc(info.n_vocab * sizeof *l0), *l = malloc(info.n_vocab * sizeof *l);
    mkv_error err;
    for (uint32_t i = 0; i < 16; i++) {
        mkv_status st = mkv_session_step(s, 100 + i, i == 0 ? l0 : l, NULL, &err);
        ck_assert_msg(st == MKV_OK, "step %u: %s: %s", i, mkv_status_name(st), err.msg);
    }
    ck_assert_uint_eq(mkv_session_pos(s), 16);
    ck_assert_int_eq(mkv_session_step(s, 7, l, NULL, &err), MKV_ERR_CONTEXT_FULL);
    ck_assert_int_eq(err.status, MKV_ERR_CONTEXT_FULL);
    ck_assert_uint_eq(mkv_session_pos(s), 16);
    mkv_session_reset(s);
    ck_assert_uint_eq(mkv_session_pos(s), 0);
    ck_assert_int_eq(mkv_session_step(s, 100, l, NULL, &err), MKV_OK);
    ck_assert_msg(memcmp(l0, l, info.n_vocab * sizeof *l) == 0, "position 0 after reset differs");
    free(l0);
    free(l);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

START_TEST(token_out_of_vocab_is_rejected_without_advancing)
{
    mkv_device *dev = tu_device();
    mkv_model *model = load_model(dev, "tiny", true);
    mkv_session *s = new_session(model, 8, false);
    mkv_model_info info;
    mkv_model_get_info(model, &info);
    float *ok = malloc(info.n_vocab * sizeof *ok), *l = malloc(info.n_vocab * sizeof *l);
    mkv_error err;
    const uint32_t bad[] = {info.n_vocab, info.n_vocab + 1, UINT32_MAX};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(mkv_session_step(s, bad[i], l, NULL, &err), MKV_ERR_TOKEN_RANGE);
        ck_assert_uint_eq(mkv_session_pos(s), 0);
    }
    uint32_t arg;
    ck_assert_int_eq(mkv_session_step(s, info.n_vocab - 1, ok, &arg, &err), MKV_OK);
    ck_assert_uint_lt(arg, info.n_vocab);
    ck_assert_uint_eq(mkv_session_pos(s), 1);
    /* the failed calls left nothing behind: a fresh session agrees */
    mkv_session *s2 = new_session(model, 8, false);
    ck_assert_int_eq(mkv_session_step(s2, info.n_vocab - 1, l, NULL, &err), MKV_OK);
    ck_assert_msg(memcmp(ok, l, info.n_vocab * sizeof *l) == 0, "logits differ after rejected tokens");
    free(ok);
    free(l);
    mkv_session_destroy(s2);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

/* ---- the bank must match its model ---- */

START_TEST(meki_model_without_bank_is_missing)
{
    mkv_device *dev = tu_device();
    mkv_model *model = NULL;
    mkv_error err;
    mkv_status st = mkv_model_load(dev, file_in("tiny", "model.gguf"), NULL, &model, &err);
    ck_assert_msg(st == MKV_ERR_MISSING, "got %s: %s", mkv_status_name(st), err.msg);
    ck_assert_ptr_null(model);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

/* Writes tiny/<file>: a bank of zero rows with the given shape and fingerprint. */
static void write_bank(const char *file, uint32_t n_layer, uint32_t n_vocab, uint32_t d_mem, const uint8_t fp[32])
{
    mkv_bank_header h;
    mkv_error err;
    ck_assert_msg(mkv_bank_header_init(&h, MKV_BANK_F16, n_layer, n_vocab, d_mem, 512, MKV_BANK_FLAG_SLAB_CRC, fp,
                                       &err) == MKV_OK, "%s", err.msg);
    mkv_bank_writer *w;
    ck_assert_msg(mkv_bank_writer_open(file_in("tiny", file), &h, &w, &err) == MKV_OK, "%s", err.msg);
    void *rows = calloc(n_layer, h.row_bytes);
    for (uint32_t t = 0; t < n_vocab; t++)
        ck_assert_msg(mkv_bank_writer_put(w, t, rows, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(mkv_bank_writer_close(w, &err) == MKV_OK, "%s", err.msg);
    free(rows);
}

/* Loads tiny/model.gguf with tiny/<bank>; returns the status, message in err. */
static mkv_status load_with_bank(mkv_device *dev, const char *bank, bool ignore_fp, mkv_error *err)
{
    mkv_model_opts mo = {.bank_path = file_in("tiny", bank), .ignore_fingerprint = ignore_fp};
    mkv_model *model = NULL;
    mkv_status st = mkv_model_load(dev, file_in("tiny", "model.gguf"), &mo, &model, err);
    if (st == MKV_OK) {
        /* a bank accepted is a bank that runs */
        mkv_session *s = new_session(model, 4, false);
        mkv_model_info info;
        mkv_model_get_info(model, &info);
        float *l = malloc(info.n_vocab * sizeof *l);
        mkv_error e2;
        ck_assert_int_eq(mkv_session_step(s, 3, l, NULL, &e2), MKV_OK);
        for (uint32_t i = 0; i < info.n_vocab; i++) ck_assert(isfinite(l[i]));
        free(l);
        mkv_session_destroy(s);
        mkv_model_destroy(model);
    } else {
        ck_assert_ptr_null(model);
    }
    return st;
}

START_TEST(bank_disagreeing_with_model_is_a_mismatch_naming_the_field)
{
    mkv_model_desc *desc;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(file_in("tiny", "model.gguf"), &desc, &err) == MKV_OK, "%s", err.msg);
    mkv_model_config c = desc->cfg;
    mkv_model_desc_free(desc);
    /* each bank differs from the model in one field only (fingerprint kept) */
    write_bank("bank_layers.mkb", c.n_layer - 1, c.n_vocab, c.d_mem, c.bank_fingerprint);
    write_bank("bank_dmem.mkb", c.n_layer, c.n_vocab, c.d_mem / 2, c.bank_fingerprint);
    write_bank("bank_vocab.mkb", c.n_layer, c.n_vocab - 96, c.d_mem, c.bank_fingerprint);
    const struct { const char *file, *field; } cases[] = {
        {"bank_layers.mkb", "n_layer"}, {"bank_dmem.mkb", "d_mem"}, {"bank_vocab.mkb", "n_vocab"}};
    mkv_device *dev = tu_device();
    for (size_t i = 0; i < 3; i++)
        for (int ign = 0; ign <= 1; ign++) { /* ignoring the fingerprint does not waive the shape */
            mkv_status st = load_with_bank(dev, cases[i].file, ign, &err);
            ck_assert_msg(st == MKV_ERR_MISMATCH, "%s: got %s: %s", cases[i].file, mkv_status_name(st), err.msg);
            ck_assert_msg(strstr(err.msg, cases[i].field), "%s: message \"%s\" does not name %s", cases[i].file,
                          err.msg, cases[i].field);
            if (ign) printf("e2e rejected as expected: %s\n", err.msg);
        }
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

START_TEST(bank_with_wrong_fingerprint_is_a_mismatch_unless_ignored)
{
    mkv_model_desc *desc;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(file_in("tiny", "model.gguf"), &desc, &err) == MKV_OK, "%s", err.msg);
    mkv_model_config c = desc->cfg;
    mkv_model_desc_free(desc);
    uint8_t fp[32];
    memcpy(fp, c.bank_fingerprint, 32);
    fp[17] ^= 0x40;
    write_bank("bank_fp.mkb", c.n_layer, c.n_vocab, c.d_mem, fp);
    mkv_device *dev = tu_device();
    mkv_status st = load_with_bank(dev, "bank_fp.mkb", false, &err);
    ck_assert_msg(st == MKV_ERR_MISMATCH, "got %s: %s", mkv_status_name(st), err.msg);
    ck_assert_msg(strstr(err.msg, "fingerprint"), "message \"%s\" does not name the fingerprint", err.msg);
    printf("e2e rejected as expected: %s\n", err.msg);
    st = load_with_bank(dev, "bank_fp.mkb", true, &err);
    ck_assert_msg(st == MKV_OK, "ignore_fingerprint: got %s: %s", mkv_status_name(st), err.msg);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}
END_TEST

static Suite *e2e_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *acc = tcase_create("accuracy");
    tcase_set_timeout(acc, 600);
    tcase_add_test(acc, tiny_meki_matches_reference);
    tcase_add_test(acc, tiny_dense_matches_reference);
    tcase_add_test(acc, tiny_meki_off_matches_reference_without_meki);
    tcase_add_test(acc, small_meki_matches_reference);
    tcase_add_test(acc, small_dense_matches_reference);
    tcase_add_test(acc, small_meki_off_matches_reference_without_meki);
    tcase_add_test(acc, indep_mha_f32_q8_bank_matches_reference);
    tcase_add_test(acc, indep_one_kv_head_crc_bank_matches_reference);
    tcase_add_test(acc, q8_0_weights_match_reference);
    tcase_add_test(acc, q4_0_weights_with_q6_k_head_match_reference);
    tcase_add_test(acc, bf16_weights_match_reference);
    tcase_add_test(acc, qwen2_with_qkv_biases_matches_reference);
    tcase_add_test(acc, llama_adjacent_pair_rope_matches_reference);
    tcase_add_test(acc, llama_q4_0_dense_matches_reference);
    tcase_add_test(acc, q4_k_m_mix_with_q6_k_head_and_q5_0_fallbacks_matches_reference);
    tcase_add_test(acc, q5_k_m_mix_dense_qwen2_matches_reference);
    tcase_add_test(acc, q6_k_weights_match_reference);
    tcase_add_test(acc, q5_0_weights_with_q6_k_head_match_reference);
    tcase_add_test(acc, q4_1_weights_dense_match_reference);
    tcase_add_test(acc, q5_1_weights_match_reference);
    tcase_add_test(acc, q8_0_kv_cache_matches_reference_with_q8_0_kv);
    tcase_add_test(acc, q8_0_kv_cache_on_a_q4_k_m_mix_matches_reference);
    tcase_add_test(acc, split_attention_matches_reference);
    tcase_add_test(acc, split_attention_merged_in_attention_matches_reference);
    tcase_add_test(acc, split_attention_merged_over_q8_0_kv_matches_reference);
    tcase_add_test(acc, rope_in_attention_matches_reference);
    tcase_add_test(acc, rope_in_attention_with_biases_matches_reference);
    tcase_add_test(acc, rope_in_attention_with_adjacent_pairs_matches_reference);
    suite_add_tcase(s, acc);
    TCase *ses = tcase_create("session");
    tcase_set_timeout(ses, 600);
    tcase_add_test(ses, same_tokens_give_bit_identical_logits_over_20_runs);
    tcase_add_test(ses, two_sessions_on_two_threads_give_the_logits_of_one);
    tcase_add_test(ses, context_full_after_n_ctx_steps_and_reset_recovers);
    tcase_add_test(ses, token_out_of_vocab_is_rejected_without_advancing);
    suite_add_tcase(s, ses);
    TCase *bk = tcase_create("bank_binding");
    tcase_set_timeout(bk, 600);
    tcase_add_test(bk, meki_model_without_bank_is_missing);
    tcase_add_test(bk, bank_disagreeing_with_model_is_a_mismatch_naming_the_field);
    tcase_add_test(bk, bank_with_wrong_fingerprint_is_a_mismatch_unless_ignored);
    suite_add_tcase(s, bk);
    return s;
}

int main(void)
{
    int rc = write_models() ? tu_run_suite(e2e_suite()) : EXIT_FAILURE;
    remove_models();
    return rc;
}
