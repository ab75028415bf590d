/* A decoding session: KV cache, activations, and the decode step recorded
 * once into command buffers that every token replays. Per-token values
 * (token id, position, staging slot) reach the shaders through a small
 * host-visible "step params" buffer.
 *
 * With a bank, the step is recorded in two parts split where the GPU first
 * needs the token's slab (layer 0's down projection, which adds the bank
 * row to the MeKi gate and multiplies by W_mo): the host
 * asks the bank stream for the slab, submits the first part at once, and
 * submits the second when the read has landed in its staging slot, which
 * the shader then reads in place. Submitting the second part only after
 * the read (rather than queueing it behind a host-signalled timeline semaphore)
 * costs nothing while the first part is still running, and it is what the
 * spec guarantees to make host writes visible: a queue submission is a
 * host-to-device memory domain operation, a host semaphore signal is not.
 * On discrete GPUs the shader reads the slot over the bus: a few KB per
 * token, less than one transfer-queue submission would cost. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "step_params.h"

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
    TRY(vec_buffer(s, c->d_model, &s->z, err));
    TRY(vec_buffer(s, c->d_mem ? c->d_mem : 1, &s->g, err));
    const uint32_t zero[4] = {0};
    TRY(mkv_buffer_create(s->d, sizeof zero, MKV_MEM_DEVICE, &s->counter, err));
    TRY(mkv_buffer_write(s->d, &s->counter, 0, zero, sizeof zero, err));
    TRY(vec_buffer(s, (uint64_t)c->n_head * s->n_split * (c->head_dim + 2), &s->partials, err));
    TRY(build_rope_table(s, err));
    s->k_cache = calloc(c->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc(c->n_layer, sizeof *s->v_cache);
    if (!s->k_cache || !s->v_cache) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    const uint64_t kv_bytes = mkv_kv_cache_bytes(s->n_ctx, kv_dim, s->kv_q8);
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
    if (s->meki) {
        const uint64_t ring = (uint64_t)s->n_slots * mkv_bank_info(s->m->bank)->slab_bytes;
        if (ring > s->d->max_storage_range)
            return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "bank_slots = %u: staging ring of %llu bytes exceeds maxStorageBufferRange",
                            s->n_slots, (unsigned long long)ring);
        TRY(mkv_buffer_create(s->d, ring, MKV_MEM_HOST, &s->ring, err));
        s->pf_token = malloc((size_t)s->n_ctx * sizeof *s->pf_token);
        s->pf_slot = malloc((size_t)s->n_ctx * sizeof *s->pf_slot);
        if (!s->pf_token || !s->pf_slot) return mkv_fail(err, MKV_ERR_NO_MEMORY, "prefetch list: out of memory");
    }
    return MKV_OK;
}

/* Ends the first part of the step: the GPU may run everything before this
 * point without the bank slab. */
static void split_here(mkv_session *s)
{
    if (s->stall_pool) vkCmdWriteTimestamp(s->cb_pre, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->stall_pool, TS_PRE_END);
    s->rec.cb = s->cb_post;
    if (s->stall_pool) vkCmdWriteTimestamp(s->cb_post, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->stall_pool, TS_POST_START);
}

