/* Text generation shared by generate and chat (textgen.h). */
#include "textgen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"

const char mkv_tg_sampling_help[] =
    "sampling (greedy, on the GPU, unless --temp > 0 or --repeat-penalty != 1; the order is\n"
    "llama.cpp's: penalty, top-k, top-p, min-p, then the temperature and a seeded draw):\n"
    "  --temp T            temperature, 0..100 (default 0: greedy, the GPU's argmax)\n"
    "  --top-k K           keep the K largest logits (and ties with the K-th); 0: off (default)\n"
    "  --top-p P           keep the fewest largest whose probability sums to >= P, in (0, 1]\n"
    "                      (default 1: off)\n"
    "  --min-p P           keep tokens with probability >= P x the largest's, 0..1 (default 0)\n"
    "  --repeat-penalty R  logits of tokens among the last --repeat-last-n: positive ones\n"
    "                      divided by R, negative ones multiplied, (0, 100] (default 1: off)\n"
    "  --repeat-last-n N   the penalty's window, 0..1048576 tokens (default 64)\n"
    "  --seed S            PRNG seed, 0..2^64-1: the same seed gives the same text (default:\n"
    "                      from the clock, printed with --json)\n";

bool mkv_tg_float(const char *flag, const char *s, double lo, bool lo_open, double hi, float *out)
{
    bool ok = s && *s;
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-';
    double v = 0;
    if (ok) {
        char *end;
        v = strtod(s, &end);
        ok = end != s && *end == '\0' && isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
    }
    if (!ok) {
        fprintf(stderr, "mekivk: %s = '%s': not a number in %c%g, %g]\n", flag, s ? s : "", lo_open ? '(' : '[', lo,
                hi);
        return false;
    }
    *out = (float)v;
    return true;
}

int mkv_tg_sampling_flag(int argc, char **argv, int *i, mkv_sampler_params *p, bool *seed_given)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "--temp") && strcmp(a, "--top-k") && strcmp(a, "--top-p") && strcmp(a, "--min-p") &&
        strcmp(a, "--repeat-penalty") && strcmp(a, "--repeat-last-n") && strcmp(a, "--seed"))
        return 0;
    if (!(v = cli_value(argc, argv, i))) return -1;
    bool ok;
    if (!strcmp(a, "--temp")) ok = mkv_tg_float(a, v, 0, false, 100, &p->temperature);
    else if (!strcmp(a, "--top-k")) ok = cli_u32(a, v, 0, UINT32_MAX, &p->top_k);
    else if (!strcmp(a, "--top-p")) ok = mkv_tg_float(a, v, 0, true, 1, &p->top_p);
    else if (!strcmp(a, "--min-p")) ok = mkv_tg_float(a, v, 0, false, 1, &p->min_p);
    else if (!strcmp(a, "--repeat-penalty")) ok = mkv_tg_float(a, v, 0, true, 100, &p->repeat_penalty);
    else if (!strcmp(a, "--repeat-last-n")) ok = cli_u32(a, v, 0, 1u << 20, &p->repeat_last_n);
    else {
        ok = cli_u64(a, v, &p->seed);
        *seed_given = true;
    }
    return ok ? 1 : -1;
}

