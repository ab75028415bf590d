/* The plots (report.h): one bench result's (bench --plot) and several
 * results side by side (report --plot), as SVG (svg.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_doc.h"
#include "svg.h"

#define PLOT_W 960.0

/* Dense blue and MeKi red in every plot; other modes from the palette. */
static const char *mode_color(const char *mode, uint32_t m)
{
    return !strcmp(mode, "dense") ? "#1f77b4" : !strcmp(mode, "meki") ? "#d62728" : mkv_svg_color(m + 2);
}

/* A line per mode: decode tok/s at each KV length, MeKi / dense under the axis. */
static double plot_decode(mkv_svg *s, double y, const rp_doc *d)
{
    uint32_t np = 0;
    for (uint32_t i = 0; i < d->n_ctx; i++)
        for (uint32_t m = 0; m < d->n_modes; m++) np += !isnan(d->ctxs[i].tok_s[m]);
    if (np == 0) return mkv_svg_note(s, y, PLOT_W, "(a) Decode tok/s against KV length", "no decode figures in this result");
    double x[RP_MAX_MODES][RP_MAX_POINTS], v[RP_MAX_MODES][RP_MAX_POINTS], rx[RP_MAX_POINTS];
    char rtext[RP_MAX_POINTS][32];
    const char *rt[RP_MAX_POINTS];
    mkv_svg_series se[RP_MAX_MODES];
    uint32_t ns = 0, nr = 0;
    for (uint32_t m = 0; m < d->n_modes; m++) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < d->n_ctx; i++)
            if (!isnan(d->ctxs[i].tok_s[m])) {
                x[ns][k] = d->ctxs[i].ctx;
                v[ns][k++] = d->ctxs[i].tok_s[m];
            }
        if (k) {
            se[ns] = (mkv_svg_series){.name = d->modes[m].name, .color = mode_color(d->modes[m].name, m), .n = k,
                                      .x = x[ns], .y = v[ns]};
            ns++;
        }
    }
    for (uint32_t i = 0; i < d->n_ctx; i++)
        if (!isnan(d->ctxs[i].ratio)) {
            rx[nr] = d->ctxs[i].ctx;
            mkv_svg_num(rtext[nr], d->ctxs[i].ratio);
            rt[nr] = rtext[nr];
            nr++;
        }
    char title[128];
    snprintf(title, sizeof title, "(a) Decode tok/s against KV length%s",
             d->n_ctx == 1 ? " (one KV length in this result)" : "");
    mkv_svg_lines c = {.title = title, .xlabel = "KV length (tokens in the cache)", .ylabel = "decode tok/s",
                       .xname = "KV", .yunit = "tok/s", .series = se, .n_series = ns,
                       .row_label = "MeKi / dense", .n_row = nr, .row_x = rx, .row_text = rt};
    return mkv_svg_line_chart(s, y, PLOT_W, &c);
}

static double plot_prefill(mkv_svg *s, double y, const rp_doc *d)
{
    double x[RP_MAX_MODES][RP_MAX_POINTS], v[RP_MAX_MODES][RP_MAX_POINTS];
    char tips[RP_MAX_MODES][RP_MAX_POINTS][48];
    const char *tp[RP_MAX_MODES][RP_MAX_POINTS];
    mkv_svg_series se[RP_MAX_MODES];
    uint32_t ns = 0;
    for (uint32_t m = 0; m < d->n_modes; m++) {
        const rp_mode *r = &d->modes[m];
        if (!r->n_prefill) continue;
        for (uint32_t i = 0; i < r->n_prefill; i++) {
            char b[32];
            x[ns][i] = r->prefill[i].prompt;
            v[ns][i] = r->prefill[i].tok_s;
            tp[ns][i] = NULL;
            if (!isnan(r->prefill[i].stall_ms)) {
                snprintf(tips[ns][i], sizeof tips[ns][i], "bank stall %s ms", mkv_svg_num(b, r->prefill[i].stall_ms));
                tp[ns][i] = tips[ns][i];
            }
        }
        se[ns] = (mkv_svg_series){.name = r->name, .color = mode_color(r->name, m), .n = r->n_prefill, .x = x[ns], .y = v[ns], .tip = tp[ns]};
        ns++;
    }
    if (!ns) return mkv_svg_note(s, y, PLOT_W, "(b) Prefill tok/s against prompt length", "no prefill figures in this result");
    mkv_svg_lines c = {.title = "(b) Prefill tok/s against prompt length", .xlabel = "prompt length (tokens)",
                       .ylabel = "prefill tok/s", .xname = "prompt", .yunit = "tok/s", .series = se, .n_series = ns};
    return mkv_svg_line_chart(s, y, PLOT_W, &c);
}

static double plot_stacks(mkv_svg *s, double y, const char *title, const char *const *names, const double *v,
                          uint32_t n_bars)
{
    mkv_svg_stacks c = {.title = title, .ylabel = "ms per token", .unit = "ms/token", .n_parts = RP_PARTS,
                        .part_name = rp_part_name, .part_color = rp_part_color, .n_bars = n_bars, .bar_name = names, .v = v};
    return mkv_svg_stack_chart(s, y, PLOT_W, &c);
}

