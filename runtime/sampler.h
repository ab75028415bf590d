/* Choosing the next token from a row of logits: repeat penalty, top-k,
 * top-p, min-p, temperature and a seeded draw. Host-only; its state (the
 * PRNG and the recent tokens) is apart from any session, so one sampler
 * per conversation, any number per session.
 *
 * The chain is llama.cpp's default order, each stage on what the one
 * before it left:
 *   1. repeat penalty: every distinct token among the last repeat_last_n
 *      accepted ones gets its logit divided by repeat_penalty when it is
 *      positive, multiplied by it otherwise (llama.cpp's rule);
 *   2. top-k: the k largest logits;
 *   3. top-p: the fewest largest whose probabilities (softmax at
 *      temperature 1 over what is left) sum to at least top_p;
 *   4. min-p: those whose probability is at least min_p times the largest's
 *      (l >= l_max + ln(min_p));
 *   5. temperature: one token drawn with probability softmax(l / T) over
 *      what is left, by the inverse CDF of a uniform double (53 bits) from
 *      xoshiro256** seeded through splitmix64, walking the candidates in
 *      the order the filters leave them (the largest first; a fixed
 *      function of the logits).
 * Ties at a cut are kept: top-k keeps every token whose logit equals the
 * k-th largest, top-p every token equal to the last one it needed; the
 * result is never arbitrary in which of equal tokens survives.
 * temperature 0 is greedy: the largest logit after the penalty (the lowest
 * id among equals), no draw; without a penalty (repeat_penalty 1) a caller
 * can take the session's GPU argmax instead and read no logits
 * (mkv_sampler_needs_logits).
 *
 * Same seed, same logits -> same tokens on every machine: the PRNG is
 * integer arithmetic and the probabilities are computed in double with
 * exp() in one fixed order (libms agree to the last bit on all but
 * vanishingly rare arguments, and a draw changes only when the uniform
 * falls within that last bit of a boundary). */
#ifndef MKV_SAMPLER_H
#define MKV_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "mekivk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mkv_sampler_params {
    float temperature;      /* >= 0; 0: greedy (default) */
    uint32_t top_k;         /* 0: off (default) */
    float top_p;            /* in (0, 1]; 1: off (default) */
    float min_p;            /* in [0, 1]; 0: off (default) */
    float repeat_penalty;   /* > 0; 1: off (default) */
    uint32_t repeat_last_n; /* tokens the penalty looks back over (default 64) */
    uint64_t seed;          /* PRNG seed (default 0) */
} mkv_sampler_params;

typedef struct mkv_sampler mkv_sampler;

/* temperature 0, top_k 0, top_p 1, min_p 0, repeat_penalty 1,
 * repeat_last_n 64, seed 0. */
void mkv_sampler_params_default(mkv_sampler_params *p);

/* Checks p (MKV_ERR_INVALID_ARG naming the field and value: NaN, out of
 * range) and makes a sampler for rows of n_vocab logits (>= 1). */
mkv_status mkv_sampler_create(const mkv_sampler_params *p, uint32_t n_vocab, mkv_sampler **out, mkv_error *err);
void mkv_sampler_free(mkv_sampler *s);

/* Whether mkv_sampler_sample needs the logits: false only when greedy
 * without a penalty, where the session's argmax is the answer (pass
 * logits = NULL to mkv_session_step, so nothing is read back). */
bool mkv_sampler_needs_logits(const mkv_sampler *s);

/* Draws the next token from logits[0..n_vocab) (not changed). NaN or +inf
 * in the row, or a row that is -inf everywhere, is MKV_ERR_INVALID_ARG
 * naming the index and value. The token is not accepted: call
 * mkv_sampler_accept for every token the model is fed. */
mkv_status mkv_sampler_sample(mkv_sampler *s, const float *logits, uint32_t *token, mkv_error *err);

/* Appends a token to the history the repeat penalty looks at (prompt
 * tokens too, as llama.cpp does); MKV_ERR_TOKEN_RANGE if >= n_vocab. */
mkv_status mkv_sampler_accept(mkv_sampler *s, uint32_t token, mkv_error *err);

/* Empties the history (the PRNG goes on). */
void mkv_sampler_clear_history(mkv_sampler *s);
/* Restarts the PRNG from seed (the history stays). */
void mkv_sampler_reseed(mkv_sampler *s, uint64_t seed);

/* The sampler's PRNG alone, for tests and tools: xoshiro256** seeded by
 * splitmix64(seed). */
typedef struct mkv_rng {
    uint64_t s[4];
} mkv_rng;
void mkv_rng_seed(mkv_rng *r, uint64_t seed);
uint64_t mkv_rng_next(mkv_rng *r);
/* Uniform in [0, 1): the top 53 bits of mkv_rng_next / 2^53. */
double mkv_rng_uniform(mkv_rng *r);

/* The probabilities the sampler would draw from, for tests: fills
 * probs[0..n_vocab) (0 for tokens cut) after stages 1-4 and the softmax at
 * the temperature (greedy: 1 for the chosen token). Draws nothing. */
mkv_status mkv_sampler_probs(mkv_sampler *s, const float *logits, double *probs, mkv_error *err);

#ifdef __cplusplus
}
#endif
#endif /* MKV_SAMPLER_H */
