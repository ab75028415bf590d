/* mekivk perplexity (hosttools/cmd_perplexity.c), run in-process on the
 * tiny synthetic model, MeKi and dense:
 *   - its perplexity (and each window's) equals the CPU reference's
 *     (tests/ref) over the same windows and scored positions, with the
 *     log-softmax in double, within PPL_TOL relative;
 *   - the comma/white-space text form and the binary uint32 form of one
 *     stream give identical results; a stream shorter than --ctx is one
 *     window; the summary line without --json;
 *   - hostile inputs (ids >= n_vocab, 6 bytes of binary, an empty file,
 *     empty items, overflow, a FIFO, bad options) fail with a message
 *     naming the file (and the byte offset or index at fault). */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"
#include "cli.h"
#include "json.h"
#include "model_desc.h"
#include "ref.h"
#include "synth.h"
#include "test_util.h"

/* Relative difference of perplexities, engine vs reference. The logits
 * agree to ~1e-4 of their scale (test_e2e's E2E_TOL); ppl = exp(mean nll)
 * moves by about the mean nll's absolute error. */
#define PPL_TOL 1e-3

enum { N_STREAM = 70, CTX = 32 };

static char dir[PATH_MAX];
static uint32_t stream[N_STREAM];

static const char *file(const char *name)
{
    static char ring[8][PATH_MAX + 64];
    static unsigned next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

/* text form: ids separated by ", ", "," , newlines and spaces in turn */
static void write_ids_text(const char *path, const uint32_t *ids, uint32_t n)
{
    char *buf = malloc((size_t)n * 16 + 16);
    ck_assert_ptr_nonnull(buf);
    size_t k = 0;
    static const char *const seps[] = {",", ", ", "\n", " ", " ,\n"};
    for (uint32_t i = 0; i < n; i++)
        k += (size_t)sprintf(buf + k, "%s%u", i ? seps[i % 5] : "", ids[i]);
    k += (size_t)sprintf(buf + k, "\n\n");
    tu_write_file(path, buf, k);
    free(buf);
}

static void write_ids_bin(const char *path, const uint32_t *ids, uint32_t n)
{
    uint8_t *b = malloc((size_t)n * 4 + 1);
    ck_assert_ptr_nonnull(b);
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(ids[i] >> (8 * k));
    tu_write_file(path, b, (uint64_t)n * 4);
    free(b);
}

static void synth(const char *sub, bool dense)
{
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), file(sub));
    o.dense = dense;
    o.seed = 31;
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s", tu_path_in("perplexity", "files"));
    mkdir(dir, 0777);
    synth("meki", false);
    synth("dense", true);
    uint64_t rng = 0x5eed;
    for (uint32_t i = 0; i < N_STREAM; i++) stream[i] = (uint32_t)(tu_rand_u64(&rng) % 4096); /* tiny: n_vocab 4096 */
    write_ids_text(file("ids.txt"), stream, N_STREAM);
    write_ids_bin(file("ids.bin"), stream, N_STREAM);
    write_ids_text(file("short.txt"), stream, 20);
    write_ids_text(file("two.txt"), stream, 2);
}

/* Runs `mekivk perplexity ARGS` (NULL-terminated) with stdout and stderr
 * captured into *out and *said (malloc'd); returns its exit code. */
static int run_ppl(char **out, char **said, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, said);
    argv[argc++] = "perplexity";
    for (char *a; (a = va_arg(ap, char *));) {
        ck_assert_int_lt(argc, 31);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s", file("run"));
    return tu_run_captured(mkv_cmd_perplexity, argc, argv, prefix, out, said);
}

/* ---- the reference ---- */

typedef struct ref_result {
    double ppl, nll_mean;
    uint64_t n_scored;
    uint32_t n_windows, wlen;
    double windows[8];
} ref_result;

/* The reference model over the same windows, scoring the same positions:
 * windows of ctx (one of n when n < ctx), predictions from positions
 * n/2 .. n-2 (position 0 for n = 2), -log softmax in double. */
