/* mekivk report and the bench plot (hosttools/report_parse.c, report_table.c, report_plot.c, svg.c), host-only:
 * two hand-written bench results of two devices side by side give the
 * expected ratios, as text and as Markdown; unreadable, non-JSON and
 * non-bench files are refused naming the file; the SVGs (report --plot,
 * mkv_bench_plot_svg) are well-formed XML whose text carries every figure
 * of the JSON, formatted by mkv_svg_num; a failed plot leaves an existing
 * file as it was. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "svg.h"
#include "test_util.h"

/* Device A: three KV lengths, two prompt lengths, both breakdowns,
 * device_info and tuning. */
static const char json_a[] =
    "{\"device\": \"Device A <GPU> & co\", \"driver\": \"drv A 1.0\", \"model\": \"/m/0.6b/model.gguf\", \"ctx\": 128,"
    " \"n_decode\": 32, \"reps\": 3, \"weight_types\": \"197 q4_0 (386 MB)\", \"kv_type\": \"f16\", \"probe_gbps\": 10.0,"
    " \"mekivk_version\": \"0.2.0\", \"commit\": \"abc1234\","
    " \"device_info\": {\"vendor_id\": 4318, \"device_id\": 8977, \"api_version\": \"1.3.255\", \"subgroup_size\": 32,"
    " \"cpu\": false},"
    " \"tuning\": {\"source\": \"table\", \"row\": \"nvidia\"},"
    " \"runs\": ["
    "  {\"mode\": \"dense\", \"decode_tok_s\": 100.5, \"prefill_tok_s\": 400.0, \"weight_gbps\": 4.25,"
    "   \"prefill\": [{\"prompt\": 128, \"tok_s\": 400.0, \"stall_ms\": 0.0}, {\"prompt\": 512, \"tok_s\": 350.0, \"stall_ms\": 0.0}],"
    "   \"breakdown\": {\"attention\": 1.5, \"ffn\": 3.25, \"meki\": 0.0, \"lm_head\": 2.0, \"other\": 0.25},"
    "   \"prefill_profile_prompt\": 128,"
    "   \"prefill_breakdown\": {\"attention\": 0.05, \"ffn\": 0.5, \"meki\": 0.0, \"lm_head\": 0.02, \"other\": 0.01}},"
    "  {\"mode\": \"meki\", \"decode_tok_s\": 95.25, \"prefill_tok_s\": 380.0, \"weight_gbps\": 4.5,"
    "   \"prefill\": [{\"prompt\": 128, \"tok_s\": 380.0, \"stall_ms\": 1.75}, {\"prompt\": 512, \"tok_s\": 330.0, \"stall_ms\": 2.5}],"
    "   \"breakdown\": {\"attention\": 1.5, \"ffn\": 3.25, \"meki\": 0.125, \"lm_head\": 2.0, \"other\": 0.25},"
    "   \"prefill_profile_prompt\": 128,"
    "   \"prefill_breakdown\": {\"attention\": 0.05, \"ffn\": 0.5, \"meki\": 0.03, \"lm_head\": 0.02, \"other\": 0.01}}],"
    " \"meki_over_dense\": 0.9478, \"meki_over_dense_paired\": 0.951,"
    " \"contexts\": ["
    "  {\"ctx\": 128, \"runs\": [{\"mode\": \"dense\", \"decode_tok_s\": 100.5}, {\"mode\": \"meki\", \"decode_tok_s\": 95.25}],"
    "   \"meki_over_dense\": 0.9478},"
    "  {\"ctx\": 4096, \"runs\": [{\"mode\": \"dense\", \"decode_tok_s\": 50.5}, {\"mode\": \"meki\", \"decode_tok_s\": 49.0}],"
    "   \"meki_over_dense\": 0.9703},"
    "  {\"ctx\": 1024, \"runs\": [{\"mode\": \"dense\", \"decode_tok_s\": 80.0}, {\"mode\": \"meki\", \"decode_tok_s\": 77.6}],"
    "   \"meki_over_dense\": 0.97}]}";

/* Device B: every speed twice A's, the probe 2.5x; no KV 4096, no
 * breakdowns, no device_info; contexts absent (the top-level ctx only). */
