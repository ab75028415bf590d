/* The host's plain streaming-read bandwidth, measured in C: what memory
 * delivers to the CPU. Beside a CPU Vulkan driver's probe figure it shows
 * how far the driver is from the hardware. */
#ifndef MKV_HOST_BW_H
#define MKV_HOST_BW_H

#include "error.h"

/* GB/s of the best of a few reads of a buffer of `bytes` (at least 1 MiB;
 * whole uint64 words) by n_threads threads (0: one per online core), each
 * summing its own contiguous slice; *threads_used (may be NULL) says how
 * many ran. The buffer is written first, so that every page is backed by
 * memory. MKV_ERR_NO_MEMORY when the buffer cannot be allocated or a thread
 * cannot start; MKV_ERR_INVALID_ARG for a size below 1 MiB. */
mkv_status mkv_host_read_bandwidth(uint64_t bytes, uint32_t n_threads, double *gbps, uint32_t *threads_used,
                                   mkv_error *err);

#endif
