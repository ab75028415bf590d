/* Fuzz target: a saved session state (runtime/session_state.h) as
 * mkv_session_restore checks it before it touches the session: the frame
 * (magic, version, sizes), the CRC-32C, every field, the prefetch tokens
 * (mkv_state_check; host-only, no GPU). Each input is also tried with its
 * CRC made right, so mutations of the fields reach the checks behind it;
 * an accepted header's K/V ranges are computed as restore computes them. */
#include <stdlib.h>
#include <string.h>

#include "bank.h"
#include "fuzz_common.h"
#include "ops.h" /* mkv_kv_cache_bytes */
#include "session_state.h"

static void run(const uint8_t *data, size_t size)
{
    mkv_state_header h;
    mkv_error err;
    if (mkv_state_check(data, size, &h, &err) != MKV_OK) return;
    /* every range lies in a cache of pos positions, and they add up to the state's K/V bytes
     * (with pos = 0 there are none: n_kv_head is then bounded by nothing, and not looped over) */
    if (h.pos == 0) return;
    const uint32_t n = mkv_state_kv_n_ranges(&h);
    const uint64_t cache = mkv_kv_cache_bytes(h.pos, h.n_kv_head * h.head_dim, h.kv_type == MKV_KV_Q8_0);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off, len;
        mkv_state_kv_range(&h, h.pos, i, &off, &len);
        if (off + len > cache) abort();
        sum += len;
    }
    if (mkv_state_size(&h) != MKV_STATE_HEADER_BYTES + 2ull * h.n_layer * sum + 4ull * h.n_prefetch + 4) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    if (size < MKV_STATE_HEADER_BYTES + 4) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    mkv_state_put_le32(fixed + size - 4, mkv_crc32c(0, fixed, size - 4));
    run(fixed, size);
    free(fixed);
    return 0;
}
