/* mekivk bench --sweep (bench/sweep.c) on the tiny model, --quick (two
 * variants per group): it completes, its --json has the keys the CLI
 * documents, every variant it tried passed its check, the mm group ran its
 * whole-prefill check (--quick runs it even when the kernel times chose
 * nothing) with sane figures, a choice the check refused is not in the
 * file, and the tuning file it wrote loads back (mkv_tuning_load) and is
 * what a device made with it uses (mkv_device_get_info: tuning_source
 * "file"). A file holding a value
 * outside the sweep space, which the kernel tests do not cover, is refused
 * by the device naming the field; so is bad usage. No timing is asserted
 * beyond "positive and finite". */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "gguf.h"
#include "json.h"
#include "sweep.h"
#include "synth.h"
#include "test_util.h"
#include "tuning.h"

static char dir[PATH_MAX], model[PATH_MAX + 16];

/* The tiny shape in q4_0, every matrix (the LM head too): few pipelines. */
static void make_model(void)
{
    snprintf(dir, sizeof dir, "%s", tu_path_in("sweep", "tiny"));
    snprintf(model, sizeof model, "%s/model.gguf", dir);
    if (access(model, R_OK) == 0) return;
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    o.wtype = MKV_GGML_Q4_0;
    o.pure = true;
    o.dense = true;
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
}

static int run_sweep(char **argv, int argc, char **out, char **err_text)
{
    char prefix[PATH_MAX + 16];
    snprintf(prefix, sizeof prefix, "%s/sweep", dir);
    return tu_run_captured(mkv_bench_sweep, argc, argv, prefix, out, err_text);
}

static uint32_t child(const mkv_json *j, uint32_t obj, const char *key, mkv_json_type type)
{
    uint32_t i = mkv_json_get(j, obj, key);
    ck_assert_msg(i != MKV_JSON_NONE && j->v[i].type == type, "sweep JSON: '%s' missing or of the wrong type", key);
    return i;
}

/* A group's prefill_check: null, or sane figures; *kept: its "kept". */
static bool prefill_check(const mkv_json *j, uint32_t g, bool *kept)
{
    const uint32_t pc = mkv_json_get(j, g, "prefill_check");
    ck_assert_msg(pc != MKV_JSON_NONE, "sweep JSON: a group without 'prefill_check'");
    if (j->v[pc].type == MKV_JSON_NULL) return false;
    ck_assert_msg(j->v[pc].type == MKV_JSON_OBJECT, "prefill_check: neither null nor an object");
    ck_assert_uint_eq(j->v[child(j, pc, "tokens", MKV_JSON_NUMBER)].num, 16); /* --quick */
    ck_assert_uint_eq(j->v[child(j, pc, "rounds", MKV_JSON_NUMBER)].num, 1);
    child(j, pc, "candidate", MKV_JSON_OBJECT);
    static const char *const pos[] = {"current_ms", "candidate_ms", "ratio", "threshold"};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        const double v = j->v[child(j, pc, pos[i], MKV_JSON_NUMBER)].num;
        ck_assert_msg(v > 0 && isfinite(v), "prefill_check.%s = %g", pos[i], v);
    }
    const double ratio = j->v[child(j, pc, "ratio", MKV_JSON_NUMBER)].num,
                 cur = j->v[child(j, pc, "current_ms", MKV_JSON_NUMBER)].num,
                 want = j->v[child(j, pc, "candidate_ms", MKV_JSON_NUMBER)].num / cur;
    ck_assert_msg(fabs(ratio - want) <= 1e-3 * want, "prefill_check.ratio = %g, candidate_ms / current_ms = %g", ratio,
                  want);
    bool flag[2];
    static const char *const bools[] = {"kernel_choice", "kept"};
    for (int i = 0; i < 2; i++) {
        const uint32_t b = mkv_json_get(j, pc, bools[i]);
        ck_assert_msg(b != MKV_JSON_NONE && (j->v[b].type == MKV_JSON_TRUE || j->v[b].type == MKV_JSON_FALSE),
                      "prefill_check.%s: missing or not a boolean", bools[i]);
        flag[i] = j->v[b].type == MKV_JSON_TRUE;
    }
    ck_assert_msg(flag[0] || !flag[1], "prefill_check: kept a candidate the kernel times did not choose");
    const double thr = j->v[child(j, pc, "threshold", MKV_JSON_NUMBER)].num;
    ck_assert_msg(!flag[1] || ratio <= thr, "prefill_check: kept at %g > %g", ratio, thr);
    *kept = flag[1];
    return true;
}

