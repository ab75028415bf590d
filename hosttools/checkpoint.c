#include "checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "json.h"

/* A config or index file: read whole (1 MiB at most: not a model config past that). */
static mkv_status read_text(const char *path, char **out, size_t *len, mkv_error *err)
{
    uint64_t n;
    mkv_status st = mkv_read_small_file(path, (1u << 20) - 1, out, &n, err);
    if (st == MKV_OK) *len = (size_t)n;
    return st;
}

static mkv_status cfg_u32(const mkv_json *j, const char *path, const char *key, uint32_t *out, mkv_error *err)
{
    uint32_t v = mkv_json_get(j, 0, key);
    if (v == MKV_JSON_NONE) return mkv_fail(err, MKV_ERR_MISSING, "%s: key '%s' is missing", path, key);
    if (j->v[v].type != MKV_JSON_NUMBER || !j->v[v].is_uint || j->v[v].u == 0 || j->v[v].u > (1u << 24))
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s = %.32s: expected an integer in 1..2^24", path, key,
                        j->v[v].type == MKV_JSON_NUMBER ? j->v[v].str : "(not a number)");
    *out = (uint32_t)j->v[v].u;
    return MKV_OK;
}

static mkv_status cfg_f32(const mkv_json *j, const char *path, const char *key, float dflt, float *out, mkv_error *err)
{
    uint32_t v = mkv_json_get(j, 0, key);
    if (v == MKV_JSON_NONE) { *out = dflt; return MKV_OK; }
    if (j->v[v].type != MKV_JSON_NUMBER || !(j->v[v].num > 0) || !isfinite(j->v[v].num))
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected a positive number", path, key);
    *out = (float)j->v[v].num;
    return MKV_OK;
}

/* "meki_gate_input": the MeKi gate's input (DESIGN §2); absent = "norm". */
static mkv_status cfg_gate_input(const mkv_json *j, const char *path, bool *residual, mkv_error *err)
{
    uint32_t v = mkv_json_get(j, 0, "meki_gate_input");
    *residual = false;
    if (v == MKV_JSON_NONE) return MKV_OK;
    const mkv_json_value *x = &j->v[v];
    if (x->type == MKV_JSON_STRING && !strcmp(x->str, "residual") && x->len == 8) {
        *residual = true;
        return MKV_OK;
    }
    if (x->type == MKV_JSON_STRING && !strcmp(x->str, "norm") && x->len == 4) return MKV_OK;
    return mkv_fail(err, MKV_ERR_FORMAT, "%s: meki_gate_input = %s%.64s%s: expected \"norm\" or \"residual\"", path,
                    x->type == MKV_JSON_STRING ? "\"" : "", x->type == MKV_JSON_STRING ? x->str : "(not a string)",
                    x->type == MKV_JSON_STRING ? "\"" : "");
}

static mkv_status read_config(mkv_ckpt *c, const char *path, mkv_error *err)
{
    char *text = NULL;
    size_t len = 0;
    mkv_json j = {0};
    mkv_status st = read_text(path, &text, &len, err);
    if (!st) st = mkv_json_parse(text, len, path, &j, err);
    if (!st && j.v[0].type != MKV_JSON_OBJECT) st = mkv_fail(err, MKV_ERR_FORMAT, "%s: not a JSON object", path);
    if (!st) st = cfg_u32(&j, path, "hidden_size", &c->d_model, err);
    if (!st) st = cfg_u32(&j, path, "num_hidden_layers", &c->n_layer, err);
    if (!st) st = cfg_u32(&j, path, "num_attention_heads", &c->n_head, err);
    if (!st) st = cfg_u32(&j, path, "intermediate_size", &c->d_ffn, err);
    if (!st) st = cfg_u32(&j, path, "vocab_size", &c->n_vocab, err);
    if (!st) st = cfg_u32(&j, path, "meki_dim", &c->d_mem, err);
    if (!st) {
        c->n_kv_head = c->n_head;
        if (mkv_json_get(&j, 0, "num_key_value_heads") != MKV_JSON_NONE)
            st = cfg_u32(&j, path, "num_key_value_heads", &c->n_kv_head, err);
    }
    if (!st) {
        c->head_dim = c->d_model / c->n_head;
        if (mkv_json_get(&j, 0, "head_dim") != MKV_JSON_NONE) st = cfg_u32(&j, path, "head_dim", &c->head_dim, err);
    }
    if (!st) st = cfg_f32(&j, path, "rope_theta", 10000.0f, &c->rope_theta, err);
    if (!st) st = cfg_f32(&j, path, "rms_norm_eps", 1e-6f, &c->norm_eps, err);
    if (!st) st = cfg_gate_input(&j, path, &c->gate_residual, err);
    if (!st) {
        uint32_t t = mkv_json_get(&j, 0, "tie_word_embeddings");
        c->tied = t == MKV_JSON_NONE || j.v[t].type == MKV_JSON_TRUE; /* Qwen3's default for small models */
        if (t != MKV_JSON_NONE && j.v[t].type != MKV_JSON_TRUE && j.v[t].type != MKV_JSON_FALSE)
            st = mkv_fail(err, MKV_ERR_FORMAT, "%s: tie_word_embeddings: expected true or false", path);
    }
    if (!st && (c->n_head % c->n_kv_head || c->head_dim % 2 || c->d_mem % 4))
        st = mkv_fail(err, MKV_ERR_FORMAT,
                      "%s: num_attention_heads = %u, num_key_value_heads = %u, head_dim = %u, meki_dim = %u: need "
                      "heads %% kv_heads == 0, an even head_dim and meki_dim %% 4 == 0",
                      path, c->n_head, c->n_kv_head, c->head_dim, c->d_mem);
    mkv_json_free(&j);
    free(text);
    return st;
}

