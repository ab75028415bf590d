/* Self-checks of the CPU reference (tests/ref): each kernel against values
 * worked out by hand or against a property it must have, and the whole
 * model on a synthetic tiny model. The GPU tests trust this file. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bank.h"
#include "half.h"
#include "model_desc.h"
#include "ref.h"
#include "synth.h"
#include "test_util.h"

#define ck_assert_near(a, b, tol)                                                                  \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.9g, expected %.9g (tol %g)", #a, \
                  (double)(a), (double)(b), (double)(tol))

static void fill_rand(float *x, uint32_t n, uint64_t *rng)
{
    for (uint32_t i = 0; i < n; i++) x[i] = tu_rand_f(rng);
}

/* ---- rmsnorm ---- */

START_TEST(rmsnorm_of_constant_vector_is_sign_times_weight)
{
    enum { N = 37 };
    float x[N], w[N], y[N];
    uint64_t rng = 11;
    const float eps = 1e-6f;
    for (int sgn = -1; sgn <= 1; sgn += 2) {
        const float c = 3.0f * sgn;
        for (int i = 0; i < N; i++) {
            x[i] = c;
            w[i] = tu_rand_f(&rng) * 2;
        }
        ref_rmsnorm(x, w, N, eps, y);
        double k = c / sqrt((double)c * c + eps); /* = sign(c) up to eps */
        for (int i = 0; i < N; i++) ck_assert_near(y[i], k * w[i], 1e-6);
        ref_rmsnorm(x, NULL, N, eps, y);
        for (int i = 0; i < N; i++) ck_assert_near(y[i], k, 1e-7);
    }
}
END_TEST

START_TEST(rmsnorm_divides_by_root_mean_square_plus_eps)
{
    const float x[2] = {3, 4}, w[2] = {1, -2};
    float y[2];
    ref_rmsnorm(x, w, 2, 0.5f, y); /* mean(x^2) = 12.5, + eps = 13 */
    ck_assert_near(y[0], 3 / sqrt(13.0), 1e-6);
    ck_assert_near(y[1], -8 / sqrt(13.0), 1e-6);
}
END_TEST

/* ---- RoPE ---- */

START_TEST(rope_at_position_zero_is_identity)
{
    float v[128], w[128];
    uint64_t rng = 3;
    fill_rand(v, 128, &rng);
    memcpy(w, v, sizeof v);
    ref_rope_neox(w, 128, 0, 1e6f);
    ck_assert_mem_eq(v, w, sizeof v);
}
END_TEST

START_TEST(rope_rotates_pairs_i_and_i_plus_half)
{
    /* head_dim 4: pairs (0,2) by pos*theta^0 and (1,3) by pos*theta^-1/2 */
    float v[4] = {1, 0, 0, 0};
    ref_rope_neox(v, 4, 1, 10000.0f);
    ck_assert_near(v[0], cos(1.0), 1e-7);
    ck_assert_near(v[1], 0, 0);
    ck_assert_near(v[2], sin(1.0), 1e-7);
    ck_assert_near(v[3], 0, 0);
    float u[4] = {0, 1, 0, 0};
    ref_rope_neox(u, 4, 3, 10000.0f);
    ck_assert_near(u[1], cos(0.03), 1e-7);
    ck_assert_near(u[3], sin(0.03), 1e-7);
    ck_assert_near(u[0], 0, 0);
    ck_assert_near(u[2], 0, 0);
}
END_TEST

START_TEST(rope_norm_rotates_adjacent_pairs_2i_and_2i_plus_1)
{
    /* head_dim 4: pairs (0,1) by pos*theta^0 and (2,3) by pos*theta^-1/2 */
    float v[4] = {1, 0, 0, 0};
    ref_rope_norm(v, 4, 1, 10000.0f);
    ck_assert_near(v[0], cos(1.0), 1e-7);
    ck_assert_near(v[1], sin(1.0), 1e-7);
    ck_assert_near(v[2], 0, 0);
    ck_assert_near(v[3], 0, 0);
    float u[4] = {0, 0, 1, 0};
    ref_rope(u, 4, 3, 10000.0f, MKV_ROPE_NORM);
    ck_assert_near(u[2], cos(0.03), 1e-7);
    ck_assert_near(u[3], sin(0.03), 1e-7);
    ck_assert_near(u[0], 0, 0);
    ck_assert_near(u[1], 0, 0);
}
END_TEST

