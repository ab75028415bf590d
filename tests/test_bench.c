/* mekivk bench (bench/bench.c) end to end on the tiny model: it runs, its
 * --json is one valid object with DESIGN's keys and the ones bench adds,
 * and the figures agree with each other (the ratios with the per-mode
 * medians and repetitions, the bank's bytes with its reads, MeKi's weight
 * bytes above dense's). bench --probe: its sweep table, the best the
 * maximum of it; beside a CPU device the host's read bandwidth
 * (bench/host_bw.c). Every form says what it ran on (device_info,
 * mekivk_version, commit, tuning). The time breakdown: the classifier's
 * table on made-up passes (decode and prefill, gate fused or not), and on
 * the tiny model its components against the step's GPU time; --ctx with
 * two lengths. No timing is asserted beyond "positive and finite" and
 * sums of the same timestamps agreeing: speed lives in bench runs. */
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
#include "profile.h"
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

/* Runs `mekivk bench ARGS` with stdout and stderr captured; returns its
 * exit code, the output in *out and what it said on stderr in *err_text
 * (both malloc'd; err_text may be NULL). */
static int run_bench(char **argv, int argc, char **out, char **err_text)
{
    char prefix[PATH_MAX + 16];
    snprintf(prefix, sizeof prefix, "%s/bench", dir);
    return tu_run_captured(mkv_cmd_bench, argc, argv, prefix, out, err_text);
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

static bool boolean(const mkv_json *j, uint32_t obj, const char *key)
{
    uint32_t i = mkv_json_get(j, obj, key);
    ck_assert_msg(i != MKV_JSON_NONE && (j->v[i].type == MKV_JSON_TRUE || j->v[i].type == MKV_JSON_FALSE),
                  "bench JSON: boolean '%s' missing", key);
    return j->v[i].type == MKV_JSON_TRUE;
}

static const char *str(const mkv_json *j, uint32_t obj, const char *key) { return j->v[child(j, obj, key, MKV_JSON_STRING)].str; }

/* What every JSON form says it ran on: device_info, mekivk_version (the
 * CMake project's x.y.z), commit, tuning. */
static void check_meta(const mkv_json *j)
{
    uint32_t di = child(j, 0, "device_info", MKV_JSON_OBJECT);
    const char *ints[] = {"vendor_id", "device_id", "driver_id", "driver_version", "subgroup_size"};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) ck_assert(num(j, di, ints[k]) >= 0);
    ck_assert(num(j, di, "subgroup_size") >= 1);
    unsigned major, minor, patch;
    char end;
    const char *api = str(j, di, "api_version");
    ck_assert_msg(sscanf(api, "%u.%u.%u%c", &major, &minor, &patch, &end) == 3 && major == 1 && minor >= 1,
                  "api_version '%s'", api);
    const bool cpu = boolean(j, di, "cpu");
    boolean(j, di, "uma");
    ck_assert(cpu == (strstr(str(j, 0, "device"), "llvmpipe") != NULL)); /* lavapipe in the tests */
    const char *v = str(j, 0, "mekivk_version");
    ck_assert_msg(sscanf(v, "%u.%u.%u%c", &major, &minor, &patch, &end) == 3, "mekivk_version '%s'", v);
    ck_assert_msg(strlen(str(j, 0, "commit")) > 0, "empty commit");
    uint32_t t = child(j, 0, "tuning", MKV_JSON_OBJECT);
    const char *src = str(j, t, "source");
    ck_assert_msg(!strcmp(src, "table") || !strcmp(src, "file") || !strcmp(src, "default"), "tuning.source '%s'", src);
    ck_assert(strlen(str(j, t, "row")) > 0);
}

static double comp(const mkv_json *j, uint32_t obj, const char *key, const char *component)
{
    return num(j, child(j, obj, key, MKV_JSON_OBJECT), component);
}

