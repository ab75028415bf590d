/* What a bench result ran on, for every JSON (and text) form of bench:
 * the device (vendor, device and driver ids, driver and Vulkan versions,
 * subgroup size, CPU, unified memory), mekivk's version and commit, and
 * where the kernel tunables came from. */
#ifndef MKV_BENCH_META_H
#define MKV_BENCH_META_H

#include <stdio.h>

#include "mekivk.h"

/* mekivk's version (the CMake project's) and the source's commit (git
 * describe --always --dirty when CMake configured; "unknown" without git). */
const char *mkv_bench_version(void);
const char *mkv_bench_commit(void);

/* JSON members, each followed by ", ": "device", "driver", "device_info":
 * {vendor_id, device_id, driver_id, driver_version, api_version
 * ("1.3.230"), subgroup_size, cpu, uma}, "mekivk_version", "commit",
 * "tuning": {source, row}. */
void mkv_bench_print_meta_json(FILE *f, const mkv_device *dev);
/* The same as one line of text. */
void mkv_bench_print_meta_text(FILE *f, const mkv_device *dev);

#endif