/* llama.cpp's converter stores row s*half + i of each Hugging Face Q/K head
 * at row 2i + s ("permute"): adjacent-pair RoPE on the stored layout is
 * NEOX RoPE on the original one. */
static void llama_permute(const float *hf, float *gguf, uint32_t hd)
{
    for (uint32_t s = 0; s < 2; s++)
        for (uint32_t i = 0; i < hd / 2; i++) gguf[2 * i + s] = hf[s * (hd / 2) + i];
}

START_TEST(rope_norm_on_llama_permuted_head_is_neox_on_the_original)
{
    enum { HD = 64 };
    float hf[HD], g[HD], back[HD];
    uint64_t rng = 5;
    fill_rand(hf, HD, &rng);
    llama_permute(hf, g, HD);
    ref_rope_neox(hf, HD, 37, 500000.0f);
    ref_rope_norm(g, HD, 37, 500000.0f);
    llama_permute(hf, back, HD);
    ck_assert_mem_eq(back, g, sizeof g);
}
END_TEST

START_TEST(rope_preserves_the_norm_of_every_pair)
{
    enum { D = 64 };
    uint64_t rng = 5;
    const uint32_t positions[] = {1, 7, 1000, 65535};
    for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
        float v[D], w[D];
        fill_rand(v, D, &rng);
        memcpy(w, v, sizeof v);
        ref_rope_neox(w, D, positions[p], 500000.0f);
        for (int i = 0; i < D / 2; i++) {
            double n0 = hypot(v[i], v[i + D / 2]), n1 = hypot(w[i], w[i + D / 2]);
            ck_assert_near(n1, n0, 1e-6);
        }
    }
}
END_TEST

START_TEST(rope_by_p1_then_p2_equals_rope_by_p1_plus_p2)
{
    enum { D = 64 };
    uint64_t rng = 9;
    const uint32_t p1s[] = {1, 5, 17, 300}, p2s[] = {2, 11, 40, 77};
    for (size_t k = 0; k < 4; k++) {
        float a[D], b[D];
        fill_rand(a, D, &rng);
        memcpy(b, a, sizeof a);
        ref_rope_neox(a, D, p1s[k], 10000.0f);
        ref_rope_neox(a, D, p2s[k], 10000.0f);
        ref_rope_neox(b, D, p1s[k] + p2s[k], 10000.0f);
        for (int i = 0; i < D; i++) ck_assert_near(a[i], b[i], 2e-6);
    }
}
END_TEST

/* ---- attention ---- */

START_TEST(attention_over_one_position_returns_v_for_every_gqa_mapping)
{
    enum { NH = 8, HD = 5 };
    const uint32_t kv_heads[] = {1, 2, 4, 8};
    uint64_t rng = 21;
    for (size_t c = 0; c < 4; c++) {
        uint32_t nkv = kv_heads[c];
        float q[NH * HD], k[NH * HD], v[NH * HD], out[NH * HD];
        fill_rand(q, NH * HD, &rng);
        fill_rand(k, nkv * HD, &rng);
        fill_rand(v, nkv * HD, &rng);
        ref_attention(q, k, v, 1, NH, nkv, HD, out);
        for (uint32_t h = 0; h < NH; h++) {
            uint32_t kvh = h / (NH / nkv);
            for (uint32_t d = 0; d < HD; d++)
                ck_assert_msg(out[h * HD + d] == v[kvh * HD + d], "n_kv_head %u head %u dim %u", nkv, h, d);
        }
    }
}
END_TEST

START_TEST(attention_returns_the_value_of_a_dominant_key)
{
    enum { NH = 4, NKV = 2, HD = 16, T = 7 };
    uint64_t rng = 33;
    float q[NH * HD], k[T * NKV * HD], v[T * NKV * HD], out[NH * HD];
    fill_rand(q, NH * HD, &rng);
    fill_rand(v, T * NKV * HD, &rng);
    for (uint32_t i = 0; i < T * NKV * HD; i++) k[i] = 0.01f * tu_rand_f(&rng);
    /* kv head 0: position 2 matches heads 0 and 1 strongly; kv head 1: position 6 */
    for (uint32_t d = 0; d < HD; d++) {
        k[(2 * NKV + 0) * HD + d] = 200 * (q[0 * HD + d] + q[1 * HD + d]);
        k[(6 * NKV + 1) * HD + d] = 200 * (q[2 * HD + d] + q[3 * HD + d]);
    }
    /* make sure the chosen keys really dominate for every head */
    for (uint32_t h = 0; h < NH; h++) {
        double s = 0;
        const float *kk = &k[((h < 2 ? 2 : 6) * NKV + h / 2) * HD];
        for (uint32_t d = 0; d < HD; d++) s += (double)q[h * HD + d] * kk[d];
        ck_assert_msg(s / sqrt(HD) > 40, "head %u score %g too small for the test", h, s / sqrt(HD));
    }
    ref_attention(q, k, v, T, NH, NKV, HD, out);
    for (uint32_t h = 0; h < NH; h++) {
        const float *want = &v[((h < 2 ? 2 : 6) * NKV + h / 2) * HD];
        for (uint32_t d = 0; d < HD; d++) ck_assert_near(out[h * HD + d], want[d], 1e-6);
    }
}
END_TEST

