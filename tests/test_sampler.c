/* The sampler (runtime/sampler.h) against hand-computed distributions:
 * each filter keeps exactly the right set (ties included), the chain's
 * order, the repeat penalty, greedy and the temperature -> 0 limit, the
 * seeded PRNG's determinism, a chi-square check of the draws, and a
 * 151936-token row against a brute-force sort. Host-only. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sampler.h"
#include "test_util.h"

static mkv_sampler *make(const mkv_sampler_params *p, uint32_t n_vocab)
{
    mkv_sampler *s = NULL;
    mkv_error err = {0};
    ck_assert_msg(mkv_sampler_create(p, n_vocab, &s, &err) == MKV_OK, "%s", err.msg);
    return s;
}

static void params(mkv_sampler_params *p, float temp, uint32_t k, float top_p, float min_p)
{
    mkv_sampler_params_default(p);
    p->temperature = temp;
    p->top_k = k;
    p->top_p = top_p;
    p->min_p = min_p;
}

/* logits ln(w_i): softmax at temperature 1 is w_i / sum(w) */
static void log_weights(const double *w, uint32_t n, float *l)
{
    for (uint32_t i = 0; i < n; i++) l[i] = w[i] > 0 ? (float)log(w[i]) : -INFINITY;
}

/* probs of the sampler equal want[] (already normalised), to 1e-6 */
static void expect_probs(const mkv_sampler_params *p, const float *l, uint32_t n, const double *want)
{
    mkv_sampler *s = make(p, n);
    double got[64];
    mkv_error err = {0};
    ck_assert_msg(mkv_sampler_probs(s, l, got, &err) == MKV_OK, "%s", err.msg);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) < 1e-6, "token %u: p = %.9f, want %.9f (T %g k %u top_p %g min_p %g)", i,
                      got[i], want[i], (double)p->temperature, p->top_k, (double)p->top_p, (double)p->min_p);
    mkv_sampler_free(s);
}

/* want: weights, normalised here */
static void expect_w(const mkv_sampler_params *p, const float *l, uint32_t n, const double *w)
{
    double want[64], z = 0;
    for (uint32_t i = 0; i < n; i++) z += w[i];
    for (uint32_t i = 0; i < n; i++) want[i] = w[i] / z;
    expect_probs(p, l, n, want);
}

START_TEST(test_rng_is_splitmix_seeded_xoshiro)
{
    /* splitmix64 from 0: its first output is the published 0xe220a8397b1dcdaf */
    mkv_rng r;
    mkv_rng_seed(&r, 0);
    ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafull);
    /* xoshiro256** outputs for seed 0, pinned (computed by an independent
     * Python transcription of the reference C): any machine, same numbers */
    ck_assert_uint_eq(mkv_rng_next(&r), 0x99ec5f36cb75f2b4ull);
    ck_assert_uint_eq(mkv_rng_next(&r), 0xbf6e1f784956452aull);
    ck_assert_uint_eq(mkv_rng_next(&r), 0x1a5f849d4933e6e0ull);
    mkv_rng a, b;
    mkv_rng_seed(&a, 42);
    mkv_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(mkv_rng_next(&a), mkv_rng_next(&b));
    mkv_rng_seed(&b, 43);
    ck_assert_uint_ne(mkv_rng_next(&a), mkv_rng_next(&b));
    for (int i = 0; i < 10000; i++) {
        double u = mkv_rng_uniform(&a);
        ck_assert(u >= 0.0 && u < 1.0);
    }
}
END_TEST

START_TEST(test_greedy_is_the_argmax)
{
    mkv_sampler_params p;
    params(&p, 0, 0, 1, 0);
    float l[6] = {0.5f, 2.0f, -1.0f, 3.0f, 3.0f, -INFINITY};
    mkv_sampler *s = make(&p, 6);
    ck_assert(!mkv_sampler_needs_logits(s)); /* the GPU argmax will do */
    uint32_t t = 99;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
    ck_assert_uint_eq(t, 3); /* tie 3/4: the lower id */
    mkv_sampler_free(s);
    /* top-k etc. do not change greedy's answer */
    params(&p, 0, 2, 0.3f, 0.5f);
    s = make(&p, 6);
    ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
    ck_assert_uint_eq(t, 3);
    mkv_sampler_free(s);
    /* greedy with a penalty needs the logits */
    params(&p, 0, 0, 1, 0);
    p.repeat_penalty = 1.5f;
    s = make(&p, 6);
    ck_assert(mkv_sampler_needs_logits(s));
    mkv_sampler_free(s);
}
END_TEST

