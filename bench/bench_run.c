/* mekivk bench's measurement: the modes (dense, and MeKi with a bank)
 * alternating over repetitions of prompts and decode, medians and their
 * ratio, the profiled passes' per-kernel GPU times and their breakdown by
 * component (profile.c), decode at every --ctx length; the model loaded
 * once. bench_print.c reports what this finds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_alone.h"
#include "bench_run.h"
#include "error.h"
#include "progress.h"
#include "stats.h"

#define PROFILE_STEPS 7
#define PROFILE_PREFILL_REPS 3

/* A mode's prompts: for each length, n tokens from position 0 in one
 * batched prefill (distinct tokens: every slab read); leaves the session
 * at position ctx with the next token in *tok. */
static mkv_status run_prompt(mode_run *r, uint32_t rep, const uint32_t *n_prompt, uint32_t n_prompts, uint32_t ctx,
                             uint32_t n_vocab, uint32_t *tok, mkv_error *err)
{
    mkv_status st;
    static uint32_t prompt[MAX_PROMPT];
    for (uint32_t k = 0; k < n_prompts; k++) {
        mkv_session_reset(r->s);
        for (uint32_t i = 0; i < n_prompt[k]; i++) prompt[i] = (i * 7919u + 1 + 131u * rep) % n_vocab;
        mkv_session_stats a, b;
        mkv_session_get_stats(r->s, &a);
        double t0 = mkv_now_s();
        if ((st = mkv_session_prefill(r->s, prompt, n_prompt[k], MKV_PREFILL_LAST, NULL, tok, err))) return st;
        r->prefill[k][rep] = n_prompt[k] / (mkv_now_s() - t0);
        mkv_session_get_stats(r->s, &b);
        r->prefill_stall[k][rep] = b.bank_stall_ms - a.bank_stall_ms;
    }
    *tok = 1 % n_vocab;
    return mkv_session_seek(r->s, ctx, err);
}

/* n greedy tokens of a mode from where it stands; adds their time to *secs. */
static mkv_status run_block(mode_run *r, uint32_t n, uint32_t *tok, double *secs, mkv_error *err)
{
    mkv_status st;
    double t0 = mkv_now_s();
    for (uint32_t i = 0; i < n; i++) {
        if ((st = mkv_session_step(r->s, *tok, NULL, tok, err))) return st;
        if (!r->stall_us) continue;
        mkv_session_stats ss;
        mkv_session_get_stats(r->s, &ss);
        r->window_us[r->n_stall] = ss.last_window_us;
        r->stall_us[r->n_stall++] = ss.last_stall_us;
    }
    *secs += mkv_now_s() - t0;
    return MKV_OK;
}

/* One repetition: every mode's prompt (n_prompts 0: none, the session
 * only moved to ctx), then n tokens per mode from position ctx, the modes
 * taking turns every `block` tokens (0: all n at once), in the order
 * given. Each mode's decode speed is its n tokens over the time its own
 * turns took. */
static mkv_status run_rep(mode_run *runs, const uint32_t *order, uint32_t n_modes, uint32_t rep, const uint32_t *n_prompt,
                          uint32_t n_prompts, uint32_t ctx, uint32_t n, uint32_t block, uint32_t n_vocab, mkv_error *err)
{
    mkv_status st;
    uint32_t tok[2];
    double secs[2] = {0, 0};
    for (uint32_t k = 0; k < n_modes; k++) {
        tok[order[k]] = 1 % n_vocab;
        if (n_prompts) st = run_prompt(&runs[order[k]], rep, n_prompt, n_prompts, ctx, n_vocab, &tok[order[k]], err);
        else st = mkv_session_seek(runs[order[k]].s, ctx, err);
        if (st) return st;
    }
    if (block == 0) block = n;
    for (uint32_t done = 0; done < n; done += block) {
        uint32_t len = n - done < block ? n - done : block;
        for (uint32_t k = 0; k < n_modes; k++)
            if ((st = run_block(&runs[order[k]], len, &tok[order[k]], &secs[order[k]], err))) return st;
    }
    for (uint32_t m = 0; m < n_modes; m++) runs[m].decode[rep] = n / secs[m];
    return MKV_OK;
}

