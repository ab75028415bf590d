/* The report's table (report.h, mkv_report_table): each result's figures
 * as labelled rows ("decode tok/s, dense, KV 512"). The table lines the
 * results' rows up by label, so results measured at different KV or
 * prompt lengths still share the rows they have in common, and each
 * result's extra rows land next to their neighbours. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_doc.h"
#include "svg.h"

/* The row labelled `label`, added after row *cursor if new (*cursor
 * becomes it); NULL when out of memory. */
static rp_row *row_at(rp_table *t, const char *label, uint32_t *cursor)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (!strcmp(t->row[i].label, label)) return &t->row[*cursor = i];
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? 2 * t->cap : 64;
        rp_row *r = realloc(t->row, cap * sizeof *r);
        if (!r) return NULL;
        t->row = r;
        t->cap = cap;
    }
    rp_cell *cells = calloc(t->n_cols, sizeof *cells);
    if (!cells) return NULL;
    uint32_t at = *cursor == UINT32_MAX ? 0 : *cursor + 1;
    memmove(&t->row[at + 1], &t->row[at], (t->n - at) * sizeof *t->row);
    t->n++;
    rp_row *r = &t->row[at];
    *r = (rp_row){.plot = PLOT_NONE, .cell = cells};
    snprintf(r->label, sizeof r->label, "%s", label);
    *cursor = at;
    return r;
}

/* What one result adds to the table (column col). */
typedef struct rp_adder {
    rp_table *t;
    uint32_t col, cursor;
    bool oom;
} rp_adder;

