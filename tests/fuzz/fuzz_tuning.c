/* Fuzz target: a tuning file as MKV_TUNING and `bench --sweep --out` give
 * it to the engine (runtime/tuning.c, mkv_tuning_load: the JSON, its keys,
 * every kernel's tunables and their checks), for a CPU device of subgroup 8
 * (lavapipe's key) and for a GPU of warps of 32.
 * Input: the file's bytes. */
#include "fuzz_common.h"
#include "tuning.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_put("tuning.json", data, size);
    const mkv_tuning_key keys[2] = {
        {.vendor_id = 0x10005, .device_name = "llvmpipe (LLVM 15.0.6, 256 bits)", .driver_id = 13,
         .subgroup_size = 8, .cpu = true, .texel_ok = true, .max_wg = 1024},
        {.vendor_id = 0x10de, .device_name = "NVIDIA H200", .driver_id = 4, .subgroup_size = 32,
         .texel_ok = true, .max_wg = 1024, .coop_ok = true},
    };
    for (int i = 0; i < 2; i++) {
        mkv_tunables t;
        (void)mkv_tuning_pick(&keys[i], &t);
        mkv_error err;
        (void)mkv_tuning_load(path, &keys[i], &t, &err);
    }
    return 0;
}