static const char json_b[] =
    "{\"device\": \"Device B\", \"driver\": \"drv B 2.0\", \"model\": \"/m/0.6b/model.gguf\", \"ctx\": 128,"
    " \"weight_types\": \"197 q4_0 (386 MB)\", \"probe_gbps\": 25.0,"
    " \"runs\": ["
    "  {\"mode\": \"dense\", \"decode_tok_s\": 201.0, \"prefill_tok_s\": 800.0,"
    "   \"prefill\": [{\"prompt\": 128, \"tok_s\": 800.0, \"stall_ms\": 0.0}, {\"prompt\": 512, \"tok_s\": 700.0, \"stall_ms\": 0.0}]},"
    "  {\"mode\": \"meki\", \"decode_tok_s\": 190.5, \"prefill_tok_s\": 760.0,"
    "   \"prefill\": [{\"prompt\": 128, \"tok_s\": 760.0, \"stall_ms\": 0.5}, {\"prompt\": 512, \"tok_s\": 660.0, \"stall_ms\": 0.25}]}],"
    " \"meki_over_dense\": 0.9478}";

static char *write_json(const char *name, const char *text)
{
    static char path[8][PATH_MAX];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, PATH_MAX, "%s", tu_path_in("report", name));
    tu_write_file(p, text, strlen(text));
    return p;
}

static int run_report(char **argv, int argc, char **out, char **err_text)
{
    return tu_run_captured(mkv_cmd_report, argc, argv, tu_path_in("report", "run"), out, err_text);
}

/* ---- a well-formedness check for the SVGs ---------------------------------------- */

static bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':' || c == '.'; }

/* Appends the character data s[0..n) to *text with its entities decoded;
 * false on an unknown or unterminated entity or a '<' or '>' in it. */
static bool char_data(const char *s, size_t n, char *text, size_t *len)
{
    static const struct { const char *ent, *ch; } ents[] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
    for (size_t i = 0; i < n;) {
        if (s[i] == '<' || s[i] == '>') return false;
        if (s[i] != '&') {
            text[(*len)++] = s[i++];
            continue;
        }
        bool ok = false;
        for (size_t e = 0; e < sizeof ents / sizeof ents[0] && !ok; e++) {
            size_t el = strlen(ents[e].ent);
            if (i + el <= n && !strncmp(s + i, ents[e].ent, el)) {
                text[(*len)++] = ents[e].ch[0];
                i += el;
                ok = true;
            }
        }
        if (!ok) return false;
    }
    return true;
}

/* Checks that svg is well-formed XML (the subset an SVG writer uses: an
 * optional declaration, comments, one root element, elements closed in
 * order, attributes name="value" or 'value', the five entities) and that
 * the root is <svg>. Returns NULL and the character data (entities
 * decoded, a '\n' after each text node) in *text_out (malloc'd), or what
 * is wrong. */
static const char *xml_check(const char *s, char **text_out)
{
    size_t n = strlen(s), i = 0, len = 0;
    char *text = malloc(n + 1);
    char stack[64][64];
    int depth = 0;
    bool root_seen = false;
    const char *bad = NULL;
    if (!strncmp(s, "<?xml", 5)) {
        const char *e = strstr(s, "?>");
        if (!e) bad = "unterminated XML declaration";
        else i = (size_t)(e - s) + 2;
    }
    while (!bad && i < n) {
        if (s[i] != '<') { /* character data */
            size_t j = i;
            while (j < n && s[j] != '<') j++;
            if (depth == 0) {
                for (size_t k = i; k < j; k++)
                    if (s[k] != ' ' && s[k] != '\n' && s[k] != '\t' && s[k] != '\r') bad = "text outside the root element";
            } else if (!char_data(s + i, j - i, text, &len)) {
                bad = "bad character data (an unknown entity or a bare '>')";
            } else {
                text[len++] = '\n';
            }
            i = j;
            continue;
        }
        if (!strncmp(s + i, "<!--", 4)) {
            const char *e = strstr(s + i + 4, "-->");
            if (!e) bad = "unterminated comment";
            else i = (size_t)(e - s) + 3;
            continue;
        }
        bool closing = s[i + 1] == '/';
        size_t j = i + 1 + closing, k = j;
        while (k < n && name_char(s[k])) k++;
        if (k == j || k - j >= 64) {
            bad = "a tag without a valid name";
            break;
        }
        char name[64];
        memcpy(name, s + j, k - j);
        name[k - j] = '\0';
        if (closing) {
            while (k < n && s[k] == ' ') k++;
            if (k >= n || s[k] != '>') bad = "junk in a closing tag";
            else if (depth == 0 || strcmp(stack[depth - 1], name)) bad = "a closing tag that does not match the open element";
            else depth--;
            i = k + 1;
            continue;
        }
        if (depth == 0 && root_seen) {
            bad = "a second root element";
            break;
        }
        if (depth == 0 && strcmp(name, "svg")) {
            bad = "the root element is not <svg>";
            break;
        }
        root_seen = true;
        /* attributes */
        bool self_closing = false;
        while (!bad) {
            size_t ws = k;
            while (k < n && (s[k] == ' ' || s[k] == '\n' || s[k] == '\t')) k++;
            if (k >= n) bad = "unterminated tag";
            else if (s[k] == '>') break;
            else if (s[k] == '/' && k + 1 < n && s[k + 1] == '>') {
                self_closing = true;
                k++;
                break;
            } else {
                if (ws == k) bad = "attributes not separated by white space";
                size_t a = k;
                while (k < n && name_char(s[k])) k++;
                if (k == a) bad = "a bad attribute name";
                else if (k >= n || s[k] != '=') bad = "an attribute without '='";
                else if (s[k + 1] != '"' && s[k + 1] != '\'') bad = "an unquoted attribute value";
                else {
                    char q = s[k + 1];
                    size_t v = k + 2, e = v;
                    while (e < n && s[e] != q) e++;
                    size_t scratch_len = 0;
                    char *scratch = malloc(e - v + 1);
                    if (e >= n) bad = "an unterminated attribute value";
                    else if (!char_data(s + v, e - v, scratch, &scratch_len)) bad = "bad attribute text";
                    free(scratch);
                    k = e + 1;
                }
            }
        }
        if (bad) break;
        if (!self_closing) {
            if (depth == 64) {
                bad = "nesting too deep";
                break;
            }
            snprintf(stack[depth++], 64, "%s", name);
        }
        i = k + 1;
    }
    if (!bad && depth) bad = "an element left open at the end";
    if (!bad && !root_seen) bad = "no root element";
    text[len] = '\0';
    if (bad) free(text);
    else *text_out = text;
    return bad;
}