/* The decode step, token in -> logits out, as the GPU will run it. */
static mkv_status record_step(mkv_session *s, mkv_error *err)
{
    const mkv_model *m = s->m;
    const mkv_model_config *c = &m->cfg;
    mkv_recorder *r = &s->rec;
    const mkv_attn_dims ad = {.n_head = c->n_head, .n_kv_head = c->n_kv_head, .head_dim = c->head_dim,
                              .n_ctx = s->n_ctx, .n_split = s->n_split, .qk_norm = c->has_qk_norm, .kv_q8 = s->kv_q8,
                              .rope_norm = c->rope_style == MKV_ROPE_NORM, .eps = c->norm_eps};
    const mkv_bank_header *bank = s->meki ? mkv_bank_info(m->bank) : NULL;
    mkv_status st;

    /* embedding: h = token_embd[token]; xn = the first attention norm */
    TRY(mkv_op_embed(r, &s->params, &m->tok_embd, &s->h, err));
    TRY(mkv_op_rmsnorm(r, &s->h, &m->layers[0].attn_norm, &s->xn, c->d_model, 1, c->norm_eps, err));
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_layer_weights *w = &m->layers[l];
        const mkv_buffer *qn = c->has_qk_norm ? &w->q_norm : &w->attn_norm; /* unread without q/k norm */
        const mkv_buffer *kn = c->has_qk_norm ? &w->k_norm : &w->attn_norm;
        /* q, k, v of this position: one product, or one per matrix when their types differ */
        for (uint32_t i = 0, row = 0; i < w->n_qkv; row += w->w_qkv[i].rows, i++)
            TRY(mkv_op_matvec(r, &w->w_qkv[i], &s->xn, &s->qkv, row, 0, err));
        /* q/k/v bias, q/k norm, RoPE, k and v appended to the cache */
        TRY(mkv_op_rope_kv(r, &ad, &s->params, &s->qkv, c->has_qkv_bias ? &w->qkv_bias : NULL, qn, kn, &s->rope, &s->q,
                           &s->k_cache[l], &s->v_cache[l], err));
        /* attention over positions 0..pos */
        TRY(mkv_op_attention(r, &ad, &s->params, &s->q, &s->k_cache[l], &s->v_cache[l], &s->partials, &s->att, err));
        /* output projection into the residual: h = a */
        TRY(mkv_op_matvec(r, &w->wo, &s->att, &s->h, 0, MKV_MATVEC_ACCUMULATE, err));
        /* ffn rmsnorm: u, shared by the FFN and MeKi */
        TRY(mkv_op_rmsnorm(r, &s->h, &w->ffn_norm, &s->u, c->d_model, 1, c->norm_eps, err));
        /* the next norm: the next layer's attention norm, or the final norm before the LM head */
        const mkv_buffer *next_norm = l + 1 < c->n_layer ? &m->layers[l + 1].attn_norm : &m->output_norm;
        if (!s->meki) {
            /* SwiGLU: t = silu(W_gate u) * (W_up u) */
            TRY(mkv_op_matvec_swiglu(r, &w->w_ffn, &s->u, &s->t, c->d_ffn, err));
            /* h = a + W_down t; xn = RMSNorm_next(h) */
            TRY(mkv_op_ffn_out(r, &w->w_down, &s->t, &s->h, next_norm, &s->xn, &s->counter, c->norm_eps, NULL, err));
            continue;
        }
        if (w->gate_fused) {
            /* t = silu(W_gate u) * (W_up u), and the MeKi gate g = sigmoid(W_mg u), in one dispatch */
            TRY(mkv_op_matvec_swiglu_meki(r, &w->w_ffn, &s->u, &s->t, c->d_ffn, c->d_mem, &s->g, err));
        } else {
            /* the same in two dispatches: W_mg's type differs from W_gate's, or the
             * gate reads the residual a (meki.gate_input = "residual"): g = sigmoid(W_mg a) */
            TRY(mkv_op_matvec_swiglu(r, &w->w_ffn, &s->u, &s->t, c->d_ffn, err));
            TRY(mkv_op_matvec(r, &w->w_mg, c->meki_gate_residual ? &s->h : &s->u, &s->g, 0, MKV_MATVEC_SIGMOID, err));
        }
        /* ---- the GPU needs the bank slab from here on (second submission) ---- */
        if (l == 0) split_here(s);
        /* v = M[token] + g (row l of the staged slab); h = a + W_down t + RMSNorm_meki(W_mo v);
         * xn = RMSNorm_next(h) */
        const mkv_ffn_out_meki mk = {.w_mo_t = &w->meki_out_t, .g = &s->g, .z = &s->z, .w_norm = &w->meki_norm,
                                     .ring = &s->ring, .params = &s->params, .row_byte_offset = l * bank->row_bytes,
                                     .bank_dtype = bank->dtype};
        TRY(mkv_op_ffn_out(r, &w->w_down, &s->t, &s->h, next_norm, &s->xn, &s->counter, c->norm_eps, &mk, err));
    }
    /* LM head on the final norm (done by the last ffn_out) */
    TRY(mkv_op_matvec(r, mkv_model_lm_head(m), &s->xn, &s->logits, 0, 0, err));
    /* greedy sampling */
    TRY(mkv_op_argmax(r, &s->logits, c->n_vocab, &s->argmax_slots, &s->result, err));
    mkv_rec_finish(r);
    return MKV_OK;
}

