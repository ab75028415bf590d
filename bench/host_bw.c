/* The host's streaming-read bandwidth (mkv_host_read_bandwidth): threads
 * released together, each summing its slice of one large buffer; the run's
 * time runs from the release to the last thread's end. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "host_bw.h"

#define HOST_BW_RUNS 5
#define HOST_BW_MAX_THREADS 256

typedef struct reader {
    pthread_t tid;
    const uint64_t *w;
    size_t n;
    atomic_int *go;       /* 0: wait, 1: read, -1: leave without reading */
    uint64_t sum;         /* kept, so the reads cannot be optimised away */
    double end_ms;
} reader;

/* Eight independent sums, a cache line per iteration: many loads in
 * flight, no single dependency chain. */
static uint64_t sum_words(const uint64_t *w, size_t n)
{
    uint64_t s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t k = 0; k < 8; k++) s[k] += w[i + k];
    for (; i < n; i++) s[0] += w[i];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

static void *reader_main(void *arg)
{
    reader *r = arg;
    int go;
    while ((go = atomic_load(r->go)) == 0) sched_yield();
    if (go > 0) r->sum = sum_words(r->w, r->n);
    r->end_ms = mkv_now_ms();
    return NULL;
}

/* One read of the buffer by n threads; its time in *ms. */
static mkv_status read_once(reader *rd, uint32_t n, double *ms, mkv_error *err)
{
    atomic_int go = 0;
    uint32_t started = 0;
    mkv_status st = MKV_OK;
    for (; started < n; started++) {
        rd[started].go = &go;
        if (pthread_create(&rd[started].tid, NULL, reader_main, &rd[started]) != 0) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "host bandwidth: thread %u of %u could not start", started, n);
            break;
        }
    }
    const double t0 = mkv_now_ms();
    atomic_store(&go, st ? -1 : 1);
    double end = t0;
    for (uint32_t i = 0; i < started; i++) {
        pthread_join(rd[i].tid, NULL);
        if (rd[i].end_ms > end) end = rd[i].end_ms;
    }
    *ms = end - t0;
    return st;
}

mkv_status mkv_host_read_bandwidth(uint64_t bytes, uint32_t n_threads, double *gbps, uint32_t *threads_used,
                                   mkv_error *err)
{
    mkv_status st = MKV_OK;
    *gbps = 0;
    if (bytes < (1u << 20))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "host bandwidth: bytes = %llu: below 1 MiB", (unsigned long long)bytes);
    if (n_threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cores > 0 ? (uint32_t)cores : 1;
    }
    if (n_threads > HOST_BW_MAX_THREADS) n_threads = HOST_BW_MAX_THREADS;
    const size_t n_words = (size_t)(bytes / 8);
    uint64_t *w = aligned_alloc(64, (n_words * 8 + 63) & ~(size_t)63);
    reader *rd = calloc(n_threads, sizeof *rd);
    if (!w || !rd) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "host bandwidth: %llu bytes: out of memory", (unsigned long long)bytes);
        goto out;
    }
    for (size_t i = 0; i < n_words; i++) w[i] = i * 0x9E3779B97F4A7C15ull; /* touch every page */
    /* slices of whole cache lines; the last takes the rest */
    const size_t per = (n_words / n_threads) & ~(size_t)7;
    for (uint32_t t = 0; t < n_threads; t++) {
        rd[t].w = w + t * per;
        rd[t].n = t + 1 < n_threads ? per : n_words - t * per;
    }
    double best = 0;
    for (uint32_t run = 0; run < HOST_BW_RUNS; run++) {
        double ms;
        if ((st = read_once(rd, n_threads, &ms, err))) goto out;
        if (ms > 0 && (best == 0 || ms < best)) best = ms;
    }
    if (best > 0) *gbps = (double)n_words * 8 / (best * 1e6);
    if (threads_used) *threads_used = n_threads;
out:
    free(w);
    free(rd);
    return st;
}