/* Finds `name` and checks its shape (n_dims 1 or 2: [d0] or [d0, d1]). */
static mkv_status want(const mkv_ckpt *c, const char *name, uint32_t n_dims, uint64_t d0, uint64_t d1,
                       const mkv_st_tensor **out, mkv_error *err)
{
    mkv_status st = mkv_st_get(c->st, name, out, err);
    if (st) return st;
    const mkv_st_tensor *t = *out;
    if (t->n_dims != n_dims || t->shape[0] != d0 || (n_dims == 2 && t->shape[1] != d1)) {
        char got[96] = "[", exp[64];
        for (uint32_t i = 0; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%" PRIu64, i ? ", " : "", t->shape[i]);
        strcat(got, "]");
        if (n_dims == 1) snprintf(exp, sizeof exp, "[%" PRIu64 "]", d0);
        else snprintf(exp, sizeof exp, "[%" PRIu64 ", %" PRIu64 "]", d0, d1);
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': shape = %s, expected %s", c->st->path, name, got, exp);
    }
    return MKV_OK;
}

static mkv_status want_scalar(const mkv_ckpt *c, const char *name, const mkv_st_tensor **out, mkv_error *err)
{
    mkv_status st = mkv_st_get(c->st, name, out, err);
    if (st) return st;
    if ((*out)->numel != 1 || (*out)->n_dims > 1)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': %u dims, %" PRIu64 " elements: expected a scalar ([] or [1])",
                        c->st->path, name, (*out)->n_dims, (*out)->numel);
    float v = mkv_ckpt_scalar(*out);
    if (!isfinite(v)) return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s' = %g: not finite", c->st->path, name, v);
    return MKV_OK;
}

float mkv_ckpt_scalar(const mkv_st_tensor *t)
{
    float v;
    mkv_st_to_f32(t, 0, 1, &v);
    return v;
}

