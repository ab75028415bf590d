/* Fuzz target: a saved `mekivk bench --json` result as `mekivk report` and
 * `bench --plot` read it (hosttools/report_parse.c, report_table.c,
 * report_plot.c): the table of the result beside itself (every ratio
 * path), its plot, and bench's own plot of it.
 * Input: the file's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null_out;
    if (!null_out && !(null_out = fopen("/dev/null", "w"))) abort(); /* a broken harness */
    /* the readers take text and a length; a copy, so that nothing reads past it */
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    const mkv_report_input in[2] = {{"a.json", text, size}, {"b.json", text, size}};
    char svg[4096];
    snprintf(svg, sizeof svg, "%s/plot.svg", fz_dir());
    mkv_error err;
    if (mkv_report_table(in, 2, false, null_out, &err) == MKV_OK) {
        (void)mkv_report_table(in, 1, true, null_out, &err);
        (void)mkv_report_plot_svg(in, 2, svg, &err);
        (void)mkv_bench_plot_svg(text, size, svg, &err);
    }
    free(text);
    return 0;
}
