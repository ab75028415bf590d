/* The bandwidth probe's kernel (internal): one streaming read of a buffer in
 * a given shape. The public side, the sweep over shapes, is
 * mkv_device_bandwidth_sweep (mekivk.h). */
#ifndef MKV_PROBE_H
#define MKV_PROBE_H

#include "ops.h"

/* How invocations walk the buffer: the variants of shaders/bw_probe.comp. */
typedef enum mkv_probe_pattern {
    MKV_PROBE_BLOCK,    /* a workgroup's lanes interleaved over its block */
    MKV_PROBE_RUN,      /* each invocation its own contiguous run */
    MKV_PROBE_GRID,     /* grid-stride over the whole buffer */
    MKV_PROBE_BLOCK_TB, /* the same three through a uniform texel buffer */
    MKV_PROBE_RUN_TB,   /* (devices with texel reads; data needs its view) */
    MKV_PROBE_GRID_TB,
    MKV_PROBE_PATTERN_COUNT
} mkv_probe_pattern;

/* "block", "run", "grid", "block_tb", "run_tb", "grid_tb". */
const char *mkv_probe_pattern_name(mkv_probe_pattern p);

typedef struct mkv_probe_shape {
    mkv_probe_pattern pattern;
    uint32_t wg;        /* invocations per workgroup (power of two) */
    uint32_t vec;       /* 16-byte loads per invocation per loop iteration (>= 1) */
    uint32_t per_group; /* 16-byte chunks per workgroup (>= 1) */
} mkv_probe_shape;

/* Workgroups a read of n16 chunks in this shape dispatches. */
uint32_t mkv_probe_groups(const mkv_probe_shape *s, uint32_t n16);

/* Records one read of data's first `bytes` (a multiple of 16, at least 16)
 * in `shape`: out[0] ^= the XOR of all its 32-bit words. `bytes` is what the
 * recorder's timing attributes to the dispatch. */
mkv_status mkv_probe_record(mkv_recorder *r, const mkv_probe_shape *shape, const mkv_buffer *data, uint64_t bytes,
                            const mkv_buffer *out, mkv_error *err);

#endif
