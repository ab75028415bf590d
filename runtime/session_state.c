/* KV-cache control (mekivk.h): truncating a session, and saving and
 * restoring its state (session_state.h: the format) to memory or a file.
 *
 * What a session keeps per position is its K/V rows; everything else is
 * either recomputed from the next token (activations, params, the staged
 * slab of that token) or a counter (stats). The prefetch list holds the
 * tokens announced for the positions after the current one, with the
 * staging slots of their reads: a truncate that forgets positions drops it
 * (mkv_session_drop_prefetch releases every slot, reads in flight finish
 * into released slots and are reused); a save keeps its tokens, and a
 * restore requests them again. Between calls no work of the session is in
 * flight (a step and a prefill wait for their fences before they return);
 * the copies wait on the first part's fence as well, which a failed step
 * may have left running. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fileio.h"
#include "session.h"
#include "session_state.h"

/* File reads and writes, and copies of buffers the host cannot map, go
 * through a scratch buffer of this many bytes at most. */
#define CHUNK (4u << 20)

/* ---- truncate ---- */

mkv_status mkv_session_truncate(mkv_session *s, uint32_t pos, mkv_error *err)
{
    if (!s) return mkv_fail(err, MKV_ERR_INVALID_ARG, "truncate: session = NULL");
    if (pos > s->pos)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "truncate: pos = %u: beyond the session's position %u", pos, s->pos);
    if (pos == s->pos) return MKV_OK; /* nothing forgotten: the prefetch list still lists what comes next */
    mkv_session_drop_prefetch(s);
    s->pos = pos; /* rows >= pos are overwritten before any step reads them */
    return MKV_OK;
}

/* ---- the model's identity ---- */

static void fnv1a(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void fnv_u32(uint64_t *h, uint32_t v)
{
    uint8_t b[4];
    mkv_state_put_le32(b, v);
    fnv1a(h, b, 4);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The first n bytes of b (all of it, if smaller), into the hash. */
static mkv_status hash_buffer(mkv_session *s, uint64_t *h, const mkv_buffer *b, uint64_t n, uint8_t *tmp,
                              mkv_error *err)
{
    if (!b->buf) return MKV_OK;
    if (n > b->size) n = b->size;
    if (b->map) {
        fnv1a(h, b->map, (size_t)n);
        return MKV_OK;
    }
    mkv_status st = mkv_buffer_read(s->d, b, 0, tmp, n, err);
    if (!st) fnv1a(h, tmp, (size_t)n);
    return st;
}

/* What decides the K/V a token sequence leaves in the cache, besides the
 * session's kv_type: the config, every matrix's type, the norm weights
 * (output and every layer's attention and FFN norms), the first 4 KiB of
 * the embedding and of every layer's W_down, and, when the session runs
 * MeKi, the bank's fingerprint, type and shape. 64-bit FNV-1a. Two files
 * with the same shape and types but other weights differ in the sampled
 * bytes; a bank without a fingerprint is known by its shape alone. */
static mkv_status model_identity(mkv_session *s, uint64_t *id, mkv_error *err)
{
    const mkv_model *m = s->m;
    const mkv_model_config *c = &m->cfg;
    uint64_t h = 0xcbf29ce484222325ull;
    mkv_status st = MKV_OK;
    fnv1a(&h, c->arch, sizeof c->arch);
    const uint32_t cfg[] = {c->n_layer, c->d_model, c->n_head, c->n_kv_head, c->head_dim, c->d_ffn, c->n_vocab,
                            c->d_mem, f32_bits(c->rope_theta), f32_bits(c->norm_eps), (uint32_t)c->rope_style,
                            c->has_qk_norm, c->has_qkv_bias, c->tied_output, c->meki_gate_residual};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) fnv_u32(&h, cfg[i]);
    fnv1a(&h, c->bank_fingerprint, sizeof c->bank_fingerprint);
    fnv_u32(&h, m->tok_embd.type);
    if (!c->tied_output) fnv_u32(&h, m->output.type);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_layer_weights *w = &m->layers[l];
        fnv_u32(&h, w->n_qkv);
        for (uint32_t i = 0; i < w->n_qkv; i++) fnv_u32(&h, w->w_qkv[i].type);
        fnv_u32(&h, w->wo.type);
        fnv_u32(&h, w->w_ffn.type);
        fnv_u32(&h, w->w_down.type);
        fnv_u32(&h, w->w_mg.n_parts ? w->w_mg.type + 1u : 0u);
    }
    uint64_t tmp_bytes = 4096;
    if (m->output_norm.size > tmp_bytes) tmp_bytes = m->output_norm.size;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        if (m->layers[l].attn_norm.size > tmp_bytes) tmp_bytes = m->layers[l].attn_norm.size;
        if (m->layers[l].ffn_norm.size > tmp_bytes) tmp_bytes = m->layers[l].ffn_norm.size;
    }
    uint8_t *tmp = mkv_malloc((size_t)tmp_bytes);
    if (!tmp) return mkv_fail(err, MKV_ERR_NO_MEMORY, "session state: out of memory");
    st = hash_buffer(s, &h, &m->output_norm, UINT64_MAX, tmp, err);
    if (!st) st = hash_buffer(s, &h, &m->tok_embd.parts[0], 4096, tmp, err);
    for (uint32_t l = 0; l < c->n_layer && !st; l++) {
        st = hash_buffer(s, &h, &m->layers[l].attn_norm, UINT64_MAX, tmp, err);
        if (!st) st = hash_buffer(s, &h, &m->layers[l].ffn_norm, UINT64_MAX, tmp, err);
        if (!st) st = hash_buffer(s, &h, &m->layers[l].w_down.parts[0], 4096, tmp, err);
    }
    free(tmp);
    if (st) return st;
    if (s->meki) {
        const mkv_bank_header *b = mkv_bank_info(m->bank);
        fnv1a(&h, b->fingerprint, sizeof b->fingerprint);
        const uint32_t bf[] = {b->dtype, b->n_layer, b->n_vocab, b->d_mem};
        for (size_t i = 0; i < sizeof bf / sizeof bf[0]; i++) fnv_u32(&h, bf[i]);
    }
    *id = h;
    return MKV_OK;
}