START_TEST(attention_over_equal_keys_returns_the_mean_value)
{
    enum { NH = 2, NKV = 1, HD = 3, T = 4 };
    float q[NH * HD] = {1, 2, 3, -1, 0.5f, 2}, k[T * HD], v[T * HD], out[NH * HD];
    for (int t = 0; t < T; t++)
        for (int d = 0; d < HD; d++) {
            k[t * HD + d] = 0.25f * (float)(d + 1);
            v[t * HD + d] = (float)(t * 10 + d);
        }
    ref_attention(q, k, v, T, NH, NKV, HD, out);
    for (int h = 0; h < NH; h++)
        for (int d = 0; d < HD; d++) ck_assert_near(out[h * HD + d], 15 + d, 1e-5);
}
END_TEST

/* ---- SwiGLU, argmax, matvec ---- */

START_TEST(swiglu_matches_known_values)
{
    const float g[5] = {0, 1, -1, 10, -20}, u[5] = {5, 2, 3, 0.5f, 1};
    float t[5];
    ref_swiglu(g, u, 5, t);
    ck_assert_near(t[0], 0, 0);
    ck_assert_near(t[1], 2 * 0.7310585786300049, 1e-6);  /* silu(1) = 1/(1+e^-1) */
    ck_assert_near(t[2], 3 * -0.2689414213699951, 1e-6); /* silu(-1) */
    ck_assert_near(t[3], 0.5 * 9.999546021312976, 1e-5); /* silu(10) */
    ck_assert_near(t[4], -20 * 2.0611536181902037e-09, 1e-12);
}
END_TEST

START_TEST(argmax_returns_lowest_index_on_ties)
{
    const float a[] = {1, 3, 3, 2};
    ck_assert_uint_eq(ref_argmax(a, 4), 1);
    const float b[] = {-5, -5, -5};
    ck_assert_uint_eq(ref_argmax(b, 3), 0);
    const float c[] = {-INFINITY, -2, -1, -1};
    ck_assert_uint_eq(ref_argmax(c, 4), 2);
    const float d[] = {0, 0, 0, 7};
    ck_assert_uint_eq(ref_argmax(d, 4), 3);
    ck_assert_uint_eq(ref_argmax(d, 1), 0);
}
END_TEST

START_TEST(matvec_f16_matches_hand_computed_product)
{
    /* W = [[1, 2, 3], [4, 5, 6]] (row-major, rows of n_cols), x = [1, 0.5, -1] */
    const float wf[6] = {1, 2, 3, 4, 5, 6};
    uint16_t w[6];
    for (int i = 0; i < 6; i++) w[i] = mkv_float_to_half(wf[i]);
    const float x[3] = {1, 0.5f, -1};
    float y[2];
    ref_matvec_f16(w, x, 2, 3, y);
    ck_assert_near(y[0], -1.0, 0);
    ck_assert_near(y[1], 0.5, 0);
    /* the weight is used as stored: 0.1 in f16 is 0.0999755859375 */
    uint16_t tenth = mkv_float_to_half(0.1f);
    float one = 1, z;
    ref_matvec_f16(&tenth, &one, 1, 1, &z);
    ck_assert(z == 0.0999755859375f);
    /* 1 x 9: every column counted once (remainder of the unrolled loop) */
    uint16_t w9[9];
    float x9[9], y9;
    for (int i = 0; i < 9; i++) {
        w9[i] = mkv_float_to_half((float)(i + 1));
        x9[i] = (float)(1 << i);
    }
    ref_matvec_f16(w9, x9, 1, 9, &y9);
    double want = 0;
    for (int i = 0; i < 9; i++) want += (i + 1) * (double)(1 << i);
    ck_assert_near(y9, want, 0);
}
END_TEST