/* The profiled passes a figure is taken from: the middle ones by GPU time
 * (n / 3 dropped at each end: 3 of 7 steps, 1 of 3 prefills), so that a
 * pass slowed by the machine does not count, and averaged, so that the
 * figures add up: the components sum to the GPU time, the kernels to it
 * and the wait between a MeKi pass's submissions. Returns how many; idx
 * receives them. */
static uint32_t middle_passes(const double *span, uint32_t n, uint32_t *idx)
{
    for (uint32_t i = 0; i < n; i++) idx[i] = i;
    for (uint32_t i = 1; i < n; i++) /* insertion sort by span: n is small */
        for (uint32_t k = i; k > 0 && span[idx[k]] < span[idx[k - 1]]; k--) {
            const uint32_t t = idx[k];
            idx[k] = idx[k - 1];
            idx[k - 1] = t;
        }
    const uint32_t drop = n / 3, keep = n - 2 * drop;
    memmove(idx, idx + drop, keep * sizeof *idx);
    return keep;
}

static double mean_at(const double *v, const uint32_t *idx, uint32_t k)
{
    double t = 0;
    for (uint32_t i = 0; i < k; i++) t += v[idx[i]];
    return k ? t / k : 0;
}

/* The breakdown of the passes idx[0..k) (middle_passes), averaged and
 * divided by `tokens` (per token); GB/s from the mean bytes and time. */
static void reduce_breakdown(const mkv_breakdown *b, const double *span, const double *wait, const uint32_t *idx, uint32_t k,
                             double tokens, comp_stats *out)
{
    double shared = 0;
    for (uint32_t c = 0; c < MKV_COMP_COUNT; c++) {
        double ms = 0, bytes = 0;
        for (uint32_t i = 0; i < k; i++) {
            ms += b[idx[i]].ms[c] / k;
            bytes += b[idx[i]].bytes[c] / k;
        }
        out->ms[c] = ms / tokens;
        out->gbps[c] = ms > 0 ? bytes / (ms * 1e6) : 0;
    }
    out->unknown = 0;
    for (uint32_t i = 0; i < k; i++) {
        shared += b[idx[i]].shared_ms / k;
        out->unknown = b[idx[i]].unknown > out->unknown ? b[idx[i]].unknown : out->unknown;
    }
    out->shared_ms = shared / tokens;
    out->gpu_ms = mean_at(span, idx, k) / tokens;
    out->wait_ms = mean_at(wait, idx, k) / tokens;
}

static void free_shapes(mkv_pass_shape *shape, uint32_t n)
{
    for (uint32_t m = 0; m < n; m++) mkv_pass_shape_free(&shape[m]);
}

/* Per-kernel GPU time (when want_kernels: the runtime's per-name sums,
 * mkv_session_profile) and the breakdown by component (profile.c), from
 * PROFILE_STEPS decode steps at position ctx (after one warm-up step): the
 * mean of the middle ones by GPU time (middle_passes), so one slow step
 * does not skew it. The modes take turns
 * step by step, so that drift of the machine's speed hits both alike and
 * their times compare. n_ctx: the sessions' (attention's bytes). */