/* ---- the session's side ---- */

static uint32_t kv_type(const mkv_session *s) { return s->kv_q8 ? MKV_KV_Q8_0 : MKV_KV_F16; }

/* The header of the session's state now (model_id 0: computed apart). */
static void session_header(const mkv_session *s, mkv_state_header *h)
{
    const mkv_model_config *c = &s->m->cfg;
    memset(h, 0, sizeof *h);
    h->version = MKV_STATE_VERSION;
    h->n_layer = c->n_layer, h->d_model = c->d_model, h->n_head = c->n_head;
    h->n_kv_head = c->n_kv_head, h->head_dim = c->head_dim, h->n_vocab = c->n_vocab;
    h->kv_type = kv_type(s);
    h->flags = s->meki ? MKV_STATE_FLAG_MEKI : 0;
    h->pos = s->pos;
    h->n_prefetch = s->pf_len;
    h->total_bytes = mkv_state_size(h);
}

uint64_t mkv_session_state_size(const mkv_session *s)
{
    if (!s) return 0;
    mkv_state_header h;
    session_header(s, &h);
    return h.total_bytes;
}

/* Waits for the session's own work: a first part left in flight by a
 * failed step (pre_fence is signalled otherwise, or never will be when its
 * submission failed: pre_unsubmitted). */
static mkv_status idle(mkv_session *s, mkv_error *err)
{
    if (!s->pre_fence || s->pre_unsubmitted) return MKV_OK;
    VkResult r = s->d->vk.vkWaitForFences(s->d->dev, 1, &s->pre_fence, VK_TRUE, UINT64_MAX);
    return r == VK_SUCCESS ? MKV_OK : mkv_vk_fail(err, r, "vkWaitForFences");
}

/* ---- save ---- */

/* Where a state goes: memory (mem) or a file (fd), with the running CRC. */
typedef struct sink {
    uint8_t *mem;
    int fd;
    const char *what;
    uint64_t at;
    uint32_t crc;
    uint8_t *scratch; /* CHUNK bytes, for buffers the host cannot map (files only) */
} sink;

static mkv_status sink_put(sink *k, const void *p, uint64_t n, bool crc, mkv_error *err)
{
    if (crc) k->crc = mkv_crc32c(k->crc, p, (size_t)n);
    if (k->mem) memcpy(k->mem + k->at, p, (size_t)n);
    else {
        mkv_status st = mkv_write_full(k->fd, p, n, k->what, err);
        if (st) return st;
    }
    k->at += n;
    return MKV_OK;
}

