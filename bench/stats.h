/* Medians of timings, shared by bench's measurements (bench.c, the kernel
 * timings of kernel_bench.c and sweep.c, the sweep's prefill check). */
#ifndef MKV_BENCH_STATS_H
#define MKV_BENCH_STATS_H

#include <stdint.h>

/* The median of v[0..n) (the mean of the middle two for even n; 0 for
 * n = 0), sorting v in place. */
double mkv_median_sort(double *v, uint32_t n);

/* The same leaving v as it is (a sorted copy; 0 if the copy cannot be made). */
double mkv_median(const double *v, uint32_t n);

#endif