/* A run's breakdown (key: "breakdown" or "prefill_breakdown", prefix ""
 * or "prefill_"): every component non-negative and finite; the ones every
 * pass has (attention, ffn, lm_head, other) positive, meki positive
 * exactly when the mode runs it (meki: 1, 0; -1: either); and the
 * components add up to the pass's GPU time (first timestamp to last, less
 * the wait between a MeKi pass's submissions), which bench takes from the
 * raw timestamps, not from the classifier: a dispatch left out or counted
 * twice, a split share outside 0..1, shows. Both are means over the same
 * passes (bench keeps the middle ones by GPU time), so they agree to the
 * JSON's rounding, not just within noise. Also GB/s and the share of the
 * probe, consistent. */
static void check_breakdown(const mkv_json *j, uint32_t run, const char *prefix, int meki)
{
    char key[64], gkey[64], okey[64];
    snprintf(key, sizeof key, "%sbreakdown", prefix);
    snprintf(gkey, sizeof gkey, "%sbreakdown_gbps", prefix);
    snprintf(okey, sizeof okey, "%sbreakdown_of_probe", prefix);
    const double probe = num(j, 0, "probe_gbps");
    double sum = 0;
    for (int c = 0; c < MKV_COMP_COUNT; c++) {
        const double ms = comp(j, run, key, mkv_component_name[c]), gbps = comp(j, run, gkey, mkv_component_name[c]);
        ck_assert_msg(ms >= 0 && isfinite(ms) && gbps >= 0 && isfinite(gbps), "%s.%s: %g ms %g GB/s", key,
                      mkv_component_name[c], ms, gbps);
        ck_assert(fabs(comp(j, run, okey, mkv_component_name[c]) - gbps / probe) <= 5e-4 * (1 + 1 / probe) + 1e-6);
        if (c == MKV_COMP_MEKI) {
            if (meki >= 0) ck_assert_msg((ms > 0) == (meki == 1), "%s.meki = %g ms, mode with MeKi %d", key, ms, meki);
        } else {
            ck_assert_msg(ms > 0, "%s.%s = %g ms", key, mkv_component_name[c], ms);
        }
        sum += ms;
    }
    snprintf(key, sizeof key, "%sgpu_ms_per_token", prefix);
    const double gpu = num(j, run, key);
    ck_assert(positive_finite(gpu));
    ck_assert_msg(fabs(sum - gpu) <= 1e-3 * gpu + 5e-4, "%sbreakdown sums to %g ms, the pass's GPU time is %g ms", prefix, sum,
                  gpu);
    snprintf(key, sizeof key, "%ssplit_wait_ms", prefix);
    ck_assert(num(j, run, key) >= 0);
    snprintf(key, sizeof key, "%sbreakdown_shared_ms", prefix);
    const double shared = num(j, run, key);
    ck_assert(shared >= 0 && shared <= sum * 1.15 + 1e-3);
}

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
    check_meta(&j);
    ck_assert(!boolean(&j, 0, "profile"));
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
        /* the decode breakdown is there without --profile (the steps are profiled anyway);
         * the prefill's only with it */
        check_breakdown(&j, r, "", m);
        ck_assert(boolean(&j, r, "profile_complete"));
        ck_assert(mkv_json_get(&j, r, "prefill_breakdown") == MKV_JSON_NONE);
        /* the kernels' per-name sums (the runtime's mkv_session_profile) against the step's GPU
         * time (bench's own reading of the timestamps, dispatch by dispatch): the same steps, the
         * same timestamps, but for the wait between a MeKi step's submissions, which the
         * runtime counts in the first dispatch after it */
        double ksum = 0;
        uint32_t nk = 0;
        for (uint32_t k = j.v[ks].first; k != MKV_JSON_NONE; k = j.v[k].next, nk++) ksum += num(&j, k, "ms");
        const double gpu = num(&j, r, "gpu_ms_per_token") + num(&j, r, "split_wait_ms");
        ck_assert_msg(fabs(ksum - gpu) <= 1e-3 * gpu + 1e-4 * (nk + 2), "mode %d: kernels sum to %g ms, the step's GPU time is %g ms",
                      m, ksum, gpu);
    }
    ck_assert(wbytes[1] > wbytes[0]);
    ck_assert(fabs(num(&j, 0, "meki_over_dense") - med[1] / med[0]) < 1e-3);
    double ratios[3];
    for (int k = 0; k < 3; k++) ratios[k] = reps[1][k] / reps[0][k];
    ck_assert(fabs(num(&j, 0, "meki_over_dense_paired") - median3(ratios[0], ratios[1], ratios[2])) < 1e-3);
    /* one --ctx length: contexts holds it, with the runs' speeds */
    uint32_t cs = child(&j, 0, "contexts", MKV_JSON_ARRAY);
    ck_assert_uint_eq(j.v[cs].n, 1);
    ck_assert_int_eq((int)num(&j, j.v[cs].first, "ctx"), 40);
    uint32_t cr = child(&j, j.v[cs].first, "runs", MKV_JSON_ARRAY), e = j.v[cr].first;
    ck_assert_uint_eq(j.v[cr].n, 2);
    for (int m = 0; m < 2; m++, e = j.v[e].next) {
        ck_assert_str_eq(str(&j, e, "mode"), m ? "meki" : "dense");
        ck_assert(num(&j, e, "decode_tok_s") == med[m]);
    }
    ck_assert(num(&j, j.v[cs].first, "meki_over_dense") == num(&j, 0, "meki_over_dense"));
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
    check_meta(&j);
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
    check_meta(&j);
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