static mkv_status profile_decode(mode_run *runs, uint32_t n_modes, uint32_t ctx, uint32_t n_ctx, uint32_t n_vocab,
                                 bool want_kernels, mkv_error *err)
{
    static double ms[2][MAX_KERNELS][PROFILE_STEPS];
    static mkv_breakdown bd[2][PROFILE_STEPS];
    static double span[2][PROFILE_STEPS], wait[2][PROFILE_STEPS];
    static mkv_pass_profile pp;
    mkv_kernel_time step[MAX_KERNELS];
    mkv_pass_shape shape[2] = {{0}, {0}};
    bool have[2] = {true, true}, complete[2] = {true, true};
    uint32_t tok[2] = {1 % n_vocab, 1 % n_vocab};
    mkv_status st = MKV_OK;
    memset(bd, 0, sizeof bd);
    for (uint32_t m = 0; m < n_modes; m++) {
        if ((st = mkv_pass_shape_of(runs[m].s, &shape[m], err))) goto out;
        shape[m].kv_scale = mkv_profile_kv_scale(ctx, 1, n_ctx);
    }
    for (uint32_t i = 0; i <= PROFILE_STEPS; i++) {
        for (uint32_t m = 0; m < n_modes; m++) {
            mode_run *r = &runs[m];
            if ((st = mkv_session_seek(r->s, ctx, err)) || (st = mkv_session_step(r->s, tok[m], NULL, &tok[m], err)))
                goto out;
            if (i == 0) continue; /* warm-up */
            if (want_kernels) {
                uint32_t n = mkv_session_profile(r->s, step, MAX_KERNELS);
                if (i == 1) {
                    memcpy(r->kernels, step, n * sizeof *step);
                    r->n_kernels = n;
                }
                for (uint32_t k = 0; k < r->n_kernels && k < n; k++) ms[m][k][i - 1] = step[k].ms; /* same kernels, same order */
            }
            if (mkv_profile_read_pass(r->s, false, &pp)) {
                mkv_profile_breakdown(&pp, &shape[m], &bd[m][i - 1]);
                span[m][i - 1] = pp.span_ms;
                wait[m][i - 1] = pp.wait_ms;
                complete[m] &= pp.complete;
            } else {
                have[m] = false;
            }
        }
    }
    for (uint32_t m = 0; m < n_modes; m++) {
        mode_run *r = &runs[m];
        uint32_t idx[PROFILE_STEPS], keep = PROFILE_STEPS;
        for (uint32_t i = 0; i < PROFILE_STEPS; i++) idx[i] = i;
        if (have[m]) keep = middle_passes(span[m], PROFILE_STEPS, idx);
        if (want_kernels)
            for (uint32_t k = 0; k < r->n_kernels; k++) {
                r->kernels[k].ms = mean_at(ms[m][k], idx, keep);
                r->kernels[k].bytes = (uint64_t)mkv_profile_kernel_bytes(r->kernels[k].name, r->kernels[k].bytes, shape[m].kv_scale);
            }
        memset(&r->bd, 0, sizeof r->bd);
        if (!have[m]) continue;
        reduce_breakdown(bd[m], span[m], wait[m], idx, keep, 1, &r->bd);
        r->bd.valid = true;
        r->bd.complete = complete[m];
    }
out:
    free_shapes(shape, n_modes);
    return st;
}

/* The prefill breakdown (--profile): PROFILE_PREFILL_REPS prefills of P
 * tokens from position 0 per mode, after a warm-up prefill that records
 * the pass, the modes taking turns. Each prefill runs as one
 * mkv_session_prefill would, a pass per `chunk` tokens, here one call per
 * pass so that each pass's timestamps are read; the passes' times summed.
 * The middle prefill by GPU time (middle_passes), per prompt token; per
 * kernel too. */