/* Whether the number formatted as `num` stands in text as a number of its
 * own (not inside a longer one). */
static bool has_number_text(const char *text, const char *num)
{
    size_t l = strlen(num);
    for (const char *p = strstr(text, num); p; p = strstr(p + 1, num)) {
        char before = p == text ? ' ' : p[-1], after = p[l];
        bool digitish_b = (before >= '0' && before <= '9') || before == '.' || before == '-';
        bool digitish_a = (after >= '0' && after <= '9') || (after == '.' && p[l + 1] >= '0' && p[l + 1] <= '9');
        if (!digitish_b && !digitish_a) return true;
    }
    return false;
}

static void assert_value(const char *text, double v, const char *what)
{
    char b[32];
    mkv_svg_num(b, v);
    ck_assert_msg(has_number_text(text, b), "%s = %s is not in the SVG's text", what, b);
}

static char *read_svg(const char *path)
{
    uint64_t n;
    uint8_t *p = tu_read_file(path, &n);
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    free(p);
    ck_assert_msg(strlen(s) == n, "%s: a NUL byte in the SVG", path);
    return s;
}

/* The line of out that starts with label (followed by the column gap). */
static const char *line_of(const char *out, const char *label, char *buf, size_t cap)
{
    size_t l = strlen(label);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, label, l) && (p[l] == ' ' || p[l] == '\n')) {
            const char *e = strchr(p, '\n');
            size_t k = e ? (size_t)(e - p) : strlen(p);
            if (k >= cap) k = cap - 1;
            memcpy(buf, p, k);
            buf[k] = '\0';
            return buf;
        }
    }
    ck_abort_msg("no row '%s' in:\n%s", label, out);
    return NULL;
}

/* ---- report: text and Markdown ---------------------------------------------------- */

START_TEST(text_table_gives_ratios_to_the_first)
{
    char *a = write_json("a.json", json_a), *b = write_json("b.json", json_b);
    char *argv[] = {"report", a, b};
    char *out, *said, line[512];
    int rc = run_report(argv, 3, &out, &said);
    ck_assert_msg(rc == 0, "report exit %d; stderr:\n%s", rc, said);
    ck_assert_msg(strstr(line_of(out, "device", line, sizeof line), "Device A <GPU> & co") && strstr(line, "Device B"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "decode tok/s, dense, KV 128", line, sizeof line), "100.5") &&
                  strstr(line, "201.0 (2.00x)"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "decode tok/s, meki, KV 128", line, sizeof line), "95.25") &&
                  strstr(line, "190.5 (2.00x)"), "%s", line);
    /* a KV length B lacks: "-" in its column */
    line_of(out, "decode tok/s, dense, KV 4096", line, sizeof line);
    ck_assert_msg(strstr(line, "50.50") && line[strlen(line) - 1] == '-', "%s", line);
    /* KV lengths in ascending order, whatever order contexts had */
    ck_assert(strstr(out, "decode tok/s, dense, KV 1024") < strstr(out, "decode tok/s, dense, KV 4096"));
    ck_assert_msg(strstr(line_of(out, "MeKi / dense, KV 128", line, sizeof line), "0.948 (1.00x)"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "prefill tok/s, dense, 512 tokens", line, sizeof line), "700.0 (2.00x)"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "probe GB/s", line, sizeof line), "25.00 (2.50x)"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "Vulkan API version", line, sizeof line), "1.3.255"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "subgroup size", line, sizeof line), "32"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "tuning", line, sizeof line), "table: nvidia"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "commit", line, sizeof line), "abc1234"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "decode ms/token, meki, MeKi", line, sizeof line), "0.125"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "prefill ms/token, meki, prompt 128, FFN", line, sizeof line), "0.500"), "%s", line);
    free(out);
    free(said);
}
END_TEST

