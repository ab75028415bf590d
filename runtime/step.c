/* Running one decode step (mkv_session_step): the token's bank slab asked
 * for at once (or found in the prefetch list), the first part of the
 * recorded step submitted, the second part once the slab is staged, and
 * the stall accounted from the GPU's timestamps. Also the prefetch list and
 * the session's small accessors. See session.c for why the split. */
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "step_params.h"

/* ---- prefetch list ---- */

static uint32_t pf_at(const mkv_session *s, uint32_t i) { return (s->pf_head + i) % s->n_ctx; }

/* Issues reads for listed tokens in order while staging slots are free. */
static mkv_status pf_issue(mkv_session *s, mkv_error *err)
{
    while (s->pf_issued < s->pf_len) {
        uint32_t k = pf_at(s, s->pf_issued), slot;
        mkv_status st = mkv_stream_request(s->stream, s->pf_token[k], &slot, err);
        if (st) return st;
        if (slot == MKV_STREAM_NO_SLOT) break;
        s->pf_slot[k] = slot;
        s->pf_issued++;
    }
    return MKV_OK;
}

static void pf_drop(mkv_session *s)
{
    for (uint32_t i = 0; i < s->pf_issued; i++) mkv_stream_release(s->stream, s->pf_slot[pf_at(s, i)]);
    s->pf_head = s->pf_len = s->pf_issued = 0;
}

void mkv_session_drop_prefetch(mkv_session *s) { pf_drop(s); }

mkv_status mkv_session_prefetch(mkv_session *s, const uint32_t *tokens, uint32_t n, mkv_error *err)
{
    if (!s->stream) return MKV_OK; /* dense, meki_off or synchronous reads: nothing to fetch ahead */
    if (n > s->n_ctx - s->pf_len) n = s->n_ctx - s->pf_len; /* more than the context could never be stepped */
    for (uint32_t i = 0; i < n; i++) {
        if (tokens[i] >= s->m->cfg.n_vocab)
            return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "prefetch: tokens[%u] = %u: n_vocab is %u", i, tokens[i], s->m->cfg.n_vocab);
    }
    for (uint32_t i = 0; i < n; i++) s->pf_token[pf_at(s, s->pf_len++)] = tokens[i];
    return pf_issue(s, err);
}

/* The staging slot holding (or about to hold) token's slab, referenced. */
static mkv_status take_slot(mkv_session *s, uint32_t token, uint32_t *slot, mkv_error *err)
{
    mkv_status st;
    *slot = MKV_STREAM_NO_SLOT;
    if (s->pf_len && s->pf_token[s->pf_head] == token) {
        if (s->pf_issued) {
            *slot = s->pf_slot[s->pf_head];
            s->pf_issued--;
        }
        s->pf_head = pf_at(s, 1);
        s->pf_len--;
    } else {
        pf_drop(s);
    }
    if (*slot == MKV_STREAM_NO_SLOT && (st = mkv_stream_request(s->stream, token, slot, err))) return st;
    if (*slot == MKV_STREAM_NO_SLOT) /* only the list holds slots, and it handed its first one over */
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "token = %u: no free bank staging slot", token);
    return MKV_OK;
}

/* ---- one step ---- */

/* The per-token values the recorded step reads (step_params.h). */
static void set_params(mkv_session *s, uint32_t token, uint32_t slab_offset)
{
    mkv_step_params p = {.pos = s->pos, .n_tok = 1, .tok = {{.token = token, .slab_offset = slab_offset}}};
    memcpy(s->dec.params.map, &p, sizeof p);
}

static mkv_status submit(mkv_session *s, VkCommandBuffer *cbs, uint32_t n, VkFence fence, mkv_error *err)
{
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = n, .pCommandBuffers = cbs};
    return mkv_device_submit(s->d, &si, fence, err);
}

