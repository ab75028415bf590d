/* The whole-prefill A/B of bench --sweep (sweep_check.h).
 *
 * Which tunables a session runs with: every recorder takes the device's
 * (d->tune, mkv_tunables_for) when it begins (runtime/ops.c), and a
 * session begins its recorders at creation (the decode pass; also the
 * attention split, from attn_chunk) and at its first batched prefill (the
 * prefill pass, recorded once and replayed by every later prefill:
 * runtime/session.c, step.c). So d->tune is set to a session's values
 * over its creation and a 2-token warm-up prefill, and put back: the two
 * sessions then share one device and one loaded model, each replaying
 * passes recorded with its own values. Time: wall time of
 * mkv_session_prefill from position 0, as bench's prefill_tok_s. */
#include "sweep_check.h"
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

static mkv_status session_with(mkv_device *d, mkv_model *m, const mkv_tunables *t, uint32_t tokens, uint32_t n_vocab,
                               mkv_session **s, mkv_error *err)
{
    const mkv_tunables saved = d->tune;
    const mkv_session_opts so = {.n_ctx = tokens, .meki_off = true};
    const uint32_t two[2] = {0, 1 % n_vocab};
    d->tune = *t;
    mkv_status st = mkv_session_create(m, &so, s, err);
    if (!st) st = mkv_session_prefill(*s, two, 2, MKV_PREFILL_LAST, NULL, NULL, err);
    d->tune = saved;
    return st;
}

mkv_status mkv_prefill_ab_run(mkv_device *d, mkv_model *m, const mkv_tunables *current, const mkv_tunables *candidate,
                              uint32_t tokens, uint32_t rounds, mkv_progress *prog, mkv_prefill_ab *out, mkv_error *err)
{
    memset(out, 0, sizeof *out);
    if (tokens < 2 || tokens > MKV_MAX_CTX)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "prefill check: %u tokens: must be 2..%u", tokens, MKV_MAX_CTX);
    if (rounds < 1 || rounds > MKV_PREFILL_AB_MAX_ROUNDS)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "prefill check: %u rounds: must be 1..%u", rounds,
                        MKV_PREFILL_AB_MAX_ROUNDS);
    mkv_model_info info;
    mkv_model_get_info(m, &info);
    uint32_t *prompt = malloc((size_t)tokens * sizeof *prompt);
    if (!prompt) return mkv_fail(err, MKV_ERR_NO_MEMORY, "prefill check: out of memory");
    for (uint32_t i = 0; i < tokens; i++) prompt[i] = (i * 7919u + 1) % info.n_vocab; /* distinct tokens, as bench's */
    const mkv_tunables *tune[2] = {current, candidate};
    static const char *const side[2] = {"current", "candidate"};
    mkv_session *s[2] = {NULL, NULL};
    double ms[2][MKV_PREFILL_AB_MAX_ROUNDS];
    mkv_status st = MKV_OK;
    mkv_error e = {0};
    for (int k = 0; k < 2 && !st; k++)
        if ((st = session_with(d, m, tune[k], tokens, info.n_vocab, &s[k], &e)))
            mkv_fail(err, st, "prefill check: a session with the %s values: %s", side[k], e.msg);
    for (uint32_t r = 0; r < rounds && !st; r++)
        for (int i = 0; i < 2 && !st; i++) {
            const int k = r % 2 ? 1 - i : i; /* AB, BA, AB, ... */
            mkv_session_reset(s[k]);
            const double t0 = mkv_now_s();
            if ((st = mkv_session_prefill(s[k], prompt, tokens, MKV_PREFILL_LAST, NULL, NULL, &e))) {
                mkv_fail(err, st, "prefill check: a %u-token prefill with the %s values: %s", tokens, side[k], e.msg);
                break;
            }
            ms[k][r] = (mkv_now_s() - t0) * 1e3;
            if (prog) mkv_progress_add(prog, 1);
        }
    mkv_session_destroy(s[0]);
    mkv_session_destroy(s[1]);
    free(prompt);
    if (st) return st;
    out->tokens = tokens;
    out->rounds = rounds;
    out->current_ms = mkv_median_sort(ms[0], rounds);
    out->candidate_ms = mkv_median_sort(ms[1], rounds);
    out->ratio = out->current_ms > 0 ? out->candidate_ms / out->current_ms : 1.0;
    return MKV_OK;
}