static ref_result reference(const char *sub, bool with_bank, bool meki_off, const uint32_t *t, uint32_t n, uint32_t ctx)
{
    ref_result r = {0};
    mkv_error err;
    mkv_model_desc *desc = NULL;
    mkv_bank *bank = NULL;
    char model[PATH_MAX + 64], bankp[PATH_MAX + 64];
    snprintf(model, sizeof model, "%s/%s/model.gguf", dir, sub);
    snprintf(bankp, sizeof bankp, "%s/%s/bank.mkb", dir, sub);
    ck_assert_msg(mkv_model_desc_load(model, &desc, &err) == MKV_OK, "%s", err.msg);
    if (with_bank && !meki_off) ck_assert_msg(mkv_bank_open(bankp, &bank, &err) == MKV_OK, "%s", err.msg);
    const uint32_t nv = desc->cfg.n_vocab;
    r.wlen = n < ctx ? n : ctx;
    r.n_windows = n / r.wlen;
    ck_assert_uint_le(r.n_windows, 8);
    const uint32_t first = r.wlen == 2 ? 0 : r.wlen / 2;
    float *lg = malloc(nv * sizeof *lg);
    ck_assert_ptr_nonnull(lg);
    double total = 0;
    for (uint32_t w = 0; w < r.n_windows; w++) {
        const uint32_t *wt = t + w * r.wlen;
        ref_model *m = NULL;
        ck_assert_msg(ref_model_create(desc, bank, meki_off, r.wlen, &m, &err) == MKV_OK, "%s", err.msg);
        double sum = 0;
        for (uint32_t i = 0; i + 1 < r.wlen; i++) {
            ck_assert_msg(ref_model_step(m, wt[i], lg, &err) == MKV_OK, "%s", err.msg);
            if (i < first) continue;
            double mx = -INFINITY, s = 0;
            for (uint32_t k = 0; k < nv; k++) mx = fmax(mx, lg[k]);
            for (uint32_t k = 0; k < nv; k++) s += exp((double)lg[k] - mx);
            sum += mx + log(s) - lg[wt[i + 1]];
        }
        ref_model_free(m);
        r.windows[w] = exp(sum / (r.wlen - 1 - first));
        total += sum;
        r.n_scored += r.wlen - 1 - first;
    }
    r.nll_mean = total / (double)r.n_scored;
    r.ppl = exp(r.nll_mean);
    free(lg);
    mkv_bank_close(bank);
    mkv_model_desc_free(desc);
    return r;
}

/* ---- the command's JSON ---- */

typedef struct ppl_json {
    double ppl, nll_mean, windows[8];
    uint64_t n_scored, n_windows, ctx, n_tokens;
    char mode[16], model[PATH_MAX + 64];
} ppl_json;

static double num(const mkv_json *j, const char *key)
{
    uint32_t i = mkv_json_get(j, 0, key);
    ck_assert_msg(i != MKV_JSON_NONE && j->v[i].type == MKV_JSON_NUMBER, "perplexity JSON: number '%s' missing", key);
    return j->v[i].num;
}

static const char *str(const mkv_json *j, const char *key)
{
    uint32_t i = mkv_json_get(j, 0, key);
    ck_assert_msg(i != MKV_JSON_NONE && j->v[i].type == MKV_JSON_STRING, "perplexity JSON: string '%s' missing", key);
    return j->v[i].str;
}

static ppl_json parse(const char *out)
{
    ppl_json p = {0};
    mkv_json j;
    mkv_error err;
    ck_assert_msg(mkv_json_parse(out, strlen(out), "perplexity --json", &j, &err) == MKV_OK, "%s\n%s", err.msg, out);
    ck_assert_int_eq(j.v[0].type, MKV_JSON_OBJECT);
    p.ppl = num(&j, "perplexity");
    p.nll_mean = num(&j, "nll_mean");
    p.n_scored = (uint64_t)num(&j, "n_scored");
    p.n_windows = (uint64_t)num(&j, "n_windows");
    p.ctx = (uint64_t)num(&j, "ctx");
    p.n_tokens = (uint64_t)num(&j, "n_tokens");
    snprintf(p.mode, sizeof p.mode, "%s", str(&j, "mode"));
    snprintf(p.model, sizeof p.model, "%s", str(&j, "model"));
    str(&j, "device");
    ck_assert_str_eq(str(&j, "kv_type"), "f16");
    uint32_t a = mkv_json_get(&j, 0, "windows");
    ck_assert_msg(a != MKV_JSON_NONE && j.v[a].type == MKV_JSON_ARRAY, "perplexity JSON: array 'windows' missing");
    ck_assert_uint_eq(j.v[a].n, p.n_windows);
    ck_assert_uint_le(p.n_windows, 8);
    uint32_t k = 0;
    for (uint32_t c = j.v[a].first; c != MKV_JSON_NONE; c = j.v[c].next) {
        ck_assert_int_eq(j.v[c].type, MKV_JSON_NUMBER);
        p.windows[k++] = j.v[c].num;
    }
    mkv_json_free(&j);
    return p;
}

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

