/* Builds the model description from a GGUF file: hyper-parameters from
 * llama.cpp's keys, every tensor found by llama.cpp's name and checked for
 * shape and type, so the runtime and the reference never see a surprise. */
#include "model_desc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define MAX_LAYERS 4096u

/* Architectures we run, and whether their layers carry per-head q/k norms.
 * Both rotate with NeoX RoPE, the only kind the engine has; llama (adjacent
 * pairs, Q/K permuted by llama.cpp's converter) is refused by name until a
 * RoPE-type switch exists. */
static const struct {
    const char *name;
    bool qk_norm;
} archs[] = {{"qwen3", true}, {"qwen2", false}};

/* Reads <arch>.<suffix> as u32; `def` (when not NULL) is used if absent. */
static mkv_status arch_u32(const mkv_gguf *g, const char *arch, const char *suffix, const uint32_t *def,
                           uint32_t *out, mkv_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (def && !mkv_gguf_find_kv(g, key)) {
        *out = *def;
        return MKV_OK;
    }
    return mkv_gguf_get_u32(g, key, out, err);
}

static mkv_status arch_f32(const mkv_gguf *g, const char *arch, const char *suffix, float def, float *out,
                           mkv_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!mkv_gguf_find_kv(g, key)) {
        *out = def;
        return MKV_OK;
    }
    return mkv_gguf_get_f32(g, key, out, err);
}

static mkv_status read_config(const mkv_gguf *g, mkv_model_config *c, bool *qk_norm, mkv_error *err)
{
    mkv_status st;
    const char *path = g->path;
    if ((st = mkv_gguf_get_str(g, "general.architecture", c->arch, sizeof c->arch, err)) != MKV_OK) return st;
    size_t ai = 0;
    while (ai < sizeof archs / sizeof archs[0] && strcmp(archs[ai].name, c->arch) != 0) ai++;
    if (ai == sizeof archs / sizeof archs[0])
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: general.architecture = '%s': not supported (qwen3, qwen2)",
                        path, c->arch);
    *qk_norm = archs[ai].qk_norm;
    const char *a = c->arch;

    if ((st = arch_u32(g, a, "block_count", NULL, &c->n_layer, err)) != MKV_OK) return st;
    if ((st = arch_u32(g, a, "embedding_length", NULL, &c->d_model, err)) != MKV_OK) return st;
    if ((st = arch_u32(g, a, "feed_forward_length", NULL, &c->d_ffn, err)) != MKV_OK) return st;
    if ((st = arch_u32(g, a, "attention.head_count", NULL, &c->n_head, err)) != MKV_OK) return st;
    if ((st = arch_u32(g, a, "attention.head_count_kv", &c->n_head, &c->n_kv_head, err)) != MKV_OK) return st;
    uint32_t hd = c->n_head ? c->d_model / c->n_head : 0;
    if ((st = arch_u32(g, a, "attention.key_length", &hd, &c->head_dim, err)) != MKV_OK) return st;
    uint32_t zero = 0;
    if ((st = arch_u32(g, a, "context_length", &zero, &c->n_ctx_train, err)) != MKV_OK) return st;
    if ((st = arch_f32(g, a, "rope.freq_base", 10000.0f, &c->rope_theta, err)) != MKV_OK) return st;
    if ((st = arch_f32(g, a, "attention.layer_norm_rms_epsilon", 1e-6f, &c->norm_eps, err)) != MKV_OK) return st;

    /* Sanity of the shape before any size is computed from it. */
    const struct { const char *key; uint32_t v; } dims[] = {
        {"block_count", c->n_layer}, {"embedding_length", c->d_model}, {"feed_forward_length", c->d_ffn},
        {"attention.head_count", c->n_head}, {"attention.head_count_kv", c->n_kv_head},
        {"attention.key_length", c->head_dim},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v == 0) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.%s = 0: must be > 0", path, a, dims[i].key);
    if (c->n_layer > MAX_LAYERS)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.block_count = %u: more than %u layers", path, a, c->n_layer,
                        MAX_LAYERS);
    if (c->head_dim % 2 != 0)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.attention.key_length = %u: RoPE needs an even head_dim", path, a,
                        c->head_dim);
    if (c->n_kv_head > c->n_head || c->n_head % c->n_kv_head != 0)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.attention.head_count_kv = %u: does not divide head_count %u", path,
                        a, c->n_kv_head, c->n_head);
    if ((uint64_t)c->n_head * c->head_dim > UINT32_MAX)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.attention.head_count = %u: n_head*head_dim overflows", path, a,
                        c->n_head);
    if (!(c->rope_theta > 0.0f)) /* written so that NaN fails too */
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.rope.freq_base = %g: must be > 0", path, a,
                        (double)c->rope_theta);
    if (!(c->norm_eps > 0.0f))
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.attention.layer_norm_rms_epsilon = %g: must be > 0", path, a,
                        (double)c->norm_eps);

    /* MeKi: meki.dim makes it a MeKi model; the fingerprint is optional. */
    c->d_mem = 0;
    if (mkv_gguf_find_kv(g, "meki.dim")) {
        if ((st = mkv_gguf_get_u32(g, "meki.dim", &c->d_mem, err)) != MKV_OK) return st;
        if (c->d_mem == 0 || c->d_mem % 4 != 0)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: meki.dim = %u: not a positive multiple of 4", path, c->d_mem);
    }
    memset(c->bank_fingerprint, 0, sizeof c->bank_fingerprint);
    const mkv_gguf_kv *fp = mkv_gguf_find_kv(g, "meki.bank_fingerprint");
    if (fp) {
        if (fp->type != MKV_GGUF_ARRAY || fp->arr_type != MKV_GGUF_U8 || fp->arr_n != 32)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: meki.bank_fingerprint type = %u/%u, length %" PRIu64
                            ": expected an array of 32 u8", path, fp->type, fp->arr_type, fp->arr_n);
        memcpy(c->bank_fingerprint, fp->arr_data, 32);
    }
    return MKV_OK;
}

