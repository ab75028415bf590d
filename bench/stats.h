/* Medians of timings, shared by bench's measurements (bench.c, the kernel
 * timings of kernel_bench.c and sweep.c, the sweep's prefill check). */
#ifndef MKV_BENCH_STATS_H
#define MKV_BENCH_STATS_H

#include <stdint.h>

#include "ops.h"

/* The median of v[0..n) (the mean of the middle two for even n; 0 for
 * n = 0), sorting v in place. */
double mkv_median_sort(double *v, uint32_t n);

/* The same leaving v as it is (a sorted copy; 0 if the copy cannot be made). */
double mkv_median(const double *v, uint32_t n);

/* The median GPU time in ms of `reps` repetitions that rec recorded back
 * to back with a timestamp after every dispatch (a repetition's
 * dispatches: n_marks / reps), once its submission has finished. `who`
 * names the caller in errors ("bench --kernels"). */
mkv_status mkv_reps_median_ms(mkv_device *d, const mkv_recorder *rec, uint32_t reps, const char *who, double *ms,
                              mkv_error *err);

#endif