/* The command on `sub`'s model against the reference; returns its JSON. */
static ppl_json check_against_reference(const char *sub, bool with_bank, bool meki_off, const char *tokens_file,
                                        uint32_t n_tokens, const char *ctx)
{
    char model[PATH_MAX + 64], bankp[PATH_MAX + 64];
    snprintf(model, sizeof model, "%s/%s/model.gguf", dir, sub);
    snprintf(bankp, sizeof bankp, "%s/%s/bank.mkb", dir, sub);
    char *out, *said;
    int rc = with_bank ? meki_off ? run_ppl(&out, &said, "--model", model, "--bank", bankp, "--tokens-file", tokens_file,
                                            "--ctx", ctx, "--json", "--meki-off", NULL)
                                  : run_ppl(&out, &said, "--model", model, "--bank", bankp, "--tokens-file", tokens_file,
                                            "--ctx", ctx, "--json", NULL)
                       : run_ppl(&out, &said, "--model", model, "--tokens-file", tokens_file, "--ctx", ctx, "--json", NULL);
    ck_assert_msg(rc == 0, "perplexity exit %d; stdout:\n%s\nstderr:\n%s", rc, out, said);
    /* the validation layer is on in tests (MKV_VALIDATION=1): it said nothing */
    ck_assert_msg(!strstr(said, "validation"), "perplexity stderr:\n%s", said);
    ppl_json p = parse(out);
    char last[64];
    snprintf(last, sizeof last, "[window %u/%u] ppl = ", (unsigned)p.n_windows, (unsigned)p.n_windows);
    ck_assert_msg(strstr(said, last), "no progress line '%s' in stderr:\n%s", last, said);
    free(out);
    free(said);

    ref_result r = reference(sub, with_bank, meki_off, stream, n_tokens, (uint32_t)atoi(ctx));
    ck_assert_str_eq(p.model, model);
    ck_assert_str_eq(p.mode, with_bank && !meki_off ? "meki" : "dense");
    ck_assert_uint_eq(p.n_tokens, n_tokens);
    ck_assert_uint_eq(p.n_windows, r.n_windows);
    ck_assert_uint_eq(p.ctx, r.wlen);
    ck_assert_uint_eq(p.n_scored, r.n_scored);
    double e = rel(p.ppl, r.ppl);
    fprintf(stderr, "%s%s, %u tokens, ctx %s: ppl %.6f, reference %.6f (rel diff %.2e, nll_mean %.6f)\n", sub,
            meki_off ? " meki-off" : "", n_tokens, ctx, p.ppl, r.ppl, e, p.nll_mean);
    ck_assert_msg(e < PPL_TOL, "%s: perplexity %.9g, reference %.9g: rel diff %.3g", sub, p.ppl, r.ppl, e);
    ck_assert_msg(fabs(p.nll_mean - r.nll_mean) < PPL_TOL, "nll_mean %.9g, reference %.9g", p.nll_mean, r.nll_mean);
    ck_assert_msg(rel(exp(p.nll_mean), p.ppl) < 1e-12, "perplexity %.17g is not exp(nll_mean %.17g)", p.ppl, p.nll_mean);
    for (uint32_t w = 0; w < r.n_windows; w++)
        ck_assert_msg(rel(p.windows[w], r.windows[w]) < PPL_TOL, "window %u: %.9g, reference %.9g", w, p.windows[w],
                      r.windows[w]);
    return p;
}

START_TEST(meki_matches_reference_and_both_forms_agree)
{
    ppl_json a = check_against_reference("meki", true, false, file("ids.txt"), N_STREAM, "32");
    /* 70 tokens in windows of 32: 2 windows (the last 6 tokens dropped), 15 scored in each */
    ck_assert_uint_eq(a.n_windows, 2);
    ck_assert_uint_eq(a.n_scored, 30);
    ppl_json b = check_against_reference("meki", true, false, file("ids.bin"), N_STREAM, "32");
    ck_assert_msg(a.ppl == b.ppl && a.nll_mean == b.nll_mean, "text %.17g, binary %.17g", a.ppl, b.ppl);
    for (uint32_t w = 0; w < a.n_windows; w++) ck_assert(a.windows[w] == b.windows[w]);
}
END_TEST