static int format_shape(char *buf, size_t cap, uint32_t n, const uint64_t *ne)
{
    int k = snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < n && k > 0 && (size_t)k < cap; i++)
        k += snprintf(buf + k, cap - (size_t)k, "%s%" PRIu64, i ? ", " : "", ne[i]);
    if (k > 0 && (size_t)k < cap) k += snprintf(buf + k, cap - (size_t)k, "]");
    return k;
}

/* Finds `name` and checks it is F32/F16 with shape [ne0] (ne1 == 0) or
 * [ne0, ne1]. Trailing dimensions of 1 are ignored, as ggml does. */
static mkv_status get_tensor(const mkv_gguf *g, const char *name, uint64_t ne0, uint64_t ne1, bool optional,
                             const mkv_gguf_tensor **out, mkv_error *err)
{
    const mkv_gguf_tensor *t = mkv_gguf_find_tensor(g, name);
    *out = t;
    if (!t) {
        if (optional) return MKV_OK;
        return mkv_fail(err, MKV_ERR_MISSING, "%s: tensor '%s': missing", g->path, name);
    }
    if (t->type != MKV_GGML_F32 && t->type != MKV_GGML_F16)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: tensor '%s' type = %s: not supported (F32, F16)", g->path, name,
                        mkv_ggml_type_name(t->type));
    uint64_t want[4] = {ne0, ne1 ? ne1 : 1, 1, 1};
    if (memcmp(want, t->ne, sizeof want) != 0) {
        char got_s[96], want_s[64];
        format_shape(got_s, sizeof got_s, t->n_dims, t->ne);
        format_shape(want_s, sizeof want_s, ne1 ? 2 : 1, want);
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s' shape = %s: expected %s", g->path, name, got_s, want_s);
    }
    return MKV_OK;
}

