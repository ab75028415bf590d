/* A decoding session: KV cache, activations, and the forward pass recorded
 * once into command buffers that every token replays: the decode step (a
 * pass of one token) at creation, the prefill pass (a batch of
 * prefill_chunk tokens) at the first prefill, both from one description,
 * record_forward. Per-pass values (positions, token ids, staging slots)
 * reach the shaders through a small host-visible "step params" buffer.
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

#include "alloc.h"
#include "session.h"
#include "step_params.h"

/* A zeroed f32 buffer of rows x ld floats (ld a multiple of 8). */
static mkv_status act_buffer(mkv_session *s, uint32_t rows, uint32_t ld, mkv_buffer *b, mkv_error *err)
{
    return mkv_buffer_create(s->d, (uint64_t)rows * ld * sizeof(float), MKV_MEM_DEVICE, b, err);
}

/* Row length in floats for n values read by products: whole 256-element
 * super-blocks when n is a multiple of 256 (any type's units fit), else a
 * multiple of 8. */
static uint32_t act_ld(uint32_t n) { return n % 256 == 0 ? n : (n + 7) & ~7u; }

/* cos/sin of pos * theta^(-2i/head_dim), computed in double on the host so
 * long contexts keep their accuracy (GPU sin/cos of large angles do not). */
