/* mekivk report: several saved `bench --json` results side by side, with
 * ratios to the first (report.c does the work). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "report.h"

#define REPORT_MAX_FILE (64ull << 20) /* a bench result is a few KiB */

/* As cli_fail, without cli.c: that file needs the Vulkan runtime, and
 * report is host-only (linked into host-only tests). */
static int fail(const mkv_error *err)
{
    fprintf(stderr, "mekivk report: %s (%s)\n", err->msg[0] ? err->msg : mkv_status_desc(err->status),
            mkv_status_name(err->status));
    return 1;
}

static void help(void)
{
    printf("usage: mekivk report A.json [B.json ...] [--markdown] [--plot F.svg]\n\n"
           "Puts saved `mekivk bench --model F --json` and `mekivk bench --kernels --json`\n"
           "results side by side (devices, drivers, builds): a row per property and figure,\n"
           "a column per file. Numbers of the second and later columns are followed by\n"
           "their ratio to the first column's, as in \"12.30 (1.84x)\"; a figure a result\n"
           "lacks shows \"-\".\n"
           "Rows: device, driver, Vulkan API version, subgroup size, tuning, mekivk\n"
           "version and commit (where the results record them), model, weight types, KV\n"
           "cache type, ctx, probe GB/s, decode tok/s per mode and KV length (every length\n"
           "of `contexts` where present), MeKi / dense, prefill tok/s per mode and prompt\n"
           "length, weight GB/s, and the time breakdown per component (ms per token);\n"
           "from `bench --kernels` results: the kernel shapes (config), and per product\n"
           "(matvec_T and its shape) and per attention KV length its GB/s, share of the\n"
           "probe and ms. Results of `bench --probe` are refused.\n"
           "  --markdown   a Markdown table (GitHub) instead of aligned text\n"
           "  --plot F.svg also write grouped bars of decode and prefill tok/s, and of the\n"
           "               kernels' GB/s, a bar per file, to F.svg (plain SVG; tooltips give\n"
           "               the ratios)\n"
           "Exit status: 0 done, 1 a file unreadable or not a bench result (or the plot\n"
           "not written), 2 a usage error.\n");
}

int mkv_cmd_report(int argc, char **argv)
{
    bool markdown = false;
    const char *plot = NULL;
    const char **paths = calloc(argc > 0 ? (size_t)argc : 1, sizeof *paths);
    mkv_report_input *in = calloc(argc > 0 ? (size_t)argc : 1, sizeof *in);
    uint32_t n = 0;
    int rc = 2;
    mkv_error err = {0};
    if (!paths || !in) {
        fprintf(stderr, "mekivk report: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--markdown")) {
            markdown = true;
        } else if (!strcmp(a, "--plot")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mekivk report: --plot needs a value (an SVG file to write)\n");
                goto out;
            }
            plot = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mekivk report: unknown option '%s' (see --help)\n", a);
            goto out;
        } else {
            paths[n++] = a;
        }
    }
    if (n == 0) {
        fprintf(stderr, "mekivk report: at least one bench JSON file is required (see --help)\n");
        goto out;
    }
    rc = 1;
    for (uint32_t i = 0; i < n; i++) {
        char *text;
        uint64_t len;
        if (mkv_read_small_file(paths[i], REPORT_MAX_FILE, &text, &len, &err)) {
            rc = fail(&err);
            goto out;
        }
        in[i] = (mkv_report_input){.name = paths[i], .text = text, .len = (size_t)len};
    }
    if (mkv_report_table(in, n, markdown, stdout, &err) || (plot && mkv_report_plot_svg(in, n, plot, &err))) {
        fflush(stdout);
        rc = fail(&err);
        goto out;
    }
    if (plot) fprintf(stderr, "mekivk report: wrote %s\n", plot);
    rc = 0;
out:
    if (in)
        for (uint32_t i = 0; i < n; i++) free((char *)in[i].text);
    free(in);
    free(paths);
    return rc;
}
