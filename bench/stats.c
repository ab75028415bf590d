/* Medians of timings (stats.h). */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mkv_median_sort(double *v, uint32_t n)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mkv_median(const double *v, uint32_t n)
{
    if (n == 0) return 0;
    double *t = malloc(n * sizeof *t);
    if (!t) return 0;
    memcpy(t, v, n * sizeof *t);
    const double m = mkv_median_sort(t, n);
    free(t);
    return m;
}
