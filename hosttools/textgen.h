/* Text generation shared by `mekivk generate` and `mekivk chat`: the
 * sampling flags, the tokens that end a generation, and the decode loop
 * (feed tokens, choose the next one, stream its text). */
#ifndef MKV_TEXTGEN_H
#define MKV_TEXTGEN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fileio.h"
#include "mekivk.h"
#include "sampler.h"
#include "tokenizer.h"

/* Help lines of the sampling flags (for --help texts). */
extern const char mkv_tg_sampling_help[];

/* If argv[*i] is a sampling flag (--temp, --top-k, --top-p, --min-p,
 * --repeat-penalty, --repeat-last-n, --seed), parses its value into p
 * (strict: the whole word a number in range; a message naming the flag
 * and value on stderr if not) and returns 1, or -1 on a bad value; 0 if
 * argv[*i] is another flag. *seed_given is set by --seed. */
int mkv_tg_sampling_flag(int argc, char **argv, int *i, mkv_sampler_params *p, bool *seed_given);

/* Strict decimal number (digits, one '.', an exponent; no space, hex,
 * inf or nan) in [lo, hi] (lo excluded when lo_open) for `flag`; false +
 * a message naming the flag and value if not. */
bool mkv_tg_float(const char *flag, const char *s, double lo, bool lo_open, double hi, float *out);

/* A seed for when none is given: from the clock and the process id. */
uint64_t mkv_tg_random_seed(void);

/* Tokens that end a generation: the tokenizer's eos and whichever of
 * <|im_end|>, <|endoftext|>, <|eot_id|>, <|end_of_text|>, <|eom_id|> the
 * vocabulary has as control tokens. */
typedef struct mkv_tg_eog {
    uint32_t n;
    uint32_t ids[8];
} mkv_tg_eog;
void mkv_tg_eog_init(mkv_tg_eog *e, const mkv_tokenizer *t);
bool mkv_tg_is_eog(const mkv_tg_eog *e, uint32_t id);

/* The decode loop's state. The caller fills the fields marked (in) and
 * zeroes the rest. */
typedef struct mkv_tg {
    mkv_session *s;             /* (in) */
    mkv_sampler *smp;           /* (in) */
    uint32_t n_vocab;           /* (in) */
    uint32_t n_ctx;             /* (in) the session's context length */
    float *logits;              /* (in) n_vocab floats */
    int logits_fd;              /* (in) --logits-out: every step's row written there; -1: none */
    const char *logits_path;    /* (in) for messages */
    volatile sig_atomic_t *stop;/* (in) set by a signal handler: stop generating; NULL: never */
    double feed_s, gen_s;       /* time spent feeding prompts, generating (fed-back steps) */
    uint64_t n_fed, n_gen_fed;  /* steps of each kind */
} mkv_tg;

/* Steps toks[0..n) (n >= 1) at the session's next positions, each
 * accepted into the sampler's history, and chooses the token after the
 * last into *next (the GPU argmax when the sampler needs no logits).
 * MKV_ERR_CONTEXT_FULL (nothing stepped) if the n tokens do not fit. */
mkv_status mkv_tg_feed(mkv_tg *g, const uint32_t *toks, uint32_t n, uint32_t *next, mkv_error *err);

/* Why a generation stopped. */
typedef enum mkv_tg_stop {
    MKV_TG_LENGTH,    /* max tokens reached */
    MKV_TG_END,       /* an end-of-generation token (not printed, not in out) */
    MKV_TG_INTERRUPT, /* *g->stop was set */
    MKV_TG_CONTEXT,   /* the context is full */
} mkv_tg_stop;
const char *mkv_tg_stop_name(mkv_tg_stop s); /* "length", "end", "interrupt", "context" */

/* Generates from `first` (the token mkv_tg_feed chose): appends it and
 * the tokens after it to out[0..) (up to max), each but the last fed back;
 * stops at a token in eog (NULL: none; the token is not appended), when
 * *g->stop is set, or when the context is full. ds: each token's text is
 * written to `print` as it comes (flushed) when both are given. *n_out:
 * tokens in out; *pending: the last token chosen and not fed (the eog
 * token, or out's last), MKV_TOKEN_NONE when none. */
mkv_status mkv_tg_generate(mkv_tg *g, uint32_t first, uint32_t max, const mkv_tg_eog *eog, mkv_detok_stream *ds,
                           FILE *print, uint32_t *out, uint32_t *n_out, uint32_t *pending, mkv_tg_stop *why,
                           mkv_error *err);

#endif
