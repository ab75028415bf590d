/* Builds the model description from a GGUF file: hyper-parameters from
 * llama.cpp's keys, every tensor found by llama.cpp's name and checked for
 * shape and type, so the runtime and the reference never see a surprise. */
#include "model_desc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define MAX_LAYERS 4096u

/* Architectures we run: whether their layers may carry per-head q/k norms
 * (qwen3: optional, in every layer or in none, as MeKi's training omits
 * them), and how their RoPE pairs elements (llama.cpp's LLM_ARCH -> rope
 * type table: qwen2/qwen3 NEOX; llama NORM, since its converter permutes
 * Q/K rows from Hugging Face's half-split layout to adjacent pairs). Biases
 * on q/k/v are optional for all of them (qwen2 has them). */
static const struct {
    const char *name;
    bool qk_norm;
    mkv_rope_style rope;
} archs[] = {{"qwen3", true, MKV_ROPE_NEOX}, {"qwen2", false, MKV_ROPE_NEOX}, {"llama", false, MKV_ROPE_NORM}};

bool mkv_model_vector_type_ok(uint32_t type)
{
    return type == MKV_GGML_F32 || type == MKV_GGML_F16 || type == MKV_GGML_BF16;
}

bool mkv_model_matrix_type_ok(uint32_t type)
{
    switch (type) {
    case MKV_GGML_Q8_0: case MKV_GGML_Q4_0: case MKV_GGML_Q4_1: case MKV_GGML_Q5_0: case MKV_GGML_Q5_1:
    case MKV_GGML_Q4_K: case MKV_GGML_Q5_K: case MKV_GGML_Q6_K: return true;
    default: return mkv_model_vector_type_ok(type);
    }
}

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
        return mkv_fail(err, MKV_ERR_UNSUPPORTED,
                        "%s: general.architecture = '%s': not supported (qwen3, qwen2, llama)", path, c->arch);
    *qk_norm = archs[ai].qk_norm;
    c->rope_style = archs[ai].rope;
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

    /* RoPE variants we do not compute are refused, not approximated. */
    char key[128];
    snprintf(key, sizeof key, "%s.rope.dimension_count", a);
    if (mkv_gguf_find_kv(g, key)) {
        uint32_t rd;
        if ((st = mkv_gguf_get_u32(g, key, &rd, err)) != MKV_OK) return st;
        if (rd != c->head_dim)
            return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: %s = %u: partial rotary (head_dim %u) is not supported",
                            path, key, rd, c->head_dim);
    }
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (mkv_gguf_find_kv(g, key)) {
        char type[32];
        if ((st = mkv_gguf_get_str(g, key, type, sizeof type, err)) != MKV_OK) return st;
        if (strcmp(type, "none") != 0)
            return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: %s = '%s': RoPE scaling is not supported (none)", path,
                            key, type);
    }
    if (mkv_gguf_find_tensor(g, "rope_freqs.weight"))
        return mkv_fail(err, MKV_ERR_UNSUPPORTED,
                        "%s: tensor 'rope_freqs.weight': RoPE frequency factors (llama 3.1 scaling) are not supported",
                        path);

    /* MeKi: meki.dim makes it a MeKi model; the fingerprint is optional. */
    c->d_mem = 0;
    if (mkv_gguf_find_kv(g, "meki.dim")) {
        if ((st = mkv_gguf_get_u32(g, "meki.dim", &c->d_mem, err)) != MKV_OK) return st;
        if (c->d_mem == 0 || c->d_mem % 4 != 0)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: meki.dim = %u: not a positive multiple of 4", path, c->d_mem);
    }
    /* The MeKi gate's input (DESIGN §2): "norm" (u, the default) or
     * "residual" (a); anything else would compute another model. */
    c->meki_gate_residual = false;
    const mkv_gguf_kv *gi = mkv_gguf_find_kv(g, "meki.gate_input");
    if (gi) {
        char v[16];
        if (gi->type != MKV_GGUF_STRING) return mkv_gguf_get_str(g, "meki.gate_input", v, sizeof v, err);
        const size_t n = (size_t)gi->v.str.len;
        bool norm = n == 4 && memcmp(gi->v.str.ptr, "norm", 4) == 0;
        c->meki_gate_residual = n == 8 && memcmp(gi->v.str.ptr, "residual", 8) == 0;
        if (!norm && !c->meki_gate_residual)
            return mkv_fail(err, MKV_ERR_FORMAT,
                            "%s: key 'meki.gate_input' = '%.*s%s': expected 'norm' or 'residual'", path,
                            (int)(n < 64 ? n : 64), gi->v.str.ptr, n > 64 ? "..." : "");
    }
    memset(c->bank_fingerprint, 0, sizeof c->bank_fingerprint);
    const mkv_gguf_kv *fp = mkv_gguf_find_kv(g, "meki.bank_fingerprint");
    if (fp) {
        if (fp->type != MKV_GGUF_ARRAY || fp->arr_type != MKV_GGUF_U8 || fp->arr_n != 32)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: key 'meki.bank_fingerprint' type = %s%s%s, length %" PRIu64
                            ": expected array of u8, length 32", path, mkv_gguf_vtype_name(fp->type),
                            fp->type == MKV_GGUF_ARRAY ? " of " : "",
                            fp->type == MKV_GGUF_ARRAY ? mkv_gguf_vtype_name(fp->arr_type) : "",
                            fp->type == MKV_GGUF_ARRAY ? fp->arr_n : 1);
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