static mkv_status profile_prefill(mode_run *runs, uint32_t n_modes, uint32_t P, uint32_t chunk, uint32_t n_ctx,
                                  uint32_t n_vocab, mkv_error *err)
{
    static uint32_t prompt[MAX_PROMPT];
    static mkv_breakdown bd[2][PROFILE_PREFILL_REPS];
    static double span[2][PROFILE_PREFILL_REPS], wait[2][PROFILE_PREFILL_REPS];
    static double kms[2][MAX_KERNELS][PROFILE_PREFILL_REPS];
    static double kbytes[2][MAX_KERNELS];
    static mkv_pass_profile pp;
    mkv_pass_shape shape[2] = {{0}, {0}};
    bool have[2] = {true, true}, complete[2] = {true, true};
    mkv_status st = MKV_OK;
    memset(bd, 0, sizeof bd);
    memset(span, 0, sizeof span);
    memset(wait, 0, sizeof wait);
    memset(kms, 0, sizeof kms);
    memset(kbytes, 0, sizeof kbytes);
    for (uint32_t i = 0; i < P; i++) prompt[i] = (i * 7919u + 1) % n_vocab;
    for (uint32_t m = 0; m < n_modes; m++) {
        runs[m].n_pre_kernels = 0;
        if ((st = mkv_pass_shape_of(runs[m].s, &shape[m], err))) goto out;
        const uint32_t two[2] = {0, 1 % n_vocab};
        mkv_session_reset(runs[m].s);
        if ((st = mkv_session_prefill(runs[m].s, two, 2, MKV_PREFILL_LAST, NULL, NULL, err))) goto out;
    }
    for (uint32_t rep = 0; rep < PROFILE_PREFILL_REPS; rep++) {
        for (uint32_t k = 0; k < n_modes; k++) {
            const uint32_t m = rep % 2 ? n_modes - 1 - k : k;
            mode_run *r = &runs[m];
            mkv_session_reset(r->s);
            for (uint32_t pos = 0, len; pos < P; pos += len) {
                len = P - pos < chunk ? P - pos : chunk;
                if ((st = mkv_session_prefill(r->s, prompt + pos, len, MKV_PREFILL_LAST, NULL, NULL, err))) goto out;
                /* one token goes through the decode step (mkv_session_prefill) */
                if (!mkv_profile_read_pass(r->s, len > 1, &pp)) {
                    have[m] = false;
                    continue;
                }
                shape[m].kv_scale = mkv_profile_kv_scale(pos, len, n_ctx);
                mkv_profile_breakdown(&pp, &shape[m], &bd[m][rep]);
                span[m][rep] += pp.span_ms;
                wait[m][rep] += pp.wait_ms;
                complete[m] &= pp.complete;
                for (uint32_t d = 0; d < pp.n; d++) {
                    uint32_t q = 0;
                    while (q < r->n_pre_kernels && strcmp(r->pre_kernels[q].name, pp.d[d].name)) q++;
                    if (q == r->n_pre_kernels) {
                        if (q == MAX_KERNELS) continue;
                        r->pre_kernels[r->n_pre_kernels++] = (mkv_kernel_time){.name = pp.d[d].name};
                    }
                    kms[m][q][rep] += pp.d[d].ms;
                    if (rep == 0) kbytes[m][q] += mkv_profile_kernel_bytes(pp.d[d].name, pp.d[d].bytes, shape[m].kv_scale);
                }
            }
        }
    }
    for (uint32_t m = 0; m < n_modes; m++) {
        mode_run *r = &runs[m];
        memset(&r->pre_bd, 0, sizeof r->pre_bd);
        if (!have[m]) {
            r->n_pre_kernels = 0;
            continue;
        }
        uint32_t idx[PROFILE_PREFILL_REPS];
        const uint32_t keep = middle_passes(span[m], PROFILE_PREFILL_REPS, idx);
        for (uint32_t q = 0; q < r->n_pre_kernels; q++) {
            r->pre_kernels[q].ms = mean_at(kms[m][q], idx, keep) / P;
            r->pre_kernels[q].bytes = (uint64_t)(kbytes[m][q] / P);
        }
        reduce_breakdown(bd[m], span[m], wait[m], idx, keep, P, &r->pre_bd);
        r->pre_bd.valid = true;
        r->pre_bd.complete = complete[m];
    }
out:
    free_shapes(shape, n_modes);
    return st;
}

static void destroy_sessions(mode_run *runs)
{
    for (uint32_t m = 0; m < 2; m++) {
        mkv_session_destroy(runs[m].s);
        runs[m].s = NULL;
    }
}

/* Sessions of every mode with options so (meki_off set per mode). */
static mkv_status create_sessions(mkv_model *model, mkv_session_opts so, mode_run *runs, uint32_t n_modes, mkv_error *err)
{
    for (uint32_t m = 0; m < n_modes; m++) {
        so.meki_off = runs[m].meki_off;
        mkv_status st = mkv_session_create(model, &so, &runs[m].s, err);
        if (st) return st;
    }
    return MKV_OK;
}

/* Medians of a length's decode speeds and the paired ratio. */
static void ctx_medians(ctx_run *c, uint32_t n_modes, uint32_t reps)
{
    for (uint32_t m = 0; m < n_modes; m++) c->med[m] = mkv_median(c->decode[m], reps);
    c->paired = 0;
    if (n_modes == 2) {
        double ratios[MAX_REPS];
        for (uint32_t k = 0; k < reps; k++) ratios[k] = c->decode[0][k] > 0 ? c->decode[1][k] / c->decode[0][k] : 0;
        c->paired = mkv_median(ratios, reps);
    }
}