START_TEST(markdown_table_has_header_and_separator_rows)
{
    char *a = write_json("a.json", json_a), *b = write_json("b.json", json_b);
    char *argv[] = {"report", "--markdown", a, b};
    char *out, *said;
    int rc = run_report(argv, 4, &out, &said);
    ck_assert_msg(rc == 0, "report exit %d; stderr:\n%s", rc, said);
    char head[PATH_MAX * 2 + 16];
    snprintf(head, sizeof head, "|  | %s | %s |\n|---|---|---|\n", a, b);
    ck_assert_msg(!strncmp(out, head, strlen(head)), "header:\n%s", out);
    ck_assert_msg(strstr(out, "\n| decode tok/s, dense, KV 128 | 100.5 | 201.0 (2.00x) |\n"), "%s", out);
    ck_assert_msg(strstr(out, "\n| probe GB/s | 10.00 | 25.00 (2.50x) |\n"), "%s", out);
    ck_assert_msg(strstr(out, "\n| decode tok/s, dense, KV 4096 | 50.50 | - |\n"), "%s", out);
    /* every table line has as many cells as the header */
    for (const char *p = out; *p == '|'; p = strchr(p, '\n') + 1) {
        int bars = 0;
        for (const char *q = p; *q != '\n'; q++) bars += *q == '|' && (q == p || q[-1] != '\\');
        ck_assert_msg(bars == 4, "a row with %d cells: %.*s", bars - 1, (int)(strchr(p, '\n') - p), p);
    }
    free(out);
    free(said);
}
END_TEST

START_TEST(one_result_alone_has_no_ratios)
{
    char *a = write_json("a.json", json_a);
    char *argv[] = {"report", a};
    char *out;
    ck_assert_int_eq(run_report(argv, 2, &out, NULL), 0);
    ck_assert_msg(!strstr(out, "x)"), "%s", out);
    free(out);
}
END_TEST

/* A string longer than a cell (a JSON string can be any length) is shown
 * cut, ending in "...", never cut silently. */
START_TEST(long_text_is_cut_visibly)
{
    char drv[1200], json[sizeof json_b + 1400];
    memset(drv, 'd', sizeof drv - 1);
    drv[sizeof drv - 1] = '\0';
    const char *at = strstr(json_b, "drv B 2.0");
    snprintf(json, sizeof json, "%.*s%s%s", (int)(at - json_b), json_b, drv, at + strlen("drv B 2.0"));
    char *b = write_json("long.json", json);
    char *argv[] = {"report", b};
    char *out, *said, line[2048];
    ck_assert_int_eq(run_report(argv, 2, &out, &said), 0);
    line_of(out, "driver", line, sizeof line);
    ck_assert_msg(strstr(line, "ddd...") && !strstr(line, drv), "%s", line);
    ck_assert_msg(strlen(line) > 500, "%zu: %s", strlen(line), line); /* the cell holds 508 of it */
    free(out);
    free(said);
}
END_TEST

/* ---- report: errors ------------------------------------------------------------------- */

/* report ARGS fails with exit code `want` and says `what` (and the file). */
static void refused(char **argv, int argc, int want, const char *what, const char *file)
{
    char *out, *said;
    int rc = run_report(argv, argc, &out, &said);
    ck_assert_msg(rc == want, "exit %d (want %d); stderr:\n%s", rc, want, said);
    ck_assert_msg(strstr(said, what), "stderr does not say '%s':\n%s", what, said);
    if (file) ck_assert_msg(strstr(said, file), "stderr does not name %s:\n%s", file, said);
    ck_assert_msg(!strstr(out, "decode tok/s"), "a table was printed:\n%s", out);
    free(out);
    free(said);
}

/* A result file named `name` holding `json`, alone, refused with exit 1
 * and `what` (and the file) on stderr. */
static void refused_json(const char *name, const char *json, const char *what)
{
    char *f = write_json(name, json);
    char *argv[] = {"report", f};
    refused(argv, 2, 1, what, f);
}

START_TEST(missing_file_is_refused_naming_it)
{
    char *a = write_json("a.json", json_a);
    char *missing = (char *)tu_path_in("report", "no_such.json");
    remove(missing);
    char *argv[] = {"report", a, missing};
    refused(argv, 3, 1, "mekivk report:", missing);
}
END_TEST