static mkv_status build_rope_table(mkv_session *s, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    uint32_t half = c->head_dim / 2;
    uint64_t n = (uint64_t)s->n_ctx * half * 2;
    float *tab = mkv_malloc(n * sizeof(float));
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

/* The activations and params of a pass of n tokens. */
static mkv_status alloc_pass(mkv_session *s, mkv_pass *p, uint32_t n, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    const uint32_t q_dim = c->n_head * c->head_dim, kv_dim = c->n_kv_head * c->head_dim;
    mkv_acts *a = &p->a;
    mkv_status st;
    const mkv_model *m = s->m;
    a->n_batch = n;
    const uint32_t tile = p->rec.tune.nb_mm ? p->rec.tune.nb_mm : 1; /* record_pass set the tuning first */
    a->rows = n == 1 ? 1 : (n + tile - 1) / tile * tile; /* mm reads whole token tiles */
    a->ld_model = act_ld(c->d_model);
    a->ld_qkv = act_ld(q_dim + 2 * kv_dim);
    a->ld_q = act_ld(q_dim);
    a->ld_ffn = act_ld(c->d_ffn);
    a->ld_gu = act_ld(m->layers[0].w_ffn.rows);
    a->ld_mem = act_ld(c->d_mem ? c->d_mem : 1);
    if (n == 1) a->ld_qkv = q_dim + 2 * kv_dim, a->ld_q = q_dim; /* decode: packed, as the fused kernels read them */
    TRY(act_buffer(s, a->rows, a->ld_model, &a->h, err));
    TRY(act_buffer(s, a->rows, a->ld_model, &a->xn, err));
    TRY(act_buffer(s, a->rows, a->ld_qkv, &a->qkv, err));
    TRY(act_buffer(s, a->rows, a->ld_q, &a->q, err));
    TRY(act_buffer(s, a->rows, a->ld_q, &a->att, err));
    TRY(act_buffer(s, a->rows, a->ld_model, &a->u, err));
    TRY(act_buffer(s, a->rows, a->ld_ffn, &a->t, err));
    /* z: decode's ffn_out_meki keeps a float per workgroup past W_mo v (ops.h) */
    TRY(act_buffer(s, n == 1 ? 2 : a->rows, a->ld_model, &a->z, err));
    TRY(act_buffer(s, a->rows, a->ld_mem, &a->g, err));
    const uint32_t n_split = n == 1 ? s->n_split : 1; /* with one split attention writes att itself */
    if (n_split > 1)
        TRY(act_buffer(s, n, (uint32_t)mkv_attn_partials_floats(c->n_head, n_split, c->head_dim, 1), &a->partials, err));
    if (n > 1) {
        TRY(act_buffer(s, a->rows, a->ld_gu, &a->gu, err));
        TRY(act_buffer(s, a->rows, a->ld_mem, &a->v, err));
        TRY(act_buffer(s, 1, a->ld_model, &a->xlast, err));
    }
    TRY(mkv_buffer_create(s->d, mkv_step_params_bytes(n), MKV_MEM_HOST, &p->params, err));
    memset(p->params.map, 0, mkv_step_params_bytes(n));
    return MKV_OK;
}

static void free_pass(mkv_session *s, mkv_pass *p)
{
    mkv_recorder_release(&p->rec);
    mkv_recorder_release(&p->rec_all);
    /* s->d, not p->rec.d: that is NULL when recording failed before the recorder began */
    if (p->stall_pool) s->d->vk.vkDestroyQueryPool(s->d->dev, p->stall_pool, NULL);
    mkv_acts *a = &p->a;
    mkv_buffer *bufs[] = {&a->h, &a->xn, &a->qkv, &a->q, &a->att, &a->u, &a->t, &a->z, &a->g,
                          &a->partials, &a->gu, &a->v, &a->xlast, &p->params};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mkv_buffer_destroy(s->d, bufs[i]);
}

static mkv_status alloc_buffers(mkv_session *s, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    const uint32_t kv_dim = c->n_kv_head * c->head_dim;
    mkv_status st;
    TRY(alloc_pass(s, &s->dec, 1, err));
    /* (buffers start zero-filled: memory.h) the reductions' counter, and decode
     * attention's split counters, one per KV head (a pass of several tokens runs
     * unsplit); each kernel leaves its counters at zero again */
    TRY(mkv_buffer_create(s->d, 16, MKV_MEM_DEVICE, &s->counter, err));
    TRY(mkv_buffer_create(s->d, 4ull * c->n_kv_head, MKV_MEM_DEVICE, &s->attn_done, err));
    TRY(build_rope_table(s, err));
    s->k_cache = mkv_calloc(c->n_layer, sizeof *s->k_cache);
    s->v_cache = mkv_calloc(c->n_layer, sizeof *s->v_cache);
    if (!s->k_cache || !s->v_cache) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    const uint64_t kv_bytes = mkv_kv_cache_bytes(s->n_ctx, kv_dim, s->kv_q8);
    if (kv_bytes > s->d->max_storage_range)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "n_ctx = %u: one layer's K cache (%llu bytes) exceeds maxStorageBufferRange (%llu)",
                        s->n_ctx, (unsigned long long)kv_bytes, (unsigned long long)s->d->max_storage_range);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        TRY(mkv_buffer_create(s->d, kv_bytes, MKV_MEM_DEVICE, &s->k_cache[l], err));
        TRY(mkv_buffer_create(s->d, kv_bytes, MKV_MEM_DEVICE, &s->v_cache[l], err));
    }
    TRY(mkv_buffer_create(s->d, (uint64_t)c->n_vocab * sizeof(float), MKV_MEM_HOST, &s->logits, err));
    TRY(mkv_buffer_create(s->d, 8, MKV_MEM_HOST, &s->result, err));
    TRY(mkv_buffer_create(s->d, 8ull * mkv_argmax_slots(&s->dec.rec, c->n_vocab), MKV_MEM_DEVICE, &s->argmax_slots, err));
    if (s->meki) {
        const uint64_t ring = (uint64_t)s->n_slots * mkv_bank_info(s->m->bank)->slab_bytes;
        if (ring > s->d->max_storage_range)
            return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "bank_slots = %u: staging ring of %llu bytes exceeds maxStorageBufferRange",
                            s->n_slots, (unsigned long long)ring);
        TRY(mkv_buffer_create(s->d, ring, MKV_MEM_HOST, &s->ring, err));
        s->pf_token = mkv_malloc((size_t)s->n_ctx * sizeof *s->pf_token);
        s->pf_slot = mkv_malloc((size_t)s->n_ctx * sizeof *s->pf_slot);
        if (!s->pf_token || !s->pf_slot) return mkv_fail(err, MKV_ERR_NO_MEMORY, "prefetch list: out of memory");
    }
    return MKV_OK;
}

