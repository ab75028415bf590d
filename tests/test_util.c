#include "test_util.h"

#include <check.h>
#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#endif
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

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

const char *tu_path_in(const char *sub, const char *name)
{
    static char ring[8][PATH_MAX];
    static unsigned next;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.2000s/%.200s", tu_tmpdir(), sub);
    if (make_dirs(dir) != 0) ck_abort_msg("cannot create test directory %s: %s", dir, strerror(errno));
    char *p = ring[next++ % 8];
    ck_assert_int_lt(snprintf(p, PATH_MAX, "%.2000s/%.1000s", dir, name), PATH_MAX);
    return p;
}

uint8_t *tu_read_file(const char *path, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    ck_assert(b != NULL);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (uint64_t)n;
    return b;
}

/* In place (pwrite + ftruncate, not O_TRUNC: ext4 flushes a file truncated
 * to zero on close, which makes thousands of rewrites crawl). */
void tu_write_file(const char *path, const void *p, uint64_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(pwrite(fd, p, (size_t)n, 0), (ssize_t)n);
    ck_assert_int_eq(ftruncate(fd, (off_t)n), 0);
    ck_assert_int_eq(close(fd), 0);
}

const char *tu_path(const char *name)
{
    static char ring[8][PATH_MAX];
    static unsigned next;
    char *p = ring[next++ % 8];
    ck_assert_int_lt(snprintf(p, PATH_MAX, "%.2000s/%.1000s", tu_tmpdir(), name), PATH_MAX);
    return p;
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

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds only (.ci/run): pins the Vulkan driver stack's libraries
 * from the start of every test program, so that LeakSanitizer, which
 * reports at exit after the loader has closed them, still names the module
 * of what the driver leaked (tests/sanitize/lsan.supp suppresses by
 * module). hosttools/main.c does the same for the mekivk program. */
__attribute__((constructor)) static void keep_driver_loaded(void)
{
    static const char *const libs[] = {"libvulkan_lvp.so", "libLLVM-15.so.1", "libVkLayer_khronos_validation.so",
                                       "libstdc++.so.6"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) (void)dlopen(libs[i], RTLD_LAZY | RTLD_NODELETE);
}
#endif

uint32_t tu_argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

bool tu_copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    bool ok = a && b;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a && ferror(a)) ok = false;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = false;
    return ok;
}

/* The whole of a text file (at most 1 MiB) as a NUL-terminated string. */
static char *slurp_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    char *t = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(t);
    size_t n = fread(t, 1, (1 << 20) - 1, f);
    fclose(f);
    t[n] = 0;
    return t;
}

int tu_run_captured(int (*cmd)(int, char **), int argc, char **argv, const char *prefix, char **out,
                    char **err_text)
{
    char po[PATH_MAX + 8], pe[PATH_MAX + 8];
    snprintf(po, sizeof po, "%s.out", prefix);
    snprintf(pe, sizeof pe, "%s.err", prefix);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    int rc = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    *out = slurp_text(po);
    char *e = slurp_text(pe);
    if (err_text) *err_text = e;
    else free(e);
    return rc;
}
