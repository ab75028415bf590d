/* The SVG writer and its charts (svg.h). Geometry: every chart has a title
 * band, a plot area of PH pixels between a left margin (y ticks, y axis
 * title) and a right margin (legend), and a band below for x ticks and the
 * x axis title. Text is sized for 12 px sans-serif. */
#include "svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "tokenizer.h" /* mkv_utf8_valid_prefix */

#define ML 84.0  /* left margin: y tick labels and the y axis title */
#define MR 200.0 /* right margin: the legend */
#define MT 44.0  /* title band above the plot area */
#define PH 250.0 /* plot area height */
#define MB 54.0  /* below the plot area: x tick labels and the x axis title */

/* ---- the document ---------------------------------------------------------- */

static bool reserve(mkv_svg *s, size_t more)
{
    if (s->oom) return false;
    if (s->n + more + 1 <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->n + more + 1) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) {
        s->oom = true;
        return false;
    }
    s->p = p;
    s->cap = cap;
    return true;
}

void mkv_svg_printf(mkv_svg *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !reserve(s, (size_t)k)) {
        s->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(s->p + s->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    s->n += (size_t)k;
}

static void put(mkv_svg *s, const char *t, size_t n)
{
    if (!reserve(s, n)) return;
    memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = '\0';
}

void mkv_svg_text(mkv_svg *s, const char *t)
{
    if (!t) return;
    size_t len = strlen(t), i = 0;
    while (i < len) {
        size_t ok = mkv_utf8_valid_prefix(t + i, len - i);
        for (size_t k = i; k < i + ok; k++) {
            unsigned char c = (unsigned char)t[k];
            switch (c) {
            case '&': put(s, "&amp;", 5); break;
            case '<': put(s, "&lt;", 4); break;
            case '>': put(s, "&gt;", 4); break;
            case '"': put(s, "&quot;", 6); break;
            case '\'': put(s, "&apos;", 6); break;
            default:
                if (c < 0x20 || c == 0x7f) put(s, "?", 1);
                else put(s, (const char *)&t[k], 1);
            }
        }
        i += ok;
        if (i < len) { /* one byte that starts no valid character */
            put(s, "?", 1);
            i++;
        }
    }
}

void mkv_svg_free(mkv_svg *s)
{
    free(s->p);
    *s = (mkv_svg){0};
}

const char *mkv_svg_num(char buf[32], double v)
{
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, 32, "n/a");
    else if (a >= 1e9) snprintf(buf, 32, "%.4g", v);
    else if (a >= 100) snprintf(buf, 32, "%.1f", v);
    else if (a >= 1) snprintf(buf, 32, "%.2f", v);
    else if (a >= 0.01) snprintf(buf, 32, "%.3f", v);
    else snprintf(buf, 32, "%.2g", v);
    return buf;
}

/* An axis value (a tick, a KV length): integers without decimals. */
static const char *tick_num(char buf[32], double v)
{
    if (fabs(v) < 1e15 && v == floor(v)) {
        snprintf(buf, 32, "%.0f", v);
        return buf;
    }
    return mkv_svg_num(buf, v);
}

const char *mkv_svg_color(uint32_t i)
{
    static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    return palette[i % (sizeof palette / sizeof palette[0])];
}

mkv_status mkv_svg_save(const mkv_svg *body, double w, double h, const char *title, const char *path,
                        mkv_error *err)
{
    mkv_svg head = {0};
    mkv_svg_printf(&head,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
                   "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n<title>",
                   w, h, w, h);
    mkv_svg_text(&head, title);
    mkv_svg_printf(&head, "</title>\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w, h);
    static const char tail[] = "</svg>\n";
    mkv_status st = MKV_OK;
    mkv_atomic_file f = MKV_ATOMIC_FILE_INIT;
    if (head.oom || body->oom) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory building the SVG", path);
        goto out;
    }
    if ((st = mkv_atomic_begin(&f, path, err))) goto out;
    if ((st = mkv_write_full(f.fd, head.p, head.n, path, err)) ||
        (st = mkv_write_full(f.fd, body->p ? body->p : "", body->n, path, err)) ||
        (st = mkv_write_full(f.fd, tail, sizeof tail - 1, path, err)) || (st = mkv_atomic_commit(&f, err))) {
        mkv_atomic_abort(&f);
        goto out;
    }
out:
    mkv_svg_free(&head);
    return st;
}

