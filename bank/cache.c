/* Sampled-LFU slab cache; the policy and its rationale are in cache.h. */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define SAMPLE 8 /* entries compared per eviction: enough to nearly always find a cold one */

struct mkv_slab_cache {
    uint32_t slab_bytes, n_vocab, cap, n;
    uint8_t *data;         /* cap slabs */
    uint32_t *entry_token; /* token held by each entry */
    int32_t *entry_of;     /* per token: its entry, or -1 */
    uint16_t *uses;        /* per token: saturating use counter */
    uint64_t rng;
};

mkv_status mkv_slab_cache_create(uint64_t budget_bytes, uint32_t slab_bytes, uint32_t n_vocab,
                                 mkv_slab_cache **out, mkv_error *err)
{
    *out = NULL;
    uint64_t cap = slab_bytes ? budget_bytes / slab_bytes : 0;
    if (cap > n_vocab) cap = n_vocab; /* more entries than tokens is waste */
    if (cap == 0) return MKV_OK;
    mkv_slab_cache *c = mkv_calloc(1, sizeof *c);
    if (!c) return mkv_fail(err, MKV_ERR_NO_MEMORY, "bank cache: out of memory");
    c->slab_bytes = slab_bytes;
    c->n_vocab = n_vocab;
    c->cap = (uint32_t)cap;
    c->rng = 0x9E3779B97F4A7C15ull;
    c->data = mkv_malloc(cap * slab_bytes);
    c->entry_token = mkv_malloc(cap * sizeof *c->entry_token);
    c->entry_of = mkv_malloc((size_t)n_vocab * sizeof *c->entry_of);
    c->uses = mkv_calloc(n_vocab, sizeof *c->uses);
    if (!c->data || !c->entry_token || !c->entry_of || !c->uses) {
        mkv_slab_cache_destroy(c);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "bank cache: %llu bytes: out of memory",
                        (unsigned long long)(cap * slab_bytes));
    }
    memset(c->entry_of, 0xff, (size_t)n_vocab * sizeof *c->entry_of);
    *out = c;
    return MKV_OK;
}

void mkv_slab_cache_destroy(mkv_slab_cache *c)
{
    if (!c) return;
    free(c->data);
    free(c->entry_token);
    free(c->entry_of);
    free(c->uses);
    free(c);
}

const void *mkv_slab_cache_lookup(mkv_slab_cache *c, uint32_t token)
{
    if (!c || token >= c->n_vocab) return NULL;
    if (c->uses[token] == UINT16_MAX)
        for (uint32_t t = 0; t < c->n_vocab; t++) c->uses[t] >>= 1; /* ageing */
    c->uses[token]++;
    int32_t e = c->entry_of[token];
    return e < 0 ? NULL : c->data + (uint64_t)e * c->slab_bytes;
}

static uint32_t next_rand(mkv_slab_cache *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (uint32_t)(c->rng >> 32);
}

void mkv_slab_cache_offer(mkv_slab_cache *c, uint32_t token, const void *slab)
{
    if (!c || token >= c->n_vocab || c->entry_of[token] >= 0) return;
    uint32_t e;
    if (c->n < c->cap) {
        e = c->n++;
    } else {
        e = next_rand(c) % c->cap;
        for (int i = 1; i < SAMPLE; i++) {
            uint32_t k = next_rand(c) % c->cap;
            if (c->uses[c->entry_token[k]] < c->uses[c->entry_token[e]]) e = k;
        }
        if (c->uses[token] <= c->uses[c->entry_token[e]]) return; /* not more popular: keep the resident */
        c->entry_of[c->entry_token[e]] = -1;
    }
    c->entry_token[e] = token;
    c->entry_of[token] = (int32_t)e;
    memcpy(c->data + (uint64_t)e * c->slab_bytes, slab, c->slab_bytes);
}

uint32_t mkv_slab_cache_capacity(const mkv_slab_cache *c) { return c ? c->cap : 0; }
uint32_t mkv_slab_cache_size(const mkv_slab_cache *c) { return c ? c->n : 0; }
