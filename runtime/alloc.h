/* Host allocations of the library, with a failure-injection hook for tests.
 * Internal: not a public header, and nothing here is exported by the
 * shared library (cmake/mekivk_library.cmake exports only the public
 * headers' functions).
 *
 * Every allocation the library's own C code makes (runtime/, bank/; not
 * the host tools, not the tests) goes through these wrappers, which behave
 * exactly as the libc functions they wrap: a failure returns NULL (or
 * ENOMEM from mkv_posix_memalign) and leaves errno ENOMEM; realloc keeps
 * the old block. Memory from them is released with plain free().
 *
 * The hook (tests/test_inject.c sweeps it over every allocation of model
 * load, session create and steps): each call of a wrapper counts as one
 * allocation, numbered from 0 in the order made (atomically: reader
 * threads may allocate too). mkv_alloc_fail_after(n) makes allocation
 * number mkv_alloc_count() + n fail, counted from the call, so n = 0 is
 * the very next one; by default that one alone fails (the error paths
 * that run after it, which may allocate themselves, then work as they
 * would after a transient shortage). With mkv_alloc_fail_sticky(true) it
 * and every later allocation fail, as under a hard limit, until the hook
 * is cleared with mkv_alloc_fail_after(-1). */
#ifndef MKV_ALLOC_H
#define MKV_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *mkv_malloc(size_t n);
void *mkv_calloc(size_t count, size_t size);
void *mkv_realloc(void *p, size_t n);
char *mkv_strdup(const char *s);
char *mkv_strndup(const char *s, size_t n);
int mkv_posix_memalign(void **out, size_t align, size_t n);

/* Test hook (see above): allocation number mkv_alloc_count() + n fails
 * (n >= 0), or none does (n < 0). Replaces any earlier setting. */
void mkv_alloc_fail_after(long n);
/* Sticky mode: the chosen allocation and every one after it fail. Off by default. */
void mkv_alloc_fail_sticky(bool sticky);
/* Allocations made so far through the wrappers (failed ones included). */
long mkv_alloc_count(void);
/* Allocations the hook has made fail so far. */
long mkv_alloc_injected(void);

#endif