/* ---- MeKi ---- */

START_TEST(meki_with_zero_gate_weights_normalises_wmo_times_row_plus_half)
{
    enum { DM = 24, DMEM = 8 };
    uint64_t rng = 77;
    float u[DM], row[DMEM], norm_w[DM], y[DM];
    uint16_t wmg[DMEM * DM], wmo[DM * DMEM];
    float wmo_f[DM * DMEM];
    fill_rand(u, DM, &rng);
    fill_rand(row, DMEM, &rng);
    fill_rand(norm_w, DM, &rng);
    for (int i = 0; i < DMEM * DM; i++) wmg[i] = 0;
    for (int i = 0; i < DM * DMEM; i++) {
        wmo[i] = mkv_float_to_half(tu_rand_f(&rng));
        wmo_f[i] = mkv_half_to_float(wmo[i]);
    }
    const float eps = 1e-6f;
    ref_meki(u, row, wmg, wmo, norm_w, DM, DMEM, eps, y);
    /* sigmoid(0) = 0.5, so v = row + 0.5; z = Wmo v; y = z / rms(z) * w */
    double z[DM], ss = 0;
    for (int r = 0; r < DM; r++) {
        z[r] = 0;
        for (int c = 0; c < DMEM; c++) z[r] += (double)wmo_f[r * DMEM + c] * (row[c] + 0.5);
        ss += z[r] * z[r];
    }
    double inv = 1 / sqrt(ss / DM + eps);
    for (int r = 0; r < DM; r++) ck_assert_near(y[r], z[r] * inv * norm_w[r], 1e-5);
}
END_TEST

START_TEST(meki_gate_is_sigmoid_of_wmg_times_u)
{
    /* d_model 2, d_mem 1: Wmg = [1, -2], u = [0.5, 1] -> g = sigmoid(-1.5);
     * Wmo = [[1], [3]] -> z = (row + g) * [1, 3]; rmsnorm -> [1, 3] / sqrt(5) */
    const float u[2] = {0.5f, 1}, row[1] = {0.25f};
    const uint16_t wmg[2] = {mkv_float_to_half(1), mkv_float_to_half(-2)};
    const uint16_t wmo[2] = {mkv_float_to_half(1), mkv_float_to_half(3)};
    float y[2];
    ref_meki(u, row, wmg, wmo, NULL, 2, 1, 0.0f, y);
    double v = 0.25 + 1 / (1 + exp(1.5));
    ck_assert_near(y[0], v / sqrt(5 * v * v), 1e-6);
    ck_assert_near(y[1], 3 * v / sqrt(5 * v * v), 1e-6);
    /* a negative v flips the sign: row -1 -> v < 0 */
    const float row2[1] = {-1};
    ref_meki(u, row2, wmg, wmo, NULL, 2, 1, 0.0f, y);
    ck_assert_near(y[0], -1 / sqrt(5.0), 1e-6);
    ck_assert_near(y[1], -3 / sqrt(5.0), 1e-6);
}
END_TEST

/* ---- whole model ---- */

static long runner_pid; /* the runner's, not a forked test's */

/* tu_tmpdir()/ref_<pid>_<name>: private to this run. */
static const char *model_dir(const char *name)
{
    static char buf[4][256];
    static unsigned next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "ref_%ld_%s", runner_pid, name);
    return tu_path(p);
}

/* Writes a synthetic model into model_dir(name). */
static void synth_model(const char *name, const char *shape, bool dense, uint64_t seed, const char *arch)
{
    const char *out = model_dir(name);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape(shape), out);
    o.arch = arch;
    o.dense = dense;
    o.seed = seed;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    ck_assert_msg(st == MKV_OK, "synth %s: %s", shape, err.msg);
}

/* Once for the "model" test case, in the runner's process. */
static void write_models(void)
{
    synth_model("tiny", "tiny", false, 7, "qwen3");
    synth_model("tiny_dense", "tiny", true, 7, "qwen3");
    synth_model("llama", "tiny", true, 9, "llama");
}

static void remove_models(void)
{
    const char *names[] = {"tiny", "tiny_dense", "llama"}, *files[] = {"model.gguf", "bank.mkb"};
    char path[4200];
    for (int n = 0; n < 3; n++) {
        for (int f = 0; f < 2; f++) {
            snprintf(path, sizeof path, "%s/%s", model_dir(names[n]), files[f]);
            unlink(path);
        }
        rmdir(model_dir(names[n]));
    }
}