START_TEST(test_temperature_one_is_the_softmax)
{
    const double w[4] = {1, 2, 3, 4};
    float l[4];
    log_weights(w, 4, l);
    mkv_sampler_params p;
    params(&p, 1, 0, 1, 0);
    expect_w(&p, l, 4, w);
    /* T = 0.5: weights squared; T = 2: square roots */
    params(&p, 0.5f, 0, 1, 0);
    expect_w(&p, l, 4, (double[]){1, 4, 9, 16});
    params(&p, 2, 0, 1, 0);
    expect_w(&p, l, 4, (double[]){1, sqrt(2), sqrt(3), 2});
    /* -inf: probability 0 */
    const double w2[4] = {1, 0, 3, 0};
    log_weights(w2, 4, l);
    params(&p, 1, 0, 1, 0);
    expect_w(&p, l, 4, w2);
}
END_TEST

START_TEST(test_top_k_keeps_the_k_largest_and_ties)
{
    /* ids:        0  1  2  3  4   (logit ln w) */
    const double w[5] = {2, 6, 3, 3, 1};
    float l[5];
    log_weights(w, 5, l);
    mkv_sampler_params p;
    params(&p, 1, 1, 1, 0);
    expect_w(&p, l, 5, (double[]){0, 6, 0, 0, 0});
    params(&p, 1, 2, 1, 0); /* the 2nd largest ties with the 3rd: both stay */
    expect_w(&p, l, 5, (double[]){0, 6, 3, 3, 0});
    params(&p, 1, 3, 1, 0);
    expect_w(&p, l, 5, (double[]){0, 6, 3, 3, 0});
    params(&p, 1, 4, 1, 0);
    expect_w(&p, l, 5, (double[]){2, 6, 3, 3, 0});
    params(&p, 1, 5, 1, 0);
    expect_w(&p, l, 5, w);
    params(&p, 1, 1000, 1, 0);
    expect_w(&p, l, 5, w);
    /* all equal: k = 1 keeps them all */
    float eq[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    params(&p, 1, 1, 1, 0);
    expect_w(&p, eq, 4, (double[]){1, 1, 1, 1});
}
END_TEST

START_TEST(test_top_p_keeps_the_fewest_reaching_p)
{
    /* probabilities .4 .3 .2 .1, in a shuffled id order */
    const double w[4] = {2, 4, 1, 3};
    float l[4];
    log_weights(w, 4, l);
    mkv_sampler_params p;
    params(&p, 1, 0, 0.35f, 0); /* .4 >= .35 */
    expect_w(&p, l, 4, (double[]){0, 4, 0, 0});
    params(&p, 1, 0, 0.5f, 0); /* .4, .7 */
    expect_w(&p, l, 4, (double[]){0, 4, 0, 3});
    params(&p, 1, 0, 0.75f, 0); /* .4, .7, .9 */
    expect_w(&p, l, 4, (double[]){2, 4, 0, 3});
    params(&p, 1, 0, 0.95f, 0);
    expect_w(&p, l, 4, w);
    /* ties: .4 .2 .2 .1 .1; p .5 needs .4 + .2, and the other .2 stays */
    const double wt[5] = {1, 2, 4, 1, 2};
    float lt[5];
    log_weights(wt, 5, lt);
    params(&p, 1, 0, 0.5f, 0);
    expect_w(&p, lt, 5, (double[]){0, 2, 4, 0, 2});
    params(&p, 1, 0, 0.85f, 0); /* .4 .6 .8 .9: the last .1 tied with the one needed stays too */
    expect_w(&p, lt, 5, wt);
}
END_TEST

START_TEST(test_min_p_keeps_those_above_a_share_of_the_max)
{
    const double w[4] = {1, 8, 2, 4};
    float l[4];
    log_weights(w, 4, l);
    mkv_sampler_params p;
    params(&p, 1, 0, 1, 0.3f); /* >= 2.4 */
    expect_w(&p, l, 4, (double[]){0, 8, 0, 4});
    params(&p, 1, 0, 1, 0.2f); /* >= 1.6 */
    expect_w(&p, l, 4, (double[]){0, 8, 2, 4});
    params(&p, 1, 0, 1, 0.1f);
    expect_w(&p, l, 4, w);
    params(&p, 1, 0, 1, 1.0f); /* only the max (and its equals) */
    expect_w(&p, l, 4, (double[]){0, 8, 0, 0});
    const double wt[3] = {8, 8, 1};
    float lt[3];
    log_weights(wt, 3, lt);
    expect_w(&p, lt, 3, (double[]){8, 8, 0});
}
END_TEST

START_TEST(test_filters_run_before_the_temperature)
{
    /* top-p .75 on T = 1 (8 4 2 1: .533 .8) keeps {8, 4}; then T = .5 squares:
     * 64/80, 16/80. Temperature first would keep 64/85 = .753 alone. */
    const double w[4] = {4, 1, 8, 2};
    float l[4];
    log_weights(w, 4, l);
    mkv_sampler_params p;
    params(&p, 0.5f, 0, 0.75f, 0);
    expect_w(&p, l, 4, (double[]){16, 0, 64, 0});
    /* k, then p, then min-p: k 3 keeps 8 4 2 (z 14); p .6: .571 .857 -> 8 4;
     * min-p .6 of 8 = 4.8 -> 8 alone */
    params(&p, 1, 3, 0.6f, 0.6f);
    expect_w(&p, l, 4, (double[]){0, 0, 1, 0});
    params(&p, 1, 3, 0.6f, 0.4f);
    expect_w(&p, l, 4, (double[]){4, 0, 8, 0});
}
END_TEST

START_TEST(test_repeat_penalty_divides_positive_multiplies_negative)
{
    float l[5] = {2.0f, -1.0f, 1.0f, 0.5f, 0.0f};
    mkv_sampler_params p;
    params(&p, 1, 0, 1, 0);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 3;
    mkv_sampler *s = make(&p, 5);
    mkv_error err = {0};
    ck_assert_int_eq(mkv_sampler_accept(s, 0, &err), MKV_OK);
    ck_assert_int_eq(mkv_sampler_accept(s, 1, &err), MKV_OK);
    ck_assert_int_eq(mkv_sampler_accept(s, 0, &err), MKV_OK); /* counted once */
    double got[5];
    ck_assert_int_eq(mkv_sampler_probs(s, l, got, &err), MKV_OK);
    const float pen[5] = {1.0f, -2.0f, 1.0f, 0.5f, 0.0f};
    double z = 0;
    for (int i = 0; i < 5; i++) z += exp(pen[i]);
    for (int i = 0; i < 5; i++) ck_assert_msg(fabs(got[i] - exp(pen[i]) / z) < 1e-9, "token %d", i);
    /* the window: 0 1 0 | 4 3 -> {0, 4, 3}; 1 has left it; 0 penalised, 3 halved, 4 (0) stays 0 */
    ck_assert_int_eq(mkv_sampler_accept(s, 4, &err), MKV_OK);
    ck_assert_int_eq(mkv_sampler_accept(s, 3, &err), MKV_OK);
    ck_assert_int_eq(mkv_sampler_probs(s, l, got, &err), MKV_OK);
    const float pen2[5] = {1.0f, -1.0f, 1.0f, 0.25f, 0.0f};
    z = 0;
    for (int i = 0; i < 5; i++) z += exp(pen2[i]);
    for (int i = 0; i < 5; i++) ck_assert_msg(fabs(got[i] - exp(pen2[i]) / z) < 1e-9, "token %d", i);
    mkv_sampler_free(s);
    /* greedy after the penalty: 0 penalised (2 -> 1) ties 2 (1): the lower id, 0; 0 and 2
     * both penalised: 1 against 0.5 */
    params(&p, 0, 0, 1, 0);
    p.repeat_penalty = 2.0f;
    s = make(&p, 5);
    uint32_t t;
    ck_assert_int_eq(mkv_sampler_accept(s, 0, &err), MKV_OK);
    ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
    ck_assert_uint_eq(t, 0);
    ck_assert_int_eq(mkv_sampler_accept(s, 0, &err), MKV_OK);
    ck_assert_int_eq(mkv_sampler_accept(s, 2, &err), MKV_OK);
    ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
    ck_assert_uint_eq(t, 0); /* 1.0 vs 0.5, 0.5 */
    mkv_sampler_clear_history(s);
    ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
    ck_assert_uint_eq(t, 0);
    ck_assert_int_eq(mkv_sampler_accept(s, 5, &err), MKV_ERR_TOKEN_RANGE);
    mkv_sampler_free(s);
}
END_TEST

START_TEST(test_temperature_to_zero_is_the_argmax)
{
    float l[5] = {1.0f, 1.5f, 1.49f, -3.0f, 0.0f};
    mkv_sampler_params p;
    params(&p, 1e-4f, 0, 1, 0); /* the 0.01 gap: exp(-100) */
    p.seed = 7;
    mkv_sampler *s = make(&p, 5);
    mkv_error err = {0};
    for (int i = 0; i < 2000; i++) {
        uint32_t t;
        ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
        ck_assert_uint_eq(t, 1);
    }
    double got[5];
    ck_assert_int_eq(mkv_sampler_probs(s, l, got, &err), MKV_OK);
    ck_assert(got[1] > 1 - 1e-4 && got[2] < 1e-4);
    mkv_sampler_free(s);
    /* a vanishing temperature: no NaN, the max alone */
    params(&p, 1e-30f, 0, 1, 0);
    s = make(&p, 5);
    ck_assert_int_eq(mkv_sampler_probs(s, l, got, &err), MKV_OK);
    ck_assert(got[1] == 1.0 && got[2] == 0.0);
    mkv_sampler_free(s);
}
END_TEST

/* n draws; counts[] of each token */
static void draw(const mkv_sampler_params *p, const float *l, uint32_t n_vocab, int n, uint32_t *counts)
{
    mkv_sampler *s = make(p, n_vocab);
    mkv_error err = {0};
    memset(counts, 0, n_vocab * sizeof *counts);
    for (int i = 0; i < n; i++) {
        uint32_t t;
        ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
        ck_assert_uint_lt(t, n_vocab);
        counts[t]++;
    }
    mkv_sampler_free(s);
}

/* Pearson's chi-square of counts against the sampler's own probs; 0-prob
 * tokens must never be drawn. */
static double chi_square(const mkv_sampler_params *p, const float *l, uint32_t n_vocab, int n, int *dof)
{
    uint32_t counts[64];
    double probs[64];
    draw(p, l, n_vocab, n, counts);
    mkv_sampler *s = make(p, n_vocab);
    mkv_error err = {0};
    ck_assert_int_eq(mkv_sampler_probs(s, l, probs, &err), MKV_OK);
    mkv_sampler_free(s);
    double x2 = 0;
    *dof = -1;
    for (uint32_t i = 0; i < n_vocab; i++) {
        if (probs[i] == 0) {
            ck_assert_msg(counts[i] == 0, "token %u cut but drawn %u times", i, counts[i]);
            continue;
        }
        double e = probs[i] * n;
        x2 += (counts[i] - e) * (counts[i] - e) / e;
        (*dof)++;
    }
    return x2;
}

START_TEST(test_draws_follow_the_distribution)
{
    /* chi-square critical values at p = 0.001: dof 3 -> 16.27, dof 2 -> 13.82
     * (fixed seeds: the test is deterministic, the bound says the PRNG and the
     * inverse CDF are right) */
    const double w[6] = {1, 2, 3, 4, 0.5, 6};
    float l[6];
    log_weights(w, 4, l);
    mkv_sampler_params p;
    params(&p, 1, 0, 1, 0);
    p.seed = 1;
    int dof;
    double x2 = chi_square(&p, l, 4, 200000, &dof);
    ck_assert_int_eq(dof, 3);
    ck_assert_msg(x2 < 16.27, "chi2 = %.2f", x2);
    /* the hand-computed probabilities .1 .2 .3 .4 themselves, within 4 sigma */
    uint32_t counts[64];
    draw(&p, l, 4, 200000, counts);
    for (int i = 0; i < 4; i++) {
        double e = w[i] / 10 * 200000, sd = sqrt(e * (1 - w[i] / 10));
        ck_assert_msg(fabs(counts[i] - e) < 4 * sd, "token %d: %u draws, want %.0f", i, counts[i], e);
    }
    /* top-k 3 at T .7 over six tokens */
    log_weights(w, 6, l);
    params(&p, 0.7f, 3, 1, 0);
    p.seed = 99;
    x2 = chi_square(&p, l, 6, 200000, &dof);
    ck_assert_int_eq(dof, 2);
    ck_assert_msg(x2 < 13.82, "chi2 = %.2f", x2);
    /* every stage on: k 5, p .9, min-p .1, T 1.3 */
    params(&p, 1.3f, 5, 0.9f, 0.1f);
    p.seed = 5;
    x2 = chi_square(&p, l, 6, 200000, &dof); /* k 5: 6 4 3 2 1; p .9: 6 4 3 2 (.9375) */
    ck_assert_int_eq(dof, 3);
    ck_assert_msg(x2 < 16.27, "chi2 = %.2f", x2);
}
END_TEST

START_TEST(test_same_seed_same_tokens)
{
    uint64_t st = 3;
    float l[64];
    for (int i = 0; i < 64; i++) l[i] = 2 * tu_rand_f(&st);
    mkv_sampler_params p;
    params(&p, 0.9f, 40, 0.95f, 0.02f);
    p.repeat_penalty = 1.1f;
    p.seed = 1234;
    mkv_sampler *a = make(&p, 64), *b = make(&p, 64);
    mkv_error err = {0};
    uint32_t seq[500];
    bool differs = false;
    for (int i = 0; i < 500; i++) {
        uint32_t ta, tb;
        ck_assert_int_eq(mkv_sampler_sample(a, l, &ta, &err), MKV_OK);
        ck_assert_int_eq(mkv_sampler_sample(b, l, &tb, &err), MKV_OK);
        ck_assert_uint_eq(ta, tb);
        ck_assert_int_eq(mkv_sampler_accept(a, ta, &err), MKV_OK);
        ck_assert_int_eq(mkv_sampler_accept(b, tb, &err), MKV_OK);
        seq[i] = ta;
        differs |= i && seq[i] != seq[0];
    }
    ck_assert(differs);
    /* reseeded with a cleared history: the same sequence again */
    mkv_sampler_reseed(a, 1234);
    mkv_sampler_clear_history(a);
    for (int i = 0; i < 500; i++) {
        uint32_t t;
        ck_assert_int_eq(mkv_sampler_sample(a, l, &t, &err), MKV_OK);
        ck_assert_uint_eq(t, seq[i]);
        ck_assert_int_eq(mkv_sampler_accept(a, t, &err), MKV_OK);
    }
    /* another seed: another sequence */
    mkv_sampler_reseed(a, 1235);
    mkv_sampler_clear_history(a);
    int same = 0;
    for (int i = 0; i < 500; i++) {
        uint32_t t;
        ck_assert_int_eq(mkv_sampler_sample(a, l, &t, &err), MKV_OK);
        same += t == seq[i];
        ck_assert_int_eq(mkv_sampler_accept(a, t, &err), MKV_OK);
    }
    ck_assert_int_lt(same, 400);
    mkv_sampler_free(a);
    mkv_sampler_free(b);
}
END_TEST

/* Brute force on a full sort: the kept set of top-k then top-p (ties kept). */
static int cmp_desc(const void *pa, const void *pb)
{
    const float *a = pa, *b = pb;
    return *a > *b ? -1 : *a < *b ? 1 : 0;
}

START_TEST(test_full_vocabulary_matches_a_full_sort)
{
    enum { NV = 151936 };
    float *l = malloc(NV * sizeof *l), *sorted = malloc(NV * sizeof *sorted);
    double *probs = malloc(NV * sizeof *probs);
    ck_assert(l && sorted && probs);
    uint64_t st = 11;
    for (int i = 0; i < NV; i++) l[i] = 8 * tu_rand_f(&st) + (i % 7 == 0 ? 4 : 0);
    l[777] = l[778] = 20.0f; /* a tie at the top */
    memcpy(sorted, l, NV * sizeof *l);
    qsort(sorted, NV, sizeof *sorted, cmp_desc);
    const struct { uint32_t k; float p; } cases[] = {{40, 1}, {0, 0.9f}, {0, 0.99f}, {1000, 0.5f}, {1, 1}, {0, 1e-6f}};
    mkv_error err = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        /* expected: how many of the sorted logits stay, and the threshold */
        size_t n = cases[c].k ? cases[c].k : NV;
        while (n < NV && sorted[n] == sorted[n - 1]) n++;
        if (cases[c].p < 1) {
            double z = 0, cum = 0;
            for (size_t i = 0; i < n; i++) z += exp((double)sorted[i] - sorted[0]);
            size_t keep = n;
            for (size_t i = 0; i < n; i++) {
                cum += exp((double)sorted[i] - sorted[0]);
                if (cum >= cases[c].p * z) { keep = i + 1; break; }
            }
            while (keep < n && sorted[keep] == sorted[keep - 1]) keep++;
            n = keep;
        }
        const float thr = sorted[n - 1];
        mkv_sampler_params p;
        params(&p, 1, cases[c].k, cases[c].p, 0);
        mkv_sampler *s = make(&p, NV);
        ck_assert_msg(mkv_sampler_probs(s, l, probs, &err) == MKV_OK, "%s", err.msg);
        size_t kept = 0;
        double z = 0;
        for (int i = 0; i < NV; i++)
            if (l[i] >= thr) z += exp((double)l[i] - sorted[0]);
        for (int i = 0; i < NV; i++) {
            if (l[i] >= thr) {
                kept++;
                ck_assert_msg(fabs(probs[i] - exp((double)l[i] - sorted[0]) / z) < 1e-9, "case %zu token %d", c, i);
            } else {
                ck_assert_msg(probs[i] == 0, "case %zu: token %d (%g < %g) kept", c, i, (double)l[i], (double)thr);
            }
        }
        ck_assert_uint_eq(kept, n);
        double t0 = mkv_now_ms();
        uint32_t t;
        for (int r = 0; r < 20; r++) ck_assert_int_eq(mkv_sampler_sample(s, l, &t, &err), MKV_OK);
        printf("sampler: n_vocab %d, top_k %u, top_p %g: %zu kept, %.3f ms per token\n", NV, cases[c].k,
               (double)cases[c].p, n, (mkv_now_ms() - t0) / 20);
        mkv_sampler_free(s);
    }
    free(l);
    free(sorted);
    free(probs);
}
END_TEST