static rp_cell *add(rp_adder *a, int plot, const char *group, const char *fmt, ...) MKV_PRINTF(4, 5);
static rp_cell *add(rp_adder *a, int plot, const char *group, const char *fmt, ...)
{
    char label[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(label, sizeof label, fmt, ap);
    va_end(ap);
    rp_row *r = row_at(a->t, label, &a->cursor);
    if (!r) {
        a->oom = true;
        return NULL;
    }
    if (plot != PLOT_NONE) {
        r->plot = plot;
        snprintf(r->group, sizeof r->group, "%s", group);
    }
    rp_cell *c = &r->cell[a->col];
    c->has = true;
    return c;
}

/* text into a cell; a longer one ends in "..." where it was cut (a JSON
 * string can be any length), never cut silently */
static void add_text(rp_adder *a, const char *label, const char *text)
{
    if (!text || !*text) return;
    rp_cell *c = add(a, PLOT_NONE, NULL, "%s", label);
    if (!c) return;
    const size_t n = strlen(text), cap = sizeof c->text;
    if (n < cap) {
        memcpy(c->text, text, n + 1);
    } else {
        memcpy(c->text, text, cap - 4);
        memcpy(c->text + cap - 4, "...", 4);
    }
}

static void add_num(rp_adder *a, int plot, const char *group, const char *label, double v)
{
    if (isnan(v)) return;
    rp_cell *c = add(a, plot, group, "%s", label);
    if (c) {
        c->is_num = true;
        c->v = v;
    }
}

static void add_int(rp_adder *a, const char *label, double v)
{
    if (isnan(v)) return;
    char b[32];
    snprintf(b, sizeof b, "%.0f", v);
    add_text(a, label, b);
}

static void doc_rows(const rp_doc *d, rp_adder *a)
{
    char label[128], group[96], b[64];
    add_text(a, "device", d->device);
    add_text(a, "driver", d->driver);
    add_text(a, "Vulkan API version", d->api);
    add_int(a, "subgroup size", d->subgroup);
    if (d->device_info != MKV_JSON_NONE) /* the rest of device_info as it is */
        for (uint32_t e = d->j.v[d->device_info].first; e != MKV_JSON_NONE; e = d->j.v[e].next) {
            static const char *const shown[] = {"name", "driver", "api_version", "subgroup_size", "tuning_source",
                                                "tuning_row"};
            const mkv_json_value *v = &d->j.v[e];
            bool skip = false;
            for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) skip |= !strcmp(v->key, shown[i]);
            if (skip) continue;
            snprintf(label, sizeof label, "device_info.%s", v->key);
            if (v->type == MKV_JSON_STRING) add_text(a, label, v->str);
            else if (v->type == MKV_JSON_TRUE || v->type == MKV_JSON_FALSE) add_text(a, label, v->type == MKV_JSON_TRUE ? "yes" : "no");
            else if (v->type == MKV_JSON_NUMBER && v->is_uint && (!strcmp(v->key, "vendor_id") || !strcmp(v->key, "device_id"))) {
                snprintf(b, sizeof b, "0x%04llx", (unsigned long long)v->u);
                add_text(a, label, b);
            } else if (v->type == MKV_JSON_NUMBER) add_text(a, label, v->str);
        }
    add_text(a, "tuning", d->tuning);
    add_text(a, "mekivk version", d->version);
    add_text(a, "commit", d->commit);
    add_text(a, "model", d->model);
    add_text(a, "weight types", d->weight_types);
    add_text(a, "KV cache type", d->kv_type);
    add_int(a, "ctx (KV length)", d->ctx);
    add_int(a, "tokens per repetition", d->n_decode);
    add_int(a, "repetitions", d->reps);
    add_num(a, PLOT_NONE, NULL, "probe GB/s", d->probe);
    add_num(a, PLOT_NONE, NULL, "host read GB/s", d->host);
    for (uint32_t i = 0; i < d->n_ctx; i++) {
        const rp_ctx *c = &d->ctxs[i];
        for (uint32_t m = 0; m < d->n_modes; m++) {
            snprintf(label, sizeof label, "decode tok/s, %s, KV %.0f", d->modes[m].name, c->ctx);
            snprintf(group, sizeof group, "%s, KV %.0f", d->modes[m].name, c->ctx);
            add_num(a, PLOT_DECODE, group, label, c->tok_s[m]);
        }
        snprintf(label, sizeof label, "MeKi / dense, KV %.0f", c->ctx);
        add_num(a, PLOT_NONE, NULL, label, c->ratio);
        snprintf(label, sizeof label, "MeKi / dense paired, KV %.0f", c->ctx);
        add_num(a, PLOT_NONE, NULL, label, c->paired);
    }
    for (uint32_t m = 0; m < d->n_modes; m++)
        for (uint32_t i = 0; i < d->modes[m].n_prefill; i++) {
            const rp_prefill *p = &d->modes[m].prefill[i];
            snprintf(label, sizeof label, "prefill tok/s, %s, %.0f tokens", d->modes[m].name, p->prompt);
            snprintf(group, sizeof group, "%s, %.0f tokens", d->modes[m].name, p->prompt);
            add_num(a, PLOT_PREFILL, group, label, p->tok_s);
        }
    for (uint32_t m = 0; m < d->n_modes; m++) {
        snprintf(label, sizeof label, "weight GB/s, %s", d->modes[m].name);
        add_num(a, PLOT_NONE, NULL, label, d->modes[m].weight_gbps);
    }
    for (uint32_t m = 0; m < d->n_modes; m++) {
        if (!d->modes[m].has_bd) continue;
        for (int p = 0; p < RP_PARTS; p++) {
            snprintf(label, sizeof label, "decode ms/token, %s, %s", d->modes[m].name, rp_part_name[p]);
            add_num(a, PLOT_NONE, NULL, label, d->modes[m].bd[p]);
        }
    }
    for (uint32_t i = 0; i < d->n_pbars; i++)
        for (int p = 0; p < RP_PARTS; p++) {
            snprintf(label, sizeof label, "prefill ms/token, %s, %s", d->pbars[i].name, rp_part_name[p]);
            add_num(a, PLOT_NONE, NULL, label, d->pbars[i].v[p]);
        }
    /* bench --kernels: each kernel alone */
    add_text(a, "kernel shapes (config)", d->config);
    for (uint32_t i = 0; i < d->n_kernels; i++) {
        const rp_kernel *k = &d->kernels[i];
        snprintf(label, sizeof label, "%s, GB/s", k->label);
        add_num(a, PLOT_KERNELS, k->label, label, k->gbps);
        snprintf(label, sizeof label, "%s, share of the probe", k->label);
        add_num(a, PLOT_NONE, NULL, label, k->of_probe);
        snprintf(label, sizeof label, "%s, ms", k->label);
        add_num(a, PLOT_NONE, NULL, label, k->ms);
    }
}

void rp_table_free(rp_table *t)
{
    for (uint32_t i = 0; i < t->n; i++) free(t->row[i].cell);
    free(t->row);
    *t = (rp_table){0};
}