/* Ends the first part of the pass: the GPU may run everything before this
 * point without the bank slabs. */
static void split_here(mkv_pass *p)
{
    if (p->stall_pool) p->rec.d->vk.vkCmdWriteTimestamp(p->cb_pre, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->stall_pool, TS_PRE_END);
    p->rec.cb = p->cb_post;
    if (p->stall_pool) p->rec.d->vk.vkCmdWriteTimestamp(p->cb_post, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, p->stall_pool, TS_POST_START);
}

/* x W^T for the pass: matvec for one token, mm for a batch. */
static mkv_status linear(mkv_pass *p, const mkv_matrix *w, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *y,
                         uint32_t ldy, uint32_t y_offset, uint32_t flags, mkv_error *err)
{
    if (p->a.n_batch == 1) return mkv_op_matvec(&p->rec, w, x, y, y_offset, flags, err);
    return mkv_op_mm(&p->rec, w, x, ldx, y, ldy, y_offset, p->a.n_batch, &p->params, flags, err);
}

/* The forward pass, tokens in -> logits out, as the GPU will run it: for
 * one token (decode) with the fused one-token kernels, for a batch with
 * the batched products (mm) and their small companions. */
static mkv_status record_forward(mkv_session *s, mkv_pass *p, mkv_error *err)
{
    const mkv_model *m = s->m;
    const mkv_model_config *c = &m->cfg;
    mkv_recorder *r = &p->rec;
    mkv_acts *a = &p->a;
    const uint32_t nb = a->n_batch, ldm = a->ld_model;
    const bool batch = nb > 1;
    const mkv_attn_dims ad = {.n_head = c->n_head, .n_kv_head = c->n_kv_head, .head_dim = c->head_dim,
                              .n_ctx = s->n_ctx, .n_split = batch ? 1 : s->n_split, .qk_norm = c->has_qk_norm,
                              .kv_q8 = s->kv_q8, .rope_norm = c->rope_style == MKV_ROPE_NORM, .eps = c->norm_eps,
                              .n_batch = nb, .ld_qkv = a->ld_qkv, .ld_q = a->ld_q};
    const mkv_bank_header *bank = s->meki ? mkv_bank_info(m->bank) : NULL;
    mkv_status st;

    /* embedding: h = token_embd[token]; xn = the first attention norm */
    TRY(mkv_op_embed(r, &p->params, &m->tok_embd, &a->h, ldm, nb, err));
    TRY(mkv_op_rmsnorm_rows(r, false, &a->h, ldm, &m->layers[0].attn_norm, &a->xn, ldm, c->d_model, nb, c->norm_eps, err));
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_layer_weights *w = &m->layers[l];
        const mkv_buffer *qn = c->has_qk_norm ? &w->q_norm : &w->attn_norm; /* unread without q/k norm */
        const mkv_buffer *kn = c->has_qk_norm ? &w->k_norm : &w->attn_norm;
        /* q, k, v of these positions: one product, or one per matrix when their types differ */
        for (uint32_t i = 0, row = 0; i < w->n_qkv; row += w->w_qkv[i].rows, i++)
            TRY(linear(p, &w->w_qkv[i], &a->xn, ldm, &a->qkv, a->ld_qkv, row, 0, err));
        const mkv_buffer *bias = c->has_qkv_bias ? &w->qkv_bias : NULL;
        if (mkv_attn_rope_fits(r, &ad)) { /* a GPU's decode (attn.rope): the next two in one dispatch */
            TRY(mkv_op_rope_attention(r, &ad, &p->params, &a->qkv, bias, qn, kn, &s->rope, &s->k_cache[l], &s->v_cache[l],
                                      &a->partials, &s->attn_done, &a->att, err));
        } else {
            /* q/k/v bias, q/k norm, RoPE, k and v appended to the cache */
            TRY(mkv_op_rope_kv(r, &ad, &p->params, &a->qkv, bias, qn, kn, &s->rope, &a->q, &s->k_cache[l],
                               &s->v_cache[l], err));
            /* attention: each token over positions 0..its own */
            TRY(mkv_op_attention(r, &ad, &p->params, &a->q, &s->k_cache[l], &s->v_cache[l], &a->partials, &s->attn_done,
                                 &a->att, err));
        }
        /* output projection into the residual, h = a, then the ffn rmsnorm u, shared by the
         * FFN and MeKi; decode does both in one dispatch (ffn_out.comp's product and tail) */
        if (batch || w->wo.n_parts != 1) {
            TRY(linear(p, &w->wo, &a->att, a->ld_q, &a->h, ldm, 0, MKV_MATVEC_ACCUMULATE, err));
            TRY(mkv_op_rmsnorm_rows(r, false, &a->h, ldm, &w->ffn_norm, &a->u, ldm, c->d_model, nb, c->norm_eps, err));
        } else {
            TRY(mkv_op_matvec_norm(r, &w->wo, &a->att, &a->h, &w->ffn_norm, &a->u, &s->counter, c->norm_eps, err));
        }
        /* the next norm: the next layer's attention norm, or the final norm before the LM head */
        const bool last = l + 1 == c->n_layer;
        const mkv_buffer *next_norm = last ? &m->output_norm : &m->layers[l + 1].attn_norm;
        const mkv_buffer *gate_x = c->meki_gate_residual ? &a->h : &a->u; /* meki.gate_input */
        if (batch) {
            /* gate and up rows (and the stacked MeKi gate rows) in one product, then
             * t = silu(gate) * up and g = sigmoid(W_mg u) */
            const uint32_t half = w->w_ffn.rows / 2;
            TRY(linear(p, &w->w_ffn, &a->u, ldm, &a->gu, a->ld_gu, 0, 0, err));
            TRY(mkv_op_ffn_act(r, &a->gu, a->ld_gu, half, c->d_ffn, half, &a->t, a->ld_ffn, w->gate_fused ? c->d_mem : 0,
                               &a->g, a->ld_mem, nb, &p->params, err));
            if (s->meki && !w->gate_fused)
                TRY(linear(p, &w->w_mg, gate_x, ldm, &a->g, a->ld_mem, 0, MKV_MATVEC_SIGMOID, err));
            /* h = a + W_down t */
            TRY(linear(p, &w->w_down, &a->t, a->ld_ffn, &a->h, ldm, 0, MKV_MATVEC_ACCUMULATE, err));
            if (s->meki) {
                /* ---- the GPU needs the bank slabs from here on (second submission) ---- */
                if (l == 0) split_here(p);
                /* v = M[token] + g, read in place from each token's staged slab;
                 * h += RMSNorm_meki(W_mo v) */
                TRY(mkv_op_meki_v(r, &s->ring, l * bank->row_bytes, bank->dtype, &a->g, a->ld_mem, &a->v, a->ld_mem,
                                  c->d_mem, nb, &p->params, err));
                TRY(linear(p, &w->meki_out, &a->v, a->ld_mem, &a->z, ldm, 0, 0, err));
                if (!last) { /* and xn = RMSNorm_next(h), in the same pass over h */
                    TRY(mkv_op_rmsnorm_add_norm(r, &a->z, ldm, &w->meki_norm, &a->h, ldm, next_norm, &a->xn, c->d_model,
                                                nb, c->norm_eps, err));
                    continue;
                }
                TRY(mkv_op_rmsnorm_rows(r, true, &a->z, ldm, &w->meki_norm, &a->h, ldm, c->d_model, nb, c->norm_eps, err));
            }
            /* xn = RMSNorm_next(h); after the last layer only the last token's, for the LM head */
            if (last) TRY(mkv_op_rmsnorm_last(r, &p->params, &a->h, ldm, next_norm, &a->xlast, c->d_model, c->norm_eps, err));
            else TRY(mkv_op_rmsnorm_rows(r, false, &a->h, ldm, next_norm, &a->xn, ldm, c->d_model, nb, c->norm_eps, err));
            continue;
        }
        if (!s->meki) {
            /* SwiGLU: t = silu(W_gate u) * (W_up u) */
            TRY(mkv_op_matvec_swiglu(r, &w->w_ffn, &a->u, &a->t, c->d_ffn, err));
            /* h = a + W_down t; xn = RMSNorm_next(h) */
            TRY(mkv_op_ffn_out(r, &w->w_down, &a->t, &a->h, next_norm, &a->xn, &s->counter, c->norm_eps, NULL, err));
            continue;
        }
        if (w->gate_fused) {
            /* t = silu(W_gate u) * (W_up u), and the MeKi gate g = sigmoid(W_mg u), in one dispatch */
            TRY(mkv_op_matvec_swiglu_meki(r, &w->w_ffn, &a->u, &a->t, c->d_ffn, c->d_mem, &a->g, err));
        } else {
            /* the same in two dispatches: W_mg's type differs from W_gate's, or the
             * gate reads the residual a (meki.gate_input = "residual"): g = sigmoid(W_mg a) */
            TRY(mkv_op_matvec_swiglu(r, &w->w_ffn, &a->u, &a->t, c->d_ffn, err));
            TRY(mkv_op_matvec(r, &w->w_mg, gate_x, &a->g, 0, MKV_MATVEC_SIGMOID, err));
        }
        /* ---- the GPU needs the bank slab from here on (second submission) ---- */
        if (l == 0) split_here(p);
        /* v = M[token] + g (row l of the staged slab); h = a + W_down t + RMSNorm_meki(W_mo v);
         * xn = RMSNorm_next(h) */
        const mkv_ffn_out_meki mk = {.w_mo_t = &w->meki_out_t, .g = &a->g, .z = &a->z, .w_norm = &w->meki_norm,
                                     .ring = &s->ring, .params = &p->params, .row_byte_offset = l * bank->row_bytes,
                                     .bank_dtype = bank->dtype};
        TRY(mkv_op_ffn_out(r, &w->w_down, &a->t, &a->h, next_norm, &a->xn, &s->counter, c->norm_eps, &mk, err));
    }
    /* LM head on the final norm (of the last token) */
    TRY(mkv_op_matvec(r, mkv_model_lm_head(m), batch ? &a->xlast : &a->xn, &s->logits, 0, 0, err));
    /* greedy sampling */
    TRY(mkv_op_argmax(r, &s->logits, c->n_vocab, &s->argmax_slots, &s->result, err));
    mkv_rec_finish(r);
    return MKV_OK;
}

