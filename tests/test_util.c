#include "test_util.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir -p: creates every missing component of path. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char save = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        buf[i] = save;
    }
    return 0;
}

const char *tu_tmpdir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0]) {
        const char *env = getenv("MKV_TEST_TMP");
        snprintf(dir, sizeof dir, "%s", env && env[0] ? env : "/tmp/mkv_test");
        if (make_dirs(dir) != 0) ck_abort_msg("cannot create test directory %s: %s", dir, strerror(errno));
    }
    return dir;
}

const char *tu_path(const char *name)
{
    static char ring[8][PATH_MAX];
    static unsigned next;
    char *p = ring[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tu_tmpdir(), name);
    return p;
}

mkv_device *tu_device(void)
{
    mkv_device_opts opts;
    mkv_device_opts_default(&opts);
    const char *v = getenv("MKV_VALIDATION");
    opts.validation = v && strcmp(v, "1") == 0;
    /* The device's messenger prints each message once and counts it; the
     * layer's own stdout log is off while a messenger exists, so nothing
     * is printed twice and tu_assert_no_validation points back to it. */
    opts.quiet = false;
    mkv_device *dev = NULL;
    mkv_error err;
    mkv_status st = mkv_device_create(&opts, &dev, &err);
    if (st != MKV_OK) ck_abort_msg("mkv_device_create: %s: %s", mkv_status_name(st), err.msg);
    return dev;
}

void tu_assert_no_validation(const mkv_device *dev)
{
    uint32_t n = mkv_device_validation_count(dev);
    ck_assert_msg(n == 0, "the validation layer reported %u message(s) (printed on stderr above)", n);
}

uint64_t tu_rand_u64(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull; /* zero is a fixed point */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float tu_rand_f(uint64_t *state)
{
    /* 24 random bits -> exact float in [0, 2), minus 1 */
    return (float)(tu_rand_u64(state) >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

double tu_max_rel_err(const float *a, const float *ref, uint64_t n)
{
    double emax = 0.0, rmax = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]);
        if (isnan(e)) return NAN; /* a NaN anywhere is an infinite error */
        if (e > emax) emax = e;
        if (fabs((double)ref[i]) > rmax) rmax = fabs((double)ref[i]);
    }
    return emax / (rmax > 1e-30 ? rmax : 1e-30);
}