/* ---- shared pieces ------------------------------------------------------------ */

/* A linear value axis from lo to hi in steps of `step` (1, 2 or 5 x 10^k,
 * about five of them), always including 0. */
typedef struct axis {
    double lo, hi, step;
} axis;

static axis nice_axis(double vmin, double vmax)
{
    double lo = fmin(0, vmin), hi = fmax(0, vmax);
    if (!(hi - lo > 0)) hi = lo + 1;
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    axis a = {floor(lo / step) * step, ceil(hi / step) * step, step};
    if (a.hi - hi < 0.08 * (a.hi - a.lo)) a.hi += step; /* room for the value labels on top */
    if (lo < 0 && lo - a.lo < 0.08 * (a.hi - a.lo)) a.lo -= step;
    return a;
}

static double y_of(const axis *a, double top, double v) { return top + PH - (v - a->lo) / (a->hi - a->lo) * PH; }

static void title_band(mkv_svg *s, double y0, const char *title)
{
    mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"15\" font-weight=\"bold\">", ML, y0 + 26);
    mkv_svg_text(s, title);
    mkv_svg_printf(s, "</text>\n");
}

/* Grid lines and tick labels of the y axis, its title, and the frame of
 * the plot area (left and bottom axis lines). */
static void y_axis(mkv_svg *s, const axis *a, double top, double pw, const char *label)
{
    const int dec = a->step >= 1 ? 0 : (int)-floor(log10(a->step) + 1e-9); /* steps are 1, 2 or 5 x 10^k */
    int n = (int)llround((a->hi - a->lo) / a->step);
    for (int k = 0; k <= n; k++) {
        double v = a->lo + k * a->step, y = y_of(a, top, v);
        if (fabs(v) < a->step * 1e-9) v = 0;
        mkv_svg_printf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", ML, y, ML + pw, y);
        mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.*f</text>\n", ML - 6,
                       y + 4, dec, v);
    }
    mkv_svg_printf(s, "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\">", top + PH / 2);
    mkv_svg_text(s, label);
    mkv_svg_printf(s, "</text>\n");
    double y_zero = y_of(a, top, fmax(a->lo, fmin(0, a->hi)));
    mkv_svg_printf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", ML, top, ML, top + PH);
    mkv_svg_printf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", ML, y_zero, ML + pw,
                   y_zero);
}

/* One legend entry at (x, y): a swatch (a line with a dot, or a box) and the name. */
static void legend_entry(mkv_svg *s, double x, double y, const char *color, bool box, const char *name)
{
    if (box)
        mkv_svg_printf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" fill=\"%s\" stroke=\"#555555\"/>\n", x,
                       y - 10, color);
    else
        mkv_svg_printf(s,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                       "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
                       x, y - 4, x + 18, y - 4, color, x + 9, y - 4, color);
    mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\">", x + 24, y);
    mkv_svg_text(s, name);
    mkv_svg_printf(s, "</text>\n");
}

double mkv_svg_note(mkv_svg *s, double y0, double w, const char *title, const char *note)
{
    (void)w;
    title_band(s, y0, title);
    mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" font-style=\"italic\" fill=\"#555555\">", ML, y0 + 50);
    mkv_svg_text(s, note);
    mkv_svg_printf(s, "</text>\n");
    return 70;
}