/* Bytes [off, off + n) of a cache buffer into the state. */
static mkv_status sink_buffer(mkv_session *s, sink *k, const mkv_buffer *b, uint64_t off, uint64_t n, mkv_error *err)
{
    mkv_status st;
    if (k->mem) { /* straight into the caller's memory (a memcpy where the host maps b) */
        TRY(mkv_buffer_read(s->d, b, off, k->mem + k->at, n, err));
        k->crc = mkv_crc32c(k->crc, k->mem + k->at, (size_t)n);
        k->at += n;
        return MKV_OK;
    }
    if (b->map) return sink_put(k, (const uint8_t *)b->map + off, n, true, err);
    if (!k->scratch && !(k->scratch = mkv_malloc(CHUNK)))
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", k->what);
    for (uint64_t done = 0; done < n;) {
        const uint64_t len = n - done < CHUNK ? n - done : CHUNK;
        TRY(mkv_buffer_read(s->d, b, off + done, k->scratch, len, err));
        TRY(sink_put(k, k->scratch, len, true, err));
        done += len;
    }
    return MKV_OK;
}

/* The whole state, h's header first (h->model_id filled). */
static mkv_status save_to(mkv_session *s, const mkv_state_header *h, sink *k, mkv_error *err)
{
    mkv_status st;
    uint8_t hdr[MKV_STATE_HEADER_BYTES];
    mkv_state_header_encode(h, hdr);
    TRY(sink_put(k, hdr, sizeof hdr, true, err));
    const uint32_t n_ranges = mkv_state_kv_n_ranges(h);
    for (uint32_t l = 0; l < h->n_layer; l++)
        for (int v = 0; v < 2; v++)
            for (uint32_t i = 0; i < n_ranges; i++) {
                uint64_t off, len;
                mkv_state_kv_range(h, s->n_ctx, i, &off, &len);
                TRY(sink_buffer(s, k, v ? &s->v_cache[l] : &s->k_cache[l], off, len, err));
            }
    for (uint32_t i = 0; i < h->n_prefetch; i++) {
        uint8_t t[4];
        mkv_state_put_le32(t, s->pf_token[(s->pf_head + i) % s->n_ctx]);
        TRY(sink_put(k, t, 4, true, err));
    }
    uint8_t crc[4];
    mkv_state_put_le32(crc, k->crc);
    TRY(sink_put(k, crc, 4, false, err));
    if (k->at != h->total_bytes) /* a bug, not bad input */
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: wrote %" PRIu64 " bytes, the header says %" PRIu64, k->what, k->at,
                        h->total_bytes);
    return MKV_OK;
}

/* The session's header with its model identity, after its work is done. */
static mkv_status header_for_save(mkv_session *s, mkv_state_header *h, mkv_error *err)
{
    mkv_status st;
    session_header(s, h);
    if (h->total_bytes == 0) return mkv_fail(err, MKV_ERR_FORMAT, "save: the state's size does not fit 64 bits");
    TRY(idle(s, err));
    return model_identity(s, &h->model_id, err);
}

mkv_status mkv_session_save(mkv_session *s, void *buf, size_t cap, size_t *written, mkv_error *err)
{
    if (written) *written = 0;
    if (!s) return mkv_fail(err, MKV_ERR_INVALID_ARG, "save: session = NULL");
    const uint64_t need = mkv_session_state_size(s);
    if (!buf || cap < need)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "save: cap = %zu%s: the state needs %" PRIu64
                        " bytes (mkv_session_state_size)", cap, buf ? "" : " at buf = NULL", need);
    mkv_status st;
    mkv_state_header h;
    TRY(header_for_save(s, &h, err));
    sink k = {.mem = buf, .fd = -1, .what = "save"};
    TRY(save_to(s, &h, &k, err));
    if (written) *written = (size_t)h.total_bytes;
    return MKV_OK;
}

mkv_status mkv_session_save_file(mkv_session *s, const char *path, mkv_error *err)
{
    if (!s || !path) return mkv_fail(err, MKV_ERR_INVALID_ARG, "save: session and path are required");
    mkv_status st;
    mkv_state_header h;
    TRY(header_for_save(s, &h, err));
    if (h.total_bytes > (uint64_t)INT64_MAX)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: a state of %" PRIu64 " bytes", path, h.total_bytes);
    mkv_atomic_file f = MKV_ATOMIC_FILE_INIT;
    TRY(mkv_atomic_begin(&f, path, err));
    sink k = {.fd = f.fd, .what = path};
    st = save_to(s, &h, &k, err);
    free(k.scratch);
    if (st) {
        mkv_atomic_abort(&f);
        return st;
    }
    return mkv_atomic_commit(&f, err); /* synced, then renamed over path */
}