typedef struct loaded {
    mkv_model_desc *desc;
    mkv_bank *bank;
} loaded;

static loaded load(const char *name, bool with_bank)
{
    char path[4096];
    const char *dir = model_dir(name);
    mkv_error err;
    loaded L = {0};
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    ck_assert_msg(mkv_model_desc_load(path, &L.desc, &err) == MKV_OK, "%s", err.msg);
    if (with_bank) {
        snprintf(path, sizeof path, "%s/bank.mkb", dir);
        ck_assert_msg(mkv_bank_open(path, &L.bank, &err) == MKV_OK, "%s", err.msg);
    }
    return L;
}

static void unload(loaded *L)
{
    mkv_bank_close(L->bank);
    mkv_model_desc_free(L->desc);
}

enum { N_POS = 8 };
static const uint32_t tokens[N_POS] = {1, 4095, 17, 17, 2048, 0, 999, 3};

/* Runs N_POS positions; logits [N_POS][n_vocab]. */
static void run_tokens(loaded *L, bool meki_off, float *logits)
{
    ref_model *m;
    mkv_error err;
    uint32_t nv = L->desc->cfg.n_vocab;
    ck_assert_msg(ref_model_create(L->desc, L->bank, meki_off, N_POS, &m, &err) == MKV_OK, "%s", err.msg);
    for (uint32_t p = 0; p < N_POS; p++) {
        ck_assert_uint_eq(ref_model_pos(m), p);
        ck_assert_msg(ref_model_step(m, tokens[p], logits + (size_t)p * nv, &err) == MKV_OK, "%s", err.msg);
    }
    ref_model_free(m);
}

START_TEST(tiny_model_gives_finite_varied_logits_for_8_positions)
{
    loaded L = load("tiny", true);
    uint32_t nv = L.desc->cfg.n_vocab;
    ck_assert_uint_eq(nv, 4096);
    float *lg = malloc((size_t)N_POS * nv * sizeof *lg);
    run_tokens(&L, false, lg);
    for (uint32_t p = 0; p < N_POS; p++) {
        const float *r = lg + (size_t)p * nv;
        double mn = INFINITY, mx = -INFINITY;
        for (uint32_t i = 0; i < nv; i++) {
            ck_assert_msg(isfinite(r[i]), "pos %u logit %u = %g", p, i, r[i]);
            mn = fmin(mn, r[i]);
            mx = fmax(mx, r[i]);
        }
        ck_assert_msg(mx - mn > 1e-3, "pos %u: logits are flat (%g..%g)", p, mn, mx);
        printf("ref tiny pos %u: argmax %u, logits in [%.3f, %.3f]\n", p, ref_argmax(r, nv), mn, mx);
    }
    /* the same token at positions 2 and 3 sees a different context */
    ck_assert_msg(memcmp(lg + 2 * (size_t)nv, lg + 3 * (size_t)nv, nv * sizeof *lg) != 0,
                  "positions 2 and 3 give identical logits");
    free(lg);
    unload(&L);
}
END_TEST

START_TEST(tiny_model_is_deterministic_across_instances)
{
    loaded L = load("tiny", true);
    size_t n = (size_t)N_POS * L.desc->cfg.n_vocab;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    run_tokens(&L, false, a);
    run_tokens(&L, false, b);
    ck_assert_mem_eq(a, b, n * sizeof *a);
    free(a);
    free(b);
    unload(&L);
}
END_TEST

START_TEST(meki_branch_changes_the_logits_and_meki_off_needs_no_bank)
{
    loaded L = load("tiny", true);
    uint32_t nv = L.desc->cfg.n_vocab;
    size_t n = (size_t)N_POS * nv;
    float *on = malloc(n * sizeof *on), *off = malloc(n * sizeof *off), *off2 = malloc(n * sizeof *off2);
    run_tokens(&L, false, on);
    run_tokens(&L, true, off);
    double e = tu_max_rel_err(off, on, n);
    printf("ref tiny: MeKi on vs off, max rel diff %.3g\n", e);
    ck_assert_msg(e > 1e-3, "MeKi on and off differ by only %g", e);
    /* meki_off ignores the bank entirely */
    mkv_bank *bank = L.bank;
    L.bank = NULL;
    run_tokens(&L, true, off2);
    ck_assert_mem_eq(off, off2, n * sizeof *off);
    L.bank = bank;
    free(on);
    free(off);
    free(off2);
    unload(&L);
}
END_TEST