static mkv_status find_tensors(mkv_ckpt *c, mkv_error *err)
{
    const uint64_t D = c->d_model, Q = (uint64_t)c->n_head * c->head_dim, KV = (uint64_t)c->n_kv_head * c->head_dim,
                   F = c->d_ffn, M = c->d_mem, V = c->n_vocab;
    mkv_status st;
    if ((st = want(c, "model.embed_tokens.weight", 2, V, D, &c->embed, err))) return st;
    if ((st = want(c, "model.norm.weight", 1, D, 0, &c->norm, err))) return st;
    if (!c->tied && (st = want(c, "lm_head.weight", 2, V, D, &c->lm_head, err))) return st;
    /* the projector's hidden width is whatever layer 0 has; every layer must agree */
    const mkv_st_tensor *pg;
    if ((st = mkv_st_get(c->st, "model.layers.0.meki_module.word_emb_projection.gate_proj.weight", &pg, err))) return st;
    c->d_proj = pg->n_dims == 2 && pg->shape[0] > 0 && pg->shape[0] <= (1u << 20) ? (uint32_t)pg->shape[0] : 0;
    if (!c->d_proj)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': expected [d_proj, %" PRIu64 "]", c->st->path, pg->name, D);
    const uint64_t P = c->d_proj;
    char n[160];
    for (uint32_t l = 0; l < c->n_layer; l++) {
        mkv_ckpt_layer *L = &c->layers[l];
#define N(suffix) (snprintf(n, sizeof n, "model.layers.%u.%s", l, suffix), n)
        if ((st = want(c, N("input_layernorm.weight"), 1, D, 0, &L->attn_norm, err))) return st;
        if ((st = want(c, N("self_attn.q_proj.weight"), 2, Q, D, &L->wq, err))) return st;
        if ((st = want(c, N("self_attn.k_proj.weight"), 2, KV, D, &L->wk, err))) return st;
        if ((st = want(c, N("self_attn.v_proj.weight"), 2, KV, D, &L->wv, err))) return st;
        if ((st = want(c, N("self_attn.o_proj.weight"), 2, D, Q, &L->wo, err))) return st;
        /* q/k norms: optional (the authors' MeKi training omits them), but in
         * every layer or in none, as layer 0 has them; a missing one of a
         * pair is named by want() */
        bool has_q = mkv_st_find(c->st, N("self_attn.q_norm.weight")) != NULL;
        bool has_k = mkv_st_find(c->st, N("self_attn.k_norm.weight")) != NULL;
        if (l == 0) c->has_qk_norm = has_q || has_k;
        if (!c->has_qk_norm && (has_q || has_k))
            return mkv_fail(err, MKV_ERR_FORMAT,
                            "%s: tensor 'model.layers.%u.self_attn.%s_norm.weight': present, but layer 0 has no q/k "
                            "norms (layer %u: they must be in every layer or in none)",
                            c->st->path, l, has_q ? "q" : "k", l);
        if (c->has_qk_norm) {
            if ((st = want(c, N("self_attn.q_norm.weight"), 1, c->head_dim, 0, &L->q_norm, err))) return st;
            if ((st = want(c, N("self_attn.k_norm.weight"), 1, c->head_dim, 0, &L->k_norm, err))) return st;
        }
        if ((st = want(c, N("post_attention_layernorm.weight"), 1, D, 0, &L->ffn_norm, err))) return st;
        if ((st = want(c, N("mlp.gate_proj.weight"), 2, F, D, &L->w_gate, err))) return st;
        if ((st = want(c, N("mlp.up_proj.weight"), 2, F, D, &L->w_up, err))) return st;
        if ((st = want(c, N("mlp.down_proj.weight"), 2, D, F, &L->w_down, err))) return st;
        if ((st = want(c, N("meki_module.embeddings.weight"), 2, V, M, &L->mem, err))) return st;
        if ((st = want(c, N("meki_module.word_emb_projection.gate_proj.weight"), 2, P, D, &L->proj_gate, err))) return st;
        if ((st = want(c, N("meki_module.word_emb_projection.up_proj.weight"), 2, P, D, &L->proj_up, err))) return st;
        if ((st = want(c, N("meki_module.word_emb_projection.down_proj.weight"), 2, M, P, &L->proj_down, err))) return st;
        if ((st = want(c, N("meki_module.mix_norm.weight"), 1, M, 0, &L->mix_norm, err))) return st;
        if ((st = want_scalar(c, N("meki_module.alpha_scale"), &L->alpha, err))) return st;
        if ((st = want_scalar(c, N("meki_module.beta_scale"), &L->beta, err))) return st;
        if ((st = want(c, N("meki_module.gate_proj.weight"), 2, M, D, &L->meki_gate, err))) return st;
        if ((st = want(c, N("meki_module.out_proj.weight"), 2, D, M, &L->meki_out, err))) return st;
        if ((st = want(c, N("meki_module.post_norm.weight"), 1, D, 0, &L->meki_norm, err))) return st;
#undef N
    }
    return MKV_OK;
}

mkv_status mkv_ckpt_open(const char *path, mkv_ckpt **out, mkv_error *err)
{
    *out = NULL;
    mkv_ckpt *c = calloc(1, sizeof *c);
    if (!c) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    struct stat sb;
    mkv_status st = MKV_OK;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(c->config_path, sizeof c->config_path, "%s/config.json", path);
    } else {
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(c->config_path, sizeof c->config_path, "%.*s/config.json", (int)(slash - path), path);
        else snprintf(c->config_path, sizeof c->config_path, "config.json");
    }
    if (!st) st = read_config(c, c->config_path, err);
    if (!st) st = mkv_st_open(path, &c->st, err);
    if (!st && !(c->layers = calloc(c->n_layer, sizeof *c->layers)))
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    if (!st) st = find_tensors(c, err);
    if (st) {
        mkv_ckpt_close(c);
        return st;
    }
    *out = c;
    return MKV_OK;
}

void mkv_ckpt_close(mkv_ckpt *c)
{
    if (!c) return;
    mkv_st_close(c->st);
    free(c->layers);
    free(c);
}