static mkv_status get_layer(const mkv_gguf *g, const mkv_model_config *c, uint32_t l, mkv_layer_desc *L,
                            mkv_error *err)
{
    mkv_status st;
    char name[96];
    const uint64_t dm = c->d_model, q = (uint64_t)c->n_head * c->head_dim, kv = (uint64_t)c->n_kv_head * c->head_dim;
    const struct {
        const char *suffix;
        uint64_t ne0, ne1;
        const mkv_gguf_tensor **slot;
    } want[] = {
        {"attn_norm", dm, 0, &L->attn_norm},   {"attn_q", dm, q, &L->wq},
        {"attn_k", dm, kv, &L->wk},            {"attn_v", dm, kv, &L->wv},
        {"attn_output", q, dm, &L->wo},        {"ffn_norm", dm, 0, &L->ffn_norm},
        {"ffn_gate", dm, c->d_ffn, &L->w_gate}, {"ffn_up", dm, c->d_ffn, &L->w_up},
        {"ffn_down", c->d_ffn, dm, &L->w_down},
        {"attn_q_norm", c->head_dim, 0, c->has_qk_norm ? &L->q_norm : NULL},
        {"attn_k_norm", c->head_dim, 0, c->has_qk_norm ? &L->k_norm : NULL},
        {"meki_gate", dm, c->d_mem, c->d_mem ? &L->meki_gate : NULL},
        {"meki_out", c->d_mem, dm, c->d_mem ? &L->meki_out : NULL},
        {"meki_norm", dm, 0, c->d_mem ? &L->meki_norm : NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        snprintf(name, sizeof name, "blk.%u.%s.weight", l, want[i].suffix);
        if (!want[i].slot) {
            /* MeKi tensors without meki.dim would be silently ignored: refuse */
            if (strncmp(want[i].suffix, "meki_", 5) == 0 && mkv_gguf_find_tensor(g, name))
                return mkv_fail(err, MKV_ERR_MISSING, "%s: key 'meki.dim': missing, but tensor '%s' is present",
                                g->path, name);
            continue;
        }
        if ((st = get_tensor(g, name, want[i].ne0, want[i].ne1, false, want[i].slot, err)) != MKV_OK) return st;
    }
    /* Biases (qwen2) are not part of the math we run: refuse rather than
     * compute something else. */
    static const char *const biases[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "blk.%u.%s.bias", l, biases[i]);
        if (mkv_gguf_find_tensor(g, name))
            return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: tensor '%s': attention biases are not supported", g->path,
                            name);
    }
    return MKV_OK;
}

mkv_status mkv_model_desc_load(const char *path, mkv_model_desc **out, mkv_error *err)
{
    mkv_status st;
    mkv_model_desc *d = calloc(1, sizeof *d);
    *out = NULL;
    if (!d) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    if ((st = mkv_gguf_open(path, &d->gguf, err)) != MKV_OK) goto out;
    const mkv_gguf *g = d->gguf;
    mkv_model_config *c = &d->cfg;

    if ((st = read_config(g, c, &c->has_qk_norm, err)) != MKV_OK) goto out;

    /* token_embd fixes n_vocab: check d_model first, then read ne[1]. */
    const mkv_gguf_tensor *te = mkv_gguf_find_tensor(g, "token_embd.weight");
    uint64_t nv = te ? te->ne[1] : 1;
    if (nv > UINT32_MAX) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor 'token_embd.weight' ne[1] = %" PRIu64 ": vocabulary too large",
                      path, nv);
        goto out;
    }
    if ((st = get_tensor(g, "token_embd.weight", c->d_model, nv, false, &d->tok_embd, err)) != MKV_OK) goto out;
    c->n_vocab = (uint32_t)nv;
    if ((st = get_tensor(g, "output_norm.weight", c->d_model, 0, false, &d->output_norm, err)) != MKV_OK) goto out;
    if ((st = get_tensor(g, "output.weight", c->d_model, nv, true, &d->output, err)) != MKV_OK) goto out;
    c->tied_output = d->output == NULL;
    if (c->tied_output) d->output = d->tok_embd;

    d->layers = calloc(c->n_layer, sizeof *d->layers);
    if (!d->layers) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    for (uint32_t l = 0; l < c->n_layer; l++)
        if ((st = get_layer(g, c, l, &d->layers[l], err)) != MKV_OK) goto out;

out:
    if (st != MKV_OK) {
        mkv_model_desc_free(d);
        return st;
    }
    *out = d;
    return MKV_OK;
}

void mkv_model_desc_free(mkv_model_desc *d)
{
    if (!d) return;
    free(d->layers);
    mkv_gguf_close(d->gguf);
    free(d);
}