/* meki.gate_input = "residual" feeds the gate the residual a instead of u:
 * the MeKi logits change, the MeKi-off logits do not, and the key in a
 * file gives exactly what the flag in the description gives. */
START_TEST(residual_gate_input_changes_only_the_meki_branch)
{
    loaded L = load("tiny", true);
    size_t n = (size_t)N_POS * L.desc->cfg.n_vocab;
    float *norm = malloc(n * sizeof *norm), *res = malloc(n * sizeof *res), *res_file = malloc(n * sizeof *res_file);
    float *off = malloc(n * sizeof *off), *off_res = malloc(n * sizeof *off_res);
    ck_assert(!L.desc->cfg.meki_gate_residual);
    run_tokens(&L, false, norm);
    run_tokens(&L, true, off);
    L.desc->cfg.meki_gate_residual = true;
    run_tokens(&L, false, res);
    run_tokens(&L, true, off_res);
    unload(&L);
    double e = tu_max_rel_err(res, norm, n);
    printf("ref tiny: MeKi gate on a vs on u, max rel diff %.3g\n", e);
    ck_assert_msg(e > 1e-3, "gate on a and on u differ by only %g", e);
    ck_assert_mem_eq(off, off_res, n * sizeof *off);
    /* the same weights written with the key */
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), model_dir("tiny_residual"));
    o.seed = 7;
    o.gate_input = "residual";
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    loaded R = load("tiny_residual", true);
    ck_assert(R.desc->cfg.meki_gate_residual);
    run_tokens(&R, false, res_file);
    unload(&R);
    ck_assert_mem_eq(res, res_file, n * sizeof *res);
    const char *files[] = {"model.gguf", "bank.mkb"};
    for (int f = 0; f < 2; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", model_dir("tiny_residual"), files[f]);
        unlink(path);
    }
    rmdir(model_dir("tiny_residual"));
    free(norm);
    free(res);
    free(res_file);
    free(off);
    free(off_res);
}
END_TEST

START_TEST(dense_tiny_model_runs_without_a_bank)
{
    loaded L = load("tiny_dense", false);
    ck_assert_uint_eq(L.desc->cfg.d_mem, 0);
    size_t n = (size_t)N_POS * L.desc->cfg.n_vocab;
    float *lg = malloc(n * sizeof *lg);
    run_tokens(&L, false, lg);
    for (size_t i = 0; i < n; i++) ck_assert_msg(isfinite(lg[i]), "logit %zu = %g", i, lg[i]);
    free(lg);
    unload(&L);
}
END_TEST

START_TEST(model_rejects_missing_bank_bad_token_and_full_context)
{
    loaded L = load("tiny", true);
    ref_model *m = NULL;
    mkv_error err;
    ck_assert_int_eq(ref_model_create(L.desc, NULL, false, 4, &m, &err), MKV_ERR_MISSING);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(ref_model_create(L.desc, L.bank, false, 2, &m, &err), MKV_OK);
    float *lg = malloc(L.desc->cfg.n_vocab * sizeof *lg);
    ck_assert_int_eq(ref_model_step(m, L.desc->cfg.n_vocab, lg, &err), MKV_ERR_TOKEN_RANGE);
    ck_assert_uint_eq(ref_model_pos(m), 0);
    ck_assert_int_eq(ref_model_step(m, 5, lg, &err), MKV_OK);
    ck_assert_int_eq(ref_model_step(m, 6, lg, &err), MKV_OK);
    ck_assert_int_eq(ref_model_step(m, 7, lg, &err), MKV_ERR_CONTEXT_FULL);
    ck_assert_uint_eq(ref_model_pos(m), 2);
    free(lg);
    ref_model_free(m);
    unload(&L);
}
END_TEST

/* The whole model: a llama file (adjacent-pair RoPE) gives the logits of
 * the qwen2 file (NEOX RoPE, no biases) that holds the same weights with
 * llama.cpp's Q/K row permutation undone -- the convention the engine
 * follows for llama is the one llama.cpp's converter assumes. */
