/* Training-form checkpoints with random weights. Scales are chosen so that
 * the fold (convert) produces O(1) rows and the converted model behaves
 * like `mekivk synth`'s (whose scaling rationale is in synth.c):
 *   embeddings E          std 3/sqrt(d_model)       -> |E[x]| ~ 3
 *   projector gate/up     std 1/3                   -> W e ~ N(0, 1)
 *   projector down        std 1/sqrt(d_model/2)     -> G(e) std ~ 0.6
 *   memory tables M_l     std 1
 *   alpha                 1 + 0.1 u,   beta 1 + 0.25 u (u uniform in [-1, 1))
 *   mix_norm, norms       1 + 0.1 u,   post_norm 0.5 + 0.05 u
 *   other matrices        std 1/sqrt(fan_in) (HF layout [out, in])
 * so M + beta G mixes both terms at comparable size and the normalised
 * result has the std-1 rows the engine's synthetic banks have. */
#include "synth_ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "safetensors.h"
#include "safetensors_write.h"

typedef struct ck_tensor {
    mkv_stw_decl d;
    float offset, scale; /* value = offset + scale * u */
} ck_tensor;

typedef struct ck_plan {
    ck_tensor *t;
    uint32_t n;
    uint64_t seed;
} ck_plan;

static void add(ck_plan *p, uint32_t dtype, const char *name, uint32_t n_dims, uint64_t d0, uint64_t d1, float offset,
                float std_or_scale, bool is_std)
{
    ck_tensor *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->d.name, sizeof t->d.name, "%s", name);
    t->d.dtype = dtype;
    t->d.n_dims = n_dims;
    t->d.shape[0] = d0;
    t->d.shape[1] = d1;
    t->offset = offset;
    t->scale = is_std ? std_or_scale * sqrtf(3.0f) : std_or_scale; /* uniform: std = scale / sqrt(3) */
}

static mkv_status plan(const mkv_synth_opts *o, uint32_t dtype, ck_plan *p, mkv_error *err)
{
    const mkv_synth_shape *s = &o->shape;
    p->t = calloc((size_t)s->n_layer * 24 + 4, sizeof *p->t);
    if (!p->t) return mkv_fail(err, MKV_ERR_NO_MEMORY, "checkpoint: out of memory");
    p->seed = o->seed;
    const uint64_t D = s->d_model, Q = (uint64_t)s->n_head * s->head_dim, KV = (uint64_t)s->n_kv_head * s->head_dim,
                   F = s->d_ffn, M = s->d_mem, V = s->n_vocab, H = s->d_model / 2;
    const float fd = 1.0f / sqrtf((float)D);
    char n[96];
    add(p, dtype, "model.embed_tokens.weight", 2, V, D, 0, 3.0f * fd, true);
    for (uint32_t l = 0; l < s->n_layer; l++) {
#define L(suffix) (snprintf(n, sizeof n, "model.layers.%u.%s", l, suffix), n)
        add(p, dtype, L("input_layernorm.weight"), 1, D, 0, 1.0f, 0.1f, false);
        add(p, dtype, L("self_attn.q_proj.weight"), 2, Q, D, 0, fd, true);
        add(p, dtype, L("self_attn.k_proj.weight"), 2, KV, D, 0, fd, true);
        add(p, dtype, L("self_attn.v_proj.weight"), 2, KV, D, 0, fd, true);
        add(p, dtype, L("self_attn.o_proj.weight"), 2, D, Q, 0, 1.0f / sqrtf((float)Q), true);
        if (!o->no_qk_norm) {
            add(p, dtype, L("self_attn.q_norm.weight"), 1, s->head_dim, 0, 1.0f, 0.1f, false);
            add(p, dtype, L("self_attn.k_norm.weight"), 1, s->head_dim, 0, 1.0f, 0.1f, false);
        }
        add(p, dtype, L("post_attention_layernorm.weight"), 1, D, 0, 1.0f, 0.1f, false);
        add(p, dtype, L("mlp.gate_proj.weight"), 2, F, D, 0, fd, true);
        add(p, dtype, L("mlp.up_proj.weight"), 2, F, D, 0, fd, true);
        add(p, dtype, L("mlp.down_proj.weight"), 2, D, F, 0, 1.0f / sqrtf((float)F), true);
        add(p, dtype, L("meki_module.embeddings.weight"), 2, V, M, 0, 1.0f, true);
        add(p, dtype, L("meki_module.word_emb_projection.gate_proj.weight"), 2, H, D, 0, 1.0f / 3.0f, true);
        add(p, dtype, L("meki_module.word_emb_projection.up_proj.weight"), 2, H, D, 0, 1.0f / 3.0f, true);
        add(p, dtype, L("meki_module.word_emb_projection.down_proj.weight"), 2, M, H, 0, 1.0f / sqrtf((float)H), true);
        add(p, dtype, L("meki_module.mix_norm.weight"), 1, M, 0, 1.0f, 0.1f, false);
        add(p, dtype, L("meki_module.alpha_scale"), 0, 0, 0, 1.0f, 0.1f, false);
        add(p, dtype, L("meki_module.beta_scale"), 0, 0, 0, 1.0f, 0.25f, false);
        add(p, dtype, L("meki_module.gate_proj.weight"), 2, M, D, 0, fd, true);
        add(p, dtype, L("meki_module.out_proj.weight"), 2, D, M, 0, 1.0f / sqrtf((float)M), true);
        add(p, dtype, L("meki_module.post_norm.weight"), 1, D, 0, 0.5f, 0.05f, false);
#undef L
    }
    add(p, dtype, "model.norm.weight", 1, D, 0, 1.0f, 0.1f, false);
    if (!o->tied_output) add(p, dtype, "lm_head.weight", 2, V, D, 0, fd, true);
    return MKV_OK;
}