static mkv_status create_inner(mkv_session *s, mkv_error *err)
{
    mkv_status st;
    VkCommandBuffer cbs[2];
    /* The session's own command pool: recording it needs no lock shared
     * with other sessions (Vulkan leaves a pool to one thread at a time). */
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .queueFamilyIndex = s->d->queue_family};
    MKV_VK(vkCreateCommandPool(s->d->dev, &pi, NULL, &s->cmd_pool), err);
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = s->cmd_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 2};
    MKV_VK(vkAllocateCommandBuffers(s->d->dev, &ai, cbs), err);
    s->cb_pre = cbs[0];
    s->cb_post = cbs[1];
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    MKV_VK(vkCreateFence(s->d->dev, &fi, NULL, &s->fence), err);
    if (s->meki) {
        /* Signalled when the first part has run: whether the GPU had to wait
         * for the slab (step.c). */
        /* created signalled: it is only ever unsignalled while a first part
         * is in flight (submit_pre resets it), so destroy can wait on it */
        VkFenceCreateInfo fs = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, .flags = VK_FENCE_CREATE_SIGNALED_BIT};
        MKV_VK(vkCreateFence(s->d->dev, &fs, NULL, &s->pre_fence), err);
    }
    if (s->meki && s->d->timestamps) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = TS_COUNT};
        MKV_VK(vkCreateQueryPool(s->d->dev, &qi, NULL, &s->stall_pool), err);
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    MKV_VK(vkBeginCommandBuffer(s->cb_pre, &bi), err);
    if (s->meki) MKV_VK(vkBeginCommandBuffer(s->cb_post, &bi), err);
    if (s->stall_pool) {
        vkCmdResetQueryPool(s->cb_pre, s->stall_pool, 0, TS_COUNT);
        vkCmdWriteTimestamp(s->cb_pre, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->stall_pool, TS_PRE_START);
    }
    TRY(mkv_recorder_init(&s->rec, s->d, s->cb_pre, s->profile, err));
    TRY(alloc_buffers(s, err));
    TRY(record_step(s, err));
    MKV_VK(vkEndCommandBuffer(s->cb_pre), err);
    if (s->meki) MKV_VK(vkEndCommandBuffer(s->cb_post), err);
    if (s->meki && !s->sync) {
        mkv_stream_opts so = {.n_slots = s->n_slots, .n_threads = s->n_threads, .cache_bytes = s->cache_bytes};
        TRY(mkv_stream_create(s->m->bank, &so, s->ring.map, &s->stream, err));
    }
    return MKV_OK;
}

mkv_status mkv_session_create(mkv_model *m, const mkv_session_opts *opts, mkv_session **out, mkv_error *err)
{
    *out = NULL;
    if (!m || !opts) return mkv_fail(err, MKV_ERR_INVALID_ARG, "session: model and options are required");
    if (opts->n_ctx == 0 || opts->n_ctx > MKV_MAX_CTX)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "n_ctx = %u: must be 1..%u", opts->n_ctx, MKV_MAX_CTX);
    if (opts->bank_threads > 64) return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank_threads = %u: at most 64", opts->bank_threads);
    if (opts->bank_slots > 4096) return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank_slots = %u: at most 4096", opts->bank_slots);
    if (opts->kv_type != MKV_KV_F16 && opts->kv_type != MKV_KV_Q8_0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "kv_type = %d: not a KV cache type", (int)opts->kv_type);
    if (opts->kv_type == MKV_KV_Q8_0 && m->cfg.head_dim % MKV_KV_Q8_BLOCK)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "kv_type q8_0: head_dim = %u is not a multiple of %u", m->cfg.head_dim,
                        MKV_KV_Q8_BLOCK);
    mkv_session *s = calloc(1, sizeof *s);
    if (!s) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    s->m = m;
    s->d = m->d;
    s->n_ctx = opts->n_ctx;
    s->kv_q8 = opts->kv_type == MKV_KV_Q8_0;
    s->meki = m->bank && !opts->meki_off;
    s->profile = opts->profile;
    s->sync = opts->bank_sync;
    s->n_slots = s->sync ? 1 : (opts->bank_slots ? opts->bank_slots : 32);
    s->n_threads = opts->bank_threads ? opts->bank_threads : 4;
    s->cache_bytes = opts->bank_cache_bytes;
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
    /* Only this session's own work is waited for (no device-wide wait,
     * which would stall other sessions and the host's own work): a step
     * waits for its fence before it returns, and a first part left in
     * flight by a failed step is waited for here. */
    if (s->pre_fence) (void)vkWaitForFences(d->dev, 1, &s->pre_fence, VK_TRUE, UINT64_MAX);
    mkv_stream_destroy(s->stream); /* joins the readers before the ring goes */
    mkv_recorder_release(&s->rec);
    if (s->stall_pool) vkDestroyQueryPool(d->dev, s->stall_pool, NULL);
    if (s->pre_fence) vkDestroyFence(d->dev, s->pre_fence, NULL);
    if (s->fence) vkDestroyFence(d->dev, s->fence, NULL);
    if (s->cmd_pool) vkDestroyCommandPool(d->dev, s->cmd_pool, NULL); /* frees cb_pre and cb_post */
    free(s->pf_token);
    free(s->pf_slot);
    mkv_buffer *bufs[] = {&s->h, &s->xn, &s->qkv, &s->q, &s->att, &s->u, &s->t, &s->z, &s->g,
                          &s->partials, &s->rope, &s->counter, &s->argmax_slots, &s->params, &s->ring, &s->logits, &s->result};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mkv_buffer_destroy(d, bufs[i]);
    for (uint32_t l = 0; s->k_cache && l < s->m->cfg.n_layer; l++) mkv_buffer_destroy(d, &s->k_cache[l]);
    for (uint32_t l = 0; s->v_cache && l < s->m->cfg.n_layer; l++) mkv_buffer_destroy(d, &s->v_cache[l]);
    free(s->k_cache);
    free(s->v_cache);
    free(s);
}