START_TEST(non_json_file_is_refused_naming_it)
{
    char *a = write_json("a.json", json_a), *t = write_json("text.json", "device: fast\n");
    char *argv[] = {"report", a, t};
    refused(argv, 3, 1, "JSON", t);
}
END_TEST

START_TEST(json_without_runs_is_not_a_bench_result)
{
    char *a = write_json("a.json", json_a), *t = write_json("other.json", "{\"ids\": [1, 2, 3]}");
    char *argv[] = {"report", a, t};
    refused(argv, 3, 1, "not a bench result: no \"runs\" nor \"kernels\"", t);
    refused_json("probe.json", "{\"device\": \"X\", \"probe_gbps\": 10.5, \"probe_sweep\": []}", "bench --probe");
    refused_json("empty.json", "{\"runs\": []}", "empty");
}
END_TEST

/* Two `bench --kernels` results: hand-written, the second device twice as
 * fast on one product and missing another. */
static const char *json_k1 =
    "{\"device\": \"CPU X\", \"mekivk_version\": \"0.2.0\", \"commit\": \"abc1234\", \"config\": \"1.7b\","
    " \"probe_gbps\": 20.0, \"kernels\": ["
    "{\"name\": \"matvec_q4_0\", \"shape\": \"gate\", \"rows\": 6144, \"cols\": 2048, \"bytes\": 7077888,"
    " \"ms\": 1.5, \"gbps\": 4.5, \"of_probe\": 0.225},"
    "{\"name\": \"matvec_f16\", \"shape\": \"down\", \"ms\": 3.0, \"gbps\": 8.25, \"of_probe\": 0.4125}],"
    " \"attention\": [{\"n_kv\": 10240, \"ms\": 12.5, \"gbps\": 3.25, \"of_probe\": 0.1625}]}";
static const char *json_k2 =
    "{\"device\": \"GPU Y\", \"config\": \"1.7b\", \"probe_gbps\": 4000.0, \"kernels\": ["
    "{\"name\": \"matvec_q4_0\", \"shape\": \"gate\", \"ms\": 0.75, \"gbps\": 9.0, \"of_probe\": 0.00225}],"
    " \"attention\": [{\"n_kv\": 10240, \"ms\": 0.5, \"gbps\": 81.25, \"of_probe\": 0.0203}]}";

START_TEST(kernels_results_side_by_side)
{
    char *a = write_json("k1.json", json_k1), *b = write_json("k2.json", json_k2);
    const char *svg = tu_path_in("report", "kernels.svg");
    char *argv[] = {"report", a, b, "--plot", (char *)svg};
    char *out, *said, line[512];
    int rc = run_report(argv, 5, &out, &said);
    ck_assert_msg(rc == 0, "report exit %d; stderr:\n%s", rc, said);
    ck_assert_msg(strstr(line_of(out, "device", line, sizeof line), "CPU X") && strstr(line, "GPU Y"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "kernel shapes (config)", line, sizeof line), "1.7b"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "matvec_q4_0 gate, GB/s", line, sizeof line), "4.50") &&
                  strstr(line, "9.00 (2.00x)"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "matvec_q4_0 gate, ms", line, sizeof line), "0.750 (0.50x)"), "%s", line);
    ck_assert_msg(strstr(line_of(out, "matvec_q4_0 gate, share of the probe", line, sizeof line), "0.225"), "%s", line);
    /* a kernel the second lacks: "-" in its column */
    line_of(out, "matvec_f16 down, GB/s", line, sizeof line);
    ck_assert_msg(strstr(line, "8.25") && line[strlen(line) - 1] == '-', "%s", line);
    ck_assert_msg(strstr(line_of(out, "attention, KV 10240, GB/s", line, sizeof line), "81.25 (25.00x)"), "%s", line);
    ck_assert_msg(!strstr(out, "decode tok/s"), "%s", out);
    /* the plot: the kernels' panel alone, every GB/s figure on it */
    char *s = read_svg(svg), *text;
    const char *bad = xml_check(s, &text);
    ck_assert_msg(!bad, "%s: %s", svg, bad);
    ck_assert_msg(strstr(text, "Kernels alone") && !strstr(text, "Decode tok/s"), "%s", text);
    static const double gbps[] = {4.5, 9.0, 8.25, 3.25, 81.25};
    for (size_t i = 0; i < sizeof gbps / sizeof gbps[0]; i++) assert_value(text, gbps[i], "GB/s");
    free(text);
    free(s);
    free(out);
    free(said);
    /* beside a model's result: every panel */
    char *m = write_json("a.json", json_a);
    char *argv2[] = {"report", m, a, "--plot", (char *)svg};
    rc = run_report(argv2, 5, &out, &said);
    ck_assert_msg(rc == 0, "report exit %d; stderr:\n%s", rc, said);
    ck_assert(strstr(out, "decode tok/s, dense, KV 128") && strstr(out, "matvec_q4_0 gate, GB/s"));
    s = read_svg(svg);
    ck_assert_msg(!(bad = xml_check(s, &text)), "%s", bad);
    ck_assert(strstr(text, "Decode tok/s") && strstr(text, "Prefill tok/s") && strstr(text, "Kernels alone"));
    free(text);
    free(s);
    free(out);
    free(said);
}
END_TEST