mkv_status rp_table_build(rp_doc *const *docs, uint32_t n, rp_table *t, mkv_error *err)
{
    *t = (rp_table){.n_cols = n};
    for (uint32_t f = 0; f < n; f++) {
        rp_adder a = {.t = t, .col = f, .cursor = UINT32_MAX};
        doc_rows(docs[f], &a);
        if (a.oom) {
            rp_table_free(t);
            return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
        }
    }
    return MKV_OK;
}

/* A cell as printed: text as it is, numbers by mkv_svg_num, from the
 * second column on followed by their ratio to the first column's. */
static void cell_text(const rp_row *r, uint32_t col, char *out, size_t n)
{
    const rp_cell *c = &r->cell[col], *first = &r->cell[0];
    char b[32];
    if (!c->has) snprintf(out, n, "-");
    else if (!c->is_num) snprintf(out, n, "%s", c->text);
    else if (col > 0 && first->has && first->is_num && first->v != 0)
        snprintf(out, n, "%s (%.2fx)", mkv_svg_num(b, c->v), c->v / first->v);
    else snprintf(out, n, "%s", mkv_svg_num(b, c->v));
    for (char *p = out; *p; p++) /* one line per row */
        if ((unsigned char)*p < 0x20) *p = ' ';
}

/* Display width: UTF-8 characters, not bytes. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void pad(FILE *out, const char *s, size_t w)
{
    fputs(s, out);
    for (size_t k = width(s); k < w; k++) fputc(' ', out);
}

/* Markdown cell text: '|' escaped. */
static void md_cell(FILE *out, const char *s)
{
    fputs("| ", out);
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
    fputc(' ', out);
}

static void table_print(const rp_table *t, rp_doc *const *docs, bool markdown, FILE *out)
{
    const uint32_t nc = t->n_cols;
    char buf[sizeof ((rp_cell *)0)->text + 64]; /* a cell as printed: its text, or a number and its ratio */
    if (markdown) {
        md_cell(out, "");
        for (uint32_t c = 0; c < nc; c++) md_cell(out, docs[c]->name);
        fputs("|\n", out);
        for (uint32_t c = 0; c <= nc; c++) fputs("|---", out);
        fputs("|\n", out);
        for (uint32_t i = 0; i < t->n; i++) {
            md_cell(out, t->row[i].label);
            for (uint32_t c = 0; c < nc; c++) {
                cell_text(&t->row[i], c, buf, sizeof buf);
                md_cell(out, buf);
            }
            fputs("|\n", out);
        }
    } else {
        size_t *w = calloc(nc + 1, sizeof *w);
        if (!w) return;
        for (uint32_t c = 0; c < nc; c++) w[c + 1] = width(docs[c]->name);
        for (uint32_t i = 0; i < t->n; i++) {
            if (width(t->row[i].label) > w[0]) w[0] = width(t->row[i].label);
            for (uint32_t c = 0; c < nc; c++) {
                cell_text(&t->row[i], c, buf, sizeof buf);
                if (width(buf) > w[c + 1]) w[c + 1] = width(buf);
            }
        }
        pad(out, "", w[0]);
        for (uint32_t c = 0; c < nc; c++) {
            fputs("  ", out);
            pad(out, docs[c]->name, c + 1 < nc ? w[c + 1] : 0);
        }
        fputc('\n', out);
        size_t total = w[0];
        for (uint32_t c = 0; c < nc; c++) total += 2 + w[c + 1];
        for (size_t k = 0; k < total; k++) fputc('-', out);
        fputc('\n', out);
        for (uint32_t i = 0; i < t->n; i++) {
            pad(out, t->row[i].label, w[0]);
            for (uint32_t c = 0; c < nc; c++) {
                cell_text(&t->row[i], c, buf, sizeof buf);
                fputs("  ", out);
                pad(out, buf, c + 1 < nc ? w[c + 1] : 0);
            }
            fputc('\n', out);
        }
        free(w);
    }
    if (nc > 1) fprintf(out, "\nIn parentheses: the value over the first column's (%s).\n", docs[0]->name);
}

mkv_status mkv_report_table(const mkv_report_input *in, uint32_t n, bool markdown, FILE *out, mkv_error *err)
{
    mkv_status st;
    rp_doc **docs;
    rp_table t;
    TRY(rp_docs_parse(in, n, &docs, err));
    if (!(st = rp_table_build(docs, n, &t, err))) {
        table_print(&t, docs, markdown, out);
        rp_table_free(&t);
    }
    rp_docs_free(docs, n);
    return st;
}