static mkv_status fill(void *user, uint32_t index, uint64_t first, uint64_t n, float *dst, mkv_error *err)
{
    const ck_plan *p = user;
    const ck_tensor *t = &p->t[index];
    mkv_synth_uniform(p->seed, t->d.name, t->offset, t->scale, first, n, dst);
    (void)err;
    return MKV_OK;
}

/* Atomically, as every output (runtime/fileio.h). */
static mkv_status write_text(const char *path, const char *text, mkv_error *err)
{
    mkv_atomic_file f;
    mkv_status st = mkv_atomic_begin(&f, path, err);
    if (st == MKV_OK) st = mkv_write_full(f.fd, text, strlen(text), path, err);
    if (st == MKV_OK) return mkv_atomic_commit(&f, err);
    mkv_atomic_abort(&f);
    return st;
}

static mkv_status write_config(const mkv_synth_opts *o, uint32_t dtype, const char *dir, mkv_error *err)
{
    const mkv_synth_shape *s = &o->shape;
    char path[PATH_MAX], text[2048], gate[64] = "";
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (o->gate_input) snprintf(gate, sizeof gate, "  \"meki_gate_input\": \"%.32s\",\n", o->gate_input);
    snprintf(text, sizeof text,
             "{\n  \"architectures\": [\"MekiQwen3ForCausalLM\"],\n  \"model_type\": \"qwen3\",\n"
             "  \"hidden_size\": %u,\n  \"num_hidden_layers\": %u,\n  \"num_attention_heads\": %u,\n"
             "  \"num_key_value_heads\": %u,\n  \"head_dim\": %u,\n  \"intermediate_size\": %u,\n"
             "  \"vocab_size\": %u,\n  \"rope_theta\": %.7g,\n  \"rms_norm_eps\": %.7g,\n"
             "  \"tie_word_embeddings\": %s,\n  \"meki_dim\": %u,\n%s  \"torch_dtype\": \"%s\",\n"
             "  \"mekivk_synth_seed\": %" PRIu64 "\n}\n",
             s->d_model, s->n_layer, s->n_head, s->n_kv_head, s->head_dim, s->d_ffn, s->n_vocab, (double)s->rope_theta,
             (double)s->norm_eps, o->tied_output ? "true" : "false", s->d_mem, gate,
             dtype == MKV_ST_F32 ? "float32" : dtype == MKV_ST_F16 ? "float16" : "bfloat16", o->seed);
    return write_text(path, text, err);
}