START_TEST(kernels_result_errors_name_the_member)
{
    refused_json("noname.json", "{\"kernels\": [{\"shape\": \"gate\", \"gbps\": 1.5}]}", "kernels[0]: no \"name\"");
    refused_json("badgbps.json", "{\"kernels\": [{\"name\": \"matvec_f16\", \"gbps\": \"fast\"}]}",
                 "kernels[0].gbps: expected a number, found a string");
    refused_json("nokv.json", "{\"kernels\": [], \"attention\": [{\"ms\": 1.5}]}", "attention[0]: no \"n_kv\"");
    refused_json("notobj.json", "{\"kernels\": [3]}", "kernels[0]: expected an object, found a number");
}
END_TEST

START_TEST(wrong_type_is_refused_naming_the_key)
{
    refused_json("badtype.json", "{\"runs\": [{\"mode\": \"dense\", \"decode_tok_s\": \"fast\"}]}",
                 "runs[0].decode_tok_s: expected a number, found a string");
    refused_json("nomode.json", "{\"runs\": [{\"decode_tok_s\": 1.5}]}", "runs[0]: no \"mode\"");
    refused_json("badctx.json", "{\"runs\": [{\"mode\": \"dense\"}], \"contexts\": [{\"runs\": []}]}",
                 "contexts[0]: no \"ctx\"");
}
END_TEST

START_TEST(usage_errors_exit_2)
{
    char *argv1[] = {"report"};
    refused(argv1, 1, 2, "at least one", NULL);
    char *a = write_json("a.json", json_a);
    char *argv2[] = {"report", a, "--colour"};
    refused(argv2, 3, 2, "--colour", NULL);
    char *argv3[] = {"report", a, "--plot"};
    refused(argv3, 3, 2, "--plot", NULL);
    char *argv4[] = {"report", "--help"};
    char *out;
    ck_assert_int_eq(run_report(argv4, 2, &out, NULL), 0);
    ck_assert_msg(strstr(out, "usage: mekivk report"), "%s", out);
    free(out);
}
END_TEST

/* ---- the SVGs ---------------------------------------------------------------------------- */

START_TEST(report_plot_is_xml_with_every_speed)
{
    char *a = write_json("a.json", json_a), *b = write_json("b.json", json_b);
    const char *svg = tu_path_in("report", "report.svg");
    char *argv[] = {"report", a, b, "--plot", (char *)svg};
    char *out, *said;
    int rc = run_report(argv, 5, &out, &said);
    ck_assert_msg(rc == 0, "report exit %d; stderr:\n%s", rc, said);
    char *s = read_svg(svg), *text;
    const char *bad = xml_check(s, &text);
    ck_assert_msg(!bad, "%s: %s", svg, bad);
    static const double speeds[] = {100.5, 95.25, 80.0, 77.6, 50.5, 49.0, 400.0, 350.0, 380.0, 330.0,
                                    201.0, 190.5, 800.0, 700.0, 760.0, 660.0};
    for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++) assert_value(text, speeds[i], "tok/s");
    ck_assert_msg(strstr(text, "2.00x"), "no ratio in the SVG's text");
    ck_assert_msg(strstr(text, "Device A <GPU> & co") && strstr(text, "Device B"), "devices not named");
    ck_assert_msg(!strstr(s, "<script") && !strstr(s, "href"), "scripts or links in the SVG");
    free(text);
    free(s);
    free(out);
    free(said);
}
END_TEST

