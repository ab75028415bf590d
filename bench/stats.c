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

mkv_status mkv_reps_median_ms(mkv_device *d, const mkv_recorder *rec, uint32_t reps, const char *who, double *ms,
                              mkv_error *err)
{
    if (!rec->query_pool) return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: the device has no timestamps", who);
    if (reps == 0 || rec->n_marks == 0 || rec->n_marks % reps)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: %u timestamps for %u repetitions", who, rec->n_marks, reps);
    uint64_t *ts = calloc(rec->n_marks + 1, sizeof *ts);
    double *dt = calloc(reps, sizeof *dt);
    mkv_status st = MKV_OK;
    if (!ts || !dt) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    VkResult r = d->vk.vkGetQueryPoolResults(d->dev, rec->query_pool, 0, rec->n_marks + 1, (rec->n_marks + 1) * 8ull, ts,
                                             8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS) {
        st = mkv_vk_fail(err, r, "vkGetQueryPoolResults");
        goto out;
    }
    const uint32_t per = rec->n_marks / reps;
    for (uint32_t i = 0; i < reps; i++) dt[i] = (double)(ts[(i + 1) * per] - ts[i * per]) * d->timestamp_period_ns * 1e-6;
    *ms = mkv_median_sort(dt, reps);
out:
    free(ts);
    free(dt);
    return st;
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