enum tkind { T_MATRIX, T_VECTOR };

/* Finds `name` and checks its type (matrix or vector list) and shape:
 * [ne0] (ne1 == 0) or [ne0, ne1]. Trailing dimensions of 1 are ignored, as
 * ggml does. The byte size must be that of the type (rows of whole blocks). */
static mkv_status get_tensor(const mkv_gguf *g, const char *name, uint64_t ne0, uint64_t ne1, enum tkind kind,
                             bool optional, const mkv_gguf_tensor **out, mkv_error *err)
{
    const mkv_gguf_tensor *t = mkv_gguf_find_tensor(g, name);
    *out = t;
    if (!t) {
        if (optional) return MKV_OK;
        return mkv_fail(err, MKV_ERR_MISSING, "%s: tensor '%s': missing", g->path, name);
    }
    if (kind == T_MATRIX ? !mkv_model_matrix_type_ok(t->type) : !mkv_model_vector_type_ok(t->type))
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: tensor '%s' type = %s is not supported (%s)", g->path, name,
                        mkv_ggml_type_name(t->type),
                        kind == T_MATRIX ? "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K"
                                         : "F32, F16, BF16 for a vector");
    if (mkv_ggml_nbytes(t->type, t->ne[0]) == 0)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s' ne[0] = %llu: rows are not whole %s blocks", g->path, name,
                        (unsigned long long)t->ne[0], mkv_ggml_type_name(t->type));
    uint64_t want[4] = {ne0, ne1 ? ne1 : 1, 1, 1};
    if (memcmp(want, t->ne, sizeof want) != 0) {
        char got_s[96], want_s[64];
        format_shape(got_s, sizeof got_s, t->n_dims, t->ne);
        format_shape(want_s, sizeof want_s, ne1 ? 2 : 1, want);
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s' shape = %s: expected %s", g->path, name, got_s, want_s);
    }
    /* The reader sized the tensor from its type; check it again here, where
     * the loaders start indexing rows by that size. */
    uint64_t row_bytes = mkv_ggml_nbytes(t->type, ne0);
    if (row_bytes == 0 || t->nbytes != row_bytes * want[1])
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s' bytes = %" PRIu64 ": expected %" PRIu64 " rows of %" PRIu64
                        " (%s, row length %" PRIu64 ")", g->path, name, t->nbytes, want[1], row_bytes,
                        mkv_ggml_type_name(t->type), ne0);
    return MKV_OK;
}

/* q/k norms of a qwen3 file come in pairs, in every layer or in none
 * (layer 0 says which): a layer that differs is named, never run with its
 * norms ignored or missing. */
static mkv_status check_qk_norm_presence(const mkv_gguf *g, const mkv_model_config *c, uint32_t l, mkv_error *err)
{
    char qn[64], kn[64];
    snprintf(qn, sizeof qn, "blk.%u.attn_q_norm.weight", l);
    snprintf(kn, sizeof kn, "blk.%u.attn_k_norm.weight", l);
    const bool q = mkv_gguf_find_tensor(g, qn) != NULL, k = mkv_gguf_find_tensor(g, kn) != NULL;
    if (q != k)
        return mkv_fail(err, MKV_ERR_MISSING, "%s: tensor '%s': missing, but '%s' is present (layer %u: q/k norms "
                        "come in pairs)", g->path, q ? kn : qn, q ? qn : kn, l);
    if (q != c->has_qk_norm)
        return mkv_fail(err, c->has_qk_norm ? MKV_ERR_MISSING : MKV_ERR_FORMAT,
                        "%s: tensor '%s': %s, but layer 0 %s q/k norms (layer %u: they must be in every layer or in "
                        "none)", g->path, qn, q ? "present" : "missing", q ? "has no" : "has", l);
    return MKV_OK;
}

