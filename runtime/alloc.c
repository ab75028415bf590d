/* Host allocation wrappers and the failure-injection hook (alloc.h). */
#include "alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long alloc_count;         /* allocations so far */
static atomic_long fail_at = -1;        /* number of the allocation to fail; -1: none */
static atomic_bool fail_sticky;         /* and every one after it */
static atomic_long injected;            /* failures made by the hook */

/* Counts one allocation; true when the hook says it must fail. */
static bool inject(void)
{
    long i = atomic_fetch_add(&alloc_count, 1);
    long f = atomic_load(&fail_at);
    if (f < 0 || i < f || (i > f && !atomic_load(&fail_sticky))) return false;
    atomic_fetch_add(&injected, 1);
    errno = ENOMEM;
    return true;
}

void *mkv_malloc(size_t n) { return inject() ? NULL : malloc(n); }
void *mkv_calloc(size_t count, size_t size) { return inject() ? NULL : calloc(count, size); }
void *mkv_realloc(void *p, size_t n) { return inject() ? NULL : realloc(p, n); }
char *mkv_strdup(const char *s) { return inject() ? NULL : strdup(s); }
char *mkv_strndup(const char *s, size_t n) { return inject() ? NULL : strndup(s, n); }

int mkv_posix_memalign(void **out, size_t align, size_t n)
{
    if (inject()) return ENOMEM;
    return posix_memalign(out, align, n);
}

void mkv_alloc_fail_after(long n) { atomic_store(&fail_at, n < 0 ? -1 : atomic_load(&alloc_count) + n); }
void mkv_alloc_fail_sticky(bool sticky) { atomic_store(&fail_sticky, sticky); }
long mkv_alloc_count(void) { return atomic_load(&alloc_count); }
long mkv_alloc_injected(void) { return atomic_load(&injected); }