/* Decode: a bar per mode and KV length where contexts has breakdowns
 * (bench --profile at several lengths), else a bar per mode. */
static double plot_breakdowns(mkv_svg *s, double y, const rp_doc *d)
{
    enum { MAX_BARS = RP_MAX_MODES * RP_MAX_POINTS };
    char names_buf[MAX_BARS][96];
    const char *names[MAX_BARS];
    double v[MAX_BARS * RP_PARTS];
    uint32_t nb = 0;
    double h = 0;
    for (uint32_t i = 0; i < d->n_ctx; i++)
        for (uint32_t m = 0; m < d->n_modes; m++)
            if (d->ctxs[i].has_bd[m]) {
                snprintf(names_buf[nb], sizeof names_buf[nb], "%s, KV %.0f", d->modes[m].name, d->ctxs[i].ctx);
                names[nb] = names_buf[nb];
                memcpy(&v[nb * RP_PARTS], d->ctxs[i].bd[m], sizeof d->ctxs[i].bd[m]);
                nb++;
            }
    if (nb == 0)
        for (uint32_t m = 0; m < d->n_modes; m++)
            if (d->modes[m].has_bd) {
                if (isnan(d->ctx)) snprintf(names_buf[nb], sizeof names_buf[nb], "%s", d->modes[m].name);
                else snprintf(names_buf[nb], sizeof names_buf[nb], "%s, KV %.0f", d->modes[m].name, d->ctx);
                names[nb] = names_buf[nb];
                memcpy(&v[nb * RP_PARTS], d->modes[m].bd, sizeof d->modes[m].bd);
                nb++;
            }
    if (nb) h += plot_stacks(s, y, "(c) Decode time per token by component", names, v, nb);
    else h += mkv_svg_note(s, y, PLOT_W, "(c) Decode time per token by component",
                           "no time breakdown in this result (runs[].breakdown: bench --profile)");
    for (uint32_t i = 0; i < d->n_pbars; i++) {
        names[i] = d->pbars[i].name;
        memcpy(&v[i * RP_PARTS], d->pbars[i].v, sizeof d->pbars[i].v);
    }
    if (d->n_pbars) h += plot_stacks(s, y + h, "(d) Prefill time per token by component", names, v, d->n_pbars);
    else h += mkv_svg_note(s, y + h, PLOT_W, "(d) Prefill time per token by component",
                           "no prefill breakdown in this result (runs[].prefill_breakdown)");
    return h;
}

/* The heading: device and model, then what else says what it ran on. */
static double plot_heading(mkv_svg *s, const rp_doc *d)
{
    mkv_svg_printf(s, "<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\">mekivk bench: ");
    mkv_svg_text(s, d->device ? d->device : "unknown device");
    mkv_svg_printf(s, " \xe2\x80\x94 ");
    mkv_svg_text(s, d->model ? d->model : "unknown model");
    mkv_svg_printf(s, "</text>\n<text x=\"20\" y=\"52\" fill=\"#444444\">");
    const char *sep = "";
    char b[32];
#define ITEM(cond, ...) \
    if (cond) { mkv_svg_printf(s, "%s", sep); __VA_ARGS__; sep = "; "; }
    ITEM(d->driver, mkv_svg_printf(s, "driver "); mkv_svg_text(s, d->driver))
    ITEM(d->api[0], mkv_svg_printf(s, "Vulkan "); mkv_svg_text(s, d->api))
    ITEM(!isnan(d->subgroup), mkv_svg_printf(s, "subgroup %.0f", d->subgroup))
    ITEM(d->tuning[0], mkv_svg_printf(s, "tuning "); mkv_svg_text(s, d->tuning))
    mkv_svg_printf(s, "</text>\n<text x=\"20\" y=\"72\" fill=\"#444444\">");
    sep = "";
    ITEM(d->weight_types, mkv_svg_printf(s, "weights "); mkv_svg_text(s, d->weight_types))
    ITEM(d->kv_type, mkv_svg_printf(s, "KV cache "); mkv_svg_text(s, d->kv_type))
    ITEM(!isnan(d->probe), mkv_svg_printf(s, "probe %s GB/s", mkv_svg_num(b, d->probe)))
    ITEM(d->version, mkv_svg_printf(s, "mekivk "); mkv_svg_text(s, d->version))
    ITEM(d->commit, mkv_svg_printf(s, "commit "); mkv_svg_text(s, d->commit))
#undef ITEM
    mkv_svg_printf(s, "</text>\n");
    return 84;
}