static mkv_device *device_with(const char *tuning_file, mkv_status *st, mkv_error *err)
{
    mkv_device_opts o;
    mkv_device_opts_default(&o);
    const char *v = getenv("MKV_VALIDATION");
    o.validation = v && !strcmp(v, "1");
    o.tuning_file = tuning_file;
    mkv_device *d = NULL;
    *st = mkv_device_create(&o, &d, err);
    return d;
}

START_TEST(a_quick_sweep_writes_a_file_that_loads_and_is_used)
{
    make_model();
    mkv_status st;
    mkv_error err;
    mkv_device *d = device_with(NULL, &st, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
    const mkv_tuning_key key = mkv_device_tuning_key(d);
    const char *row = d->tuning_row; /* a static string of the table */
    char out_path[PATH_MAX + 16];
    snprintf(out_path, sizeof out_path, "%s/tuning.json", dir);
    unlink(out_path);
    char *argv[] = {"bench", "--sweep", "--model", model, "--quick", "--json", "--out", out_path};
    char *out = NULL, *errs = NULL;
    int rc = run_sweep(argv, 8, &out, &errs);
    ck_assert_msg(rc == 0, "bench --sweep: exit %d: %s", rc, errs);
    ck_assert_msg(!strstr(errs, "validation") && !strstr(errs, "fails its check"), "%s", errs);
    ck_assert_msg(strstr(errs, "sweep: 100%"), "no progress on stderr: %s", errs); /* the progress bar, as lines */

    /* the JSON: one object, the documented keys */
    mkv_json j = {0};
    ck_assert_msg(mkv_json_parse(out, strlen(out), "sweep", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    ck_assert_str_eq(j.v[child(&j, 0, "tuning_file", MKV_JSON_STRING)].str, out_path);
    child(&j, 0, "device", MKV_JSON_STRING);
    ck_assert_str_eq(j.v[child(&j, 0, "row", MKV_JSON_STRING)].str, row);
    const uint32_t groups = child(&j, 0, "groups", MKV_JSON_ARRAY);
    static const char *const kernels[] = {"reads", "matvec", "mm", "attn"};
    uint32_t n = 0;
    bool mm_kept = false;
    for (uint32_t g = j.v[groups].first; g != MKV_JSON_NONE; g = j.v[g].next, n++) {
        ck_assert_uint_lt(n, 4);
        ck_assert_str_eq(j.v[child(&j, g, "kernel", MKV_JSON_STRING)].str, kernels[n]);
        child(&j, g, "chosen", MKV_JSON_OBJECT);
        bool kept = false;
        const bool checked = prefill_check(&j, g, &kept);
        if (n == 2) { /* mm: always checked with --quick */
            ck_assert_msg(checked, "the mm group ran no prefill check");
            mm_kept = kept;
        } else if (n != 0) { /* matvec, attn: no prefill products */
            ck_assert_msg(!checked, "group %s ran a prefill check", kernels[n]);
        }
        const uint32_t vs = child(&j, g, "variants", MKV_JSON_ARRAY);
        uint32_t nv = 0;
        for (uint32_t v = j.v[vs].first; v != MKV_JSON_NONE; v = j.v[v].next, nv++) {
            child(&j, v, "values", MKV_JSON_OBJECT);
            ck_assert_msg(j.v[child(&j, v, "ok", MKV_JSON_TRUE)].type == MKV_JSON_TRUE, "a variant failed");
            const uint32_t pruned = mkv_json_get(&j, v, "pruned");
            ck_assert(pruned != MKV_JSON_NONE && (j.v[pruned].type == MKV_JSON_TRUE || j.v[pruned].type == MKV_JSON_FALSE));
            ck_assert_msg(nv || j.v[pruned].type == MKV_JSON_FALSE, "the current values were dropped");
            if (j.v[pruned].type == MKV_JSON_TRUE) { /* dropped early: not timed on every shape */
                child(&j, v, "ms", MKV_JSON_NULL);
                continue;
            }
            const double ms = j.v[child(&j, v, "ms", MKV_JSON_NUMBER)].num;
            ck_assert_msg(ms > 0 && isfinite(ms), "ms = %g", ms);
        }
        ck_assert_uint_eq(nv, 2); /* --quick: the row's values and one more */
    }
    ck_assert_uint_eq(n, 4);
    const uint32_t sp = child(&j, 0, "speedup", MKV_JSON_OBJECT);
    for (uint32_t c = j.v[sp].first; c != MKV_JSON_NONE; c = j.v[c].next)
        ck_assert(j.v[c].type == MKV_JSON_NUMBER && j.v[c].num > 0 && isfinite(j.v[c].num));
    mkv_json_free(&j);

    /* the file loads back against the table row, within the sweep space */
    mkv_tunables t = d->tune;
    ck_assert_msg(mkv_tuning_load(out_path, &key, &t, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(mkv_tuning_check_space(&key, &t, out_path, &err) == MKV_OK, "%s", err.msg);
    if (!mm_kept) /* refused (or never chosen): the row's mm values stay */
        ck_assert_msg(t.nr_mm == d->tune.nr_mm && t.nb_mm == d->tune.nb_mm && t.rows_mm == d->tune.rows_mm,
                      "mm not kept, yet the file has %ux%u rows %u, the row %ux%u rows %u", t.nr_mm, t.nb_mm, t.rows_mm,
                      d->tune.nr_mm, d->tune.nb_mm, d->tune.rows_mm);
    char want[128];
    snprintf(want, sizeof want, "against the table row \"%s\"", row);
    tu_assert_no_validation(d);
    mkv_device_destroy(d);

    /* ... and a device made with it uses it */
    d = device_with(out_path, &st, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
    mkv_device_info info;
    mkv_device_get_info(d, &info);
    ck_assert_str_eq(info.tuning_source, "file");
    ck_assert_str_eq(info.tuning_row, out_path);
    ck_assert(mkv_tuning_equal(&d->tune, &t));
    tu_assert_no_validation(d);
    mkv_device_destroy(d);
    free(out);
    free(errs);

    /* the text form: the table, the file, the comparison with the row */
    char *argv2[] = {"bench", "--sweep", "--model", model, "--quick", "--out", out_path};
    rc = run_sweep(argv2, 7, &out, &errs);
    ck_assert_msg(rc == 0, "bench --sweep: exit %d: %s", rc, errs);
    ck_assert_msg(strstr(out, "matvec") && strstr(out, "<- chosen") && strstr(out, "read back: ok") &&
                  strstr(out, want) && strstr(out, "whole prefill of 16 tokens"), "%s", out);
    free(out);
    free(errs);
}
END_TEST

/* A tuning file with a value outside the sweep space (not a variant the
 * kernel tests cover) is refused by the device, naming kernel, field and
 * value; so is a file with another device's name. */
START_TEST(a_file_with_an_untested_variant_is_refused)
{
    make_model();
    mkv_status st;
    mkv_error err;
    mkv_device *d = device_with(NULL, &st, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
    const mkv_tuning_key key = mkv_device_tuning_key(d);
    char path[PATH_MAX + 16], text[512];
    snprintf(path, sizeof path, "%s/untested.json", dir);
    static const struct { const char *kernels, *want; } bad[] = {
        {"\"matvec\": {\"nr\": 2, \"rows\": 8}", "matvec.nr = 2"},
        {"\"mm\": {\"nr\": 4, \"nb\": 32}", "mm.nb = 32"},
        {"\"attn\": {\"chunk\": 1024}", "attn.chunk = 1024"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "{\"mekivk_tuning\": 1, \"device\": \"%s\", \"subgroup_size\": %u, \"kernels\": {%s}}",
                 key.device_name, key.subgroup_size, bad[i].kernels);
        tu_write_file(path, text, strlen(text));
        mkv_device *d2 = device_with(path, &st, &err);
        ck_assert_msg(st == MKV_ERR_FORMAT, "%s: %s", bad[i].kernels, mkv_status_name(st));
        ck_assert_ptr_null(d2);
        ck_assert_msg(strstr(err.msg, bad[i].want) && strstr(err.msg, "not a variant the kernel tests cover") &&
                      strstr(err.msg, path), "%s", err.msg);
    }
    snprintf(text, sizeof text, "{\"mekivk_tuning\": 1, \"device\": \"Adreno (TM) 830\", \"subgroup_size\": %u}",
             key.subgroup_size);
    tu_write_file(path, text, strlen(text));
    ck_assert_ptr_null(device_with(path, &st, &err));
    ck_assert_int_eq(st, MKV_ERR_MISMATCH);
    tu_assert_no_validation(d);
    mkv_device_destroy(d);
}
END_TEST

START_TEST(bad_usage_is_refused)
{
    make_model();
    char *out = NULL, *errs = NULL;
    char *a1[] = {"bench", "--sweep", "--quick"};
    ck_assert_int_eq(run_sweep(a1, 3, &out, &errs), 2);
    ck_assert_ptr_nonnull(strstr(errs, "--model"));
    free(out), free(errs);
    char *a2[] = {"bench", "--sweep", "--model", model, "--colour"};
    ck_assert_int_eq(run_sweep(a2, 5, &out, &errs), 2);
    ck_assert_ptr_nonnull(strstr(errs, "--colour"));
    free(out), free(errs);
    char *a3[] = {"bench", "--sweep", "--model", "/nonexistent/model.gguf", "--quick"};
    ck_assert_int_eq(run_sweep(a3, 5, &out, &errs), 1);
    ck_assert_ptr_nonnull(strstr(errs, "/nonexistent/model.gguf"));
    free(out), free(errs);
    char *a4[] = {"bench", "--sweep", "--help"};
    ck_assert_int_eq(run_sweep(a4, 3, &out, &errs), 0);
    ck_assert_ptr_nonnull(strstr(out, "--out"));
    ck_assert_ptr_nonnull(strstr(out, "--prefill-tokens"));
    free(out), free(errs);
    char *a5[] = {"bench", "--sweep", "--model", model, "--quick", "--prefill-tokens", "1"};
    ck_assert_int_eq(run_sweep(a5, 7, &out, &errs), 2);
    ck_assert_ptr_nonnull(strstr(errs, "--prefill-tokens"));
    free(out), free(errs);
    char *a6[] = {"bench", "--sweep", "--model", model, "--quick", "--bank", "/nonexistent/bank.mkb"};
    ck_assert_int_eq(run_sweep(a6, 7, &out, &errs), 1); /* the tiny model here is dense */
    ck_assert_msg(strstr(errs, "dense model") && strstr(errs, "/nonexistent/bank.mkb"), "%s", errs);
    free(out), free(errs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, a_quick_sweep_writes_a_file_that_loads_and_is_used);
    tcase_add_test(tc, a_file_with_an_untested_variant_is_refused);
    tcase_add_test(tc, bad_usage_is_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
