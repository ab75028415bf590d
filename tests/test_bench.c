/* mekivk bench (bench/bench.c) end to end on the tiny model: it runs, its
 * --json is one valid object with DESIGN's keys and the ones bench adds,
 * and the figures agree with each other (the ratios with the per-mode
 * medians and repetitions, the bank's bytes with its reads, MeKi's weight
 * bytes above dense's). bench --probe: its sweep table, the best the
 * maximum of it; beside a CPU device the host's read bandwidth
 * (bench/host_bw.c). No timing is asserted beyond "positive and finite":
 * speed lives in bench runs. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "host_bw.h"
#include "wtype.h"
#include "json.h"
#include "synth.h"
#include "test_util.h"

static char dir[PATH_MAX];

static void make_model(void)
{
    snprintf(dir, sizeof dir, "%s", tu_path_in("bench", "tiny"));
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *t = calloc(1, 1 << 20);
    size_t n = fread(t, 1, (1 << 20) - 1, f);
    fclose(f);
    t[n] = 0;
    return t;
}

/* Runs `mekivk bench ARGS` with stdout and stderr captured; returns its
 * exit code, the output in *out and what it said on stderr in *err_text
 * (both malloc'd; err_text may be NULL). */
static int run_bench(char **argv, int argc, char **out, char **err_text)
{
    char po[PATH_MAX + 32], pe[PATH_MAX + 32];
    snprintf(po, sizeof po, "%s/bench.out", dir);
    snprintf(pe, sizeof pe, "%s/bench.err", dir);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    int rc = mkv_cmd_bench(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    *out = slurp(po);
    char *e = slurp(pe);
    if (err_text) *err_text = e;
    else free(e);
    return rc;
}

static double num(const mkv_json *j, uint32_t obj, const char *key)
{
    uint32_t i = mkv_json_get(j, obj, key);
    ck_assert_msg(i != MKV_JSON_NONE && j->v[i].type == MKV_JSON_NUMBER, "bench JSON: number '%s' missing", key);
    return j->v[i].num;
}

static uint32_t child(const mkv_json *j, uint32_t obj, const char *key, mkv_json_type type)
{
    uint32_t i = mkv_json_get(j, obj, key);
    ck_assert_msg(i != MKV_JSON_NONE && j->v[i].type == type, "bench JSON: '%s' missing or of the wrong type", key);
    return i;
}

static double median3(double a, double b, double c) { return fmax(fmin(a, b), fmin(fmax(a, b), c)); }

static bool positive_finite(double x) { return x > 0 && isfinite(x); }

/* The tests run on lavapipe, a CPU device: bench reports the host's read
 * bandwidth beside it. */
static bool cpu_device(const mkv_json *j) { return strstr(j->v[child(j, 0, "device", MKV_JSON_STRING)].str, "llvmpipe") != NULL; }

START_TEST(json_has_every_key_and_consistent_figures)
{
    char model[PATH_MAX + 32], bank[PATH_MAX + 32];
    snprintf(model, sizeof model, "%s/model.gguf", dir);
    snprintf(bank, sizeof bank, "%s/bank.mkb", dir);
    char *argv[] = {"bench", "--model", model, "--bank", bank, "--ctx", "40", "-n", "5", "--reps", "3",
                    "--prompt", "3", "--block", "2", "--cold", "--json"};
    char *out, *said;
    int rc = run_bench(argv, (int)(sizeof argv / sizeof argv[0]), &out, &said);
    ck_assert_msg(rc == 0, "bench exit %d; output:\n%s\nstderr:\n%s", rc, out, said);
    /* the validation layer is on in tests (MKV_VALIDATION=1): it said nothing */
    ck_assert_msg(!strstr(said, "validation"), "bench stderr:\n%s", said);
    free(said);
    mkv_json j;
    mkv_error err;
    ck_assert_msg(mkv_json_parse(out, strlen(out), "bench --json", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    ck_assert_int_eq(j.v[0].type, MKV_JSON_OBJECT);
    child(&j, 0, "device", MKV_JSON_STRING);
    child(&j, 0, "driver", MKV_JSON_STRING);
    ck_assert_str_eq(j.v[child(&j, 0, "model", MKV_JSON_STRING)].str, model);
    /* the tiny f16 model: 1 LM head + 4 layers x (qkv, o, gate+up+W_mg, down, W_mo transposed for
     * decode, W_mo as stored for prefill) matrices, all f16 */
    ck_assert_msg(!strncmp(j.v[child(&j, 0, "weight_types", MKV_JSON_STRING)].str, "25 f16 (", 8), "weight_types: %s",
                  j.v[child(&j, 0, "weight_types", MKV_JSON_STRING)].str);
    ck_assert_int_eq((int)num(&j, 0, "ctx"), 40);
    ck_assert_int_eq((int)num(&j, 0, "n_decode"), 5);
    ck_assert_int_eq((int)num(&j, 0, "reps"), 3);
    ck_assert_int_eq((int)num(&j, 0, "block"), 2);
    ck_assert(positive_finite(num(&j, 0, "probe_gbps")));
    if (cpu_device(&j)) {
        ck_assert(positive_finite(num(&j, 0, "host_read_gbps")));
        ck_assert(num(&j, 0, "host_threads") >= 1);
    }
    uint32_t runs = child(&j, 0, "runs", MKV_JSON_ARRAY);
    ck_assert_uint_eq(j.v[runs].n, 2);
    double med[2], reps[2][3], wbytes[2];
    uint32_t r = j.v[runs].first;
    for (int m = 0; m < 2; m++, r = j.v[r].next) {
        ck_assert_str_eq(j.v[child(&j, r, "mode", MKV_JSON_STRING)].str, m ? "meki" : "dense");
        med[m] = num(&j, r, "decode_tok_s");
        ck_assert(med[m] > 0 && num(&j, r, "prefill_tok_s") > 0);
        /* one prefill entry per --prompt length: here 3 */
        uint32_t pf = child(&j, r, "prefill", MKV_JSON_ARRAY);
        ck_assert_uint_eq(j.v[pf].n, 1);
        ck_assert_int_eq((int)num(&j, j.v[pf].first, "prompt"), 3);
        ck_assert(num(&j, j.v[pf].first, "tok_s") == num(&j, r, "prefill_tok_s"));
        ck_assert(num(&j, j.v[pf].first, "stall_ms") >= 0);
        wbytes[m] = num(&j, r, "weight_bytes_per_token");
        ck_assert(fabs(num(&j, r, "weight_gbps") - wbytes[m] * med[m] * 1e-9) < 1e-3 + 1e-3 * wbytes[m] * med[m] * 1e-9);
        /* the tiny model's f16 K/V: 4 layers x ctx x 2 KV heads x 64 dims x 2 (K, V) x 2 bytes */
        const double kv = num(&j, r, "kv_bytes_per_token"), ctx = num(&j, 0, "ctx");
        ck_assert(kv == 4 * ctx * 2 * 64 * 4);
        const double roof = (1 / med[m]) / ((wbytes[m] + kv) / (num(&j, 0, "probe_gbps") * 1e9));
        ck_assert_msg(fabs(num(&j, r, "time_over_roofline") - roof) <= 2e-3 * roof + 1e-3, "roofline %g, expected %g",
                      num(&j, r, "time_over_roofline"), roof);
        uint32_t rr = child(&j, r, "decode_tok_s_reps", MKV_JSON_ARRAY);
        ck_assert_uint_eq(j.v[rr].n, 3);
        uint32_t e = j.v[rr].first;
        for (int k = 0; k < 3; k++, e = j.v[e].next) reps[m][k] = j.v[e].num;
        ck_assert(fabs(median3(reps[m][0], reps[m][1], reps[m][2]) - med[m]) < 1e-3 * med[m] + 1e-4);
        uint32_t b = child(&j, r, "bank", MKV_JSON_OBJECT);
        const char *bank_keys[] = {"bytes_read", "reads", "stall_ms", "stall_us_median", "stall_steps", "window_us_median",
                                   "read_us_mean", "cache_hit_rate"};
        for (size_t k = 0; k < sizeof bank_keys / sizeof bank_keys[0]; k++) ck_assert(num(&j, b, bank_keys[k]) >= 0);
        const char *io = j.v[child(&j, b, "io_mode", MKV_JSON_STRING)].str;
        child(&j, b, "crc", MKV_JSON_STRING);
        if (m == 0) {
            ck_assert(num(&j, b, "bytes_read") == 0 && num(&j, b, "reads") == 0);
        } else {
            /* every prompt and decoded token's slab, each read from storage (and the
             * 2-token warm-up prefill's) */
            ck_assert(num(&j, b, "reads") >= 1 && num(&j, b, "reads") <= 3 * (3 + 5) + 2);
            ck_assert(fmod(num(&j, b, "bytes_read"), num(&j, b, "reads")) == 0);
            ck_assert(num(&j, b, "read_us_mean") > 0);
            ck_assert_str_ne(io, "page_cache");
        }
        uint32_t ks = child(&j, r, "kernels", MKV_JSON_ARRAY);
        bool layer_end = false;
        for (uint32_t k = j.v[ks].first; k != MKV_JSON_NONE; k = j.v[k].next) {
            const char *name = j.v[child(&j, k, "name", MKV_JSON_STRING)].str;
            ck_assert(num(&j, k, "ms") >= 0 && num(&j, k, "gbps") >= 0);
            /* the kernel, or its variant for a weight type (ffn_out_f16, ...) */
            const char *want = m ? "ffn_out_meki" : "ffn_out";
            const size_t len = strlen(want);
            layer_end |= !strncmp(name, want, len) && (name[len] == 0 || (name[len] == '_' && strncmp(name + len, "_meki", 5)));
        }
        ck_assert_msg(layer_end, "mode %d: no layer-end kernel in the profile", m);
    }
    ck_assert(wbytes[1] > wbytes[0]);
    ck_assert(fabs(num(&j, 0, "meki_over_dense") - med[1] / med[0]) < 1e-3);
    double ratios[3];
    for (int k = 0; k < 3; k++) ratios[k] = reps[1][k] / reps[0][k];
    ck_assert(fabs(num(&j, 0, "meki_over_dense_paired") - median3(ratios[0], ratios[1], ratios[2])) < 1e-3);
    mkv_json_free(&j);
    free(out);
}
END_TEST

START_TEST(probe_json_has_the_sweep_and_its_best_is_the_max)
{
    char *argv[] = {"bench", "--probe", "--json"};
    char *out, *said;
    int rc = run_bench(argv, 3, &out, &said);
    ck_assert_msg(rc == 0, "bench --probe exit %d; output:\n%s\nstderr:\n%s", rc, out, said);
    ck_assert_msg(!strstr(said, "validation"), "bench stderr:\n%s", said);
    free(said);
    mkv_json j;
    mkv_error err;
    ck_assert_msg(mkv_json_parse(out, strlen(out), "bench --probe --json", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    ck_assert_int_eq(j.v[0].type, MKV_JSON_OBJECT);
    child(&j, 0, "driver", MKV_JSON_STRING);
    const double best = num(&j, 0, "probe_gbps");
    ck_assert(positive_finite(best));
    ck_assert(num(&j, 0, "probe_bytes") >= 16 << 20); /* the automatic size defeats caches */
    ck_assert(positive_finite(num(&j, 0, "probe_seconds")));
    const double reps = num(&j, 0, "probe_reps");
    ck_assert(reps >= 1);
    uint32_t sweep = child(&j, 0, "probe_sweep", MKV_JSON_ARRAY);
    ck_assert_uint_gt(j.v[sweep].n, 1);
    double max = 0;
    bool patterns[3] = {false, false, false};
    for (uint32_t k = j.v[sweep].first; k != MKV_JSON_NONE; k = j.v[k].next) {
        const char *p = j.v[child(&j, k, "pattern", MKV_JSON_STRING)].str;
        patterns[0] |= !strcmp(p, "block");
        patterns[1] |= !strcmp(p, "run");
        patterns[2] |= !strcmp(p, "grid");
        ck_assert(num(&j, k, "wg") >= 1 && num(&j, k, "vec") >= 1 && num(&j, k, "groups") >= 1);
        ck_assert(num(&j, k, "group_bytes") >= 16);
        ck_assert(num(&j, k, "reads") == 1 || num(&j, k, "reads") == reps);
        const double g = num(&j, k, "gbps");
        ck_assert_msg(positive_finite(g), "sweep: %g GB/s", g);
        max = fmax(max, g);
    }
    ck_assert_msg(patterns[0] && patterns[1] && patterns[2], "a pattern is missing from the sweep");
    ck_assert_msg(best == max, "probe_gbps %g, the sweep's max %g", best, max);
    uint32_t win = child(&j, 0, "probe_best", MKV_JSON_OBJECT);
    ck_assert(num(&j, win, "gbps") == best);
    ck_assert(num(&j, win, "reads") == reps); /* a median, not one lucky read */
    child(&j, win, "pattern", MKV_JSON_STRING);
    if (cpu_device(&j)) {
        ck_assert(positive_finite(num(&j, 0, "host_read_gbps")));
        ck_assert(num(&j, 0, "host_threads") >= 1);
    }
    mkv_json_free(&j);
    free(out);
}
END_TEST

/* bench --kernels: every weight type's matvec at both FFN shapes and
 * attention at three KV lengths, each figure consistent with its bytes,
 * time and the probe. */
START_TEST(kernels_json_times_every_weight_type_and_attention)
{
    char *argv[] = {"bench", "--kernels", "--config", "tiny", "--json"};
    char *out, *said;
    int rc = run_bench(argv, 5, &out, &said);
    ck_assert_msg(rc == 0, "bench --kernels exit %d; output:\n%s\nstderr:\n%s", rc, out, said);
    ck_assert_msg(!strstr(said, "validation"), "bench stderr:\n%s", said);
    free(said);
    mkv_json j;
    mkv_error err;
    ck_assert_msg(mkv_json_parse(out, strlen(out), "bench --kernels --json", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    const double probe = num(&j, 0, "probe_gbps");
    ck_assert(positive_finite(probe));
    ck_assert_str_eq(j.v[child(&j, 0, "config", MKV_JSON_STRING)].str, "tiny");
    uint32_t ks = child(&j, 0, "kernels", MKV_JSON_ARRAY), n = 0;
    bool seen_q6_k_down = false;
    for (uint32_t k = j.v[ks].first; k != MKV_JSON_NONE; k = j.v[k].next, n++) {
        const char *name = j.v[child(&j, k, "name", MKV_JSON_STRING)].str;
        const char *shape = j.v[child(&j, k, "shape", MKV_JSON_STRING)].str;
        seen_q6_k_down |= !strcmp(name, "matvec_q6_k") && !strcmp(shape, "down");
        const double ms = num(&j, k, "ms"), gbps = num(&j, k, "gbps"), bytes = num(&j, k, "bytes");
        ck_assert_msg(positive_finite(ms) && positive_finite(gbps), "%s %s: %g ms %g GB/s", name, shape, ms, gbps);
        ck_assert(bytes >= num(&j, k, "rows") * num(&j, k, "cols") / 2); /* at least 4 bits per weight */
        ck_assert(fabs(gbps - bytes / (ms * 1e6)) <= 1e-3 * gbps + 1e-3);
        /* every figure is printed to 3 decimals: allow their rounding */
        ck_assert(fabs(num(&j, k, "of_probe") - gbps / probe) <= 5e-4 * (1 + (1 + gbps / probe) / probe) + 1e-6);
    }
    ck_assert_uint_eq(n, 2 * MKV_WT_COUNT); /* tiny: 768 x 256 and 256 x 768, whole blocks of every type */
    ck_assert(seen_q6_k_down);
    uint32_t as = child(&j, 0, "attention", MKV_JSON_ARRAY);
    ck_assert_uint_eq(j.v[as].n, 3);
    for (uint32_t k = j.v[as].first; k != MKV_JSON_NONE; k = j.v[k].next)
        ck_assert(positive_finite(num(&j, k, "ms")) && positive_finite(num(&j, k, "gbps")));
    mkv_json_free(&j);
    free(out);
}
END_TEST

START_TEST(host_read_bandwidth_is_positive_and_refuses_tiny_buffers)
{
    double gbps = 0;
    uint32_t threads = 0;
    mkv_error err;
    /* an odd thread count: slices of unequal length */
    ck_assert_msg(mkv_host_read_bandwidth(1u << 20, 3, &gbps, &threads, &err) == MKV_OK, "%s", err.msg);
    ck_assert(positive_finite(gbps));
    ck_assert_uint_eq(threads, 3);
    ck_assert_msg(mkv_host_read_bandwidth((4u << 20) + 8, 0, &gbps, &threads, &err) == MKV_OK, "%s", err.msg);
    ck_assert(positive_finite(gbps) && threads >= 1);
    ck_assert_int_eq(mkv_host_read_bandwidth(1000, 1, &gbps, NULL, &err), MKV_ERR_INVALID_ARG);
    ck_assert(gbps == 0);
}
END_TEST

/* bench with these arguments exits with `code` and says `needle` on stderr. */
static void expect_exit(char **argv, int argc, int code, const char *needle)
{
    char *out, *said;
    ck_assert_int_eq(run_bench(argv, argc, &out, &said), code);
    ck_assert_ptr_nonnull(strstr(said, needle));
    free(out);
    free(said);
}

START_TEST(bad_options_exit_2_and_help_exits_0)
{
    char *bad[] = {"bench", "--model", "x.gguf", "--frobnicate"};
    expect_exit(bad, 4, 2, "--frobnicate");
    char *none[] = {"bench", "-n", "4"};
    expect_exit(none, 3, 2, "--model is required");
    char *help[] = {"bench", "--help"};
    char *out;
    ck_assert_int_eq(run_bench(help, 2, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "--cold-dontneed"));
    ck_assert_ptr_nonnull(strstr(out, "--probe"));
    ck_assert_ptr_nonnull(strstr(out, "--kernels"));
    free(out);
    char *missing[] = {"bench", "--model", "/nonexistent/model.gguf"};
    expect_exit(missing, 3, 1, "/nonexistent/model.gguf");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("bench");
    tcase_add_unchecked_fixture(tc, make_model, NULL);
    tcase_add_test(tc, json_has_every_key_and_consistent_figures);
    tcase_add_test(tc, bad_options_exit_2_and_help_exits_0);
    tcase_add_test(tc, probe_json_has_the_sweep_and_its_best_is_the_max);
    tcase_add_test(tc, host_read_bandwidth_is_positive_and_refuses_tiny_buffers);
    tcase_add_test(tc, kernels_json_times_every_weight_type_and_attention);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
