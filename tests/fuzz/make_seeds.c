/* Writes the fuzz targets' seed corpora with the project's own writers
 * (synth, the bank writer, synth_ckpt), at toy shapes so each seed is a few
 * KB: fuzz_make_seeds OUT_DIR writes OUT_DIR/{gguf,bank,safetensors,
 * checkpoint,state}/seed_*. The committed corpora (tests/fuzz/corpus) came from
 * it; rerun it when a format grows a field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bank.h"
#include "gguf.h"
#include "synth.h"
#include "synth_ckpt.h"
#include "safetensors.h"
#include "session_state.h"

static const mkv_synth_shape toy = {"fuzz", 1, 32, 2, 1, 16, 32, 8, 16, 10000.0f, 1e-6f};

static int fail(const char *what, const mkv_error *err)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, err ? err->msg : strerror(errno));
    return 1;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static int put(const char *dir, const char *sub, const char *name, const void *a, size_t na, const void *b, size_t nb)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb)) return fail(p, NULL);
    return fclose(f) != 0 ? fail(p, NULL) : 0;
}

static int copy(const char *src, const char *dir, const char *sub, const char *name)
{
    size_t n;
    char *b = slurp(src, &n);
    if (!b) return fail(src, NULL);
    int rc = put(dir, sub, name, b, n, NULL, 0);
    free(b);
    return rc;
}

/* Models of a few kinds: arch, weight type, dense or MeKi, gate input. */
static int gguf_seeds(const char *out, const char *work)
{
    static const struct {
        const char *name, *arch;
        uint32_t wtype;
        bool dense, tied;
        const char *gate;
    } kinds[] = {
        {"seed_qwen3_f16_meki", "qwen3", MKV_GGML_F16, false, true, NULL},
        {"seed_qwen3_q8_0_dense_untied", "qwen3", MKV_GGML_Q8_0, true, false, NULL},
        {"seed_qwen2_q4_0_meki_residual", "qwen2", MKV_GGML_Q4_0, false, true, "residual"},
        {"seed_llama_bf16_dense", "llama", MKV_GGML_BF16, true, true, NULL},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        mkv_synth_opts o;
        mkv_synth_opts_default(&o, &toy, work);
        o.arch = kinds[i].arch;
        o.wtype = kinds[i].wtype;
        o.dense = kinds[i].dense;
        o.tied_output = kinds[i].tied;
        o.gate_input = kinds[i].gate;
        o.pure = true;
        mkv_error err;
        if (mkv_synth_write(&o, &err) != MKV_OK) return fail(kinds[i].name, &err);
        char p[4096];
        snprintf(p, sizeof p, "%s/model.gguf", work);
        if (copy(p, out, "gguf", kinds[i].name)) return 1;
    }
    return 0;
}

static int bank_seed(const char *out, const char *work, uint32_t dtype, const char *name)
{
    static const uint8_t fp[32] = {7};
    char p[4096];
    snprintf(p, sizeof p, "%s/bank.mkb", work);
    mkv_bank_header h;
    mkv_bank_writer *w;
    mkv_error err;
    if (mkv_bank_header_init(&h, dtype, 2, 3, 16, 512, MKV_BANK_FLAG_SLAB_CRC, fp, &err) ||
        mkv_bank_writer_open(p, &h, &w, &err))
        return fail(name, &err);
    float x[16];
    uint8_t rows[2 * 64];
    for (uint32_t t = 0; t < 3; t++) {
        for (uint32_t l = 0; l < 2; l++) {
            for (int k = 0; k < 16; k++) x[k] = (float)(t + 1) * 0.25f * (float)(k - 8) + (float)l;
            mkv_bank_encode_row(dtype, 16, x, rows + l * h.row_bytes);
        }
        if (mkv_bank_writer_put(w, t, rows, &err)) return fail(name, &err);
    }
    if (mkv_bank_writer_close(w, &err)) return fail(name, &err);
    return copy(p, out, "bank", name);
}

/* A training checkpoint: its safetensors (also a safetensors seed), its
 * config.json (also a JSON seed), and both as one checkpoint seed. */
