/* Internal to `mekivk report` and `bench --plot` (report.h is their
 * interface): saved bench results parsed into docs (report_parse.c), the
 * docs' figures as labelled rows of a table (report_table.c), and the SVG
 * plots of both (report_plot.c). */
#ifndef MKV_REPORT_DOC_H
#define MKV_REPORT_DOC_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "json.h"
#include "report.h"

#define RP_MAX_MODES 8
#define RP_MAX_POINTS 64 /* KV lengths, prompt lengths, prefill breakdown bars */
#define RP_PARTS 5

/* The breakdown's parts: their keys in a bench JSON, their names in a
 * table or plot, their colours (report_parse.c) */
extern const char *const rp_part_key[RP_PARTS];
extern const char *const rp_part_name[RP_PARTS];
extern const char *const rp_part_color[RP_PARTS];

typedef struct rp_prefill {
    double prompt, tok_s, stall_ms; /* stall_ms NaN when absent */
} rp_prefill;

typedef struct rp_mode {
    const char *name;                     /* "dense", "meki" */
    double decode, weight_gbps;           /* at the top-level ctx; NaN when absent */
    rp_prefill prefill[RP_MAX_POINTS];    /* ascending prompt */
    uint32_t n_prefill;
    bool has_bd;
    double bd[RP_PARTS];                  /* decode ms per token; NaN: part absent */
} rp_mode;

typedef struct rp_ctx {
    double ctx, tok_s[RP_MAX_MODES], ratio, paired; /* NaN when absent */
    bool has_bd[RP_MAX_MODES];
    double bd[RP_MAX_MODES][RP_PARTS]; /* decode ms per token at this length (bench --profile) */
} rp_ctx;

typedef struct rp_bar {
    char name[96];
    double v[RP_PARTS];
} rp_bar;

/* A `bench --kernels` result's figures: a product alone ("matvec_q4_0
 * gate", its name and shape) or decode attention at a KV length. */
#define RP_MAX_KERNELS 64
typedef struct rp_kernel {
    char label[96];
    double ms, gbps, of_probe; /* NaN when absent */
} rp_kernel;

typedef struct rp_doc {
    const char *name; /* the file, in messages */
    mkv_json j;       /* the strings below point into it */
    const char *device, *driver, *model, *weight_types, *kv_type, *version, *commit;
    char tuning[512], api[48];
    double ctx, n_decode, reps, probe, host, subgroup;
    uint32_t device_info; /* the device_info object, or MKV_JSON_NONE */
    rp_mode modes[RP_MAX_MODES];
    uint32_t n_modes;
    rp_ctx ctxs[RP_MAX_POINTS]; /* ascending ctx */
    uint32_t n_ctx;
    rp_bar pbars[RP_MAX_POINTS]; /* prefill breakdown, one bar per mode (and prompt) */
    uint32_t n_pbars;
    /* a `bench --kernels` result (no runs): its config, the products, then
     * attention at each KV length */
    bool kernels_result;
    const char *config;
    rp_kernel kernels[RP_MAX_KERNELS];
    uint32_t n_kernels;
} rp_doc;

/* Parses text[0..len) as one bench --json result into a new doc; name is
 * the file, in messages. */
mkv_status rp_doc_parse(const char *name, const char *text, size_t len, rp_doc **out, mkv_error *err);
void rp_doc_free(rp_doc *d);
/* Every input's doc, or none (an error names the file). */
mkv_status rp_docs_parse(const mkv_report_input *in, uint32_t n, rp_doc ***out, mkv_error *err);
void rp_docs_free(rp_doc **docs, uint32_t n);

/* ---- the table: a row per label, a column per result ---- */

enum { PLOT_NONE, PLOT_DECODE, PLOT_PREFILL, PLOT_KERNELS };

typedef struct rp_cell {
    bool has, is_num;
    double v;
    char text[512]; /* as long as the longest field a doc keeps (tuning) */
} rp_cell;

typedef struct rp_row {
    char label[128];
    int plot;        /* which report --plot panel shows it */
    char group[96];  /* its group there ("dense, KV 512") */
    rp_cell *cell;   /* one per result */
} rp_row;

typedef struct rp_table {
    rp_row *row;
    uint32_t n, cap, n_cols;
} rp_table;

/* The rows of n docs' figures, lined up by label (n columns). */
mkv_status rp_table_build(rp_doc *const *docs, uint32_t n, rp_table *t, mkv_error *err);
void rp_table_free(rp_table *t);

#endif