/* ---- line chart ----------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct xmap {
    bool log;
    double lo, hi, x0, pw;
} xmap;

static double x_of(const xmap *m, double x)
{
    if (m->hi <= m->lo) return m->x0 + m->pw / 2;
    double t = m->log ? (log2(x) - log2(m->lo)) / (log2(m->hi) - log2(m->lo)) : (x - m->lo) / (m->hi - m->lo);
    return m->x0 + m->pw * (0.06 + 0.88 * t);
}

double mkv_svg_line_chart(mkv_svg *s, double y0, double w, const mkv_svg_lines *c)
{
    char b[32], b2[32];
    const double pw = w - ML - MR, top = y0 + MT, bottom = top + PH;
    uint32_t n_all = 0;
    for (uint32_t k = 0; k < c->n_series; k++) n_all += c->series[k].n;
    double *xs = malloc((n_all ? n_all : 1) * sizeof *xs);
    if (!xs) {
        s->oom = true;
        return 0;
    }
    double ymin = 0, ymax = 0;
    uint32_t nx = 0;
    for (uint32_t k = 0; k < c->n_series; k++)
        for (uint32_t i = 0; i < c->series[k].n; i++) {
            xs[nx++] = c->series[k].x[i];
            ymin = fmin(ymin, c->series[k].y[i]);
            ymax = fmax(ymax, c->series[k].y[i]);
        }
    qsort(xs, nx, sizeof *xs, cmp_double);
    uint32_t nd = 0; /* distinct x values, ascending */
    for (uint32_t i = 0; i < nx; i++)
        if (nd == 0 || xs[i] != xs[nd - 1]) xs[nd++] = xs[i];
    xmap m = {.lo = nd ? xs[0] : 0, .hi = nd ? xs[nd - 1] : 0, .x0 = ML, .pw = pw};
    m.log = nd && m.lo > 0 && m.hi / m.lo >= 4;
    const axis a = nice_axis(ymin, ymax);

    title_band(s, y0, c->title);
    y_axis(s, &a, top, pw, c->ylabel);
    for (uint32_t i = 0; i < nd; i++) { /* x ticks: the values measured */
        double x = x_of(&m, xs[i]);
        mkv_svg_printf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", x, bottom, x,
                       bottom + 5);
        mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n", x, bottom + 18,
                       tick_num(b, xs[i]));
    }
    double below = bottom + 22;
    if (c->n_row) {
        mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#555555\">", ML - 6,
                       below + 14);
        mkv_svg_text(s, c->row_label);
        mkv_svg_printf(s, "</text>\n");
        for (uint32_t i = 0; i < c->n_row; i++) {
            mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555555\">",
                           x_of(&m, c->row_x[i]), below + 14);
            mkv_svg_text(s, c->row_text[i]);
            mkv_svg_printf(s, "</text>\n");
        }
        below += 18;
    }
    mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", ML + pw / 2, below + 26);
    mkv_svg_text(s, c->xlabel);
    mkv_svg_printf(s, "%s</text>\n", m.log ? " (log scale)" : "");

    uint32_t *order = malloc((n_all ? n_all : 1) * sizeof *order);
    if (!order) {
        s->oom = true;
        free(xs);
        return 0;
    }
    for (uint32_t k = 0; k < c->n_series; k++) {
        const mkv_svg_series *se = &c->series[k];
        /* the line, through the points in x order */
        for (uint32_t i = 0; i < se->n; i++) order[i] = i;
        for (uint32_t i = 1; i < se->n; i++) /* insertion sort: a few points */
            for (uint32_t j = i; j > 0 && se->x[order[j]] < se->x[order[j - 1]]; j--) {
                uint32_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        if (se->n > 1) {
            mkv_svg_printf(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", se->color);
            for (uint32_t i = 0; i < se->n; i++)
                mkv_svg_printf(s, "%s%.1f,%.1f", i ? " " : "", x_of(&m, se->x[order[i]]), y_of(&a, top, se->y[order[i]]));
            mkv_svg_printf(s, "\"/>\n");
        }
        for (uint32_t i = 0; i < se->n; i++) {
            const double px = x_of(&m, se->x[i]), py = y_of(&a, top, se->y[i]);
            /* the label above the point if it is the highest at its x
             * (the first series on ties), below it otherwise */
            bool above = true;
            for (uint32_t o = 0; o < c->n_series && above; o++)
                for (uint32_t q = 0; q < c->series[o].n; q++)
                    if (o != k && c->series[o].x[q] == se->x[i] &&
                        (c->series[o].y[q] > se->y[i] || (c->series[o].y[q] == se->y[i] && o < k)))
                        above = false;
            mkv_svg_printf(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", px, py, se->color);
            mkv_svg_text(s, se->name);
            mkv_svg_printf(s, ", ");
            mkv_svg_text(s, c->xname);
            mkv_svg_printf(s, " %s: %s ", tick_num(b, se->x[i]), mkv_svg_num(b2, se->y[i]));
            mkv_svg_text(s, c->yunit);
            if (se->tip && se->tip[i]) {
                mkv_svg_printf(s, "; ");
                mkv_svg_text(s, se->tip[i]);
            }
            mkv_svg_printf(s, "</title></circle>\n");
            mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" fill=\"%s\">%s</text>\n",
                           px, above ? py - 8 : py + 16, se->color, mkv_svg_num(b, se->y[i]));
        }
        legend_entry(s, ML + pw + 20, top + 14 + 20.0 * k, se->color, false, se->name);
    }
    free(order);
    free(xs);
    return below + 40 - y0;
}

/* ---- stacked bars ---------------------------------------------------------------- */

double mkv_svg_stack_chart(mkv_svg *s, double y0, double w, const mkv_svg_stacks *c)
{
    char b[32];
    const double pw = w - ML - MR, top = y0 + MT, bottom = top + PH;
    double tmax = 0;
    for (uint32_t i = 0; i < c->n_bars; i++) {
        double t = 0;
        for (uint32_t p = 0; p < c->n_parts; p++) {
            double v = c->v[i * c->n_parts + p];
            if (isfinite(v) && v > 0) t += v;
        }
        tmax = fmax(tmax, t);
    }
    const axis a = nice_axis(0, tmax);
    title_band(s, y0, c->title);
    y_axis(s, &a, top, pw, c->ylabel);
    const double slot = c->n_bars ? pw / c->n_bars : pw, bw = fmin(90, slot * 0.6);
    const bool slanted = slot < 100; /* bar names slanted where they would run into each other */
    for (uint32_t i = 0; i < c->n_bars; i++) {
        const double x = ML + slot * i + (slot - bw) / 2;
        /* the bar's <title>: every part's value, those too small to draw included */
        mkv_svg_printf(s, "<g><title>");
        mkv_svg_text(s, c->bar_name[i]);
        mkv_svg_printf(s, ":");
        double cum = 0;
        for (uint32_t p = 0; p < c->n_parts; p++) {
            double v = c->v[i * c->n_parts + p];
            if (!isfinite(v)) continue;
            mkv_svg_printf(s, " ");
            mkv_svg_text(s, c->part_name[p]);
            mkv_svg_printf(s, " %s;", mkv_svg_num(b, v));
            if (v > 0) cum += v;
        }
        mkv_svg_printf(s, " total %s ", mkv_svg_num(b, cum));
        mkv_svg_text(s, c->unit);
        mkv_svg_printf(s, "</title>\n");
        cum = 0;
        for (uint32_t p = 0; p < c->n_parts; p++) {
            double v = c->v[i * c->n_parts + p];
            if (!isfinite(v) || v <= 0) continue;
            const double yt = y_of(&a, top, cum + v), yb = y_of(&a, top, cum);
            mkv_svg_printf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\"><title>",
                           x, yt, bw, yb - yt, c->part_color[p]);
            mkv_svg_text(s, c->bar_name[i]);
            mkv_svg_printf(s, ": ");
            mkv_svg_text(s, c->part_name[p]);
            mkv_svg_printf(s, " %s ", mkv_svg_num(b, v));
            mkv_svg_text(s, c->unit);
            mkv_svg_printf(s, "</title></rect>\n");
            if (yb - yt >= 14 && bw >= 36)
                mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%s</text>\n",
                               x + bw / 2, (yt + yb) / 2 + 4, mkv_svg_num(b, v));
            cum += v;
        }
        mkv_svg_printf(s, "</g>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\" font-weight=\"bold\">%s</text>\n",
                       x + bw / 2, y_of(&a, top, cum) - 6, mkv_svg_num(b, cum));
        if (slanted)
            mkv_svg_printf(s, "<text transform=\"translate(%.1f,%.1f) rotate(-30)\" text-anchor=\"end\" font-size=\"11\">",
                           x + bw / 2, bottom + 16);
        else
            mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x + bw / 2, bottom + 18);
        mkv_svg_text(s, c->bar_name[i]);
        mkv_svg_printf(s, "</text>\n");
    }
    for (uint32_t p = 0; p < c->n_parts; p++)
        legend_entry(s, ML + pw + 20, top + 14 + 20.0 * (c->n_parts - 1 - p), c->part_color[p], true, c->part_name[p]);
    const double below = slanted ? 48 : 0;
    mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555555\">bar tops: total ", ML + pw / 2,
                   bottom + 40 + below);
    mkv_svg_text(s, c->unit);
    mkv_svg_printf(s, "</text>\n");
    return MT + PH + MB + below;
}

