/* The bandwidth probe (runtime/probe.c, shaders/bw_probe.comp). Every
 * access pattern reads every 16-byte chunk exactly once: its XOR of all the
 * words equals the host's, which a skipped chunk or one read twice changes.
 * Tried at every workgroup width and loads per iteration the sweep uses and
 * more, on sizes that end mid-iteration, mid-workgroup and mid-block. The
 * public sweep keeps its contract: every row positive and finite, the best
 * the maximum of the table, sizes it cannot bind refused. No speed is
 * asserted: speed lives in bench runs. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "test_util.h"

static mkv_device *dev;
static uint64_t rng = 4242;

static void setup(void) { dev = tu_device(); }

static void teardown(void)
{
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}

#define OK(call)                                              \
    do {                                                      \
        mkv_error e_ = {0};                                   \
        mkv_status s_ = (call);                               \
        ck_assert_msg(s_ == MKV_OK, "%s: %s", #call, e_.msg); \
    } while (0)
#define E (&e_)

/* One probe read in `shape`, recorded into a one-off submission. */
typedef struct one_read {
    const mkv_probe_shape *shape;
    const mkv_buffer *data, *out;
    uint64_t bytes;
    mkv_recorder r; /* released after the submission */
    mkv_status st;
    mkv_error err;
} one_read;

static void record_one(const mkv_device *d, VkCommandBuffer cb, void *user)
{
    one_read *o = user;
    if ((o->st = mkv_recorder_init(&o->r, dev, cb, false, &o->err))) return;
    o->st = mkv_probe_record(&o->r, o->shape, o->data, o->bytes, o->out, &o->err);
    mkv_rec_finish(&o->r);
}

/* Runs one read; its status, and out[0] in *got. */
static mkv_status run_one(const mkv_probe_shape *s, const mkv_buffer *data, uint64_t bytes, const mkv_buffer *out,
                          uint32_t *got)
{
    one_read o = {.shape = s, .data = data, .out = out, .bytes = bytes};
    memset(out->map, 0, 16);
    OK(mkv_device_submit_once(dev, record_one, &o, E));
    mkv_recorder_release(&o.r);
    memcpy(got, out->map, 4);
    return o.st;
}

START_TEST(every_pattern_reads_every_chunk_once)
{
    /* one chunk; an odd count; 3 MiB and 7 chunks (many workgroups, a
     * ragged last one) */
    static const uint64_t sizes[] = {16, 16 * 1001, (3u << 20) + 16 * 7};
    static const uint32_t wgs[] = {64, 256}, vecs[] = {1, 2, 4};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const uint64_t bytes = sizes[i], n = bytes / 4;
        uint32_t *w = malloc(bytes), want = 0;
        for (uint64_t j = 0; j < n; j++) want ^= (w[j] = (uint32_t)tu_rand_u64(&rng));
        mkv_buffer data, out;
        OK(mkv_buffer_create(dev, bytes, MKV_MEM_DEVICE, &data, E));
        OK(mkv_buffer_write(dev, &data, 0, w, bytes, E));
        OK(mkv_buffer_create(dev, 16, MKV_MEM_HOST, &out, E));
        for (uint32_t p = 0; p < MKV_PROBE_PATTERN_COUNT; p++)
            for (size_t a = 0; a < 2; a++)
                for (size_t v = 0; v < 3; v++) {
                    /* blocks of one loop iteration of the workgroup, of an
                     * odd count, of the sweep's 1 MiB */
                    const uint32_t pers[] = {wgs[a] * vecs[v], 1001, 1u << 16};
                    for (size_t g = 0; g < 3; g++) {
                        mkv_probe_shape s = {.pattern = (mkv_probe_pattern)p, .wg = wgs[a], .vec = vecs[v], .per_group = pers[g]};
                        uint32_t got;
                        ck_assert_int_eq(run_one(&s, &data, bytes, &out, &got), MKV_OK);
                        ck_assert_msg(got == want, "%s wg %u vec %u per_group %u, %llu bytes: xor %08x, want %08x",
                                      mkv_probe_pattern_name(s.pattern), s.wg, s.vec, s.per_group,
                                      (unsigned long long)bytes, got, want);
                    }
                }
        mkv_buffer_destroy(dev, &data);
        mkv_buffer_destroy(dev, &out);
        free(w);
    }
}
END_TEST

