/* A decoding session: KV cache, activations, and the decode step recorded
 * once into a command buffer that every token replays. Per-token values
 * (token id, position) reach the shaders through a small host-visible
 * "step params" buffer, and the token's bank slab through a host-visible
 * staging buffer read in place on unified-memory devices. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "ops.h"
#include "step_params.h"

struct mkv_session {
    mkv_model *m;
    mkv_device *d;
    uint32_t n_ctx, pos, n_split;
    bool meki;                  /* MeKi branch recorded */
    bool profile;               /* timestamps after every dispatch */

    /* Activations (f32, padded to multiples of 8 with zeros). */
    mkv_buffer h;               /* residual stream [d_model] */
    mkv_buffer xn;              /* normed input of the next product [d_model] */
    mkv_buffer qkv;             /* [q | k | v] of this position */
    mkv_buffer q, att;          /* [n_head * head_dim] */
    mkv_buffer u;               /* FFN / MeKi input [d_model] */
    mkv_buffer t;               /* SwiGLU output [d_ffn] */
    mkv_buffer f, z;            /* FFN output, MeKi projection [d_model] */
    mkv_buffer v;               /* MeKi v = row + gate [d_mem] */
    mkv_buffer scores, partials;/* attention scratch */
    mkv_buffer rope;            /* (cos, sin) table [n_ctx][head_dim/2] */
    mkv_buffer *k_cache, *v_cache; /* per layer, f16 [n_ctx][n_kv_head][head_dim] */
    mkv_buffer argmax_slots;
    /* Host-visible. */
    mkv_buffer params;          /* mkv_step_params */
    mkv_buffer slab;            /* this token's bank slab */
    mkv_buffer logits;          /* [n_vocab] */
    mkv_buffer result;          /* argmax (value, index bits) */

    VkCommandBuffer cb;
    VkFence fence;
    mkv_recorder rec;
    mkv_session_stats stats;
};

static double mkv_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

#define TRY(x) do { if ((st = (x))) return st; } while (0)

static mkv_status vec_buffer(mkv_session *s, uint64_t n, mkv_buffer *b, mkv_error *err)
{
    return mkv_buffer_create(s->d, ((n + 7) & ~7ull) * sizeof(float), MKV_MEM_DEVICE, b, err);
}

/* cos/sin of pos * theta^(-2i/head_dim), computed in double on the host so
 * long contexts keep their accuracy (GPU sin/cos of large angles do not). */
static mkv_status build_rope_table(mkv_session *s, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    uint32_t half = c->head_dim / 2;
    uint64_t n = (uint64_t)s->n_ctx * half * 2;
    float *tab = malloc(n * sizeof(float));
    if (!tab) return mkv_fail(err, MKV_ERR_NO_MEMORY, "rope table: out of memory");
    for (uint32_t p = 0; p < s->n_ctx; p++)
        for (uint32_t i = 0; i < half; i++) {
            double ang = p * pow((double)c->rope_theta, -2.0 * i / c->head_dim);
            tab[((uint64_t)p * half + i) * 2] = (float)cos(ang);
            tab[((uint64_t)p * half + i) * 2 + 1] = (float)sin(ang);
        }
    mkv_status st = mkv_buffer_create(s->d, n * sizeof(float), MKV_MEM_DEVICE, &s->rope, err);
    if (!st) st = mkv_buffer_write(s->d, &s->rope, 0, tab, n * sizeof(float), err);
    free(tab);
    return st;
}