/* Decode at a further --ctx length: sessions of its own size (as a run of
 * that length alone), the model already loaded; the modes alternate as in
 * the first length's repetitions, without prompts. With --profile, its
 * breakdown from profile sessions of the same size. */
static mkv_status run_length(mkv_model *model, mkv_session_opts so, uint32_t n_modes, uint32_t reps, uint32_t n,
                             uint32_t block, uint32_t n_vocab, bool profile, bool quiet, ctx_run *c, mkv_error *err)
{
    mode_run xr[2] = {{.mode = "dense", .meki_off = true}, {.mode = "meki", .meki_off = false}};
    mkv_status st;
    so.profile = false;
    if ((st = create_sessions(model, so, xr, n_modes, err))) goto out;
    /* warm-up: a step at the length (the cache's pages touched) */
    for (uint32_t m = 0; m < n_modes; m++)
        if ((st = mkv_session_seek(xr[m].s, c->ctx, err)) || (st = mkv_session_step(xr[m].s, 1 % n_vocab, NULL, NULL, err)))
            goto out;
    for (uint32_t rep = 0; rep < reps; rep++) {
        const uint32_t order[2] = {rep % 2 ? n_modes - 1 : 0, rep % 2 ? 0 : 1};
        if ((st = run_rep(xr, order, n_modes, rep, NULL, 0, c->ctx, n, block, n_vocab, err))) goto out;
        for (uint32_t m = 0; m < n_modes; m++) {
            c->decode[m][rep] = xr[m].decode[rep];
            if (!quiet) fprintf(stderr, "ctx %u rep %u/%u %-5s %.2f tok/s\n", c->ctx, rep + 1, reps, xr[m].mode, xr[m].decode[rep]);
        }
    }
    if (profile) {
        destroy_sessions(xr);
        so.profile = true;
        if ((st = create_sessions(model, so, xr, n_modes, err)) ||
            (st = profile_decode(xr, n_modes, c->ctx, so.n_ctx, n_vocab, true, err)))
            goto out;
        for (uint32_t m = 0; m < n_modes; m++) {
            c->bd[m] = xr[m].bd;
            memcpy(c->kernels[m], xr[m].kernels, xr[m].n_kernels * sizeof *xr[m].kernels);
            c->n_kernels[m] = xr[m].n_kernels;
        }
    }
out:
    destroy_sessions(xr);
    return st;
}