/* Submits a pass's first part; pre_fence is signalled when it has run. */
static mkv_status submit_pre(mkv_session *s, mkv_pass *p, mkv_error *err)
{
    MKV_VK(s->d->vk.vkResetFences(s->d->dev, 1, &s->pre_fence), err);
    mkv_status st = submit(s, &p->cb_pre, 1, s->pre_fence, err);
    s->pre_unsubmitted = st != MKV_OK; /* a wait on it would never return */
    return st;
}

/* A pass that fails after its first part was submitted waits for that part
 * before it returns: the part's command buffer and pre_fence are used
 * again by the retry (its own fence: no queue-wide wait). */
static void wait_pre(mkv_session *s)
{
    if (!s->pre_unsubmitted) (void)s->d->vk.vkWaitForFences(s->d->dev, 1, &s->pre_fence, VK_TRUE, UINT64_MAX);
}

static mkv_status wait_fence(mkv_session *s, mkv_error *err)
{
    VkResult r = s->d->vk.vkWaitForFences(s->d->dev, 1, &s->fence, VK_TRUE, UINT64_MAX);
    VkResult r2 = s->d->vk.vkResetFences(s->d->dev, 1, &s->fence);
    if (r != VK_SUCCESS) return mkv_vk_fail(err, r, "vkWaitForFences");
    if (r2 != VK_SUCCESS) return mkv_vk_fail(err, r2, "vkResetFences");
    return MKV_OK;
}

/* Whether the GPU has already run this step's first part. */
static bool pre_part_done(mkv_session *s)
{
    return s->d->vk.vkGetFenceStatus(s->d->dev, s->pre_fence) == VK_SUCCESS;
}

/* Reads back the stall timestamps of the finished step. The GPU waited
 * only if it had finished the first part before the slab was staged
 * (gpu_waited); then the wait is the gap between the two parts. */