static mkv_status alloc_buffers(mkv_session *s, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    const uint32_t q_dim = c->n_head * c->head_dim, kv_dim = c->n_kv_head * c->head_dim;
    mkv_status st;
    TRY(vec_buffer(s, c->d_model, &s->h, err));
    TRY(vec_buffer(s, c->d_model, &s->xn, err));
    TRY(vec_buffer(s, q_dim + 2 * kv_dim, &s->qkv, err));
    TRY(vec_buffer(s, q_dim, &s->q, err));
    TRY(vec_buffer(s, q_dim, &s->att, err));
    TRY(vec_buffer(s, c->d_model, &s->u, err));
    TRY(vec_buffer(s, c->d_ffn, &s->t, err));
    TRY(vec_buffer(s, c->d_model, &s->f, err));
    TRY(vec_buffer(s, c->d_model, &s->z, err));
    TRY(vec_buffer(s, c->d_mem ? c->d_mem : 1, &s->v, err));
    TRY(vec_buffer(s, (uint64_t)c->n_head * s->n_ctx, &s->scores, err));
    TRY(vec_buffer(s, (uint64_t)c->n_head * s->n_split * (c->head_dim + 2), &s->partials, err));
    TRY(build_rope_table(s, err));
    s->k_cache = calloc(c->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc(c->n_layer, sizeof *s->v_cache);
    if (!s->k_cache || !s->v_cache) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    const uint64_t kv_bytes = (uint64_t)s->n_ctx * kv_dim * 2;
    if (kv_bytes > s->d->max_storage_range)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "n_ctx = %u: one layer's K cache (%llu bytes) exceeds maxStorageBufferRange (%llu)",
                        s->n_ctx, (unsigned long long)kv_bytes, (unsigned long long)s->d->max_storage_range);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        TRY(mkv_buffer_create(s->d, kv_bytes, MKV_MEM_DEVICE, &s->k_cache[l], err));
        TRY(mkv_buffer_create(s->d, kv_bytes, MKV_MEM_DEVICE, &s->v_cache[l], err));
    }
    TRY(mkv_buffer_create(s->d, sizeof(mkv_step_params), MKV_MEM_HOST, &s->params, err));
    TRY(mkv_buffer_create(s->d, (uint64_t)c->n_vocab * sizeof(float), MKV_MEM_HOST, &s->logits, err));
    TRY(mkv_buffer_create(s->d, 8, MKV_MEM_HOST, &s->result, err));
    TRY(mkv_buffer_create(s->d, 8ull * mkv_argmax_slots(&s->rec, c->n_vocab), MKV_MEM_DEVICE, &s->argmax_slots, err));
    if (s->meki) TRY(mkv_buffer_create(s->d, mkv_bank_info(s->m->bank)->slab_bytes, MKV_MEM_HOST, &s->slab, err));
    return MKV_OK;
}

/* The decode step, token in -> logits out, as the GPU will run it. */
static mkv_status record_step(mkv_session *s, mkv_error *err)
{
    const mkv_model *m = s->m;
    const mkv_model_config *c = &m->cfg;
    mkv_recorder *r = &s->rec;
    const mkv_attn_dims ad = {.n_head = c->n_head, .n_kv_head = c->n_kv_head, .head_dim = c->head_dim,
                              .n_ctx = s->n_ctx, .n_split = s->n_split, .qk_norm = c->has_qk_norm,
                              .rope_norm = c->rope_style == MKV_ROPE_NORM, .eps = c->norm_eps};
    const mkv_bank_header *bank = s->meki ? mkv_bank_info(m->bank) : NULL;
    mkv_status st;

    /* embedding: h = token_embd[token] */
    TRY(mkv_op_embed(r, &s->params, &m->tok_embd, &s->h, err));
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_layer_weights *w = &m->layers[l];
        const mkv_buffer *qn = c->has_qk_norm ? &w->q_norm : &w->attn_norm; /* unread without q/k norm */
        const mkv_buffer *kn = c->has_qk_norm ? &w->k_norm : &w->attn_norm;
        /* attention rmsnorm */
        TRY(mkv_op_rmsnorm(r, &s->h, &w->attn_norm, &s->xn, c->d_model, 1, c->norm_eps, err));
        /* q, k, v of this position in one product */
        TRY(mkv_op_matvec(r, &w->wqkv, &s->xn, &s->qkv, false, err));
        /* q/k/v bias, q/k norm, RoPE, k and v appended to the cache */
        TRY(mkv_op_rope_kv(r, &ad, &s->params, &s->qkv, c->has_qkv_bias ? &w->qkv_bias : NULL, qn, kn, &s->rope, &s->q,
                           &s->k_cache[l], &s->v_cache[l], err));
        /* attention over positions 0..pos */
        TRY(mkv_op_attention(r, &ad, &s->params, &s->q, &s->k_cache[l], &s->v_cache[l], &s->scores, &s->partials, &s->att, err));
        /* output projection into the residual: h = a */
        TRY(mkv_op_matvec(r, &w->wo, &s->att, &s->h, true, err));
        /* ffn rmsnorm: u, shared by the FFN and MeKi */
        TRY(mkv_op_rmsnorm(r, &s->h, &w->ffn_norm, &s->u, c->d_model, 1, c->norm_eps, err));
        /* SwiGLU: t = silu(W_gate u) * (W_up u) */
        TRY(mkv_op_matvec_swiglu(r, &w->w_gate, &w->w_up, &s->u, &s->t, err));
        if (!s->meki) {
            /* h = a + W_down t */
            TRY(mkv_op_matvec(r, &w->w_down, &s->t, &s->h, true, err));
            continue;
        }
        /* f = W_down t */
        TRY(mkv_op_matvec(r, &w->w_down, &s->t, &s->f, false, err));
        /* MeKi gate: v = M[token] + sigmoid(W_mg u), row l of the staged slab */
        TRY(mkv_op_matvec_meki(r, &w->meki_gate, &s->u, &s->v, &s->slab, l * bank->row_bytes, bank->dtype, err));
        /* z = W_mo v */
        TRY(mkv_op_matvec(r, &w->meki_out, &s->v, &s->z, false, err));
        /* h = a + f + RMSNorm_meki(z) */
        TRY(mkv_op_residual_meki(r, &s->h, &s->f, &s->z, &w->meki_norm, c->d_model, c->norm_eps, err));
    }
    /* final norm and LM head */
    TRY(mkv_op_rmsnorm(r, &s->h, &m->output_norm, &s->xn, c->d_model, 1, c->norm_eps, err));
    TRY(mkv_op_matvec(r, mkv_model_lm_head(m), &s->xn, &s->logits, false, err));
    /* greedy sampling */
    TRY(mkv_op_argmax(r, &s->logits, c->n_vocab, &s->argmax_slots, &s->result, err));
    mkv_rec_finish(r);
    return MKV_OK;
}