/* ---- grouped bars ----------------------------------------------------------------- */

double mkv_svg_group_chart(mkv_svg *s, double y0, double w, const mkv_svg_groups *c)
{
    char b[32], b2[32];
    const double pw = w - ML - 30, top = y0 + MT, bottom = top + PH; /* the legend goes below */
    double vmin = 0, vmax = 0;
    for (uint32_t i = 0; i < c->n_groups * c->n_members; i++)
        if (isfinite(c->v[i])) {
            vmin = fmin(vmin, c->v[i]);
            vmax = fmax(vmax, c->v[i]);
        }
    const axis a = nice_axis(vmin, vmax);
    title_band(s, y0, c->title);
    y_axis(s, &a, top, pw, c->ylabel);
    const double slot = c->n_groups ? pw / c->n_groups : pw;
    const double bw = c->n_members ? fmin(44, slot * 0.8 / c->n_members) : 0;
    const bool slanted = slot < 120; /* group names slanted where they would run into each other */
    for (uint32_t g = 0; g < c->n_groups; g++) {
        const double gx = ML + slot * g, x_first = gx + (slot - bw * c->n_members) / 2;
        const double first = c->v[g * c->n_members];
        for (uint32_t m = 0; m < c->n_members; m++) {
            const double v = c->v[g * c->n_members + m];
            if (!isfinite(v)) continue;
            const double x = x_first + bw * m, yv = y_of(&a, top, v), y0v = y_of(&a, top, 0);
            mkv_svg_printf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x + 1,
                           fmin(yv, y0v), fmax(bw - 2, 1), fabs(y0v - yv), c->member_color[m]);
            mkv_svg_text(s, c->member_name[m]);
            mkv_svg_printf(s, ", ");
            mkv_svg_text(s, c->group_name[g]);
            mkv_svg_printf(s, ": %s ", mkv_svg_num(b, v));
            mkv_svg_text(s, c->unit);
            if (c->ratio_to_first && m > 0 && isfinite(first) && first != 0) {
                mkv_svg_printf(s, " (%.2fx ", v / first);
                mkv_svg_text(s, c->member_name[0]);
                mkv_svg_printf(s, ")");
            }
            mkv_svg_printf(s, "</title></rect>\n");
            /* the value on the bar, and over the first member's above it */
            const bool ratio = c->ratio_to_first && m > 0 && isfinite(first) && first != 0;
            if (bw >= 30) {
                mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%s</text>\n",
                               x + bw / 2, fmin(yv, y0v) - 4, mkv_svg_num(b2, v));
                if (ratio)
                    mkv_svg_printf(s,
                                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\" fill=\"#555555\">"
                                   "%.2fx</text>\n",
                                   x + bw / 2, fmin(yv, y0v) - 16, v / first);
            } else {
                mkv_svg_printf(s, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" font-size=\"10\">%s",
                               x + bw / 2 + 3, fmin(yv, y0v) - 4, mkv_svg_num(b2, v));
                if (ratio) mkv_svg_printf(s, " (%.2fx)", v / first);
                mkv_svg_printf(s, "</text>\n");
            }
        }
        if (slanted)
            mkv_svg_printf(s, "<text transform=\"translate(%.1f,%.1f) rotate(-30)\" text-anchor=\"end\" font-size=\"11\">",
                           gx + slot / 2, bottom + 16);
        else
            mkv_svg_printf(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">", gx + slot / 2,
                           bottom + 18);
        mkv_svg_text(s, c->group_name[g]);
        mkv_svg_printf(s, "</text>\n");
    }
    /* the legend below the plot: member names (devices, files) are long */
    double y = bottom + (slanted ? 96 : 44);
    for (uint32_t m = 0; m < c->n_members; m++, y += 20) legend_entry(s, ML, y, c->member_color[m], true, c->member_name[m]);
    return y - y0 + 6;
}