mkv_status mkv_bench_plot_svg(const char *bench_json, size_t n, const char *out_path, mkv_error *err)
{
    mkv_status st;
    rp_doc *d;
    TRY(rp_doc_parse("bench JSON", bench_json, n, &d, err));
    mkv_svg s = {0};
    double y = plot_heading(&s, d);
    y += plot_decode(&s, y, d);
    y += plot_prefill(&s, y, d);
    y += plot_breakdowns(&s, y, d);
    char title[1200];
    snprintf(title, sizeof title, "mekivk bench: %s, %s%s%s", d->device ? d->device : "unknown device",
             d->model ? d->model : "unknown model", d->tuning[0] ? ", tuning " : "", d->tuning);
    st = mkv_svg_save(&s, PLOT_W, y + 10, title, out_path, err);
    mkv_svg_free(&s);
    rp_doc_free(d);
    return st;
}

/* One panel of report --plot: the rows of one kind as groups, a bar per result. */
static double plot_groups(mkv_svg *s, double y, double w, const rp_table *t, int kind, const char *title,
                          const char *ylabel, const char *unit, const char *const *members, const char *const *colors)
{
    uint32_t ng = 0;
    for (uint32_t i = 0; i < t->n; i++) ng += t->row[i].plot == kind;
    if (!ng) return mkv_svg_note(s, y, w, title, "none of the results has these figures");
    const uint32_t nm = t->n_cols;
    double *v = malloc((size_t)ng * nm * sizeof *v);
    const char **names = malloc(ng * sizeof *names);
    if (!v || !names) {
        free(v);
        free(names);
        s->oom = true;
        return 0;
    }
    uint32_t g = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->row[i].plot != kind) continue;
        names[g] = t->row[i].group;
        for (uint32_t m = 0; m < nm; m++) v[g * nm + m] = t->row[i].cell[m].has ? t->row[i].cell[m].v : NAN;
        g++;
    }
    mkv_svg_groups c = {.title = title, .ylabel = ylabel, .unit = unit, .n_groups = ng, .group_name = names,
                        .n_members = nm, .member_name = members, .member_color = colors, .v = v, .ratio_to_first = true};
    double h = mkv_svg_group_chart(s, y, w, &c);
    free(v);
    free(names);
    return h;
}

mkv_status mkv_report_plot_svg(const mkv_report_input *in, uint32_t n, const char *out_path, mkv_error *err)
{
    mkv_status st;
    rp_doc **docs;
    rp_table t = {0};
    mkv_svg s = {0};
    char **members = NULL;
    const char **colors = NULL;
    TRY(rp_docs_parse(in, n, &docs, err));
    if ((st = rp_table_build(docs, n, &t, err))) goto out;
    members = calloc(n, sizeof *members);
    colors = calloc(n, sizeof *colors);
    if (!members || !colors) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(docs[i]->name) + (docs[i]->device ? strlen(docs[i]->device) : 0) + 8;
        if (!(members[i] = malloc(len))) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        snprintf(members[i], len, "%s: %s", docs[i]->name, docs[i]->device ? docs[i]->device : "?");
        colors[i] = mkv_svg_color(i);
    }
    uint32_t most = 0, rows[PLOT_KERNELS + 1] = {0}; /* groups in the widest panel: the width follows */
    for (uint32_t i = 0; i < t.n; i++) rows[t.row[i].plot]++;
    for (int kind = PLOT_DECODE; kind <= PLOT_KERNELS; kind++)
        if (rows[kind] > most) most = rows[kind];
    const double w = fmax(PLOT_W, 284 + most * fmax(90, 24.0 * n + 20));
    mkv_svg_printf(&s, "<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\">mekivk report: %u bench results</text>\n"
                       "<text x=\"20\" y=\"52\" fill=\"#444444\">in grey above a bar: its value over the first result's (",
                   n);
    mkv_svg_text(&s, docs[0]->name);
    mkv_svg_printf(&s, ")</text>\n");
    double y = 64;
    /* the decode and prefill panels (a note where no result has their
     * figures), unless the results are all `bench --kernels` ones; then
     * the kernels' panel, where any has them */
    const char *const *mn = (const char *const *)members;
    if (rows[PLOT_DECODE] || rows[PLOT_PREFILL] || !rows[PLOT_KERNELS]) {
        y += plot_groups(&s, y, w, &t, PLOT_DECODE, "Decode tok/s", "decode tok/s", "tok/s", mn, colors);
        y += plot_groups(&s, y, w, &t, PLOT_PREFILL, "Prefill tok/s", "prefill tok/s", "tok/s", mn, colors);
    }
    if (rows[PLOT_KERNELS])
        y += plot_groups(&s, y, w, &t, PLOT_KERNELS, "Kernels alone (bench --kernels): GB/s of the bytes they read",
                         "GB/s", "GB/s", mn, colors);
    char title[64];
    snprintf(title, sizeof title, "mekivk report: %u bench results", n);
    st = mkv_svg_save(&s, w, y + 10, title, out_path, err);
out:
    if (members)
        for (uint32_t i = 0; i < n; i++) free(members[i]);
    free(members);
    free(colors);
    mkv_svg_free(&s);
    rp_table_free(&t);
    rp_docs_free(docs, n);
    return st;
}