/* --types and --ctx choose what bench --kernels measures: only those
 * types' products (every one of their shapes), attention only at those
 * lengths; "none" leaves attention alone. */
START_TEST(kernels_types_and_ctx_choose_what_is_measured)
{
    char *argv[] = {"bench", "--kernels", "--config", "tiny", "--types", "q6_k,f16", "--ctx", "17,300", "--json"};
    char *out, *said;
    int rc = run_bench(argv, 9, &out, &said);
    ck_assert_msg(rc == 0, "exit %d; output:\n%s\nstderr:\n%s", rc, out, said);
    free(said);
    mkv_json j;
    mkv_error err;
    ck_assert_msg(mkv_json_parse(out, strlen(out), "bench --kernels --json", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    uint32_t ks = child(&j, 0, "kernels", MKV_JSON_ARRAY), n = 0, n_f16 = 0;
    for (uint32_t k = j.v[ks].first; k != MKV_JSON_NONE; k = j.v[k].next, n++) {
        const char *name = j.v[child(&j, k, "name", MKV_JSON_STRING)].str;
        ck_assert_msg(!strcmp(name, "matvec_q6_k") || !strcmp(name, "matvec_f16"), "%s", name);
        n_f16 += !strcmp(name, "matvec_f16");
    }
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(n_f16, 2);
    uint32_t as = child(&j, 0, "attention", MKV_JSON_ARRAY);
    ck_assert_uint_eq(j.v[as].n, 2);
    ck_assert(num(&j, j.v[as].first, "n_kv") == 17 && num(&j, j.v[j.v[as].first].next, "n_kv") == 300);
    mkv_json_free(&j);
    free(out);

    char *none[] = {"bench", "--kernels", "--config", "tiny", "--types", "none", "--ctx", "64", "--json"};
    ck_assert_int_eq(run_bench(none, 9, &out, NULL), 0);
    ck_assert_msg(mkv_json_parse(out, strlen(out), "bench --kernels --json", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    ck_assert_uint_eq(j.v[child(&j, 0, "kernels", MKV_JSON_ARRAY)].n, 0);
    ck_assert_uint_eq(j.v[child(&j, 0, "attention", MKV_JSON_ARRAY)].n, 1);
    mkv_json_free(&j);
    free(out);
    /* a name that is no type, an empty one, an empty list: refused, naming it */
    char *bad1[] = {"bench", "--kernels", "--types", "q4_0,q9"};
    expect_exit(bad1, 4, 2, "--types = 'q4_0,q9': 'q9' is not a weight type");
    char *bad2[] = {"bench", "--kernels", "--types", "q4_0,"};
    expect_exit(bad2, 4, 2, "--types = 'q4_0,'");
    char *bad3[] = {"bench", "--kernels", "--types", ""};
    expect_exit(bad3, 4, 2, "--types = ''");
}
END_TEST

/* mekivk devices: every device with its features, whether mekivk can use
 * it, and the tuning table's row that a created device gets. */
START_TEST(devices_names_the_tuning_row_a_device_gets)
{
    char *argv[] = {"devices"};
    char *out, *said, prefix[PATH_MAX + 16];
    snprintf(prefix, sizeof prefix, "%s/devices", dir);
    ck_assert_int_eq(tu_run_captured(mkv_cmd_devices, 1, argv, prefix, &out, &said), 0);
    mkv_device *d = NULL;
    mkv_error err;
    ck_assert_msg(mkv_device_create(NULL, &d, &err) == MKV_OK, "%s", err.msg);
    mkv_device_info info;
    mkv_device_get_info(d, &info);
    char want[256];
    snprintf(want, sizeof want, "mekivk: usable; tuning table row \"%s\"", info.tuning_row);
    ck_assert_msg(strstr(out, info.name) && strstr(out, want), "no '%s' for %s in:\n%s", want, info.name, out);
    ck_assert_msg(strstr(out, "subgroup size: ") && strstr(out, "memory type 0"), "%s", out);
    mkv_device_destroy(d);
    free(out);
    free(said);
    char *bad[] = {"devices", "--frob"};
    ck_assert_int_eq(tu_run_captured(mkv_cmd_devices, 2, bad, prefix, &out, &said), 2);
    ck_assert_ptr_nonnull(strstr(said, "--frob"));
    free(out);
    free(said);
}
END_TEST

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
    ck_assert_ptr_nonnull(strstr(out, "--profile"));
    ck_assert_ptr_nonnull(strstr(out, "--ctx N[,N2..]"));
    ck_assert_ptr_nonnull(strstr(out, "prefill_breakdown"));
    ck_assert_ptr_nonnull(strstr(out, "device_info"));
    free(out);
    char *bad_ctx[] = {"bench", "--model", "x.gguf", "--ctx", "64,,128"};
    expect_exit(bad_ctx, 5, 2, "--ctx");
    char *many_ctx[] = {"bench", "--model", "x.gguf", "--ctx", "1,2,3,4,5,6,7,8,9"};
    expect_exit(many_ctx, 5, 2, "at most 8");
    char *missing[] = {"bench", "--model", "/nonexistent/model.gguf"};
    expect_exit(missing, 3, 1, "/nonexistent/model.gguf");
}
END_TEST

/* bench --profile with two --ctx lengths: the prefill breakdown (passes of
 * --chunk 8 over a 17-token prompt: two batched passes and a last token
 * through the decode step), every length in contexts with its breakdown,
 * the first length's figures those of runs. */
START_TEST(profile_and_ctx_list)
{
    char model[PATH_MAX + 32], bank[PATH_MAX + 32];
    snprintf(model, sizeof model, "%s/model.gguf", dir);
    snprintf(bank, sizeof bank, "%s/bank.mkb", dir);
    char *argv[] = {"bench", "--model", model, "--bank", bank, "--ctx", "24,72", "-n", "3", "--reps", "1", "--prompt", "17",
                    "--chunk", "8", "--block", "0", "--profile", "--json"};
    char *out, *said;
    int rc = run_bench(argv, (int)(sizeof argv / sizeof argv[0]), &out, &said);
    ck_assert_msg(rc == 0, "bench exit %d; output:\n%s\nstderr:\n%s", rc, out, said);
    ck_assert_msg(!strstr(said, "validation"), "bench stderr:\n%s", said);
    free(said);
    mkv_json j;
    mkv_error err;
    ck_assert_msg(mkv_json_parse(out, strlen(out), "bench --profile --json", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    check_meta(&j);
    ck_assert(boolean(&j, 0, "profile"));
    ck_assert_int_eq((int)num(&j, 0, "ctx"), 24);
    uint32_t runs = child(&j, 0, "runs", MKV_JSON_ARRAY);
    ck_assert_uint_eq(j.v[runs].n, 2);
    double med[2];
    uint32_t r = j.v[runs].first;
    for (int m = 0; m < 2; m++, r = j.v[r].next) {
        med[m] = num(&j, r, "decode_tok_s");
        check_breakdown(&j, r, "", m);
        ck_assert_int_eq((int)num(&j, r, "prefill_profile_prompt"), 17);
        /* the dense mode's prefill of a model with W_mg's rows stacked into w_ffn may count them */
        check_breakdown(&j, r, "prefill_", m ? 1 : -1);
        ck_assert(boolean(&j, r, "profile_complete"));
        uint32_t pk = child(&j, r, "prefill_kernels", MKV_JSON_ARRAY), nk = 0;
        bool mm = false, act = false, meki_v = false;
        double ksum = 0;
        for (uint32_t k = j.v[pk].first; k != MKV_JSON_NONE; k = j.v[k].next, nk++) {
            ksum += num(&j, k, "ms");
            const char *name = str(&j, k, "name");
            mm |= !strncmp(name, "mm_", 3);
            act |= !strncmp(name, "ffn_act", 7); /* ffn_act or ffn_act_tb */
            meki_v |= !strcmp(name, "meki_v");
            ck_assert(num(&j, k, "ms") >= 0 && num(&j, k, "gbps") >= 0);
        }
        ck_assert_msg(mm && act && meki_v == (m == 1), "mode %d: prefill kernels missing", m);
        const double pgpu = num(&j, r, "prefill_gpu_ms_per_token");
        ck_assert_msg(fabs(ksum - pgpu) <= 1e-3 * pgpu + 1e-4 * (nk + 2), "mode %d: prefill kernels %g ms, GPU time %g", m, ksum,
                      pgpu);
    }
    uint32_t cs = child(&j, 0, "contexts", MKV_JSON_ARRAY);
    ck_assert_uint_eq(j.v[cs].n, 2);
    const int lens[2] = {24, 72};
    uint32_t c = j.v[cs].first;
    for (int k = 0; k < 2; k++, c = j.v[c].next) {
        ck_assert_int_eq((int)num(&j, c, "ctx"), lens[k]);
        uint32_t cr = child(&j, c, "runs", MKV_JSON_ARRAY), e = j.v[cr].first;
        ck_assert_uint_eq(j.v[cr].n, 2);
        double tok_s[2];
        for (int m = 0; m < 2; m++, e = j.v[e].next) {
            ck_assert_str_eq(str(&j, e, "mode"), m ? "meki" : "dense");
            tok_s[m] = num(&j, e, "decode_tok_s");
            ck_assert(positive_finite(tok_s[m]));
            if (k == 0) ck_assert(tok_s[m] == med[m]);
            ck_assert_uint_eq(j.v[child(&j, e, "decode_tok_s_reps", MKV_JSON_ARRAY)].n, 1);
            double sum = 0;
            for (int q = 0; q < MKV_COMP_COUNT; q++) {
                const double ms = comp(&j, e, "breakdown", mkv_component_name[q]);
                ck_assert(ms >= 0 && isfinite(ms));
                ck_assert(q != MKV_COMP_MEKI || (ms > 0) == (m == 1));
                sum += ms;
            }
            const double gpu = num(&j, e, "gpu_ms_per_token");
            ck_assert_msg(fabs(sum - gpu) <= 1e-3 * gpu + 5e-4, "ctx %d mode %d: %g ms against %g", lens[k], m, sum, gpu);
            /* every length's kernels (the first length's are the run's): attention's among them, each with its time */
            uint32_t ks = child(&j, e, "kernels", MKV_JSON_ARRAY);
            bool attn = false;
            for (uint32_t q = j.v[ks].first; q != MKV_JSON_NONE; q = j.v[q].next) {
                attn |= !strncmp(j.v[child(&j, q, "name", MKV_JSON_STRING)].str, "attn", 4);
                ck_assert(num(&j, q, "ms") >= 0 && isfinite(num(&j, q, "ms")) && num(&j, q, "gbps") >= 0);
            }
            ck_assert_msg(attn && j.v[ks].n >= 5, "ctx %d mode %d: %u kernels, attention %s", lens[k], m, j.v[ks].n,
                          attn ? "among them" : "missing");
        }
        ck_assert(fabs(num(&j, c, "meki_over_dense") - tok_s[1] / tok_s[0]) < 1e-3);
        ck_assert(fabs(num(&j, c, "meki_over_dense_paired") - tok_s[1] / tok_s[0]) < 1e-3); /* one repetition */
    }
    mkv_json_free(&j);
    free(out);
}
END_TEST

/* The classifier on made-up passes (no device): every kernel of the table
 * where record_forward puts it. */
static void set_pass(mkv_pass_profile *p, const char *const *names, uint32_t n)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    for (uint32_t i = 0; i < n; i++) p->d[i] = (mkv_dispatch_time){.name = names[i], .ms = 1.0, .bytes = 1000};
}

enum { A = MKV_COMP_ATTENTION, F = MKV_COMP_FFN, M = MKV_COMP_MEKI, H = MKV_COMP_LM_HEAD, O = MKV_COMP_OTHER };

START_TEST(classifier_puts_every_kernel_in_its_component)
{
    static mkv_pass_profile p;
    mkv_component comp[64];
    double share[64];
    mkv_layer_shape layers[2] = {{.gate_share = 0.25, .mg_parts = 0, .meki_bytes = 400},
                                 {.gate_share = 0, .mg_parts = 2, .meki_bytes = 100}};
    mkv_pass_shape shape = {.n_layer = 2, .layers = layers, .kv_scale = 0.5};
    /* decode: layer 0 with the gate stacked and W_o with the FFN norm in ffn_out, layer 1 with
     * W_q, W_k, W_v apart, W_o and its norm apart (W_o in several parts) and a separate W_mg
     * (two parts); a LM head of two parts */
    const char *dec[] = {"embed_q4_0", "rmsnorm", "matvec_tb_q4_0", "rope_kv", "attn_tb", "attn_combine", "ffn_out_tb_q4_0",
                         "matvec_swiglu_meki_tb_q4_0", "ffn_out_meki_tb_q4_0",
                         "matvec_q4_0", "matvec_q4_0", "matvec_q6_k", "rope_kv_q8", "attn_q8", "attn_combine", "matvec_q4_0",
                         "rmsnorm", "matvec_swiglu_q4_0", "matvec_q8_0", "matvec_q8_0", "ffn_out_meki_q4_0",
                         "matvec_q6_k", "matvec_q6_k", "argmax", "argmax_final"};
    const int want_dec[] = {O, O, A, A, A, A, A, F, F, A, A, A, A, A, A, A, O, F, M, M, F, H, H, H, H};
    const double share_dec[] = {[7] = 0.25, [8] = 0.4, [20] = 0.1};
    const uint32_t n_dec = sizeof dec / sizeof dec[0];
    set_pass(&p, dec, n_dec);
    ck_assert_uint_eq(mkv_profile_classify(&p, &shape, comp, share), 0);
    for (uint32_t i = 0; i < n_dec; i++) {
        ck_assert_msg((int)comp[i] == want_dec[i], "decode dispatch %u (%s): %s, want %s", i, dec[i], mkv_component_name[comp[i]],
                      mkv_component_name[want_dec[i]]);
        ck_assert_msg(fabs(share[i] - (i < sizeof share_dec / sizeof share_dec[0] ? share_dec[i] : 0)) < 1e-12,
                      "decode dispatch %u: share %g", i, share[i]);
    }
    /* its breakdown: 1 ms a dispatch; the split kernels' shares to meki; attention's bytes scaled */
    mkv_breakdown b;
    memset(&b, 0, sizeof b);
    mkv_profile_breakdown(&p, &shape, &b);
    const double want_ms[MKV_COMP_COUNT] = {[A] = 12, [F] = 4 - 0.25 - 0.4 - 0.1, [M] = 2 + 0.25 + 0.4 + 0.1, [H] = 4, [O] = 3};
    double total = 0;
    for (int c = 0; c < MKV_COMP_COUNT; c++) {
        ck_assert_msg(fabs(b.ms[c] - want_ms[c]) < 1e-9, "%s: %g ms, want %g", mkv_component_name[c], b.ms[c], want_ms[c]);
        total += b.ms[c];
    }
    ck_assert(fabs(total - n_dec) < 1e-9);
    ck_assert(fabs(b.shared_ms - 3) < 1e-9);
    ck_assert(fabs(b.bytes[A] - (10 * 1000 + 2 * 500)) < 1e-6); /* attn_tb and attn_q8 read half the capacity */
    /* prefill: layer 0 gate stacked (w_ffn product and ffn_act split), its MeKi norm fused with
     * the next attention norm; layer 1 a separate W_mg of two parts before W_down, the last
     * layer's MeKi norm alone; an unknown kernel counted as other */
    const char *pre[] = {"embed_f16", "rmsnorm", "mm_tb_f16", "rope_kv", "attn_tb", "attn_combine", "mm_tb_f16", "rmsnorm",
                         "mm_tb_f16", "ffn_act", "mm_tb_f16", "meki_v", "mm_tb_f16", "rmsnorm_add_norm",
                         "mm_q8_0", "rope_kv", "attn", "attn_combine", "mm_q8_0", "rmsnorm", "mm_q8_0", "ffn_act", "mm_q8_0",
                         "mm_q8_0", "mm_q6_k", "meki_v", "mm_f16", "rmsnorm_add", "frobnicate", "rmsnorm_last",
                         "matvec_q6_k", "argmax", "argmax_final"};
    const int want_pre[] = {O, O, A, A, A, A, A, O, F, F, F, M, M, O, A, A, A, A, A, O, F, F, M, M, F, M, M, M, O, O, H, H, H};
    const double share_pre[] = {[8] = 0.25, [9] = 0.25, [13] = 0.5}; /* rmsnorm_add_norm: half meki */
    const uint32_t n_pre = sizeof pre / sizeof pre[0];
    set_pass(&p, pre, n_pre);
    ck_assert_uint_eq(mkv_profile_classify(&p, &shape, comp, share), 1);
    for (uint32_t i = 0; i < n_pre; i++) {
        ck_assert_msg((int)comp[i] == want_pre[i], "prefill dispatch %u (%s): %s, want %s", i, pre[i], mkv_component_name[comp[i]],
                      mkv_component_name[want_pre[i]]);
        ck_assert_msg(fabs(share[i] - (i < sizeof share_pre / sizeof share_pre[0] ? share_pre[i] : 0)) < 1e-12,
                      "prefill dispatch %u: share %g", i, share[i]);
    }
    /* a dense model's decode: nothing is meki */
    mkv_layer_shape dense[1] = {{0}};
    mkv_pass_shape dshape = {.n_layer = 1, .layers = dense, .kv_scale = 1};
    const char *dd[] = {"embed_f16", "rmsnorm", "matvec_f16", "rope_kv", "attn", "attn_combine", "ffn_out_f16",
                        "matvec_swiglu_f16", "ffn_out_f16", "matvec_f16", "argmax", "argmax_final"};
    const int want_dd[] = {O, O, A, A, A, A, A, F, F, H, H, H};
    set_pass(&p, dd, sizeof dd / sizeof dd[0]);
    mkv_profile_classify(&p, &dshape, comp, share);
    for (uint32_t i = 0; i < sizeof dd / sizeof dd[0]; i++) ck_assert_int_eq((int)comp[i], want_dd[i]);
    /* the attention kernels' bytes scale with the positions a pass reads */
    ck_assert(fabs(mkv_profile_kv_scale(9, 1, 20) - 0.5) < 1e-12);
    ck_assert(fabs(mkv_profile_kv_scale(0, 4, 10) - 1.0) < 1e-12);  /* 1 + 2 + 3 + 4 positions */
    ck_assert(mkv_profile_kernel_bytes("attn_q8_tb", 1000, 0.25) == 250);
    ck_assert(mkv_profile_kernel_bytes("attn_combine", 1000, 0.25) == 1000);
    ck_assert(mkv_profile_kernel_bytes("matvec_f16", 1000, 0.25) == 1000);
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
    tcase_add_test(tc, kernels_types_and_ctx_choose_what_is_measured);
    tcase_add_test(tc, devices_names_the_tuning_row_a_device_gets);
    tcase_add_test(tc, profile_and_ctx_list);
    tcase_add_test(tc, classifier_puts_every_kernel_in_its_component);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