/* ---- restore ---- */

/* Where a state comes from: memory (mem) or a file (fd) of `size` bytes. */
typedef struct source {
    const uint8_t *mem;
    int fd;
    const char *what;
    uint64_t size;
    uint8_t *scratch; /* CHUNK bytes (files only) */
} source;

/* Bytes [off, off + n) of the state (n <= CHUNK for a file): in place, or read into the scratch. */
static mkv_status src_get(source *r, uint64_t off, uint64_t n, const uint8_t **p, mkv_error *err)
{
    if (r->mem) {
        *p = r->mem + off;
        return MKV_OK;
    }
    *p = r->scratch;
    return mkv_pread_full(r->fd, r->scratch, n, off, r->what, "session state", err);
}

/* The state h describes against the session: the model's shape and
 * identity, the KV type, the MeKi branch, the context. */
static mkv_status check_compatible(mkv_session *s, const mkv_state_header *h, const char *what, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    const struct {
        const char *name;
        uint32_t state, model;
    } shape[] = {{"n_layer", h->n_layer, c->n_layer},     {"d_model", h->d_model, c->d_model},
                 {"n_head", h->n_head, c->n_head},        {"n_kv_head", h->n_kv_head, c->n_kv_head},
                 {"head_dim", h->head_dim, c->head_dim},  {"n_vocab", h->n_vocab, c->n_vocab}};
    for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++)
        if (shape[i].state != shape[i].model)
            return mkv_fail(err, MKV_ERR_MISMATCH, "%s: %s = %u: the session's model (%s) has %u", what, shape[i].name,
                            shape[i].state, s->m->path, shape[i].model);
    static const char *const kv_names[] = {"f16", "q8_0"};
    if (h->kv_type != kv_type(s))
        return mkv_fail(err, MKV_ERR_MISMATCH, "%s: kv_type = %s: the session stores K/V as %s", what,
                        kv_names[h->kv_type], kv_names[kv_type(s)]);
    const bool meki = h->flags & MKV_STATE_FLAG_MEKI;
    if (meki != s->meki)
        return mkv_fail(err, MKV_ERR_MISMATCH, "%s: meki = %s: the session runs with the MeKi branch %s", what,
                        meki ? "on" : "off", s->meki ? "on" : "off");
    if (h->pos > s->n_ctx)
        return mkv_fail(err, MKV_ERR_CONTEXT_FULL, "%s: pos = %u: the session's context holds %u positions", what,
                        h->pos, s->n_ctx);
    mkv_status st;
    uint64_t id;
    TRY(model_identity(s, &id, err));
    if (h->model_id != id)
        return mkv_fail(err, MKV_ERR_MISMATCH, "%s: model_id = 0x%016" PRIx64 ": the session's model (%s%s) is 0x%016" PRIx64
                        " (other weights%s)", what, h->model_id, s->m->path, s->meki ? " and its bank" : "", id,
                        s->meki ? " or another bank" : "");
    return MKV_OK;
}