START_TEST(llama_file_matches_qwen2_file_with_qk_permutation_undone)
{
    char path[4096];
    mkv_error err;
    snprintf(path, sizeof path, "%s/model.gguf", model_dir("llama"));
    uint64_t size;
    uint8_t *b = tu_read_file(path, &size);
    mkv_gguf *g;
    ck_assert_msg(mkv_gguf_open(path, &g, &err) == MKV_OK, "%s", err.msg);
    /* "llama" -> "qwen2" in the metadata: same length, keys and value */
    for (uint8_t *p = b; (p = memmem(p, g->data_offset - (uint64_t)(p - b), "llama", 5)) != NULL; p += 5)
        memcpy(p, "qwen2", 5);
    const uint32_t hd = 64, dm = 256;
    for (uint32_t l = 0; l < 4; l++)
        for (int k = 0; k < 2; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.attn_%s.weight", l, k ? "k" : "q");
            const mkv_gguf_tensor *t = mkv_gguf_find_tensor(g, name);
            ck_assert(t && t->type == MKV_GGML_F16 && t->ne[0] == dm);
            const uint16_t *src = t->data;
            uint16_t *dst = (uint16_t *)(b + ((const uint8_t *)t->data - g->map));
            for (uint64_t h = 0; h < t->ne[1] / hd; h++)
                for (uint32_t s = 0; s < 2; s++)
                    for (uint32_t i = 0; i < hd / 2; i++) /* Hugging Face row s*half + i <- stored row 2i + s */
                        memcpy(dst + (h * hd + s * hd / 2 + i) * dm, src + (h * hd + 2 * i + s) * dm, dm * 2);
        }
    mkv_gguf_close(g);
    snprintf(path, sizeof path, "%s/model_qwen2.gguf", model_dir("llama"));
    tu_write_file(path, b, size);
    free(b);

    loaded ll = load("llama", false), qw = {0};
    ck_assert_msg(mkv_model_desc_load(path, &qw.desc, &err) == MKV_OK, "%s", err.msg);
    unlink(path);
    ck_assert_str_eq(qw.desc->cfg.arch, "qwen2");
    ck_assert_int_eq(ll.desc->cfg.rope_style, MKV_ROPE_NORM);
    ck_assert_int_eq(qw.desc->cfg.rope_style, MKV_ROPE_NEOX);
    size_t n = (size_t)N_POS * ll.desc->cfg.n_vocab;
    float *a = malloc(n * sizeof *a), *c = malloc(n * sizeof *c);
    run_tokens(&ll, false, a);
    run_tokens(&qw, false, c);
    double e = tu_max_rel_err(a, c, n);
    printf("ref llama vs qwen2 with Q/K rows unpermuted: max rel diff %.3g\n", e);
    ck_assert_msg(e <= 1e-5, "llama and unpermuted qwen2 differ by %g", e);
    /* and the pairing matters: the llama file with NEOX pairs is another model */
    ll.desc->cfg.rope_style = MKV_ROPE_NEOX;
    run_tokens(&ll, false, c);
    e = tu_max_rel_err(a, c, n);
    printf("ref llama with NEOX pairs instead: max rel diff %.3g\n", e);
    ck_assert_msg(e > 1e-2, "RoPE pairing changed the logits by only %g", e);
    free(a);
    free(c);
    unload(&ll);
    unload(&qw);
}
END_TEST

/* The same random weights stored in every weight type synth writes (synth
 * draws element k of a tensor from (seed, name, k) whatever the type),
 * llama-quantize's mixes (the Q6_K LM head, Q4_K_M / Q5_K_M) and pure Q4_0:
 * the reference's logits move by the storage error alone. Reports the
 * figures and bounds them loosely (they catch a wrong block layout, which
 * moves logits by O(1), not a slightly worse quantizer). */