START_TEST(bench_plot_is_xml_with_every_figure)
{
    const char *svg = tu_path_in("report", "bench.svg");
    mkv_error err;
    ck_assert_msg(mkv_bench_plot_svg(json_a, strlen(json_a), svg, &err) == MKV_OK, "%s", err.msg);
    char *s = read_svg(svg), *text;
    const char *bad = xml_check(s, &text);
    ck_assert_msg(!bad, "%s: %s", svg, bad);
    /* decode against KV length, MeKi / dense under each length */
    static const double decode[] = {100.5, 95.25, 80.0, 77.6, 50.5, 49.0, 0.9478, 0.97, 0.9703};
    for (size_t i = 0; i < sizeof decode / sizeof decode[0]; i++) assert_value(text, decode[i], "decode");
    ck_assert(has_number_text(text, "128") && has_number_text(text, "1024") && has_number_text(text, "4096"));
    /* prefill against prompt length, with the bank stall in the tooltips */
    static const double prefill[] = {400.0, 350.0, 380.0, 330.0, 1.75, 2.5};
    for (size_t i = 0; i < sizeof prefill / sizeof prefill[0]; i++) assert_value(text, prefill[i], "prefill");
    ck_assert(has_number_text(text, "512"));
    /* both breakdowns, every part, and the totals */
    static const double parts[] = {1.5, 3.25, 0.0, 2.0, 0.25, 0.125, 0.05, 0.5, 0.02, 0.01, 0.03, 7.0, 7.125, 0.58, 0.61};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) assert_value(text, parts[i], "breakdown");
    /* the title names device, model and tuning row; axes say their units */
    ck_assert(strstr(text, "Device A <GPU> & co") && strstr(text, "/m/0.6b/model.gguf") && strstr(text, "nvidia"));
    ck_assert(strstr(text, "decode tok/s") && strstr(text, "KV length") && strstr(text, "ms per token"));
    ck_assert(!strstr(text, "no decode figures") && !strstr(text, "no prefill") && !strstr(text, "no time breakdown"));
    free(text);
    free(s);
}
END_TEST

START_TEST(bench_plot_notes_absent_panels)
{
    /* B: one KV length, no breakdowns */
    const char *svg = tu_path_in("report", "bench_b.svg");
    mkv_error err;
    ck_assert_msg(mkv_bench_plot_svg(json_b, strlen(json_b), svg, &err) == MKV_OK, "%s", err.msg);
    char *s = read_svg(svg), *text;
    const char *bad = xml_check(s, &text);
    ck_assert_msg(!bad, "%s: %s", svg, bad);
    assert_value(text, 201.0, "decode");
    assert_value(text, 0.9478, "meki_over_dense");
    ck_assert_msg(strstr(text, "one KV length"), "%s", text);
    ck_assert_msg(strstr(text, "no time breakdown") && strstr(text, "no prefill breakdown"), "%s", text);
    free(text);
    free(s);
    /* runs alone: no decode and no prefill figures */
    static const char bare[] = "{\"device\": \"D\", \"runs\": [{\"mode\": \"dense\"}]}";
    ck_assert_msg(mkv_bench_plot_svg(bare, strlen(bare), svg, &err) == MKV_OK, "%s", err.msg);
    s = read_svg(svg);
    bad = xml_check(s, &text);
    ck_assert_msg(!bad, "%s: %s", svg, bad);
    ck_assert_msg(strstr(text, "no decode figures") && strstr(text, "no prefill figures"), "%s", text);
    free(text);
    free(s);
}
END_TEST

START_TEST(bench_plot_breaks_down_every_kv_length)
{
    /* bench --profile at several lengths: contexts carry a breakdown each */
    static const char j[] =
        "{\"device\": \"D\", \"ctx\": 128, \"runs\": [{\"mode\": \"dense\", \"decode_tok_s\": 20.5,"
        " \"breakdown\": {\"attention\": 1.25, \"ffn\": 2.5, \"meki\": 0, \"lm_head\": 1.0, \"other\": 0.5}}],"
        " \"contexts\": [{\"ctx\": 128, \"runs\": [{\"mode\": \"dense\", \"decode_tok_s\": 20.5,"
        "  \"breakdown\": {\"attention\": 1.25, \"ffn\": 2.5, \"meki\": 0, \"lm_head\": 1.0, \"other\": 0.5}}]},"
        " {\"ctx\": 8192, \"runs\": [{\"mode\": \"dense\", \"decode_tok_s\": 12.25,"
        "  \"breakdown\": {\"attention\": 6.75, \"ffn\": 2.5, \"meki\": 0, \"lm_head\": 1.0, \"other\": 0.5}}]}]}";
    const char *svg = tu_path_in("report", "bench_ctx.svg");
    mkv_error err;
    ck_assert_msg(mkv_bench_plot_svg(j, strlen(j), svg, &err) == MKV_OK, "%s", err.msg);
    char *s = read_svg(svg), *text;
    const char *bad = xml_check(s, &text);
    ck_assert_msg(!bad, "%s: %s", svg, bad);
    ck_assert_msg(strstr(text, "dense, KV 128") && strstr(text, "dense, KV 8192"), "%s", text);
    static const double v[] = {20.5, 12.25, 1.25, 6.75, 2.5, 5.25, 10.75};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) assert_value(text, v[i], "per-length breakdown");
    free(text);
    free(s);
}
END_TEST