static int checkpoint_seeds(const char *out, const char *work, uint32_t dtype, bool qk_norm, const char *tag)
{
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, &toy, work);
    o.no_qk_norm = !qk_norm;
    if (!qk_norm) o.gate_input = "residual";
    mkv_error err;
    if (mkv_synth_write_checkpoint(&o, dtype, 1, &err) != MKV_OK) return fail(tag, &err);
    char p[4096], name[128];
    size_t nc, ns;
    snprintf(p, sizeof p, "%s/config.json", work);
    char *cfg = slurp(p, &nc);
    snprintf(p, sizeof p, "%s/model.safetensors", work);
    char *st = slurp(p, &ns);
    int rc = !cfg || !st;
    uint8_t len[4] = {(uint8_t)nc, (uint8_t)(nc >> 8), (uint8_t)(nc >> 16), (uint8_t)(nc >> 24)};
    snprintf(name, sizeof name, "seed_%s", tag);
    if (!rc) { /* the length, config.json, then the safetensors */
        char *both = malloc(nc + ns);
        if (!both) return 1;
        memcpy(both, cfg, nc);
        memcpy(both + nc, st, ns);
        rc = put(out, "checkpoint", name, len, 4, both, nc + ns);
        free(both);
    }
    if (!rc) rc = put(out, "safetensors", name, st, ns, NULL, 0);
    snprintf(name, sizeof name, "seed_%s_config.json", tag);
    if (!rc) rc = put(out, "safetensors", name, cfg, nc, NULL, 0);
    free(cfg);
    free(st);
    return rc;
}

/* A saved session state (runtime/session_state.h) of the toy shape: the
 * header's encoder, pos positions of K/V bytes, n_prefetch tokens, the CRC. */
static int state_seed(const char *out, const char *name, uint32_t kv_type, uint32_t pos, uint32_t n_prefetch)
{
    mkv_state_header h = {.n_layer = toy.n_layer, .d_model = toy.d_model, .n_head = toy.n_head,
                          .n_kv_head = toy.n_kv_head, .head_dim = 32, .n_vocab = toy.n_vocab, .kv_type = kv_type,
                          .flags = n_prefetch ? MKV_STATE_FLAG_MEKI : 0, .pos = pos, .n_prefetch = n_prefetch,
                          .model_id = 0x0123456789abcdefull};
    h.total_bytes = mkv_state_size(&h);
    uint8_t *b = calloc(1, (size_t)h.total_bytes);
    if (!b) return 1;
    mkv_state_header_encode(&h, b);
    const size_t tok = (size_t)h.total_bytes - 4 - 4 * n_prefetch;
    for (size_t i = MKV_STATE_HEADER_BYTES; i < tok; i++) b[i] = (uint8_t)(i * 37);
    for (uint32_t i = 0; i < n_prefetch; i++) mkv_state_put_le32(b + tok + 4 * i, (i * 5) % toy.n_vocab);
    mkv_state_put_le32(b + h.total_bytes - 4, mkv_crc32c(0, b, (size_t)h.total_bytes - 4));
    int rc = put(out, "state", name, b, (size_t)h.total_bytes, NULL, 0);
    free(b);
    return rc;
}

/* A shard index naming model.safetensors (the file the target writes). */
static const char index_json[] =
    "{\"metadata\": {\"total_size\": 64}, \"weight_map\": {\"model.embed_tokens.weight\": \"model.safetensors\", "
    "\"model.norm.weight\": \"model.safetensors\"}}\n";

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR WORK_DIR\n");
        return 2;
    }
    const char *out = argv[1], *work = argv[2];
    mkdir(out, 0755);
    mkdir(work, 0755);
    int rc = gguf_seeds(out, work);
    if (!rc) rc = bank_seed(out, work, MKV_BANK_F16, "seed_f16");
    if (!rc) rc = bank_seed(out, work, MKV_BANK_Q8, "seed_q8");
    if (!rc) rc = checkpoint_seeds(out, work, MKV_ST_BF16, true, "bf16");
    if (!rc) rc = checkpoint_seeds(out, work, MKV_ST_F16, false, "f16_no_qk_norm_residual");
    if (!rc) rc = put(out, "safetensors", "seed_index.json", index_json, strlen(index_json), NULL, 0);
    if (!rc) rc = state_seed(out, "seed_f16_prefetch", 0, 3, 2);
    if (!rc) rc = state_seed(out, "seed_q8_0", 1, 2, 0);
    return rc;
}
