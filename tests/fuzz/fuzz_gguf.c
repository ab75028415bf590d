/* Fuzz target: the GGUF reader (header, every metadata type, tensor table,
 * bounds) and what reads through it: typed getters, array elements, the
 * first row of every tensor dequantized, the model description
 * (runtime/model_desc.c: architecture, shapes, types, MeKi keys), and the
 * tokenizer keys (runtime/tokenizer_load.c: hostile token arrays, merges
 * naming unknown tokens, huge counts), then a short text through the
 * tokenizer and back. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gguf.h"
#include "model_desc.h"
#include "tokenizer_impl.h"

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

static void exercise_tokenizer(const mkv_gguf *g)
{
    static const char text[] = "Hello, world! 123 <|im_start|>user\n\u00e9\u4e2d\U0001F600  \t end";
    mkv_error err;
    mkv_tokenizer *t = NULL;
    if (mkv_tokenizer_from_gguf(g, &t, &err) != MKV_OK) return;
    uint32_t *ids = NULL;
    size_t n = 0;
    if (mkv_tokenize(t, text, strlen(text), true, &ids, &n, &err) == MKV_OK) {
        char *back = NULL;
        size_t len = 0;
        if (mkv_detokenize(t, ids, n, &back, &len, &err) == MKV_OK) free(back);
        free(ids);
    }
    mkv_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_put("model.gguf", data, size);
    mkv_error err;
    mkv_gguf *g = NULL;
    if (mkv_gguf_open(path, &g, &err) == MKV_OK) {
        exercise_kvs(g);
        exercise_tensors(g);
        exercise_tokenizer(g);
        mkv_gguf_close(g);
    }
    mkv_model_desc *d = NULL;
    if (mkv_model_desc_load(path, &d, &err) == MKV_OK) mkv_model_desc_free(d);
    return 0;
}
