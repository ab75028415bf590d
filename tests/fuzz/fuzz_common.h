/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): each defines
 * LLVMFuzzerTestOneInput, linked either with libFuzzer (clang, MKV_FUZZ)
 * or with replay.c, the plain driver the test suite runs over the
 * committed corpora with any compiler. */
#ifndef MKV_FUZZ_COMMON_H
#define MKV_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data[0..n) to `name` in this process's scratch directory (in
 * /dev/shm when there is one; removed at exit) and returns its path. The
 * readers under test take paths, as the engine does; $MKV_FUZZ_SCRATCH, if
 * set, is where the directory goes. Aborts on I/O errors
 * of the scratch directory itself (a broken harness, not a finding). */
const char *fz_put(const char *name, const uint8_t *data, size_t n);
/* The scratch directory. */
const char *fz_dir(void);

#endif