START_TEST(test_bad_input_is_named)
{
    mkv_sampler_params p;
    mkv_sampler *s = NULL;
    mkv_error err = {0};
    params(&p, NAN, 0, 1, 0);
    ck_assert_int_eq(mkv_sampler_create(&p, 4, &s, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "temperature"), "%s", err.msg);
    params(&p, -1, 0, 1, 0);
    ck_assert_int_eq(mkv_sampler_create(&p, 4, &s, &err), MKV_ERR_INVALID_ARG);
    params(&p, 1, 0, 0, 0);
    ck_assert_int_eq(mkv_sampler_create(&p, 4, &s, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "top_p = 0"), "%s", err.msg);
    params(&p, 1, 0, 1.5f, 0);
    ck_assert_int_eq(mkv_sampler_create(&p, 4, &s, &err), MKV_ERR_INVALID_ARG);
    params(&p, 1, 0, 1, -0.1f);
    ck_assert_int_eq(mkv_sampler_create(&p, 4, &s, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "min_p"), "%s", err.msg);
    params(&p, 1, 0, 1, 0);
    p.repeat_penalty = 0;
    ck_assert_int_eq(mkv_sampler_create(&p, 4, &s, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "repeat_penalty"), "%s", err.msg);
    params(&p, 1, 0, 1, 0);
    ck_assert_int_eq(mkv_sampler_create(&p, 0, &s, &err), MKV_ERR_INVALID_ARG);
    ck_assert_ptr_null(s);
    s = make(&p, 4);
    uint32_t t;
    float bad[4] = {0, NAN, 1, 2};
    ck_assert_int_eq(mkv_sampler_sample(s, bad, &t, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "logits[1]"), "%s", err.msg);
    bad[1] = INFINITY;
    ck_assert_int_eq(mkv_sampler_sample(s, bad, &t, &err), MKV_ERR_INVALID_ARG);
    float none[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    ck_assert_int_eq(mkv_sampler_sample(s, none, &t, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_sampler_sample(s, NULL, &t, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_sampler_accept(s, 4, &err), MKV_ERR_TOKEN_RANGE);
    mkv_sampler_free(s);
    mkv_sampler_free(NULL);
}
END_TEST

static Suite *sampler_suite(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rng_is_splitmix_seeded_xoshiro);
    tcase_add_test(tc, test_greedy_is_the_argmax);
    tcase_add_test(tc, test_temperature_one_is_the_softmax);
    tcase_add_test(tc, test_top_k_keeps_the_k_largest_and_ties);
    tcase_add_test(tc, test_top_p_keeps_the_fewest_reaching_p);
    tcase_add_test(tc, test_min_p_keeps_those_above_a_share_of_the_max);
    tcase_add_test(tc, test_filters_run_before_the_temperature);
    tcase_add_test(tc, test_repeat_penalty_divides_positive_multiplies_negative);
    tcase_add_test(tc, test_temperature_to_zero_is_the_argmax);
    tcase_add_test(tc, test_draws_follow_the_distribution);
    tcase_add_test(tc, test_same_seed_same_tokens);
    tcase_add_test(tc, test_full_vocabulary_matches_a_full_sort);
    tcase_add_test(tc, test_bad_input_is_named);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(sampler_suite());
}
