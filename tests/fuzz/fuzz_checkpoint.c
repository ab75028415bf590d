/* Fuzz target: a training checkpoint as convert opens it
 * (hosttools/checkpoint.c): config.json (shapes, the MeKi keys), then the
 * safetensors tensors it names, with their shapes checked against it.
 * Input: a 4-byte little-endian length L, L bytes of config.json, the
 * rest model.safetensors (make_seeds.c writes such files). */
#include "checkpoint.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (len > size - 4) len = size - 4;
    fz_put("config.json", data + 4, len);
    fz_put("model.safetensors", data + 4 + len, size - 4 - len);
    mkv_ckpt *c = NULL;
    mkv_error err;
    if (mkv_ckpt_open(fz_dir(), &c, &err) == MKV_OK) mkv_ckpt_close(c);
    return 0;
}