static mkv_status create_inner(mkv_session *s, mkv_error *err)
{
    mkv_status st;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = s->d->cmd_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    MKV_VK(vkAllocateCommandBuffers(s->d->dev, &ai, &s->cb), err);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    MKV_VK(vkCreateFence(s->d->dev, &fi, NULL, &s->fence), err);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    MKV_VK(vkBeginCommandBuffer(s->cb, &bi), err);
    TRY(mkv_recorder_init(&s->rec, s->d, s->cb, s->profile, err));
    TRY(alloc_buffers(s, err));
    TRY(record_step(s, err));
    MKV_VK(vkEndCommandBuffer(s->cb), err);
    return MKV_OK;
}

mkv_status mkv_session_create(mkv_model *m, const mkv_session_opts *opts, mkv_session **out, mkv_error *err)
{
    *out = NULL;
    if (!m || !opts) return mkv_fail(err, MKV_ERR_INVALID_ARG, "session: model and options are required");
    if (opts->n_ctx == 0 || opts->n_ctx > MKV_MAX_CTX)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "n_ctx = %u: must be 1..%u", opts->n_ctx, MKV_MAX_CTX);
    mkv_session *s = calloc(1, sizeof *s);
    if (!s) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    s->m = m;
    s->d = m->d;
    s->n_ctx = opts->n_ctx;
    s->meki = m->bank && !opts->meki_off;
    s->profile = opts->profile;
    mkv_tunables tune;
    mkv_tunables_for(s->d, &tune);
    uint32_t split = (s->n_ctx + tune.attn_chunk - 1) / tune.attn_chunk;
    s->n_split = split < 1 ? 1 : (split > 64 ? 64 : split);
    mkv_status st = create_inner(s, err);
    if (st) {
        mkv_session_destroy(s);
        return st;
    }
    *out = s;
    return MKV_OK;
}

void mkv_session_destroy(mkv_session *s)
{
    if (!s) return;
    mkv_device *d = s->d;
    vkDeviceWaitIdle(d->dev);
    mkv_recorder_release(&s->rec);
    if (s->fence) vkDestroyFence(d->dev, s->fence, NULL);
    if (s->cb) vkFreeCommandBuffers(d->dev, d->cmd_pool, 1, &s->cb);
    mkv_buffer *bufs[] = {&s->h, &s->xn, &s->qkv, &s->q, &s->att, &s->u, &s->t, &s->f, &s->z, &s->v, &s->scores,
                          &s->partials, &s->rope, &s->argmax_slots, &s->params, &s->slab, &s->logits, &s->result};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mkv_buffer_destroy(d, bufs[i]);
    for (uint32_t l = 0; s->k_cache && l < s->m->cfg.n_layer; l++) mkv_buffer_destroy(d, &s->k_cache[l]);
    for (uint32_t l = 0; s->v_cache && l < s->m->cfg.n_layer; l++) mkv_buffer_destroy(d, &s->v_cache[l]);
    free(s->k_cache);
    free(s->v_cache);
    free(s);
}

