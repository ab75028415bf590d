/* The bandwidth probe (mkv_device_bandwidth_sweep): how fast the device
 * streams a buffer, the yardstick for decode, which reads every weight once
 * a token. Which shape of read kernel gets there differs by device (DESIGN
 * §9: on lavapipe by a factor of three between simple kernels), so every
 * shape of the sweep is timed and the best kept, a median of PROBE_REPS
 * reads (see sweep()). A read is the whole buffer, a submission of its own
 * timed by GPU timestamps; the buffer is far larger than any cache, so
 * every read streams from memory. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bw_probe.h"
#include "clock.h"
#include "probe.h"

#define PROBE_REPS 3
#define PROBE_AUTO_BYTES (256ull << 20)
#define PROBE_MIN_AUTO_BYTES (16ull << 20)

/* The sweep's axes. Workgroup widths and loads in flight per invocation as
 * a GPU's occupancy and latency want them; bytes per workgroup from many
 * small blocks (a GPU's scheduler) to a few long streams (a CPU driver,
 * which splits the grid statically between its threads). */
static const uint32_t sweep_wg[] = {64, 256};
static const uint32_t sweep_vec[] = {1, 4};
static const uint64_t sweep_group_bytes[] = {64u << 10, 1u << 20, 16u << 20};

static const struct {
    const char *name;
    mkv_kernel_id kernel;
} patterns[MKV_PROBE_PATTERN_COUNT] = {
    [MKV_PROBE_BLOCK] = {"block", MKV_KERNEL_BW_PROBE},
    [MKV_PROBE_RUN] = {"run", MKV_KERNEL_BW_PROBE_RUN},
    [MKV_PROBE_GRID] = {"grid", MKV_KERNEL_BW_PROBE_GRID},
    [MKV_PROBE_BLOCK_TB] = {"block_tb", MKV_KERNEL_BW_PROBE_TB},
    [MKV_PROBE_RUN_TB] = {"run_tb", MKV_KERNEL_BW_PROBE_RUN_TB},
    [MKV_PROBE_GRID_TB] = {"grid_tb", MKV_KERNEL_BW_PROBE_GRID_TB},
};

const char *mkv_probe_pattern_name(mkv_probe_pattern p)
{
    return (unsigned)p < MKV_PROBE_PATTERN_COUNT ? patterns[p].name : "?";
}

uint32_t mkv_probe_groups(const mkv_probe_shape *s, uint32_t n16)
{
    return (uint32_t)(((uint64_t)n16 + s->per_group - 1) / s->per_group);
}

mkv_status mkv_probe_record(mkv_recorder *r, const mkv_probe_shape *s, const mkv_buffer *data, uint64_t bytes,
                            const mkv_buffer *out, mkv_error *err)
{
    if ((unsigned)s->pattern >= MKV_PROBE_PATTERN_COUNT || s->vec == 0 || s->per_group == 0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bw_probe: pattern %d, vec %u, per_group %u: not a shape",
                        (int)s->pattern, s->vec, s->per_group);
    if (bytes < 16 || bytes % 16 || bytes / 16 > UINT32_MAX)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bw_probe: bytes = %llu: must be a multiple of 16 in 16..64 GiB",
                        (unsigned long long)bytes);
    const uint32_t n16 = (uint32_t)(bytes / 16);
    mkv_pc_bw_probe pc = {.n16 = n16, .per_group = s->per_group};
    const mkv_buffer *b[] = {data, out};
    return mkv_rec_dispatch(r, patterns[s->pattern].kernel, mkv_spec2(s->wg, s->vec), b, 2, &pc, sizeof pc,
                            mkv_probe_groups(s, n16), 1, bytes, err);
}

/* ---- timing one shape ---- */

typedef struct probe_rec {
    mkv_recorder rec;
    mkv_device *d;
    const mkv_probe_shape *shape;
    const mkv_buffer *data, *out;
    uint64_t bytes;
    mkv_status st;
    mkv_error *err;
} probe_rec;

static void record_read(const mkv_device *d, VkCommandBuffer cb, void *user)
{
    probe_rec *p = user;
    if ((p->st = mkv_recorder_init(&p->rec, p->d, cb, p->d->timestamps, p->err))) return;
    p->st = mkv_probe_record(&p->rec, p->shape, p->data, p->bytes, p->out, p->err);
}

/* Seconds one read in `shape` takes: one submission, timed by GPU
 * timestamps, or by the host clock around it where there are none. */