/* Allocates, begins, records and ends a pass's command buffers. */
static mkv_status record_pass(mkv_session *s, mkv_pass *p, uint32_t n, mkv_error *err)
{
    mkv_status st;
    VkCommandBuffer cbs[2];
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = s->cmd_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 2};
    MKV_VK(s->d->vk.vkAllocateCommandBuffers(s->d->dev, &ai, cbs), err);
    p->cb_pre = cbs[0];
    p->cb_post = cbs[1];
    if (s->meki && s->d->timestamps) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = TS_COUNT};
        MKV_VK(s->d->vk.vkCreateQueryPool(s->d->dev, &qi, NULL, &p->stall_pool), err);
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    MKV_VK(s->d->vk.vkBeginCommandBuffer(p->cb_pre, &bi), err);
    if (s->meki) MKV_VK(s->d->vk.vkBeginCommandBuffer(p->cb_post, &bi), err);
    if (p->stall_pool) {
        s->d->vk.vkCmdResetQueryPool(p->cb_pre, p->stall_pool, 0, TS_COUNT);
        s->d->vk.vkCmdWriteTimestamp(p->cb_pre, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, p->stall_pool, TS_PRE_START);
    }
    TRY(mkv_recorder_init(&p->rec, s->d, p->cb_pre, s->profile, err));
    if (!p->params.buf) TRY(alloc_pass(s, p, n, err));
    TRY(record_forward(s, p, err));
    MKV_VK(s->d->vk.vkEndCommandBuffer(p->cb_pre), err);
    if (s->meki) MKV_VK(s->d->vk.vkEndCommandBuffer(p->cb_post), err);
    return MKV_OK;
}