mkv_status mkv_bench_measure(mkv_device *dev, mkv_model *model, const bench_opts *o, bench_result *res, mkv_error *err)
{
    memset(res, 0, sizeof *res);
    res->runs[0] = (mode_run){.mode = "dense", .meki_off = true};
    res->runs[1] = (mode_run){.mode = "meki", .meki_off = false};
    res->n_modes = o->bank_path ? 2 : 1;
    mode_run *runs = res->runs;
    const uint32_t n_modes = res->n_modes, n = o->n, reps = o->reps, ctx = o->ctxs[0];
    uint32_t max_prompt = 0;
    for (uint32_t k = 0; k < o->n_prompts; k++) max_prompt = o->n_prompt[k] > max_prompt ? o->n_prompt[k] : max_prompt;
    res->cr = calloc(o->n_ctxs, sizeof *res->cr);
    if (!res->cr) return mkv_fail(err, MKV_ERR_NO_MEMORY, "bench: out of memory");
    mkv_model_get_info(model, &res->info);
    const uint32_t n_vocab = res->info.n_vocab;
    mkv_session_opts so = {.n_ctx = (ctx > max_prompt ? ctx : max_prompt) + n, .kv_type = o->kv_type,
                           .bank_cache_bytes = (uint64_t)o->cache_mb << 20, .bank_threads = o->bank_threads,
                           .bank_sync = o->bank_sync, .prefill_chunk = o->chunk};
    /* the prefill pass's tokens, as the session takes them */
    uint32_t pass_tokens = o->chunk ? o->chunk : 128;
    if (pass_tokens > so.n_ctx) pass_tokens = so.n_ctx;
    for (uint32_t m = 0; m < n_modes; m++) {
        runs[m].stall_us = calloc((size_t)reps * n, sizeof(double));
        runs[m].window_us = calloc((size_t)reps * n, sizeof(double));
        if (!runs[m].stall_us || !runs[m].window_us) return mkv_fail(err, MKV_ERR_NO_MEMORY, "bench: out of memory");
    }
    mkv_status st = create_sessions(model, so, runs, n_modes, err);
    if (st) return st;
    /* The yardstick: the device's streaming-read bandwidth (the probe
     * picks a buffer size that defeats caches). Without it bench still
     * measures, and says why the probe is missing. Beside a CPU device, the
     * host's own read bandwidth too. */
    mkv_error perr = {0};
    if (mkv_device_bandwidth(dev, 0, &res->probe_gbps, &perr)) fprintf(stderr, "mekivk bench: no bandwidth probe: %s\n", perr.msg);
    res->host_gbps = mkv_bench_host_read_gbps(dev, &res->host_threads);
    /* Warm-up: the first prefill records the prefill pass (pipelines built). */
    for (uint32_t m = 0; m < n_modes; m++) {
        const uint32_t two[2] = {0, 1 % n_vocab};
        if ((st = mkv_session_prefill(runs[m].s, two, 2, MKV_PREFILL_LAST, NULL, NULL, err))) return st;
    }
    /* Alternate the modes: every `block` tokens within a repetition, and
     * which goes first (AB, BA, AB, ...) across repetitions, so that machine
     * noise and drift (thermal, page cache, neighbours) hit both alike. */
    for (uint32_t rep = 0; rep < reps; rep++) {
        const uint32_t order[2] = {rep % 2 ? n_modes - 1 : 0, rep % 2 ? 0 : 1};
        if ((st = run_rep(runs, order, n_modes, rep, o->n_prompt, o->n_prompts, ctx, n, o->block, n_vocab, err))) return st;
        if (!o->json)
            for (uint32_t m = 0; m < n_modes; m++)
                fprintf(stderr, "rep %u/%u %-5s %.2f tok/s\n", rep + 1, reps, runs[m].mode, runs[m].decode[rep]);
    }
    /* Kernel times from profiled steps, in a session of its own per mode (a
     * timestamp after every dispatch would slow the timed runs). */
    for (uint32_t m = 0; m < n_modes; m++) mkv_session_get_stats(runs[m].s, &runs[m].stats);
    destroy_sessions(runs);
    so.profile = true;
    if ((st = create_sessions(model, so, runs, n_modes, err)) ||
        (st = profile_decode(runs, n_modes, ctx, so.n_ctx, n_vocab, true, err)) ||
        (o->profile && (st = profile_prefill(runs, n_modes, o->n_prompt[0], pass_tokens, so.n_ctx, n_vocab, err))))
        return st;
    destroy_sessions(runs);
    /* The first length's figures, then every further one. */
    ctx_run *cr = res->cr;
    cr[0].ctx = ctx;
    for (uint32_t m = 0; m < n_modes; m++) {
        memcpy(cr[0].decode[m], runs[m].decode, sizeof runs[m].decode);
        cr[0].bd[m] = runs[m].bd;
        memcpy(cr[0].kernels[m], runs[m].kernels, runs[m].n_kernels * sizeof *runs[m].kernels);
        cr[0].n_kernels[m] = runs[m].n_kernels;
    }
    ctx_medians(&cr[0], n_modes, reps);
    for (uint32_t c = 1; c < o->n_ctxs; c++) {
        mkv_session_opts sc = so;
        cr[c].ctx = o->ctxs[c];
        sc.n_ctx = (o->ctxs[c] > max_prompt ? o->ctxs[c] : max_prompt) + n;
        if ((st = run_length(model, sc, n_modes, reps, n, o->block, n_vocab, o->profile, o->json, &cr[c], err))) return st;
        ctx_medians(&cr[c], n_modes, reps);
    }
    return MKV_OK;
}

void mkv_bench_result_free(bench_result *res)
{
    destroy_sessions(res->runs);
    for (uint32_t m = 0; m < 2; m++) {
        free(res->runs[m].stall_us);
        free(res->runs[m].window_us);
        res->runs[m].stall_us = res->runs[m].window_us = NULL;
    }
    free(res->cr);
    res->cr = NULL;
}
