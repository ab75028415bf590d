/* Fuzz target: the GGUF reader (header, every metadata type, tensor table,
 * bounds) and what reads through it: typed getters, array elements, the
 * first row of every tensor dequantized, and the model description
 * (runtime/model_desc.c: architecture, shapes, types, MeKi keys). */
#include <stdlib.h>

#include "fuzz_common.h"
#include "gguf.h"
#include "model_desc.h"

#define MAX_TENSORS 64
#define MAX_ROW (1u << 16)
#define MAX_ARRAY_ITEMS 16

static void exercise_kvs(const mkv_gguf *g)
{
    mkv_error err;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const mkv_gguf_kv *kv = &g->kv[i];
        uint32_t u;
        float f;
        char s[64];
        (void)mkv_gguf_get_u32(g, kv->key, &u, &err);
        (void)mkv_gguf_get_f32(g, kv->key, &f, &err);
        (void)mkv_gguf_get_str(g, kv->key, s, sizeof s, &err);
        if (kv->type != MKV_GGUF_ARRAY) continue;
        for (uint64_t k = 0; k < kv->arr_n && k < MAX_ARRAY_ITEMS; k++) {
            mkv_gguf_kv e;
            (void)mkv_gguf_array_get(g, kv, k, &e, &err);
        }
        if (kv->arr_n > 0) { /* the last element: walks every string before it */
            mkv_gguf_kv e;
            (void)mkv_gguf_array_get(g, kv, kv->arr_n - 1, &e, &err);
        }
    }
}

static void exercise_tensors(const mkv_gguf *g)
{
    mkv_error err;
    for (uint64_t i = 0; i < g->n_tensors && i < MAX_TENSORS; i++) {
        const mkv_gguf_tensor *t = &g->tensors[i];
        if (t->ne[0] == 0 || t->ne[0] > MAX_ROW || mkv_gguf_tensor_rows(t) == 0) continue;
        float *row = malloc((size_t)t->ne[0] * sizeof *row);
        if (!row) continue;
        (void)mkv_gguf_rows_to_f32(g, t, 0, 1, row, &err);
        (void)mkv_gguf_rows_to_f32(g, t, mkv_gguf_tensor_rows(t) - 1, 1, row, &err);
        free(row);
        (void)mkv_gguf_find_tensor(g, t->name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_put("model.gguf", data, size);
    mkv_error err;
    mkv_gguf *g = NULL;
    if (mkv_gguf_open(path, &g, &err) == MKV_OK) {
        exercise_kvs(g);
        exercise_tensors(g);
        mkv_gguf_close(g);
    }
    mkv_model_desc *d = NULL;
    if (mkv_model_desc_load(path, &d, &err) == MKV_OK) mkv_model_desc_free(d);
    return 0;
}