static void account_stall(mkv_session *s, const mkv_pass *p, bool gpu_waited, double host_wait_us)
{
    double stall_us = 0;
    uint64_t ts[TS_COUNT];
    if (p->stall_pool && s->d->vk.vkGetQueryPoolResults(s->d->dev, p->stall_pool, 0, TS_COUNT, sizeof ts, ts, sizeof ts[0],
                                               VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
        const double us = s->d->timestamp_period_ns * 1e-3;
        s->stats.last_window_us = (double)(ts[TS_PRE_END] - ts[TS_PRE_START]) * us;
        if (gpu_waited && ts[TS_POST_START] > ts[TS_PRE_END]) stall_us = (double)(ts[TS_POST_START] - ts[TS_PRE_END]) * us;
    } else if (gpu_waited) {
        stall_us = host_wait_us; /* no timestamps: the host's wait bounds the GPU's */
    }
    s->stats.last_stall_us = stall_us;
    s->stats.bank_stall_ms += stall_us * 1e-3;
    if (stall_us > 0) s->stats.stall_steps++;
}

/* MeKi step with streaming: first part runs while the slab is read. */
static mkv_status step_streamed(mkv_session *s, uint32_t token, mkv_error *err)
{
    uint32_t slot;
    mkv_status st = take_slot(s, token, &slot, err);
    if (st) return st;
    set_params(s, token, slot * mkv_bank_info(s->m->bank)->slab_bytes);
    if (!(st = pf_issue(s, err)) && !(st = submit_pre(s, &s->dec, err))) {
        double t0 = mkv_now_ms();
        st = mkv_stream_wait(s->stream, slot, err);
        double host_wait_us = (mkv_now_ms() - t0) * 1e3;
        bool gpu_waited = pre_part_done(s);
        if (st) {
            wait_pre(s); /* the first part must finish before the step is retried */
            pf_drop(s); /* later listed reads may share the failed one: the caller prefetches again */
        } else if ((st = submit(s, &s->dec.cb_post, 1, s->fence, err))) {
            wait_pre(s);
        } else if (!(st = wait_fence(s, err))) {
            account_stall(s, &s->dec, gpu_waited, host_wait_us);
        }
    }
    mkv_stream_release(s->stream, slot);
    return st;
}

/* MeKi reference path: the read, then the whole step. */
static mkv_status step_sync(mkv_session *s, uint32_t token, mkv_error *err)
{
    double t0 = mkv_now_ms();
    mkv_status st = mkv_bank_read_slab(s->m->bank, token, s->ring.map, err);
    double dt_us = (mkv_now_ms() - t0) * 1e3;
    if (st) return st;
    s->stats.bank_reads++;
    s->stats.cache_misses++;
    s->stats.bank_bytes_read += mkv_bank_info(s->m->bank)->slab_bytes;
    s->stats.bank_read_ms += dt_us * 1e-3;
    s->stats.last_stall_us = dt_us; /* nothing runs meanwhile: all of it is stall */
    s->stats.bank_stall_ms += dt_us * 1e-3;
    s->stats.stall_steps++;
    set_params(s, token, 0);
    VkCommandBuffer cbs[2] = {s->dec.cb_pre, s->dec.cb_post};
    if ((st = submit(s, cbs, 2, s->fence, err))) return st;
    return wait_fence(s, err);
}

mkv_status mkv_session_step(mkv_session *s, uint32_t token, float *logits, uint32_t *argmax, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    if (token >= c->n_vocab)
        return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "%s: token = %u: n_vocab is %u", s->m->path, token, c->n_vocab);
    if (s->pos >= s->n_ctx)
        return mkv_fail(err, MKV_ERR_CONTEXT_FULL, "position = %u: the session's context holds %u positions", s->pos, s->n_ctx);
    mkv_status st;
    if (s->stream) {
        TRY(step_streamed(s, token, err));
    } else if (s->meki) {
        TRY(step_sync(s, token, err));
    } else {
        set_params(s, token, 0);
        TRY(submit(s, &s->dec.cb_pre, 1, s->fence, err));
        TRY(wait_fence(s, err));
    }
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

void mkv_session_get_stats(const mkv_session *s, mkv_session_stats *stats)
{
    *stats = s->stats;
    stats->bank_io = s->meki ? mkv_bank_io_mode_name(mkv_bank_get_io_mode(s->m->bank)) : "";
    if (s->stream) {
        mkv_stream_stats ss;
        mkv_stream_get_stats(s->stream, &ss);
        stats->bank_reads = ss.reads;
        stats->bank_bytes_read = ss.bytes_read;
        stats->cache_hits = ss.cache_hits;
        stats->cache_misses = ss.cache_misses;
        stats->bank_shared = ss.shared;
        stats->bank_read_ms = ss.read_ms;
    }
}

mkv_status mkv_session_seek(mkv_session *s, uint32_t pos, mkv_error *err)
{
    if (pos >= s->n_ctx) return mkv_fail(err, MKV_ERR_CONTEXT_FULL, "seek: position = %u: the context holds %u", pos, s->n_ctx);
    s->pos = pos;
    return MKV_OK;
}

uint32_t mkv_session_profile(const mkv_session *s, mkv_kernel_time *out, uint32_t cap)
{
    const mkv_recorder *r = &s->dec.rec;
    if (!r->query_pool || r->n_marks == 0 || s->stats.steps == 0) return 0;
    uint64_t ts[MKV_REC_MAX_MARKS + 1];
    if (s->d->vk.vkGetQueryPoolResults(s->d->dev, r->query_pool, 0, r->n_marks + 1, sizeof ts, ts, sizeof ts[0],
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

/* ---- prefill ---- */

/* Asks for the slabs of tokens[0..m) (a token repeated shares one slab);
 * slots receives each token's staging slot. On failure none is held. */
static mkv_status request_chunk(mkv_session *s, const uint32_t *tokens, uint32_t m, uint32_t *slots, mkv_error *err)
{
    mkv_status st = MKV_OK;
    uint32_t i = 0;
    for (; i < m && !st; i++) {
        st = mkv_stream_request(s->stream, tokens[i], &slots[i], err);
        if (!st && slots[i] == MKV_STREAM_NO_SLOT)
            st = mkv_fail(err, MKV_ERR_INVALID_ARG, "prefill: tokens[%u] = %u: no free bank staging slot", i, tokens[i]);
        if (st) break;
    }
    if (st)
        for (uint32_t k = 0; k < i; k++) mkv_stream_release(s->stream, slots[k]);
    return st;
}

static void release_chunk(mkv_session *s, const uint32_t *slots, uint32_t m)
{
    for (uint32_t i = 0; i < m; i++) mkv_stream_release(s->stream, slots[i]);
}

static void set_chunk_params(mkv_session *s, const uint32_t *tokens, const uint32_t *slots, uint32_t m)
{
    mkv_step_params *p = s->pre.params.map;
    const uint64_t slab = s->meki ? mkv_bank_info(s->m->bank)->slab_bytes : 0;
    p->pos = s->pos;
    p->n_tok = m;
    for (uint32_t i = 0; i < m; i++)
        p->tok[i] = (mkv_step_token){.token = tokens[i], .slab_offset = slots ? (uint32_t)(slots[i] * slab) : 0};
}

/* One prefill pass of m tokens at s->pos. With streaming, the slots of
 * this chunk were requested already (slots); next/n_next are the tokens of
 * the chunk after it, whose reads start while this one computes
 * (next_slots receives their slots). */
static mkv_status run_chunk(mkv_session *s, const uint32_t *tokens, uint32_t m, const uint32_t *slots,
                            const uint32_t *next, uint32_t n_next, uint32_t *next_slots, bool *next_requested,
                            mkv_error *err)
{
    mkv_status st;
    mkv_pass *p = &s->pre;
    *next_requested = false;
    if (!s->meki) {
        set_chunk_params(s, tokens, NULL, m);
        TRY(submit(s, &p->cb_pre, 1, s->fence, err));
        return wait_fence(s, err);
    }
    if (!s->stream) { /* bank_sync: every slab read into its slot, then the whole pass */
        const uint64_t slab = mkv_bank_info(s->m->bank)->slab_bytes;
        uint32_t idx[1024];
        double t0 = mkv_now_ms();
        for (uint32_t i = 0; i < m; i++) {
            idx[i] = i;
            TRY(mkv_bank_read_slab(s->m->bank, tokens[i], (uint8_t *)s->ring.map + i * slab, err));
            s->stats.bank_reads++;
            s->stats.cache_misses++;
            s->stats.bank_bytes_read += slab;
        }
        double dt_us = (mkv_now_ms() - t0) * 1e3;
        s->stats.bank_read_ms += dt_us * 1e-3;
        s->stats.last_stall_us = dt_us;
        s->stats.bank_stall_ms += dt_us * 1e-3;
        s->stats.stall_steps++;
        set_chunk_params(s, tokens, idx, m);
        VkCommandBuffer cbs[2] = {p->cb_pre, p->cb_post};
        TRY(submit(s, cbs, 2, s->fence, err));
        return wait_fence(s, err);
    }
    /* streaming: the first part runs while the slabs are read; the GPU waits
     * for them only at layer 0's first MeKi dispatch */
    set_chunk_params(s, tokens, slots, m);
    TRY(submit_pre(s, p, err));
    double t0 = mkv_now_ms();
    st = MKV_OK;
    for (uint32_t i = 0; i < m && !st; i++) st = mkv_stream_wait(s->stream, slots[i], err);
    double host_wait_us = (mkv_now_ms() - t0) * 1e3;
    bool gpu_waited = pre_part_done(s);
    if (st || (st = submit(s, &p->cb_post, 1, s->fence, err))) {
        wait_pre(s);
        return st;
    }
    /* the next chunk's reads overlap this chunk's compute */
    if (n_next) {
        st = request_chunk(s, next, n_next, next_slots, err);
        if (st) {
            mkv_error ignored; /* the request's error is the one to report */
            (void)wait_fence(s, &ignored);
            return st;
        }
        *next_requested = true;
    }
    if ((st = wait_fence(s, err))) return st;
    account_stall(s, p, gpu_waited, host_wait_us);
    return MKV_OK;
}

/* The LM head over every token of the pass just run, copied out. */
static mkv_status all_logits(mkv_session *s, uint32_t m, float *out, mkv_error *err)
{
    mkv_status st;
    TRY(submit(s, &s->pre.cb_all, 1, s->fence, err));
    TRY(wait_fence(s, err));
    memcpy(out, s->logits_all.map, (size_t)m * s->m->cfg.n_vocab * sizeof(float));
    return MKV_OK;
}

mkv_status mkv_session_prefill(mkv_session *s, const uint32_t *tokens, uint32_t n, mkv_prefill_logits which,
                               float *logits, uint32_t *argmax, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    if (!tokens || n == 0) return mkv_fail(err, MKV_ERR_INVALID_ARG, "prefill: no tokens");
    if (which != MKV_PREFILL_LAST && which != MKV_PREFILL_ALL)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "prefill: which = %d: not a mkv_prefill_logits", (int)which);
    if (n > s->n_ctx - s->pos)
        return mkv_fail(err, MKV_ERR_CONTEXT_FULL, "prefill: %u tokens at position %u: the context holds %u positions",
                        n, s->pos, s->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] >= c->n_vocab)
            return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "prefill: tokens[%u] = %u: n_vocab is %u", i, tokens[i], c->n_vocab);
    const uint32_t pos0 = s->pos;
    mkv_status st = MKV_OK;
    if (s->chunk == 1 || (n == 1 && which == MKV_PREFILL_LAST)) { /* the decode step is the one-token pass */
        for (uint32_t i = 0; i < n && !st; i++) {
            float *lg = NULL;
            if (logits && which == MKV_PREFILL_ALL) lg = logits + (size_t)i * c->n_vocab;
            else if (logits && i + 1 == n) lg = logits;
            st = mkv_session_step(s, tokens[i], lg, i + 1 == n ? argmax : NULL, err);
        }
        if (st) s->pos = pos0;
        return st;
    }
    TRY(mkv_session_record_prefill(s, err));
    if (which == MKV_PREFILL_ALL && logits) TRY(mkv_session_record_all_logits(s, err));
    if (s->stream) pf_drop(s); /* the prefetch list's slots are the ring's: the batch asks for its own */
    uint32_t slots[2][1024];
    uint32_t cur = 0, m = n < s->chunk ? n : s->chunk;
    bool have = false;
    if (s->stream) {
        TRY(request_chunk(s, tokens, m, slots[0], err));
        have = true;
    }
    for (uint32_t i = 0; i < n;) {
        const uint32_t n_next_at = i + m, n_next = n_next_at < n ? (n - n_next_at < s->chunk ? n - n_next_at : s->chunk) : 0;
        bool next_requested = false;
        st = run_chunk(s, tokens + i, m, slots[cur], tokens + n_next_at, s->stream ? n_next : 0, slots[cur ^ 1],
                       &next_requested, err);
        if (have) release_chunk(s, slots[cur], m);
        have = next_requested;
        if (!st && which == MKV_PREFILL_ALL && logits) st = all_logits(s, m, logits + (size_t)i * c->n_vocab, err);
        if (st) {
            if (have) release_chunk(s, slots[cur ^ 1], n_next);
            s->pos = pos0; /* nothing appended: the cache past pos0 is overwritten by what comes next */
            return st;
        }
        s->pos += m;
        i += m;
        m = n_next;
        cur ^= 1;
    }
    s->stats.prefill_tokens += n;
    if (logits && which == MKV_PREFILL_LAST) memcpy(logits, s->logits.map, (size_t)c->n_vocab * sizeof(float));
    if (argmax) {
        float res[2];
        memcpy(res, s->result.map, sizeof res);
        memcpy(argmax, &res[1], sizeof *argmax);
    }
    return MKV_OK;
}
