/* Reading saved `bench --json` results back: one result as an SVG plot
 * (bench --plot), several side by side as a table with ratios to the first
 * and as grouped bars (mekivk report). Host-only: no Vulkan.
 *
 * What is read (DESIGN §7's keys; each optional unless said): device,
 * driver, model, weight_types, kv_type, ctx, n_decode, reps, probe_gbps,
 * host_read_gbps, meki_over_dense, meki_over_dense_paired, mekivk_version,
 * commit, tuning {source, row} (or a string), device_info {api_version
 * (packed as VK_MAKE_API_VERSION or a string), subgroup_size, other scalars};
 * runs (required, a non-empty array) of {mode (required), decode_tok_s,
 * prefill_tok_s, weight_gbps, prefill [{prompt, tok_s, stall_ms}],
 * breakdown {attention, ffn, meki, lm_head, other} (ms per token),
 * prefill_breakdown (the same object, at prefill_profile_prompt, or an
 * array of them with a prompt key)}; contexts [{ctx, runs [{mode, decode_tok_s}], meki_over_dense}].
 * A key that is present with the wrong type is an error naming it; null
 * counts as absent. A `bench --kernels` result (no runs; kernels [{name
 * (required), shape, ms, gbps, of_probe}], attention [{n_kv (required), ms,
 * gbps, of_probe}], config) gives the kernels' rows and plot panel; a
 * `bench --probe` result is refused, saying which it is.
 *
 * Numbers are written with mkv_svg_num (svg.h) everywhere: tables and
 * plots; ratios as "%.2fx"; KV and prompt lengths as integers. */
#ifndef MKV_REPORT_H
#define MKV_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mekivk.h"

/* From ONE bench --json object (text[0..n), need not be NUL-terminated),
 * writes out_path atomically: an SVG with (a) decode tok/s against KV
 * length, a line per mode (from `contexts`, else the one `ctx`), MeKi /
 * dense under each length; (b) prefill tok/s against prompt length, a line
 * per mode; (c) the decode time breakdown per token as stacked bars, a bar
 * per mode, and (d) the prefill breakdown likewise. A panel whose data is
 * absent is replaced by a note saying so. The title names the device, the
 * model and the tuning row. Errors: MKV_ERR_FORMAT for text that is not a
 * bench result ("bench JSON: ..."), else the write's. */
mkv_status mkv_bench_plot_svg(const char *bench_json, size_t n, const char *out_path, mkv_error *err);

/* One saved result: `name` labels it (a file name) and prefixes messages. */
typedef struct mkv_report_input {
    const char *name;
    const char *text;
    size_t len;
} mkv_report_input;

/* Prints the side-by-side table of n >= 1 results to out: a row per
 * property (device, driver, API version, subgroup size, tuning, version,
 * commit, model, weight types, KV type, ctx, probe GB/s, decode tok/s per
 * mode and KV length, MeKi / dense, prefill tok/s per mode and prompt
 * length, weight GB/s, breakdown per component; a kernels result's config
 * and each kernel's GB/s, share of the probe and ms), a column per result;
 * numbers of the second and later columns are followed by their ratio to
 * the first column's ("12.30 (1.84x)"). Rows one result lacks show "-".
 * markdown: a GitHub table (header row, separator row) instead of aligned
 * text. Nothing is printed unless every input is a bench result. */
mkv_status mkv_report_table(const mkv_report_input *in, uint32_t n, bool markdown, FILE *out, mkv_error *err);

/* Grouped bars of the same results written to out_path atomically: decode
 * tok/s (a group per mode and KV length) and prefill tok/s (a group per
 * mode and prompt length), then the kernels' GB/s (a group per kernel),
 * a bar per result, coloured per result. When every result is a kernels
 * one, only the kernels' panel. */
mkv_status mkv_report_plot_svg(const mkv_report_input *in, uint32_t n, const char *out_path, mkv_error *err);

/* `mekivk report A.json B.json ... [--markdown] [--plot F.svg]`: 0 on
 * success, 1 if a file cannot be read or is not a bench result or the plot
 * cannot be written, 2 on a usage error. */
int mkv_cmd_report(int argc, char **argv);

#endif
