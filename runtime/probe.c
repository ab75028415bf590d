/* The bandwidth probe (mkv_device_bandwidth): how fast the device streams a
 * buffer, the yardstick for decode, which reads every weight once a token.
 * One submission: a warm-up read, then PROBE_RUNS timed reads of the same
 * buffer (GPU timestamps); the fastest one counts. */
#include "clock.h"
#include "ops.h"

#define PROBE_RUNS 5

typedef struct probe_rec {
    mkv_recorder rec;
    mkv_device *d;
    const mkv_buffer *data, *out;
    uint64_t bytes;
    bool timing;
    mkv_status st;
    mkv_error *err;
} probe_rec;

static void record_probe(VkCommandBuffer cb, void *user)
{
    probe_rec *p = user;
    if ((p->st = mkv_recorder_init(&p->rec, p->d, cb, p->timing, p->err))) return;
    for (uint32_t i = 0; i <= (p->timing ? PROBE_RUNS : 0u) && !p->st; i++)
        p->st = mkv_op_bw_probe(&p->rec, p->data, p->bytes, p->out, p->err);
}

/* One submission of the probe; *best_s is the fastest timed read. */
static mkv_status run_probe(mkv_device *d, const mkv_buffer *data, const mkv_buffer *out, uint64_t bytes, bool timing,
                            double *best_s, mkv_error *err)
{
    probe_rec p = {.d = d, .data = data, .out = out, .bytes = bytes, .timing = timing, .err = err};
    double t0 = mkv_now_ms();
    mkv_status st = mkv_device_submit_once(d, record_probe, &p, err);
    double wall_s = (mkv_now_ms() - t0) * 1e-3;
    if (!st) st = p.st;
    if (!st && timing) {
        uint64_t ts[PROBE_RUNS + 2];
        VkResult r = vkGetQueryPoolResults(d->dev, p.rec.query_pool, 0, PROBE_RUNS + 2, sizeof ts, ts, sizeof ts[0],
                                           VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r != VK_SUCCESS) {
            st = mkv_vk_fail(err, r, "vkGetQueryPoolResults");
        } else {
            *best_s = 0;
            for (uint32_t i = 2; i < PROBE_RUNS + 2; i++) { /* ts[1] ends the warm-up */
                double s = (double)(ts[i] - ts[i - 1]) * d->timestamp_period_ns * 1e-9;
                if (*best_s == 0 || s < *best_s) *best_s = s;
            }
        }
    } else if (!st) {
        *best_s = wall_s;
    }
    mkv_recorder_release(&p.rec);
    return st;
}

mkv_status mkv_device_bandwidth(mkv_device *d, uint64_t bytes, double *gbps, mkv_error *err)
{
    *gbps = 0;
    if (bytes < 16 || bytes % 16 || bytes > d->max_storage_range)
        return mkv_fail(err, MKV_ERR_INVALID_ARG,
                        "bandwidth probe: bytes = %llu: must be a multiple of 16 in 16..%llu (maxStorageBufferRange)",
                        (unsigned long long)bytes, (unsigned long long)d->max_storage_range);
    mkv_buffer data = {0}, out = {0};
    mkv_status st = mkv_buffer_create(d, bytes, MKV_MEM_DEVICE, &data, err);
    if (!st) st = mkv_buffer_create(d, 16, MKV_MEM_DEVICE, &out, err);
    double best = 0;
    if (!st && d->timestamps) {
        st = run_probe(d, &data, &out, bytes, true, &best, err);
    } else if (!st) { /* no timestamps: the host's clock, best of a few single reads */
        for (uint32_t i = 0; i <= PROBE_RUNS && !st; i++) {
            double s = 0;
            st = run_probe(d, &data, &out, bytes, false, &s, err);
            if (!st && i > 0 && (best == 0 || s < best)) best = s;
        }
    }
    if (!st && best > 0) *gbps = (double)bytes / best * 1e-9;
    mkv_buffer_destroy(d, &data);
    mkv_buffer_destroy(d, &out);
    return st;
}