static mkv_status make_dir(const char *dir, mkv_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return mkv_fail(err, MKV_ERR_IO, "%s: mkdir: %s", dir, strerror(errno));
    return MKV_OK;
}

mkv_status mkv_synth_write_checkpoint(const mkv_synth_opts *o, uint32_t dtype, uint32_t n_shards, mkv_error *err)
{
    const mkv_synth_shape *s = &o->shape;
    if (!s->n_layer || !s->d_model || s->d_model % 2 || !s->n_head || !s->n_kv_head || !s->head_dim || !s->d_ffn ||
        !s->d_mem || !s->n_vocab || !o->out_dir)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "checkpoint: shape needs every dimension > 0 and an even d_model");
    if (dtype > MKV_ST_BF16) return mkv_fail(err, MKV_ERR_INVALID_ARG, "checkpoint: dtype = %u", dtype);
    ck_plan p = {0};
    char *index = NULL;
    mkv_status st = make_dir(o->out_dir, err);
    if (!st) st = plan(o, dtype, &p, err);
    if (!st) st = write_config(o, dtype, o->out_dir, err);
    if (st) goto out;
    if (n_shards == 0 || n_shards > p.n) n_shards = n_shards ? p.n : 1;
    uint64_t total = 0;
    for (uint32_t i = 0; i < p.n; i++) total += mkv_stw_numel(&p.t[i].d) * mkv_st_dtype_size(dtype);
    mkv_stw_decl *decl = malloc((size_t)p.n * sizeof *decl);
    size_t icap = 256 + (size_t)p.n * 160, ilen = 0;
    index = malloc(icap);
    if (!decl || !index) {
        free(decl);
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "checkpoint: out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < p.n; i++) decl[i] = p.t[i].d;
    ilen += (size_t)snprintf(index, icap, "{\n  \"metadata\": {\"total_size\": %" PRIu64 "},\n  \"weight_map\": {", total);
    mkv_progress prog;
    mkv_progress_start(&prog, o->progress, "checkpoint", total);
    /* shard k takes tensors until the running byte count passes (k+1)/N of
     * the total (and leaves at least one tensor to every later shard) */
    uint32_t first = 0;
    uint64_t done = 0;
    for (uint32_t k = 0; k < n_shards && !st; k++) {
        uint32_t end = first;
        uint64_t bytes = done;
        while (end < p.n && (end == first || (bytes < total / n_shards * (k + 1) && p.n - end > n_shards - k - 1) ||
                             k == n_shards - 1)) {
            bytes += mkv_stw_numel(&decl[end]) * mkv_st_dtype_size(dtype);
            end++;
        }
        char name[64], path[PATH_MAX];
        if (n_shards == 1) snprintf(name, sizeof name, "model.safetensors");
        else snprintf(name, sizeof name, "model-%05u-of-%05u.safetensors", k + 1, n_shards);
        snprintf(path, sizeof path, "%s/%s", o->out_dir, name);
        /* the fill callback indexes the plan: pass a view starting at `first` */
        ck_plan view = {.t = p.t + first, .n = end - first, .seed = p.seed};
        st = mkv_stw_write(path, decl + first, end - first, "{\"format\":\"pt\",\"producer\":\"mekivk synth\"}", fill,
                           &view, &prog, err);
        for (uint32_t i = first; i < end; i++)
            ilen += (size_t)snprintf(index + ilen, icap - ilen, "%s\n    \"%s\": \"%s\"", i ? "," : "", decl[i].name, name);
        done = bytes;
        first = end;
    }
    free(decl);
    if (!st && n_shards > 1) {
        snprintf(index + ilen, icap - ilen, "\n  }\n}\n");
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", o->out_dir);
        st = write_text(path, index, err);
    }
out:
    free(index);
    free(p.t);
    return st;
}