START_TEST(meki_off_and_dense_match_reference)
{
    ppl_json off = check_against_reference("meki", true, true, file("ids.bin"), N_STREAM, "32");
    ppl_json on = check_against_reference("meki", true, false, file("ids.bin"), N_STREAM, "32");
    ck_assert_msg(off.ppl != on.ppl, "MeKi on and off give the same perplexity %.17g", on.ppl);
    /* the dense twin (same seed: the same weights but the MeKi tensors) is the MeKi model with MeKi off */
    ppl_json dense = check_against_reference("dense", false, false, file("ids.txt"), N_STREAM, "32");
    ck_assert_msg(rel(dense.ppl, off.ppl) < PPL_TOL, "dense twin %.9g, meki-off %.9g", dense.ppl, off.ppl);
}
END_TEST

START_TEST(short_streams_are_one_window)
{
    /* 20 tokens, --ctx 32: one window of 20, positions 10..18 scored */
    ppl_json p = check_against_reference("dense", false, false, file("short.txt"), 20, "32");
    ck_assert_uint_eq(p.n_windows, 1);
    ck_assert_uint_eq(p.ctx, 20);
    ck_assert_uint_eq(p.n_scored, 9);
    /* 2 tokens: the second is scored */
    p = check_against_reference("dense", false, false, file("two.txt"), 2, "512");
    ck_assert_uint_eq(p.n_scored, 1);
}
END_TEST

START_TEST(summary_line_without_json)
{
    char model[PATH_MAX + 64];
    snprintf(model, sizeof model, "%s/dense/model.gguf", dir);
    char *out, *said;
    int rc = run_ppl(&out, &said, "--model", model, "--tokens-file", file("ids.txt"), "--ctx", "16", NULL);
    ck_assert_msg(rc == 0, "exit %d\n%s\n%s", rc, out, said);
    double ppl;
    unsigned n, w, c;
    ck_assert_msg(sscanf(out, "perplexity: %lf (%u tokens scored, %u windows of %u)", &ppl, &n, &w, &c) == 4, "%s", out);
    /* 70 tokens, windows of 16: 4 windows, positions 8..14 scored in each */
    ck_assert_uint_eq(w, 4);
    ck_assert_uint_eq(c, 16);
    ck_assert_uint_eq(n, 28);
    ref_result r = reference("dense", false, false, stream, N_STREAM, 16);
    ck_assert_msg(rel(ppl, r.ppl) < PPL_TOL, "%.6f vs reference %.6f", ppl, r.ppl);
    ck_assert_msg(strstr(said, "[window 1/4] ppl = ") && strstr(said, "[window 4/4] ppl = "), "%s", said);
    ck_assert_msg(strstr(said, "the last 6 tokens"), "%s", said);
    free(out);
    free(said);
}
END_TEST

/* Runs the command on a token file expected to be refused: exit `want_rc`
 * (0: any non-zero), stderr naming the file and containing `what`. */
static void refused(const char *name, const void *content, size_t len, int want_rc, const char *what)
{
    char model[PATH_MAX + 64];
    snprintf(model, sizeof model, "%s/dense/model.gguf", dir);
    const char *path = file(name);
    tu_write_file(path, content, len);
    char *out, *said;
    int rc = run_ppl(&out, &said, "--model", model, "--tokens-file", path, "--ctx", "8", "--json", NULL);
    if (want_rc) ck_assert_msg(rc == want_rc, "%s: exit %d, expected %d\n%s", name, rc, want_rc, said);
    else ck_assert_msg(rc != 0, "%s: accepted\n%s", name, out);
    ck_assert_msg(strstr(said, path), "%s: the message does not name the file:\n%s", name, said);
    ck_assert_msg(strstr(said, what), "%s: no '%s' in:\n%s", name, what, said);
    ck_assert_msg(!strchr(out, '{'), "%s: JSON printed on failure:\n%s", name, out);
    free(out);
    free(said);
}