uint64_t mkv_tg_random_seed(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t x = (uint64_t)t.tv_sec * 1000000007ull ^ (uint64_t)t.tv_nsec ^ ((uint64_t)getpid() << 40);
    /* one splitmix64 round: nearby clocks give unrelated seeds */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void mkv_tg_eog_init(mkv_tg_eog *e, const mkv_tokenizer *t)
{
    static const char *const names[] = {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"};
    e->n = 0;
    uint32_t eos = mkv_tokenizer_eos(t);
    if (eos != MKV_TOKEN_NONE) e->ids[e->n++] = eos;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        uint32_t id = mkv_token_lookup(t, names[i], strlen(names[i]));
        if (id == MKV_TOKEN_NONE || mkv_token_type_of(t, id) != MKV_TOKEN_CONTROL || mkv_tg_is_eog(e, id)) continue;
        e->ids[e->n++] = id;
    }
}

bool mkv_tg_is_eog(const mkv_tg_eog *e, uint32_t id)
{
    for (uint32_t i = 0; e && i < e->n; i++)
        if (e->ids[i] == id) return true;
    return false;
}

const char *mkv_tg_stop_name(mkv_tg_stop s)
{
    switch (s) {
    case MKV_TG_LENGTH: return "length";
    case MKV_TG_END: return "end";
    case MKV_TG_INTERRUPT: return "interrupt";
    case MKV_TG_CONTEXT: return "context";
    }
    return "?";
}

/* One step of token tok; the logits are read when asked or written out. */
static mkv_status step(mkv_tg *g, uint32_t tok, bool want_logits, uint32_t *argmax, mkv_error *err)
{
    mkv_status st;
    bool read = want_logits || g->logits_fd >= 0;
    TRY(mkv_session_step(g->s, tok, read ? g->logits : NULL, argmax, err));
    TRY(mkv_sampler_accept(g->smp, tok, err));
    if (g->logits_fd >= 0)
        TRY(mkv_write_full(g->logits_fd, g->logits, (uint64_t)g->n_vocab * sizeof(float), g->logits_path, err));
    return MKV_OK;
}

/* The token after the last step. */
static mkv_status choose(mkv_tg *g, uint32_t argmax, uint32_t *next, mkv_error *err)
{
    if (!mkv_sampler_needs_logits(g->smp)) {
        *next = argmax;
        return MKV_OK;
    }
    return mkv_sampler_sample(g->smp, g->logits, next, err);
}

mkv_status mkv_tg_feed(mkv_tg *g, const uint32_t *toks, uint32_t n, uint32_t *next, mkv_error *err)
{
    mkv_status st;
    if (!n) return mkv_fail(err, MKV_ERR_INVALID_ARG, "nothing to feed: the prompt has no tokens");
    uint32_t pos = mkv_session_pos(g->s);
    if (n > g->n_ctx || pos > g->n_ctx - n)
        return mkv_fail(err, MKV_ERR_CONTEXT_FULL,
                        "%u tokens at position %u: the context holds %u positions (%u left)", n, pos, g->n_ctx,
                        g->n_ctx - pos);
    double t0 = mkv_now_s();
    /* One batched prefill (mkv_session_prefill); with --logits-out, every
     * position's logits, a piece of the prompt at a time. */
    uint32_t am = 0;
    if (g->logits_fd < 0) {
        bool want = mkv_sampler_needs_logits(g->smp);
        TRY(mkv_session_prefill(g->s, toks, n, MKV_PREFILL_LAST, want ? g->logits : NULL, &am, err));
    } else {
        enum { PIECE = 32 };
        float *all = malloc((size_t)PIECE * g->n_vocab * sizeof(float));
        if (!all) return mkv_fail(err, MKV_ERR_NO_MEMORY, "prompt logits: out of memory");
        st = MKV_OK;
        for (uint32_t i = 0; i < n && !st; i += PIECE) {
            const uint32_t k = n - i < PIECE ? n - i : PIECE;
            st = mkv_session_prefill(g->s, toks + i, k, MKV_PREFILL_ALL, all, &am, err);
            if (!st) st = mkv_write_full(g->logits_fd, all, (uint64_t)k * g->n_vocab * sizeof(float), g->logits_path, err);
            if (!st && i + k == n) memcpy(g->logits, all + (size_t)(k - 1) * g->n_vocab, (size_t)g->n_vocab * sizeof(float));
        }
        free(all);
        if (st) return st;
    }
    for (uint32_t i = 0; i < n; i++) TRY(mkv_sampler_accept(g->smp, toks[i], err));
    TRY(choose(g, am, next, err));
    g->feed_s += mkv_now_s() - t0;
    g->n_fed += n;
    return MKV_OK;
}

mkv_status mkv_tg_generate(mkv_tg *g, uint32_t first, uint32_t max, const mkv_tg_eog *eog, mkv_detok_stream *ds,
                           FILE *print, uint32_t *out, uint32_t *n_out, uint32_t *pending, mkv_tg_stop *why,
                           mkv_error *err)
{
    mkv_status st = MKV_OK;
    uint32_t tok = first, n = 0;
    double t0 = mkv_now_s();
    *why = MKV_TG_LENGTH;
    *pending = MKV_TOKEN_NONE;
    while (n < max) {
        if (mkv_tg_is_eog(eog, tok)) {
            *why = MKV_TG_END;
            *pending = tok;
            break;
        }
        out[n++] = tok;
        *pending = tok;
        if (ds && print) {
            const char *text;
            size_t len;
            if ((st = mkv_detok_stream_push(ds, tok, &text, &len, err))) break;
            fwrite(text, 1, len, print);
            fflush(print);
        }
        if (n == max) break;
        if (g->stop && *g->stop) {
            *why = MKV_TG_INTERRUPT;
            break;
        }
        if (mkv_session_pos(g->s) >= g->n_ctx) { /* tok stays pending */
            *why = MKV_TG_CONTEXT;
            break;
        }
        uint32_t am = 0;
        if ((st = step(g, tok, mkv_sampler_needs_logits(g->smp), &am, err))) break;
        *pending = MKV_TOKEN_NONE;
        g->n_gen_fed++;
        if ((st = choose(g, am, &tok, err))) break;
        *pending = tok;
    }
    if (ds && print) {
        const char *text;
        size_t len;
        mkv_detok_stream_flush(ds, &text, &len);
        fwrite(text, 1, len, print);
        fflush(print);
    }
    g->gen_s += mkv_now_s() - t0;
    *n_out = n;
    return st;
}