static mkv_status time_read(mkv_device *d, const mkv_probe_shape *shape, const mkv_buffer *data,
                            const mkv_buffer *out, uint64_t bytes, double *secs, mkv_error *err)
{
    probe_rec p = {.d = d, .shape = shape, .data = data, .out = out, .bytes = bytes, .err = err};
    const double t0 = mkv_now_ms();
    mkv_status st = mkv_device_submit_once(d, record_read, &p, err);
    *secs = (mkv_now_ms() - t0) * 1e-3;
    if (!st) st = p.st;
    if (!st && p.rec.query_pool) {
        uint64_t ts[2];
        VkResult r = d->vk.vkGetQueryPoolResults(d->dev, p.rec.query_pool, 0, 2, sizeof ts, ts, sizeof ts[0],
                                           VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r != VK_SUCCESS) st = mkv_vk_fail(err, r, "vkGetQueryPoolResults");
        else *secs = (double)(ts[1] - ts[0]) * d->timestamp_period_ns * 1e-9;
    }
    mkv_recorder_release(&p.rec);
    return st;
}

static double gbps_of(uint64_t bytes, double secs) { return secs > 0 ? (double)bytes / secs * 1e-9 : 0; }

/* Median GB/s of PROBE_REPS reads, the first of which took first_s. */
static mkv_status confirm(mkv_device *d, const mkv_probe_shape *shape, const mkv_buffer *data, const mkv_buffer *out,
                          uint64_t bytes, double first_s, double *gbps, mkv_error *err)
{
    mkv_status st;
    double s[PROBE_REPS] = {first_s};
    for (uint32_t i = 1; i < PROBE_REPS; i++) TRY(time_read(d, shape, data, out, bytes, &s[i], err));
    for (uint32_t i = 1; i < PROBE_REPS; i++) /* insertion sort: a handful of values */
        for (uint32_t j = i; j > 0 && s[j] < s[j - 1]; j--) {
            double t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    *gbps = gbps_of(bytes, s[PROBE_REPS / 2]);
    return MKV_OK;
}

/* ---- the sweep ---- */

/* Whether the device can launch the shape on n16 chunks. */
static bool launchable(const mkv_device *d, const mkv_probe_shape *s, uint32_t n16)
{
    const VkPhysicalDeviceLimits *l = &d->props.limits;
    return s->wg <= l->maxComputeWorkGroupSize[0] && s->wg <= l->maxComputeWorkGroupInvocations &&
           mkv_probe_groups(s, n16) <= l->maxComputeWorkGroupCount[0];
}

/* Screening: one timed read of every shape of the axes the device can
 * launch (after one untimed read that wakes the device: clocks, first-use
 * costs). Without timestamps the host clock would count a pipeline's
 * creation in its first read, so each shape gets an untimed read first. */
static mkv_status screen(mkv_device *d, const mkv_buffer *data, const mkv_buffer *out, uint64_t bytes,
                         mkv_probe_shape *shapes, double *first_s, mkv_bandwidth_sweep *sw, mkv_error *err)
{
    mkv_status st;
    const uint32_t n16 = (uint32_t)(bytes / 16);
    const uint32_t n_sizes = sizeof sweep_group_bytes / sizeof sweep_group_bytes[0];
    double ignored;
    for (uint32_t p = 0; p < MKV_PROBE_PATTERN_COUNT; p++)
        for (uint32_t w = 0; w < sizeof sweep_wg / sizeof sweep_wg[0] && (p < MKV_PROBE_BLOCK_TB || data->view); w++)
            for (uint32_t v = 0; v < sizeof sweep_vec / sizeof sweep_vec[0]; v++)
                for (uint32_t g = 0; g < n_sizes; g++) {
                    const uint64_t per = sweep_group_bytes[g] / 16;
                    /* a buffer no larger than a smaller block already gave one workgroup */
                    if (g > 0 && sweep_group_bytes[g - 1] / 16 >= n16) break;
                    const uint32_t i = sw->n_shapes;
                    mkv_probe_shape *s = &shapes[i];
                    *s = (mkv_probe_shape){.pattern = (mkv_probe_pattern)p, .wg = sweep_wg[w], .vec = sweep_vec[v],
                                           .per_group = (uint32_t)(per < n16 ? per : n16)};
                    if (!launchable(d, s, n16) || i == MKV_BANDWIDTH_MAX_SHAPES) continue;
                    if (i == 0 || !d->timestamps) TRY(time_read(d, s, data, out, bytes, &ignored, err));
                    TRY(time_read(d, s, data, out, bytes, &first_s[i], err));
                    sw->shapes[i] = (mkv_bandwidth_shape){
                        .pattern = patterns[p].name, .wg = s->wg, .vec = s->vec, .groups = mkv_probe_groups(s, n16),
                        .group_bytes = 16ull * s->per_group, .gbps = gbps_of(bytes, first_s[i]), .reads = 1};
                    sw->n_shapes++;
                }
    return MKV_OK;
}

/* Screening, then confirmation: the fastest shape read only once is read
 * PROBE_REPS - 1 more times and stands at the median of its reads, until a
 * confirmed median beats every single read. The best is then the maximum
 * of the table and a median, not one lucky read; confirming costs a few
 * shapes' reads, not the whole sweep's. */
static mkv_status sweep(mkv_device *d, const mkv_buffer *data, const mkv_buffer *out, uint64_t bytes,
                        mkv_bandwidth_sweep *sw, mkv_error *err)
{
    mkv_status st;
    mkv_probe_shape shapes[MKV_BANDWIDTH_MAX_SHAPES];
    double first_s[MKV_BANDWIDTH_MAX_SHAPES];
    TRY(screen(d, data, out, bytes, shapes, first_s, sw, err));
    for (;;) {
        uint32_t u = UINT32_MAX;
        for (uint32_t i = 0; i < sw->n_shapes; i++)
            if (sw->shapes[i].reads == 1 && (u == UINT32_MAX || sw->shapes[i].gbps > sw->shapes[u].gbps)) u = i;
        if (u == UINT32_MAX || (sw->best_gbps > 0 && sw->shapes[u].gbps <= sw->best_gbps)) break;
        mkv_bandwidth_shape *row = &sw->shapes[u];
        TRY(confirm(d, &shapes[u], data, out, bytes, first_s[u], &row->gbps, err));
        row->reads = PROBE_REPS;
        if (row->gbps > sw->best_gbps) {
            sw->best = u;
            sw->best_gbps = row->gbps;
        }
    }
    return MKV_OK;
}

/* The automatic size: PROBE_AUTO_BYTES, or less where one binding or a
 * quarter of the largest device-local heap cannot hold it. */
static uint64_t auto_bytes(const mkv_device *d)
{
    uint64_t bytes = PROBE_AUTO_BYTES, heap = 0;
    for (uint32_t i = 0; i < d->mem_props.memoryHeapCount; i++)
        if (d->mem_props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT && d->mem_props.memoryHeaps[i].size > heap)
            heap = d->mem_props.memoryHeaps[i].size;
    if (heap && heap / 4 < bytes) bytes = heap / 4;
    if (d->max_storage_range < bytes) bytes = d->max_storage_range;
    return bytes & ~15ull;
}

mkv_status mkv_device_bandwidth_sweep(mkv_device *d, uint64_t bytes, mkv_bandwidth_sweep *out, mkv_error *err)
{
    memset(out, 0, sizeof *out);
    const double t0 = mkv_now_ms();
    const bool automatic = bytes == 0;
    if (automatic) {
        bytes = auto_bytes(d);
        if (bytes < PROBE_MIN_AUTO_BYTES)
            return mkv_fail(err, MKV_ERR_DEVICE_LIMIT,
                            "bandwidth probe: %llu bytes (maxStorageBufferRange or a quarter of device memory): "
                            "below the %llu MiB needed to defeat caches",
                            (unsigned long long)bytes, PROBE_MIN_AUTO_BYTES >> 20);
    } else if (bytes < 16 || bytes % 16 || bytes > d->max_storage_range) {
        return mkv_fail(err, MKV_ERR_INVALID_ARG,
                        "bandwidth probe: bytes = %llu: must be a multiple of 16 in 16..%llu (maxStorageBufferRange)",
                        (unsigned long long)bytes, (unsigned long long)d->max_storage_range);
    }
    mkv_buffer data = {0}, res = {0};
    mkv_status st = mkv_buffer_create(d, bytes, MKV_MEM_DEVICE, &data, err);
    while (st == MKV_ERR_NO_MEMORY && automatic && bytes / 2 >= PROBE_MIN_AUTO_BYTES) {
        bytes /= 2;
        st = mkv_buffer_create(d, bytes, MKV_MEM_DEVICE, &data, err);
    }
    if (st) goto out;
    if ((st = mkv_buffer_create(d, 16, MKV_MEM_DEVICE, &res, err))) goto out;
    out->bytes = bytes;
    out->reps = PROBE_REPS;
    out->gpu_timer = d->timestamps;
    st = sweep(d, &data, &res, bytes, out, err);
out:
    mkv_buffer_destroy(d, &data);
    mkv_buffer_destroy(d, &res);
    out->seconds = (mkv_now_ms() - t0) * 1e-3;
    if (st) out->best_gbps = 0;
    return st;
}

mkv_status mkv_device_bandwidth(mkv_device *d, uint64_t bytes, double *gbps, mkv_error *err)
{
    mkv_bandwidth_sweep *sw = mkv_malloc(sizeof *sw);
    *gbps = 0;
    if (!sw) return mkv_fail(err, MKV_ERR_NO_MEMORY, "bandwidth probe: out of host memory");
    mkv_status st = mkv_device_bandwidth_sweep(d, bytes, sw, err);
    if (!st) *gbps = sw->best_gbps;
    free(sw);
    return st;
}
