/* Reader threads, slot ring and cache behind one mutex; see stream.h.
 * Slot life: FREE -> PENDING (queued or being read) -> READY | FAILED ->
 * FREE when its last reference is released. Only the reader that took a
 * PENDING slot writes its memory; the caller reads it after wait(). */
#include "stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cache.h"
#include "clock.h"
#include "error.h"

enum { SLOT_FREE, SLOT_PENDING, SLOT_READY, SLOT_FAILED };

typedef struct slot {
    uint32_t token, refs;
    int state;
    mkv_status status; /* SLOT_FAILED: the read's error */
    char msg[sizeof(((mkv_error *)0)->msg)];
} slot;

struct mkv_bank_stream {
    mkv_bank *bank;
    uint32_t slab_bytes, n_vocab, n_slots, n_threads, n_started;
    uint8_t *mem;
    slot *slots;
    uint32_t *queue, q_head, q_len; /* FIFO of PENDING slots not yet taken by a reader */
    mkv_slab_cache *cache;
    mkv_stream_stats stats;
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
};

static void *reader_main(void *arg)
{
    mkv_bank_stream *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->stop && st->q_len == 0) pthread_cond_wait(&st->work, &st->mu);
        if (st->stop) break;
        uint32_t i = st->queue[st->q_head];
        st->q_head = (st->q_head + 1) % st->n_slots;
        st->q_len--;
        uint32_t token = st->slots[i].token;
        pthread_mutex_unlock(&st->mu);

        mkv_error e = {0};
        const double t0 = mkv_now_ms();
        mkv_status s = mkv_bank_read_slab(st->bank, token, st->mem + (uint64_t)i * st->slab_bytes, &e);
        const double dt = mkv_now_ms() - t0;

        pthread_mutex_lock(&st->mu);
        slot *sl = &st->slots[i];
        if (s == MKV_OK) {
            sl->state = SLOT_READY;
            st->stats.bytes_read += st->slab_bytes;
            st->stats.read_ms += dt;
            mkv_slab_cache_offer(st->cache, token, st->mem + (uint64_t)i * st->slab_bytes);
        } else {
            sl->state = SLOT_FAILED;
            sl->status = s;
            memcpy(sl->msg, e.msg, sizeof sl->msg);
        }
        if (sl->refs == 0) sl->state = SLOT_FREE; /* released while in flight */
        pthread_cond_broadcast(&st->done);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

mkv_status mkv_stream_create(mkv_bank *bank, const mkv_stream_opts *o, uint8_t *slots, mkv_bank_stream **out,
                             mkv_error *err)
{
    *out = NULL;
    if (!bank || !o || !slots || o->n_slots == 0 || o->n_threads == 0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank stream: a bank, slot memory, n_slots >= 1 and n_threads >= 1 are required");
    const mkv_bank_header *h = mkv_bank_info(bank);
    mkv_bank_stream *st = mkv_calloc(1, sizeof *st);
    if (!st) return mkv_fail(err, MKV_ERR_NO_MEMORY, "bank stream: out of memory");
    st->bank = bank;
    st->slab_bytes = h->slab_bytes;
    st->n_vocab = h->n_vocab;
    st->n_slots = o->n_slots;
    st->n_threads = o->n_threads;
    st->mem = slots;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->work, NULL);
    pthread_cond_init(&st->done, NULL);
    st->slots = mkv_calloc(o->n_slots, sizeof *st->slots);
    st->queue = mkv_calloc(o->n_slots, sizeof *st->queue);
    st->threads = mkv_calloc(o->n_threads, sizeof *st->threads);
    mkv_status s = MKV_OK;
    if (!st->slots || !st->queue || !st->threads) s = mkv_fail(err, MKV_ERR_NO_MEMORY, "bank stream: out of memory");
    if (!s) s = mkv_slab_cache_create(o->cache_bytes, h->slab_bytes, h->n_vocab, &st->cache, err);
    for (uint32_t i = 0; !s && i < o->n_threads; i++) {
        if (pthread_create(&st->threads[i], NULL, reader_main, st) != 0)
            s = mkv_fail(err, MKV_ERR_NO_MEMORY, "bank stream: cannot start reader thread %u of %u", i + 1, o->n_threads);
        else
            st->n_started++;
    }
    if (s) {
        mkv_stream_destroy(st);
        return s;
    }
    *out = st;
    return MKV_OK;
}