mkv_status mkv_session_record_prefill(mkv_session *s, mkv_error *err)
{
    if (s->pre_ready) return MKV_OK;
    mkv_status st = record_pass(s, &s->pre, s->chunk, err);
    if (st) {
        /* leave nothing half made: the next prefill tries again */
        const VkCommandBuffer cbs[2] = {s->pre.cb_pre, s->pre.cb_post};
        s->d->vk.vkFreeCommandBuffers(s->d->dev, s->cmd_pool, 2, cbs);
        free_pass(s, &s->pre);
        memset(&s->pre, 0, sizeof s->pre);
        return st;
    }
    s->pre_ready = true;
    return MKV_OK;
}

/* The LM head over every token of the prefill pass (MKV_PREFILL_ALL):
 * the final norm of each row of h, then one product into logits_all. */
static mkv_status record_all_into(mkv_session *s, VkCommandBuffer cb, mkv_error *err)
{
    mkv_pass *p = &s->pre;
    const mkv_model_config *c = &s->m->cfg;
    mkv_status st;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    MKV_VK(s->d->vk.vkBeginCommandBuffer(cb, &bi), err);
    TRY(mkv_recorder_init(&p->rec_all, s->d, cb, false, err));
    TRY(mkv_op_rmsnorm_rows(&p->rec_all, false, &p->a.h, p->a.ld_model, &s->m->output_norm, &p->a.xn, p->a.ld_model,
                            c->d_model, p->a.n_batch, c->norm_eps, err));
    TRY(mkv_op_mm(&p->rec_all, mkv_model_lm_head(s->m), &p->a.xn, p->a.ld_model, &s->logits_all, c->n_vocab, 0,
                  p->a.n_batch, &p->params, 0, err));
    mkv_rec_finish(&p->rec_all);
    MKV_VK(s->d->vk.vkEndCommandBuffer(cb), err);
    return MKV_OK;
}