START_TEST(record_rejects_what_is_not_a_shape_or_a_size)
{
    mkv_buffer data, out;
    OK(mkv_buffer_create(dev, 64, MKV_MEM_DEVICE, &data, E));
    OK(mkv_buffer_create(dev, 16, MKV_MEM_HOST, &out, E));
    const mkv_probe_shape good = {.pattern = MKV_PROBE_BLOCK, .wg = 64, .vec = 1, .per_group = 4};
    mkv_probe_shape bad[] = {good, good, good};
    bad[0].vec = 0;
    bad[1].per_group = 0;
    bad[2].pattern = MKV_PROBE_PATTERN_COUNT;
    uint32_t got;
    for (size_t i = 0; i < 3; i++) ck_assert_int_eq(run_one(&bad[i], &data, 64, &out, &got), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(run_one(&good, &data, 0, &out, &got), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(run_one(&good, &data, 24, &out, &got), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(run_one(&good, &data, 64, &out, &got), MKV_OK);
    ck_assert_uint_eq(got, 0); /* a zero-filled buffer */
    ck_assert_str_eq(mkv_probe_pattern_name(MKV_PROBE_RUN), "run");
    mkv_buffer_destroy(dev, &data);
    mkv_buffer_destroy(dev, &out);
}
END_TEST

START_TEST(sweep_best_is_the_max_of_its_table)
{
    mkv_bandwidth_sweep *sw = malloc(sizeof *sw);
    OK(mkv_device_bandwidth_sweep(dev, 8u << 20, sw, E));
    ck_assert_uint_eq(sw->bytes, 8u << 20);
    ck_assert(sw->n_shapes > 0 && sw->best < sw->n_shapes && sw->reps >= 1);
    double max = 0;
    bool seen[MKV_PROBE_PATTERN_COUNT] = {0};
    for (uint32_t i = 0; i < sw->n_shapes; i++) {
        const mkv_bandwidth_shape *s = &sw->shapes[i];
        ck_assert_msg(s->gbps > 0 && isfinite(s->gbps), "shape %u: %g GB/s", i, s->gbps);
        ck_assert(s->reads == 1 || s->reads == sw->reps);
        ck_assert(s->wg > 0 && s->vec > 0 && s->groups > 0 && s->group_bytes > 0);
        for (uint32_t p = 0; p < MKV_PROBE_PATTERN_COUNT; p++)
            seen[p] |= !strcmp(s->pattern, mkv_probe_pattern_name((mkv_probe_pattern)p));
        if (s->gbps > max) max = s->gbps;
    }
    for (uint32_t p = 0; p < MKV_PROBE_PATTERN_COUNT; p++)
        ck_assert_msg(seen[p], "pattern %s not swept", mkv_probe_pattern_name((mkv_probe_pattern)p));
    ck_assert(sw->best_gbps == max && sw->shapes[sw->best].gbps == max);
    ck_assert_uint_eq(sw->shapes[sw->best].reads, sw->reps); /* a median, not one lucky read */
    ck_assert(sw->seconds > 0);
    double gbps = 0;
    OK(mkv_device_bandwidth(dev, 1u << 20, &gbps, E));
    ck_assert_msg(gbps > 0 && isfinite(gbps), "probe: %g GB/s", gbps);
    free(sw);
}
END_TEST

START_TEST(sweep_refuses_sizes_it_cannot_bind)
{
    mkv_bandwidth_sweep *sw = malloc(sizeof *sw);
    mkv_error err;
    const uint64_t bad[] = {8, 24, dev->max_storage_range + 4096ull};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(mkv_device_bandwidth_sweep(dev, bad[i], sw, &err), MKV_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(err.msg, "bandwidth probe"));
        ck_assert_uint_eq(sw->n_shapes, 0);
    }
    double gbps = 1;
    ck_assert_int_eq(mkv_device_bandwidth(dev, 8, &gbps, &err), MKV_ERR_INVALID_ARG);
    ck_assert(gbps == 0);
    free(sw);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("probe");
    TCase *tc = tcase_create("probe");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_pattern_reads_every_chunk_once);
    tcase_add_test(tc, record_rejects_what_is_not_a_shape_or_a_size);
    tcase_add_test(tc, sweep_best_is_the_max_of_its_table);
    tcase_add_test(tc, sweep_refuses_sizes_it_cannot_bind);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