void mkv_stream_destroy(mkv_bank_stream *st)
{
    if (!st) return;
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_broadcast(&st->work);
    pthread_mutex_unlock(&st->mu);
    for (uint32_t i = 0; i < st->n_started; i++) pthread_join(st->threads[i], NULL);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->work);
    pthread_cond_destroy(&st->done);
    mkv_slab_cache_destroy(st->cache);
    free(st->slots);
    free(st->queue);
    free(st->threads);
    free(st);
}

mkv_status mkv_stream_request(mkv_bank_stream *st, uint32_t token, uint32_t *out, mkv_error *err)
{
    *out = MKV_STREAM_NO_SLOT;
    if (token >= st->n_vocab)
        return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "%s: token = %u: not below n_vocab %u", mkv_bank_path(st->bank), token,
                        st->n_vocab);
    pthread_mutex_lock(&st->mu);
    uint32_t free_slot = MKV_STREAM_NO_SLOT;
    for (uint32_t i = 0; i < st->n_slots; i++) {
        slot *sl = &st->slots[i];
        if ((sl->state == SLOT_PENDING || sl->state == SLOT_READY) && sl->token == token && sl->refs > 0) {
            sl->refs++;
            st->stats.shared++;
            (void)mkv_slab_cache_lookup(st->cache, token); /* still a use of the token */
            *out = i;
            goto out;
        }
        if (sl->state == SLOT_FREE && free_slot == MKV_STREAM_NO_SLOT) free_slot = i;
    }
    if (free_slot == MKV_STREAM_NO_SLOT) goto out;
    slot *sl = &st->slots[free_slot];
    sl->token = token;
    sl->refs = 1;
    const void *hot = mkv_slab_cache_lookup(st->cache, token);
    if (hot) {
        memcpy(st->mem + (uint64_t)free_slot * st->slab_bytes, hot, st->slab_bytes);
        sl->state = SLOT_READY;
        st->stats.cache_hits++;
    } else {
        sl->state = SLOT_PENDING;
        st->queue[(st->q_head + st->q_len) % st->n_slots] = free_slot;
        st->q_len++;
        st->stats.cache_misses++;
        st->stats.reads++;
        pthread_cond_signal(&st->work);
    }
    *out = free_slot;
out:
    pthread_mutex_unlock(&st->mu);
    return MKV_OK;
}

mkv_status mkv_stream_wait(mkv_bank_stream *st, uint32_t i, mkv_error *err)
{
    if (i >= st->n_slots) return mkv_fail(err, MKV_ERR_INVALID_ARG, "bank stream: slot %u of %u", i, st->n_slots);
    pthread_mutex_lock(&st->mu);
    while (st->slots[i].state == SLOT_PENDING) pthread_cond_wait(&st->done, &st->mu);
    mkv_status s = MKV_OK;
    if (st->slots[i].state == SLOT_FAILED) s = mkv_fail(err, st->slots[i].status, "%s", st->slots[i].msg);
    pthread_mutex_unlock(&st->mu);
    return s;
}

void mkv_stream_release(mkv_bank_stream *st, uint32_t i)
{
    if (i >= st->n_slots) return;
    pthread_mutex_lock(&st->mu);
    slot *sl = &st->slots[i];
    if (sl->refs > 0 && --sl->refs == 0 && sl->state != SLOT_PENDING) sl->state = SLOT_FREE;
    pthread_mutex_unlock(&st->mu);
}

uint8_t *mkv_stream_slot_data(const mkv_bank_stream *st, uint32_t i) { return st->mem + (uint64_t)i * st->slab_bytes; }

void mkv_stream_get_stats(mkv_bank_stream *st, mkv_stream_stats *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    pthread_mutex_unlock(&st->mu);
}

uint32_t mkv_stream_cache_capacity(const mkv_bank_stream *st) { return mkv_slab_cache_capacity(st->cache); }