mkv_status mkv_session_record_all_logits(mkv_session *s, mkv_error *err)
{
    mkv_pass *p = &s->pre;
    if (p->cb_all) return MKV_OK;
    mkv_status st;
    if (!s->logits_all.buf)
        TRY(mkv_buffer_create(s->d, (uint64_t)p->a.n_batch * s->m->cfg.n_vocab * sizeof(float), MKV_MEM_HOST,
                              &s->logits_all, err));
    VkCommandBuffer cb;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = s->cmd_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    MKV_VK(s->d->vk.vkAllocateCommandBuffers(s->d->dev, &ai, &cb), err);
    if ((st = record_all_into(s, cb, err))) {
        s->d->vk.vkFreeCommandBuffers(s->d->dev, s->cmd_pool, 1, &cb);
        mkv_recorder_release(&p->rec_all);
        return st;
    }
    p->cb_all = cb;
    return MKV_OK;
}

static mkv_status create_inner(mkv_session *s, mkv_error *err)
{
    mkv_status st;
    /* The session's own command pool: recording it needs no lock shared
     * with other sessions (Vulkan leaves a pool to one thread at a time). */
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .queueFamilyIndex = s->d->queue_family};
    MKV_VK(s->d->vk.vkCreateCommandPool(s->d->dev, &pi, NULL, &s->cmd_pool), err);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    MKV_VK(s->d->vk.vkCreateFence(s->d->dev, &fi, NULL, &s->fence), err);
    if (s->meki) {
        /* Signalled when the first part has run: whether the GPU had to wait
         * for the slab (step.c). */
        /* created signalled: it is only ever unsignalled while a first part
         * is in flight (submit_pre resets it), so destroy can wait on it */
        VkFenceCreateInfo fs = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, .flags = VK_FENCE_CREATE_SIGNALED_BIT};
        MKV_VK(s->d->vk.vkCreateFence(s->d->dev, &fs, NULL, &s->pre_fence), err);
    }
    s->dec.rec.d = s->d;
    mkv_tunables_for(s->d, &s->dec.rec.tune); /* argmax slots, before the decode pass is recorded */
    TRY(alloc_buffers(s, err));
    TRY(record_pass(s, &s->dec, 1, err));
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
    if (opts->prefill_chunk > 1024)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "prefill_chunk = %u: at most 1024", opts->prefill_chunk);
    if (opts->kv_type != MKV_KV_F16 && opts->kv_type != MKV_KV_Q8_0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "kv_type = %d: not a KV cache type", (int)opts->kv_type);
    if (opts->kv_type == MKV_KV_Q8_0 && m->cfg.head_dim % MKV_KV_Q8_BLOCK)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "kv_type q8_0: head_dim = %u is not a multiple of %u", m->cfg.head_dim,
                        MKV_KV_Q8_BLOCK);
    mkv_session *s = mkv_calloc(1, sizeof *s);
    if (!s) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    s->m = m;
    s->d = m->d;
    s->n_ctx = opts->n_ctx;
    s->kv_q8 = opts->kv_type == MKV_KV_Q8_0;
    s->meki = m->bank && !opts->meki_off;
    s->profile = opts->profile;
    s->sync = opts->bank_sync;
    s->chunk = opts->prefill_chunk ? opts->prefill_chunk : 128;
    if (s->chunk > s->n_ctx) s->chunk = s->n_ctx; /* a pass never holds more than the context */
    /* a prefill pass stages a slab per token: the ring holds two passes'
     * worth, so one pass's reads overlap the previous pass's compute */
    s->n_slots = opts->bank_slots ? opts->bank_slots : 32;
    if (s->n_slots < 2 * s->chunk) s->n_slots = 2 * s->chunk;
    if (s->sync) s->n_slots = s->chunk;
    s->n_threads = opts->bank_threads ? opts->bank_threads : 4;
    s->cache_bytes = opts->bank_cache_bytes;
    mkv_tunables tune;
    mkv_tunables_for(s->d, &tune);
    s->n_split = mkv_attn_splits(s->n_ctx, tune.attn_chunk);
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
    if (s->pre_fence && !s->pre_unsubmitted) /* (a failed submission's fence never signals) */
        (void)d->vk.vkWaitForFences(d->dev, 1, &s->pre_fence, VK_TRUE, UINT64_MAX);
    mkv_stream_destroy(s->stream); /* joins the readers before the ring goes */
    free_pass(s, &s->dec);
    free_pass(s, &s->pre);
    if (s->pre_fence) d->vk.vkDestroyFence(d->dev, s->pre_fence, NULL);
    if (s->fence) d->vk.vkDestroyFence(d->dev, s->fence, NULL);
    if (s->cmd_pool) d->vk.vkDestroyCommandPool(d->dev, s->cmd_pool, NULL); /* frees the passes' command buffers */
    free(s->pf_token);
    free(s->pf_slot);
    mkv_buffer *bufs[] = {&s->rope, &s->counter, &s->attn_done, &s->argmax_slots, &s->ring, &s->logits, &s->logits_all, &s->result};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mkv_buffer_destroy(d, bufs[i]);
    for (uint32_t l = 0; s->k_cache && l < s->m->cfg.n_layer; l++) mkv_buffer_destroy(d, &s->k_cache[l]);
    for (uint32_t l = 0; s->v_cache && l < s->m->cfg.n_layer; l++) mkv_buffer_destroy(d, &s->v_cache[l]);
    free(s->k_cache);
    free(s->v_cache);
    free(s);
}