START_TEST(hostile_token_files_are_refused_by_name)
{
    refused("range.txt", "1,2,4096,3\n", 11, 1, "token 2 = 4096");
    const uint8_t range_bin[12] = {1, 0, 0, 0, 0, 0x10, 0, 0, 2, 0, 0, 0}; /* 1, 4096, 2 */
    refused("range.bin", range_bin, sizeof range_bin, 1, "token 1 = 4096");
    const uint8_t six[6] = {1, 0, 0, 0, 2, 0};
    refused("six.bin", six, sizeof six, 1, "size = 6 bytes");
    refused("empty.txt", "", 0, 1, "at least 2");
    refused("blank.txt", " \n\n", 3, 1, "at least 2");
    refused("one.txt", "17\n", 3, 1, "at least 2");
    refused("double_comma.txt", "1,,2", 4, 1, "byte offset 2: empty item");
    refused("spaced_comma.txt", "1, ,2", 5, 1, "byte offset 3: empty item");
    refused("leading_comma.txt", ",1,2", 4, 1, "byte offset 0: empty item");
    refused("trailing_comma.txt", "1,2,\n", 5, 1, "empty item after the comma at byte offset 3");
    refused("letter.txt", "1,2,3x,4", 8, 1, "byte offset 5: 'x'");
    refused("negative.txt", "1,-2,3", 6, 1, "byte offset 2: '-'");
    refused("overflow.txt", "1,4294967296,2", 14, 1, "byte offset 2: token id 4294967296");
    refused("max_u32.txt", "1,4294967295", 12, 1, "token 1 = 4294967295");
    /* a FIFO is refused without waiting for a writer; a missing file by name */
    const char *fifo = file("fifo");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    char model[PATH_MAX + 64];
    snprintf(model, sizeof model, "%s/dense/model.gguf", dir);
    char *out, *said;
    ck_assert_int_eq(run_ppl(&out, &said, "--model", model, "--tokens-file", fifo, NULL), 1);
    ck_assert_msg(strstr(said, fifo) && strstr(said, "FIFO"), "%s", said);
    free(out);
    free(said);
    unlink(fifo);
    const char *missing = file("no_such_file");
    ck_assert_int_eq(run_ppl(&out, &said, "--model", model, "--tokens-file", missing, NULL), 1);
    ck_assert_msg(strstr(said, missing), "%s", said);
    free(out);
    free(said);
}
END_TEST

START_TEST(bad_options_exit_2_and_help_exits_0)
{
    char model[PATH_MAX + 64];
    snprintf(model, sizeof model, "%s/dense/model.gguf", dir);
    const char *ids = file("ids.txt");
    char *out, *said;
    struct {
        const char *a[6];
        const char *what;
    } cases[] = {
        {{"--model", model, NULL}, "--tokens-file"},
        {{"--tokens-file", ids, NULL}, "--model"},
        {{"--model", model, "--tokens-file", ids, "--ctx", "1"}, "--ctx = '1'"},
        {{"--model", model, "--tokens-file", ids, "--ctx", "abc"}, "--ctx = 'abc'"},
        {{"--model", model, "--tokens-file", ids, "--ctx", "65537"}, "--ctx = '65537'"},
        {{"--model", model, "--tokens-file", ids, "--kv-type", "q4"}, "--kv-type"},
        {{"--model", model, "--tokens-file", ids, "--bogus", NULL}, "--bogus"},
        {{"--model", model, "--tokens-file", NULL}, "--tokens-file needs a value"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *const *a = cases[c].a;
        int rc = run_ppl(&out, &said, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
        ck_assert_msg(rc == 2, "case %zu: exit %d\n%s", c, rc, said);
        ck_assert_msg(strstr(said, cases[c].what), "case %zu: no '%s' in:\n%s", c, cases[c].what, said);
        free(out);
        free(said);
    }
    ck_assert_int_eq(run_ppl(&out, &said, "--help", NULL), 0);
    ck_assert_msg(strstr(out, "usage: mekivk perplexity") && strstr(out, "--tokens-file") && strstr(out, "dropped"),
                  "%s", out);
    free(out);
    free(said);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("perplexity");
    TCase *tc = tcase_create("perplexity");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, meki_matches_reference_and_both_forms_agree);
    tcase_add_test(tc, meki_off_and_dense_match_reference);
    tcase_add_test(tc, short_streams_are_one_window);
    tcase_add_test(tc, summary_line_without_json);
    tcase_add_test(tc, hostile_token_files_are_refused_by_name);
    tcase_add_test(tc, bad_options_exit_2_and_help_exits_0);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