mkv_status mkv_session_step(mkv_session *s, uint32_t token, float *logits, uint32_t *argmax, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    if (token >= c->n_vocab)
        return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "%s: token = %u: n_vocab is %u", s->m->path, token, c->n_vocab);
    if (s->pos >= s->n_ctx)
        return mkv_fail(err, MKV_ERR_CONTEXT_FULL, "position = %u: the session's context holds %u positions", s->pos, s->n_ctx);
    mkv_status st;
    /* This token's bank rows, staged where the MeKi kernels read them. The
     * read is synchronous here, so all of it counts as stall. */
    if (s->meki) {
        double t0 = mkv_now_ms();
        TRY(mkv_bank_read_slab(s->m->bank, token, s->slab.map, err));
        double dt = mkv_now_ms() - t0;
        s->stats.bank_reads++;
        s->stats.cache_misses++;
        s->stats.bank_bytes_read += mkv_bank_info(s->m->bank)->slab_bytes;
        s->stats.bank_stall_ms += dt;
        s->stats.last_stall_us = dt * 1000.0;
    }
    mkv_step_params p = {.token = token, .pos = s->pos, .n_kv = s->pos + 1};
    memcpy(s->params.map, &p, sizeof p);

    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &s->cb};
    MKV_VK(vkQueueSubmit(s->d->queue, 1, &si, s->fence), err);
    VkResult r = vkWaitForFences(s->d->dev, 1, &s->fence, VK_TRUE, UINT64_MAX);
    VkResult r2 = vkResetFences(s->d->dev, 1, &s->fence);
    if (r != VK_SUCCESS) return mkv_vk_fail(err, r, "vkWaitForFences");
    if (r2 != VK_SUCCESS) return mkv_vk_fail(err, r2, "vkResetFences");
    s->pos++;
    s->stats.steps++;
    if (logits) memcpy(logits, s->logits.map, (size_t)c->n_vocab * sizeof(float));
    if (argmax) {
        float res[2];
        memcpy(res, s->result.map, sizeof res);
        memcpy(argmax, &res[1], sizeof *argmax);
    }
    return MKV_OK;
}

uint32_t mkv_session_pos(const mkv_session *s) { return s->pos; }

void mkv_session_get_stats(const mkv_session *s, mkv_session_stats *stats) { *stats = s->stats; }

mkv_status mkv_session_seek(mkv_session *s, uint32_t pos, mkv_error *err)
{
    if (pos >= s->n_ctx) return mkv_fail(err, MKV_ERR_CONTEXT_FULL, "seek: position = %u: the context holds %u", pos, s->n_ctx);
    s->pos = pos;
    return MKV_OK;
}

uint32_t mkv_session_profile(const mkv_session *s, mkv_kernel_time *out, uint32_t cap)
{
    const mkv_recorder *r = &s->rec;
    if (!r->query_pool || r->n_marks == 0 || s->stats.steps == 0) return 0;
    uint64_t ts[MKV_REC_MAX_MARKS + 1];
    if (vkGetQueryPoolResults(s->d->dev, r->query_pool, 0, r->n_marks + 1, sizeof ts, ts, sizeof ts[0],
                              VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
        return 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n_marks; i++) {
        const char *name = mkv_kernel_spirv_table[r->mark_kernel[i]].name;
        uint32_t k = 0;
        while (k < n && strcmp(out[k].name, name) != 0) k++;
        if (k == n) {
            if (n == cap) continue;
            out[n++] = (mkv_kernel_time){.name = name};
        }
        out[k].ms += (double)(ts[i + 1] - ts[i]) * s->d->timestamp_period_ns * 1e-6;
        out[k].bytes += r->mark_bytes[i];
    }
    return n;
}
void mkv_session_reset(mkv_session *s) { s->pos = 0; }
