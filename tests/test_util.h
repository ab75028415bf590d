/* Shared helpers of the Check tests. */
#ifndef MKV_TEST_UTIL_H
#define MKV_TEST_UTIL_H

#include <check.h>
#include <stdint.h>

#include "mekivk.h"

/* Runs every test of the suite (freeing it); EXIT_SUCCESS if all passed,
 * else EXIT_FAILURE: what a test program's main returns. */
int tu_run_suite(Suite *s);

/* Directory for test files: $MKV_TEST_TMP or /tmp/mkv_test, created. ctest
 * gives each GPU test's run per lavapipe width its own (tests/CMakeLists.txt). */
const char *tu_tmpdir(void);
/* Joins tu_tmpdir()/name into a static ring of buffers (8 live at a time). */
const char *tu_path(const char *name);

/* tu_tmpdir()/sub/name (sub created): one folder per test program (and per
 * width of a GPU test), so ctest -j runs never share files. Same ring of buffers as tu_path. */
const char *tu_path_in(const char *sub, const char *name);
/* Whole file into a malloc'd buffer (fails the test on error). */
uint8_t *tu_read_file(const char *path, uint64_t *size);
/* Replaces the file's contents (fails the test on error). */
void tu_write_file(const char *path, const void *p, uint64_t n);

/* GPU tests only (test_device.c). Creates a device with the validation layer on when MKV_VALIDATION=1
 * (ctest sets it) and messages not printed twice; fails the test (Check
 * ck_abort_msg) if no device can be made. */
mkv_device *tu_device(void);
/* Fails the test if the validation layer reported anything on dev. */
void tu_assert_no_validation(const mkv_device *dev);

/* Deterministic xorshift64* random numbers. */
uint64_t tu_rand_u64(uint64_t *state);
/* Uniform in [-1, 1). */
float tu_rand_f(uint64_t *state);

/* max_i |a_i - r_i| / max(max_i |r_i|, 1e-30): error relative to the scale of ref. */
double tu_max_rel_err(const float *a, const float *ref, uint64_t n);
/* Index of the largest of x[0..n) (the first, on ties). */
uint32_t tu_argmax(const float *x, uint32_t n);
/* Copies a file; false on any error. */
bool tu_copy_file(const char *from, const char *to);

/* Runs a CLI command's entry (mkv_cmd_bench, ...) in this process with
 * stdout and stderr captured through files named by prefix (prefix.out,
 * prefix.err); returns its exit code and what each stream got (malloc'd,
 * NUL-terminated; err_text may be NULL). */
int tu_run_captured(int (*cmd)(int, char **), int argc, char **argv, const char *prefix, char **out,
                    char **err_text);

#endif