START_TEST(same_weights_in_every_weight_type_stay_near_the_f16_model)
{
    static const struct { const char *name; uint32_t type; bool pure; double max_err; } types[] = {
        {"f16", MKV_GGML_F16, false, 0},      {"bf16", MKV_GGML_BF16, false, 0.05},
        {"q8_0", MKV_GGML_Q8_0, false, 0.05}, {"q4_0 pure", MKV_GGML_Q4_0, true, 0.5},
        {"q4_0", MKV_GGML_Q4_0, false, 0.5},  {"q4_1", MKV_GGML_Q4_1, false, 0.5},
        {"q5_0", MKV_GGML_Q5_0, false, 0.25}, {"q5_1", MKV_GGML_Q5_1, false, 0.25},
        {"q4_k", MKV_GGML_Q4_K, false, 0.5},  {"q5_k", MKV_GGML_Q5_K, false, 0.25},
        {"q6_k", MKV_GGML_Q6_K, false, 0.12}, {"q4_k_m", MKV_SYNTH_Q4_K_M, false, 0.5},
        {"q5_k_m", MKV_SYNTH_Q5_K_M, false, 0.25},
    };
    enum { NT = sizeof types / sizeof types[0] };
    float *lg[NT] = {NULL};
    size_t n = 0;
    uint32_t nv = 0;
    for (int t = 0; t < NT; t++) {
        const char *name = "wt_model";
        mkv_synth_opts o;
        mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), model_dir(name));
        o.dense = true;
        o.seed = 21;
        o.wtype = types[t].type;
        o.pure = types[t].pure;
        mkv_error err;
        ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
        loaded L = load(name, false);
        nv = L.desc->cfg.n_vocab;
        n = (size_t)N_POS * nv;
        lg[t] = malloc(n * sizeof(float));
        run_tokens(&L, false, lg[t]);
        unload(&L);
        char path[4200];
        snprintf(path, sizeof path, "%s/model.gguf", model_dir(name));
        unlink(path);
        rmdir(model_dir(name));
    }
    for (int t = 1; t < NT; t++) {
        double worst = 0;
        uint32_t agree = 0;
        for (uint32_t p = 0; p < N_POS; p++) {
            const float *a = lg[t] + (size_t)p * nv, *r = lg[0] + (size_t)p * nv;
            worst = fmax(worst, tu_max_rel_err(a, r, nv));
            agree += ref_argmax(a, nv) == ref_argmax(r, nv);
        }
        printf("ref tiny dense, %s weights vs f16: max rel logit err %.3g, argmax agrees at %u/%u positions\n",
               types[t].name, worst, agree, N_POS);
        ck_assert_msg(worst <= types[t].max_err, "%s: %g > %g", types[t].name, worst, types[t].max_err);
    }
    for (int t = 0; t < NT; t++) free(lg[t]);
}
END_TEST

static Suite *ref_suite(void)
{
    Suite *s = suite_create("ref");
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, rmsnorm_of_constant_vector_is_sign_times_weight);
    tcase_add_test(k, rmsnorm_divides_by_root_mean_square_plus_eps);
    tcase_add_test(k, rope_at_position_zero_is_identity);
    tcase_add_test(k, rope_rotates_pairs_i_and_i_plus_half);
    tcase_add_test(k, rope_norm_rotates_adjacent_pairs_2i_and_2i_plus_1);
    tcase_add_test(k, rope_norm_on_llama_permuted_head_is_neox_on_the_original);
    tcase_add_test(k, rope_preserves_the_norm_of_every_pair);
    tcase_add_test(k, rope_by_p1_then_p2_equals_rope_by_p1_plus_p2);
    tcase_add_test(k, attention_over_one_position_returns_v_for_every_gqa_mapping);
    tcase_add_test(k, attention_returns_the_value_of_a_dominant_key);
    tcase_add_test(k, attention_over_equal_keys_returns_the_mean_value);
    tcase_add_test(k, swiglu_matches_known_values);
    tcase_add_test(k, argmax_returns_lowest_index_on_ties);
    tcase_add_test(k, matvec_f16_matches_hand_computed_product);
    tcase_add_test(k, meki_with_zero_gate_weights_normalises_wmo_times_row_plus_half);
    tcase_add_test(k, meki_gate_is_sigmoid_of_wmg_times_u);
    suite_add_tcase(s, k);
    TCase *m = tcase_create("model");
    tcase_set_timeout(m, 600);
    tcase_add_unchecked_fixture(m, write_models, remove_models);
    tcase_add_test(m, tiny_model_gives_finite_varied_logits_for_8_positions);
    tcase_add_test(m, tiny_model_is_deterministic_across_instances);
    tcase_add_test(m, meki_branch_changes_the_logits_and_meki_off_needs_no_bank);
    tcase_add_test(m, residual_gate_input_changes_only_the_meki_branch);
    tcase_add_test(m, dense_tiny_model_runs_without_a_bank);
    tcase_add_test(m, model_rejects_missing_bank_bad_token_and_full_context);
    tcase_add_test(m, llama_file_matches_qwen2_file_with_qk_permutation_undone);
    tcase_add_test(m, same_weights_in_every_weight_type_stay_near_the_f16_model);
    suite_add_tcase(s, m);
    return s;
}

int main(void)
{
    runner_pid = (long)getpid();
    return tu_run_suite(ref_suite());
}
