/* A tiny SVG writer for mekivk's plots (bench --plot, report --plot): a
 * document built in memory, three chart kinds drawn into it, and an atomic
 * save. Plain SVG 1.1: no scripts, no external resources, no CSS; every
 * plotted value is also written as text (a value label and a <title>
 * tooltip), formatted by mkv_svg_num, so the numbers can be read back. */
#ifndef MKV_SVG_H
#define MKV_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A document being built. Zero-initialise; appending never fails outright:
 * an allocation failure sets oom, which mkv_svg_save reports. */
typedef struct mkv_svg {
    char *p;
    size_t n, cap;
    bool oom;
} mkv_svg;

void mkv_svg_printf(mkv_svg *s, const char *fmt, ...) MKV_PRINTF(2, 3);
/* Appends t as XML text or attribute content: & < > " ' as entities,
 * control characters and bytes that are not valid UTF-8 as '?'. */
void mkv_svg_text(mkv_svg *s, const char *t);
void mkv_svg_free(mkv_svg *s);

/* The one number format of the plots and of `mekivk report`'s tables:
 * |v| >= 100: one decimal ("123.4"); >= 1: two ("5.60"); >= 0.01: three
 * ("0.960"); below that two significant digits ("0.0034", "0"); "n/a" for
 * NaN or infinity. Writes into buf (32 bytes) and returns it. */
const char *mkv_svg_num(char buf[32], double v);

/* Writes the XML declaration, an <svg> element of w x h pixels whose
 * <title> is `title` (white background), then body, then </svg>, to path
 * atomically (a temporary beside it, renamed over it once complete). */
mkv_status mkv_svg_save(const mkv_svg *body, double w, double h, const char *title, const char *path,
                        mkv_error *err);

/* Colour i of a fixed palette (cycles). */
const char *mkv_svg_color(uint32_t i);

/* ---- charts: each is drawn at vertical offset y0, w pixels wide, and
 * returns the height it took. Titles and axis labels are plain text. ---- */

/* One line of a line chart: n points (x ascending or not: drawn sorted). */
typedef struct mkv_svg_series {
    const char *name, *color;
    uint32_t n;
    const double *x, *y;
    const char *const *tip; /* per point, appended to its tooltip; NULL or NULL entries: none */
} mkv_svg_series;

typedef struct mkv_svg_lines {
    const char *title;
    const char *xlabel, *ylabel; /* axis titles, with units */
    const char *xname, *yunit;   /* tooltip: "<series>, <xname> <x>: <y> <yunit>" */
    const mkv_svg_series *series;
    uint32_t n_series;
    /* Optional row under the x axis: text at given x values (a ratio per
     * KV length), captioned row_label at the left. */
    const char *row_label;
    uint32_t n_row;
    const double *row_x;
    const char *const *row_text;
} mkv_svg_lines;

/* A line chart. The x axis is log2 when every x is positive and they
 * span a factor of 4 or more, else linear; its ticks are the x values
 * present. Each point: a marker with a <title> and its value as a label. */
double mkv_svg_line_chart(mkv_svg *s, double y0, double w, const mkv_svg_lines *c);

/* Stacked bars: n_bars bars of n_parts parts each. */
typedef struct mkv_svg_stacks {
    const char *title, *ylabel, *unit;
    uint32_t n_parts;
    const char *const *part_name, *const *part_color;
    uint32_t n_bars;
    const char *const *bar_name;
    const double *v; /* v[bar * n_parts + part]; NaN: absent */
} mkv_svg_stacks;

/* Each bar stacks its parts bottom-up in part order (a negative or absent
 * part takes no height), each with a <title> and, where it has room, its
 * value inside; the total above the bar. */
double mkv_svg_stack_chart(mkv_svg *s, double y0, double w, const mkv_svg_stacks *c);

/* Grouped bars: n_groups groups along x, one bar per member in each. */
typedef struct mkv_svg_groups {
    const char *title, *ylabel, *unit;
    uint32_t n_groups;
    const char *const *group_name;
    uint32_t n_members;
    const char *const *member_name, *const *member_color;
    const double *v;     /* v[group * n_members + member]; NaN: absent */
    bool ratio_to_first; /* tooltips add each value over the group's first member's */
} mkv_svg_groups;

double mkv_svg_group_chart(mkv_svg *s, double y0, double w, const mkv_svg_groups *c);

/* A panel that holds only a title and a line of text (data absent). */
double mkv_svg_note(mkv_svg *s, double y0, double w, const char *title, const char *note);

#endif