START_TEST(bench_plot_refuses_bad_json_and_keeps_the_old_file)
{
    const char *svg = tu_path_in("report", "keep.svg");
    tu_write_file(svg, "old", 3);
    mkv_error err;
    static const char probe[] = "{\"device\": \"X\", \"probe_gbps\": 1.5, \"probe_sweep\": []}";
    ck_assert_int_eq(mkv_bench_plot_svg(probe, strlen(probe), svg, &err), MKV_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "bench --probe"), "%s", err.msg);
    ck_assert_int_eq(mkv_bench_plot_svg("{\"runs\": [", 10, svg, &err), MKV_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "JSON"), "%s", err.msg);
    uint64_t n;
    uint8_t *p = tu_read_file(svg, &n);
    ck_assert(n == 3 && !memcmp(p, "old", 3));
    free(p);
    /* a destination that cannot be written: an error naming it */
    const char *nodir = tu_path_in("report", "no_such_dir/x.svg");
    ck_assert(mkv_bench_plot_svg(json_a, strlen(json_a), nodir, &err) != MKV_OK);
    ck_assert_msg(strstr(err.msg, "no_such_dir"), "%s", err.msg);
}
END_TEST

START_TEST(svg_text_is_escaped)
{
    mkv_svg s = {0};
    mkv_svg_printf(&s, "<svg><text>");
    mkv_svg_text(&s, "a<b>&\"c'\x01\xff d");
    mkv_svg_printf(&s, "</text></svg>");
    ck_assert(!s.oom);
    char *text;
    const char *bad = xml_check(s.p, &text);
    ck_assert_msg(!bad, "%s: %s", s.p, bad);
    ck_assert_str_eq(text, "a<b>&\"c'?? d\n");
    free(text);
    mkv_svg_free(&s);
    char b[32];
    ck_assert_str_eq(mkv_svg_num(b, 123.45), "123.5");
    ck_assert_str_eq(mkv_svg_num(b, 5.6), "5.60");
    ck_assert_str_eq(mkv_svg_num(b, 0.96), "0.960");
    ck_assert_str_eq(mkv_svg_num(b, 0.0034), "0.0034");
    ck_assert_str_eq(mkv_svg_num(b, 0), "0");
}
END_TEST

/* The checker itself: what it must refuse. */
START_TEST(xml_check_refuses_malformed_documents)
{
    static const char *const bad[] = {
        "<svg><text>a</svg>",            /* unclosed element */
        "<svg><g></text></g></svg>",     /* wrong closing tag */
        "<svg width=100></svg>",         /* unquoted attribute */
        "<svg width=\"1\"height=\"2\"/>", /* attributes run together */
        "<svg>&nbsp;</svg>",             /* an entity XML does not define */
        "<svg>a > b</svg>",              /* a bare '>' (the writer escapes it) */
        "<svg/><svg/>",                  /* two roots */
        "<html></html>",                 /* not an SVG */
        "<svg><title>x",                 /* truncated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = NULL;
        ck_assert_msg(xml_check(bad[i], &text) != NULL, "accepted: %s", bad[i]);
    }
    char *text;
    ck_assert_ptr_null(xml_check("<?xml version=\"1.0\"?>\n<svg a='1' b=\"&amp;\"><!-- c --><g/>x&lt;y</svg>\n", &text));
    ck_assert_str_eq(text, "x<y\n");
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report");
    TCase *t = tcase_create("report");
    tcase_add_test(t, text_table_gives_ratios_to_the_first);
    tcase_add_test(t, markdown_table_has_header_and_separator_rows);
    tcase_add_test(t, one_result_alone_has_no_ratios);
    tcase_add_test(t, long_text_is_cut_visibly);
    tcase_add_test(t, missing_file_is_refused_naming_it);
    tcase_add_test(t, non_json_file_is_refused_naming_it);
    tcase_add_test(t, json_without_runs_is_not_a_bench_result);
    tcase_add_test(t, wrong_type_is_refused_naming_the_key);
    tcase_add_test(t, kernels_results_side_by_side);
    tcase_add_test(t, kernels_result_errors_name_the_member);
    tcase_add_test(t, usage_errors_exit_2);
    tcase_add_test(t, report_plot_is_xml_with_every_speed);
    tcase_add_test(t, bench_plot_is_xml_with_every_figure);
    tcase_add_test(t, bench_plot_notes_absent_panels);
    tcase_add_test(t, bench_plot_breaks_down_every_kv_length);
    tcase_add_test(t, bench_plot_refuses_bad_json_and_keeps_the_old_file);
    tcase_add_test(t, svg_text_is_escaped);
    tcase_add_test(t, xml_check_refuses_malformed_documents);
    suite_add_tcase(s, t);
    return tu_run_suite(s);
}
