/* Hot-row cache: whole slabs of frequent tokens kept in RAM within a byte
 * budget, so the commonest tokens never touch storage. Token frequencies in
 * text follow Zipf's law (a few hundred ids make up half of all tokens), so
 * the policy keeps what is used *often*, not what was used *last*: every
 * lookup counts a use of the token; a slab read from storage is admitted
 * while there is room, and afterwards only if its token has been used more
 * often than the least-used of a small random sample of cached entries,
 * which it then replaces (sampled LFU with frequency admission). Counters
 * are halved when one saturates, so old popularity fades.
 * Not thread-safe: the caller serializes access. */
#ifndef MKV_BANK_CACHE_H
#define MKV_BANK_CACHE_H

#include <stdint.h>

#include "mekivk.h"

typedef struct mkv_slab_cache mkv_slab_cache;

/* budget_bytes / slab_bytes entries; a budget smaller than one slab gives
 * *out = NULL, which every function below accepts as "no cache". */
mkv_status mkv_slab_cache_create(uint64_t budget_bytes, uint32_t slab_bytes, uint32_t n_vocab,
                                 mkv_slab_cache **out, mkv_error *err);
void mkv_slab_cache_destroy(mkv_slab_cache *c);

/* Counts one use of token (< n_vocab) and returns its cached slab, or NULL. */
const void *mkv_slab_cache_lookup(mkv_slab_cache *c, uint32_t token);
/* Offers token's freshly read slab (slab_bytes); copied in if admitted. */
void mkv_slab_cache_offer(mkv_slab_cache *c, uint32_t token, const void *slab);
/* Entries the budget holds, and entries in use. */
uint32_t mkv_slab_cache_capacity(const mkv_slab_cache *c);
uint32_t mkv_slab_cache_size(const mkv_slab_cache *c);

#endif
