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
#include "session_state.h"

static void run(const uint8_t *data, size_t size)
{
    mkv_state_header h;
    mkv_error err;
    if (mkv_state_check(data, size, &h, &err) != MKV_OK) return;
    uint64_t off[2], len[2];
    const uint32_t n = mkv_state_kv_ranges(h.pos, h.n_kv_head * h.head_dim, h.kv_type, h.pos, off, len);
    for (uint32_t i = 0; i < n; i++)
        if (len[i] > mkv_state_size(&h)) abort(); /* a range larger than the state it comes from */
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