/* Checks everything, then copies: see mkv_session_restore. */
static mkv_status restore_from(mkv_session *s, source *r, mkv_error *err)
{
    mkv_status st;
    const char *what = r->what;
    mkv_state_header h;
    uint8_t hdr[MKV_STATE_HEADER_BYTES] = {0};
    const uint8_t *p;
    /* the frame: magic, version, size */
    const uint64_t hn = r->size < sizeof hdr ? r->size : sizeof hdr;
    TRY(src_get(r, 0, hn, &p, err));
    memcpy(hdr, p, (size_t)hn);
    TRY(mkv_state_check_frame(hdr, r->size, what, &h, err));
    /* the CRC over everything (the file read once whole) */
    const uint64_t body = h.total_bytes - 4;
    uint32_t crc = 0;
    for (uint64_t at = 0; at < body;) {
        const uint64_t n = r->mem ? body : (body - at < CHUNK ? body - at : CHUNK);
        TRY(src_get(r, at, n, &p, err));
        crc = mkv_crc32c(crc, p, (size_t)n);
        at += n;
    }
    TRY(src_get(r, body, 4, &p, err));
    const uint32_t stored = mkv_state_le32(p);
    TRY(mkv_state_check_crc(stored, crc, what, err));
    TRY(mkv_state_check_fields(&h, what, err));
    /* the prefetch tokens, kept for after the copy */
    const uint64_t tok_off = body - 4ull * h.n_prefetch;
    uint8_t *tokens = NULL;
    if (h.n_prefetch) {
        if (!(tokens = mkv_malloc(4ull * h.n_prefetch))) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", what);
        if (!(st = src_get(r, tok_off, 4ull * h.n_prefetch, &p, err))) {
            memcpy(tokens, p, 4ull * h.n_prefetch);
            st = mkv_state_check_tokens(&h, tokens, what, err);
        }
        if (!st) st = check_compatible(s, &h, what, err);
    } else {
        st = check_compatible(s, &h, what, err);
    }
    if (!st) st = idle(s, err);
    if (st) {
        free(tokens);
        return st; /* nothing changed */
    }
    /* the copy: every byte read again is checked against the CRC once more
     * (a file changed since the first read is refused, not half used) */
    mkv_error e;
    uint32_t crc2 = mkv_crc32c(0, hdr, sizeof hdr);
    uint64_t at = MKV_STATE_HEADER_BYTES;
    const uint32_t n_ranges = mkv_state_kv_n_ranges(&h);
    for (uint32_t l = 0; l < h.n_layer && !st; l++)
        for (int v = 0; v < 2 && !st; v++)
            for (uint32_t i = 0; i < n_ranges && !st; i++) {
                uint64_t off, len;
                mkv_state_kv_range(&h, s->n_ctx, i, &off, &len);
                for (uint64_t done = 0; done < len && !st;) {
                    const uint64_t n = r->mem ? len : (len - done < CHUNK ? len - done : CHUNK);
                    if (!(st = src_get(r, at, n, &p, &e))) {
                        crc2 = mkv_crc32c(crc2, p, (size_t)n);
                        st = mkv_buffer_write(s->d, v ? &s->v_cache[l] : &s->k_cache[l], off + done, p, n, &e);
                    }
                    done += n;
                    at += n;
                }
            }
    if (!st && h.n_prefetch) crc2 = mkv_crc32c(crc2, tokens, 4ull * h.n_prefetch);
    if (!st && crc2 != stored)
        st = mkv_fail(&e, MKV_ERR_CRC, "%s: CRC-32C = 0x%08x on the second read, 0x%08x on the first: changed while it was "
                      "restored", what, crc2, stored);
    mkv_session_drop_prefetch(s);
    if (st) {
        s->pos = 0; /* some rows hold the new state, some the old: nothing is kept */
        free(tokens);
        return mkv_fail(err, st, "%s (the session is empty: position 0)", e.msg);
    }
    s->pos = h.pos;
    if (h.n_prefetch && s->stream) {
        uint32_t *list = mkv_malloc(4ull * h.n_prefetch);
        mkv_error ignored; /* a hint: without memory for it, no prefetch */
        if (list) {
            for (uint32_t i = 0; i < h.n_prefetch; i++) list[i] = mkv_state_le32(tokens + 4ull * i);
            if (mkv_session_prefetch(s, list, h.n_prefetch, &ignored)) mkv_session_drop_prefetch(s);
        }
        free(list);
    }
    free(tokens);
    return MKV_OK;
}

mkv_status mkv_session_restore(mkv_session *s, const void *buf, size_t n, mkv_error *err)
{
    if (!s || (!buf && n)) return mkv_fail(err, MKV_ERR_INVALID_ARG, "restore: session and buf are required");
    static const uint8_t none[1];
    source r = {.mem = buf ? buf : none, .fd = -1, .what = "state", .size = n};
    return restore_from(s, &r, err);
}

mkv_status mkv_session_restore_file(mkv_session *s, const char *path, mkv_error *err)
{
    if (!s || !path) return mkv_fail(err, MKV_ERR_INVALID_ARG, "restore: session and path are required");
    source r = {.fd = -1, .what = path};
    mkv_status st = mkv_open_regular(path, 0, &r.fd, &r.size, err);
    if (st) return st;
    if (!(r.scratch = mkv_malloc(r.size < CHUNK ? (size_t)r.size + 1 : CHUNK))) {
        close(r.fd);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    st = restore_from(s, &r, err);
    free(r.scratch);
    close(r.fd);
    return st;
}
