/* Fuzz target: the JSON parser (runtime/json.c) on the bytes themselves,
 * then the same bytes as a safetensors file (header, dtypes, shapes,
 * offsets; values converted) and as a shard index pointing at it. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "json.h"
#include "safetensors.h"

#define MAX_TENSORS 64
#define MAX_VALUES 4096

static void exercise_json(const uint8_t *data, size_t size)
{
    mkv_json j;
    mkv_error err;
    if (mkv_json_parse((const char *)data, size, "fuzz.json", &j, &err) != MKV_OK) return;
    (void)mkv_json_get(&j, 0, "weight_map");
    (void)mkv_json_get(&j, 0, "__metadata__");
    for (uint32_t i = 0; i < j.n; i++) /* every object's member lookup */
        if (j.v[i].type == MKV_JSON_OBJECT) (void)mkv_json_get(&j, i, "dtype");
    mkv_json_free(&j);
}

static void exercise_tensors(const mkv_safetensors *st)
{
    float *x = malloc(MAX_VALUES * sizeof *x);
    mkv_error err;
    for (uint32_t i = 0; x && i < st->n_tensors && i < MAX_TENSORS; i++) {
        const mkv_st_tensor *t = &st->tensors[i];
        uint64_t n = t->numel < MAX_VALUES ? t->numel : MAX_VALUES;
        if (n) mkv_st_to_f32(t, t->numel - n, n, x);
        if (t->n_dims == 2 && t->shape[0] && t->numel / t->shape[0] <= MAX_VALUES)
            (void)mkv_st_rows_f32(t, t->shape[0] - 1, 1, x, &err);
        (void)mkv_st_find(st, t->name);
    }
    free(x);
}

static void exercise_file(const char *path)
{
    mkv_safetensors *st = NULL;
    mkv_error err;
    if (mkv_st_open(path, &st, &err) != MKV_OK) return;
    exercise_tensors(st);
    mkv_st_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    exercise_json(data, size);
    exercise_file(fz_put("model.safetensors", data, size));
    /* as an index: its weight_map may name model.safetensors, just written */
    exercise_file(fz_put("model.safetensors.index.json", data, size));
    return 0;
}