static mkv_status get_layer(const mkv_gguf *g, mkv_model_config *c, bool qk_norm_allowed, uint32_t l,
                            mkv_layer_desc *L, mkv_error *err)
{
    mkv_status st;
    char name[96];
    const uint64_t dm = c->d_model, q = (uint64_t)c->n_head * c->head_dim, kv = (uint64_t)c->n_kv_head * c->head_dim;
    /* slot NULL: must be absent; optional: may be absent */
    const struct {
        const char *suffix, *what;
        uint64_t ne0, ne1;
        enum tkind kind;
        bool optional;
        const mkv_gguf_tensor **slot;
    } want[] = {
        {"attn_norm", "weight", dm, 0, T_VECTOR, false, &L->attn_norm},
        {"attn_q", "weight", dm, q, T_MATRIX, false, &L->wq},
        {"attn_k", "weight", dm, kv, T_MATRIX, false, &L->wk},
        {"attn_v", "weight", dm, kv, T_MATRIX, false, &L->wv},
        {"attn_q", "bias", q, 0, T_VECTOR, true, &L->bq},
        {"attn_k", "bias", kv, 0, T_VECTOR, true, &L->bk},
        {"attn_v", "bias", kv, 0, T_VECTOR, true, &L->bv},
        {"attn_output", "weight", q, dm, T_MATRIX, false, &L->wo},
        {"ffn_norm", "weight", dm, 0, T_VECTOR, false, &L->ffn_norm},
        {"ffn_gate", "weight", dm, c->d_ffn, T_MATRIX, false, &L->w_gate},
        {"ffn_up", "weight", dm, c->d_ffn, T_MATRIX, false, &L->w_up},
        {"ffn_down", "weight", c->d_ffn, dm, T_MATRIX, false, &L->w_down},
        {"attn_q_norm", "weight", c->head_dim, 0, T_VECTOR, false, c->has_qk_norm ? &L->q_norm : NULL},
        {"attn_k_norm", "weight", c->head_dim, 0, T_VECTOR, false, c->has_qk_norm ? &L->k_norm : NULL},
        {"meki_gate", "weight", dm, c->d_mem, T_MATRIX, false, c->d_mem ? &L->meki_gate : NULL},
        {"meki_out", "weight", c->d_mem, dm, T_MATRIX, false, c->d_mem ? &L->meki_out : NULL},
        {"meki_norm", "weight", dm, 0, T_VECTOR, false, c->d_mem ? &L->meki_norm : NULL},
    };
    /* An output bias is not part of the math we run: refuse rather than
     * compute something else. */
    snprintf(name, sizeof name, "blk.%u.attn_output.bias", l);
    if (mkv_gguf_find_tensor(g, name))
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: tensor '%s': attention output biases are not supported",
                        g->path, name);
    if (qk_norm_allowed && (st = check_qk_norm_presence(g, c, l, err)) != MKV_OK) return st;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        snprintf(name, sizeof name, "blk.%u.%s.%s", l, want[i].suffix, want[i].what);
        if (!want[i].slot) {
            if (!mkv_gguf_find_tensor(g, name)) continue;
            /* MeKi tensors without meki.dim would be silently ignored: refuse */
            if (strncmp(want[i].suffix, "meki_", 5) == 0)
                return mkv_fail(err, MKV_ERR_MISSING, "%s: key 'meki.dim': missing, but tensor '%s' is present",
                                g->path, name);
            return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: tensor '%s': %s models have no q/k norm", g->path, name,
                            c->arch);
        }
        if ((st = get_tensor(g, name, want[i].ne0, want[i].ne1, want[i].kind, want[i].optional, want[i].slot, err)))
            return st;
    }
    if (L->bq || L->bk || L->bv) c->has_qkv_bias = true;
    return MKV_OK;
}

mkv_status mkv_model_desc_load(const char *path, mkv_model_desc **out, mkv_error *err)
{
    mkv_status st;
    mkv_model_desc *d = mkv_calloc(1, sizeof *d);
    *out = NULL;
    if (!d) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    if ((st = mkv_gguf_open(path, &d->gguf, err)) != MKV_OK) goto out;
    const mkv_gguf *g = d->gguf;
    mkv_model_config *c = &d->cfg;

    bool qk_norm_allowed;
    if ((st = read_config(g, c, &qk_norm_allowed, err)) != MKV_OK) goto out;
    /* layer 0 decides whether this file has q/k norms; get_layer holds every
     * other layer to it */
    c->has_qk_norm = qk_norm_allowed && (mkv_gguf_find_tensor(g, "blk.0.attn_q_norm.weight") ||
                                         mkv_gguf_find_tensor(g, "blk.0.attn_k_norm.weight"));

    /* token_embd fixes n_vocab: check d_model first, then read ne[1]. */
    const mkv_gguf_tensor *te = mkv_gguf_find_tensor(g, "token_embd.weight");
    uint64_t nv = te ? te->ne[1] : 1;
    if (nv > UINT32_MAX) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor 'token_embd.weight' ne[1] = %" PRIu64 ": vocabulary too large",
                      path, nv);
        goto out;
    }
    if ((st = get_tensor(g, "token_embd.weight", c->d_model, nv, T_MATRIX, false, &d->tok_embd, err)) != MKV_OK) goto out;
    c->n_vocab = (uint32_t)nv;
    if ((st = get_tensor(g, "output_norm.weight", c->d_model, 0, T_VECTOR, false, &d->output_norm, err)) != MKV_OK) goto out;
    if ((st = get_tensor(g, "output.weight", c->d_model, nv, T_MATRIX, true, &d->output, err)) != MKV_OK) goto out;
    c->tied_output = d->output == NULL;
    if (c->tied_output) d->output = d->tok_embd;

    d->layers = mkv_calloc(c->n_layer, sizeof *d->layers);
    if (!d->layers) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    for (uint32_t l = 0; l < c->n_layer; l++)
        if ((st = get_layer(g, c, qk_norm_allowed, l, &d->layers[l], err)) != MKV_OK) goto out;

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
