/* mekivk bench without a model (bench_alone.c). */
#ifndef MKV_BENCH_ALONE_H
#define MKV_BENCH_ALONE_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

/* bench --probe: the sweep's best figure and winning shape (with json the
 * whole sweep), and beside a CPU device the host's read bandwidth. Exit code. */
int mkv_bench_probe(const mkv_device_opts *dopts, bool json);

/* bench --kernels: every weight type's matrix-vector product at config's
 * FFN shapes and decode attention at three KV lengths, against the probe.
 * Exit code (2: an unknown config). */
int mkv_bench_kernels(const mkv_device_opts *dopts, const char *config, bool json);

/* The host's own read bandwidth (GB/s), measured only beside a CPU device,
 * whose memory is the host's; 0 elsewhere or when it cannot run (said on
 * stderr). *threads: how many read. */
double mkv_bench_host_read_gbps(const mkv_device *dev, uint32_t *threads);

#endif
