/* mekivk bench without a model (bench_alone.c). */
#ifndef MKV_BENCH_ALONE_H
#define MKV_BENCH_ALONE_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

/* bench --probe: the sweep's best figure and winning shape (with json the
 * whole sweep), and beside a CPU device the host's read bandwidth. Exit code. */
int mkv_bench_probe(const mkv_device_opts *dopts, bool json);

/* What bench --kernels measures: the matrix-vector product of each weight
 * type whose bit (1u << type) is in types at config's FFN shapes, and
 * decode attention at the n_kv KV lengths kv[] (0 of them: none). */
#define MKV_BENCH_KERNELS_MAX_KV 8
typedef struct mkv_bench_kernels_opts {
    const char *config;
    uint32_t types;
    uint32_t kv[MKV_BENCH_KERNELS_MAX_KV], n_kv;
    bool json;
} mkv_bench_kernels_opts;
/* bench --kernels: those, each against the probe. Exit code (2: an unknown
 * config). */
int mkv_bench_kernels(const mkv_device_opts *dopts, const mkv_bench_kernels_opts *o);
/* --types: names of weight types separated by commas (f16, q4_k, ...), or
 * "none" (attention alone), into a mask; false + a message naming the flag,
 * the value and the types if not. */
bool mkv_bench_parse_types(const char *flag, const char *s, uint32_t *types);

/* The host's own read bandwidth (GB/s), measured only beside a CPU device,
 * whose memory is the host's; 0 elsewhere or when it cannot run (said on
 * stderr). *threads: how many read. */
double mkv_bench_host_read_gbps(const mkv_device *dev, uint32_t *threads);

#endif
