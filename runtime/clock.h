/* The one monotonic clock of the library and tools (internal). */
#ifndef MKV_CLOCK_H
#define MKV_CLOCK_H

#include <time.h>

static inline double mkv_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

#endif
