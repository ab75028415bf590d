/* mekivk bench: decode speed of a model with its MeKi branch on and off, in
 * one process, alternating modes over repetitions; medians and their ratio;
 * bank counters; per-kernel GPU times from profiled steps and their
 * breakdown by component (profile.c); decode at several KV lengths in one
 * run (bench --probe and --kernels, the device alone: bench_alone.c).
 * Every JSON form says what it ran on: device_info, mekivk_version,
 * commit, tuning. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bank.h"
#include "bench_alone.h"
#include "cli.h"
#include "json.h"
#include "meta.h"
#include "ops.h"
#include "profile.h"
#include "report.h"
#include "stats.h"
#include "sweep.h"
#include "synth.h"


#define MAX_REPS 64
#define MAX_KERNELS 32
#define MAX_PROMPTS 4
#define MAX_PROMPT 4096
#define MAX_CTXS 8
#define PROFILE_STEPS 7
#define PROFILE_PREFILL_REPS 3

/* A pass's GPU time by component (the mean of the middle profiled steps
 * or prefills: middle_passes), per token. */
typedef struct comp_stats {
    bool valid;           /* timestamps were read */
    bool complete;        /* every dispatch was timed */
    double ms[MKV_COMP_COUNT], gbps[MKV_COMP_COUNT];
    double gpu_ms;        /* the pass's GPU time (first timestamp to last, less wait_ms), per token */
    double wait_ms;       /* MeKi: the GPU idle between the pass's two submissions, per token */
    double shared_ms;     /* of the components: kernels split between FFN and MeKi, per token */
    uint32_t unknown;     /* dispatches of kernels outside profile.c's table */
} comp_stats;

typedef struct mode_run {
    const char *mode;
    bool meki_off;
    mkv_session *s;
    double decode[MAX_REPS];
    double prefill[MAX_PROMPTS][MAX_REPS];     /* tok/s per prompt length */
    double prefill_stall[MAX_PROMPTS][MAX_REPS]; /* ms the GPU waited on the bank in that prefill */
    double *stall_us;       /* per decoded token (all reps); NULL: not kept */
    double *window_us;      /* GPU time before the first bank-reading dispatch, per decoded token */
    uint32_t n_stall;
    mkv_kernel_time kernels[MAX_KERNELS];
    uint32_t n_kernels;
    comp_stats bd;          /* decode breakdown */
    comp_stats pre_bd;      /* prefill breakdown (--profile) */
    mkv_kernel_time pre_kernels[MAX_KERNELS]; /* per prompt token (--profile) */
    uint32_t n_pre_kernels;
    mkv_session_stats stats;
} mode_run;

/* Decode at one KV length of --ctx. */
typedef struct ctx_run {
    uint32_t ctx;
    double decode[2][MAX_REPS];
    double med[2], paired;
    comp_stats bd[2];       /* --profile */
} ctx_run;

static void help(void)
{
    printf("usage: mekivk bench --model F.gguf [--bank F.mkb] [--ctx N[,N2..]] [-n N] [--reps R]\n"
           "                    [--prompt P] [--profile] [--cold] [--cold-dontneed] [--cache-mb M]\n"
           "                    [--bank-threads T] [--bank-sync] [--block B] [--kv-type f16|q8_0]\n"
           "                    [--json] [--plot F.svg]\n"
           "                    [--device I|NAME]\n"
           "       mekivk bench --probe [--json] [--device I|NAME]\n"
           "       mekivk bench --kernels [--config 1.7b] [--json] [--device I|NAME]\n"
           "       mekivk bench --sweep --model F [--out tuning.json] [--json] [--quick] [--reps R]\n"
           "                    [--device I|NAME]   (the kernels' tunable variants: mekivk bench --sweep --help)\n\n"
           "Measures greedy decode speed at a KV-cache length of --ctx (default 512; the\n"
           "cache before it is not computed, only its length matters for speed), -n tokens\n"
           "per repetition (default 32), --reps repetitions (default 3), alternating dense\n"
           "and MeKi when a bank is given: within a repetition the two sessions take turns\n"
           "every --block tokens (default 8; 0: each mode's n tokens in one go), and which\n"
           "goes first alternates across repetitions, so that machine noise hits both\n"
           "alike. A mode's speed in a repetition is its n tokens over its own turns' time.\n"
           "Prefill speed is measured on prompts of --prompt tokens (default 128,512: one\n"
           "batched mkv_session_prefill each, every repetition, after a warm-up that\n"
           "records the prefill pass). Reports medians, the MeKi/dense ratio,\n"
           "bank counters and per-kernel GPU time (7 profiled steps, taken after the timed\n"
           "runs in separate sessions, the modes taking turns step by step; the mean of\n"
           "the middle 3 by GPU time) and the same time by component: attention, ffn,\n"
           "meki, lm_head, other (they add up to the step's GPU time).\n"
           "The bandwidth probe is the yardstick for each mode's weight GB/s\n"
           "(weight bytes per token x decode tok/s): streaming reads of up to 256 MiB\n"
           "in a sweep of kernel shapes (access pattern x workgroup width x loads per\n"
           "iteration x bytes per workgroup), each read once, the fastest confirmed by\n"
           "the median of 3 reads; the best kept.\n"
           "On a CPU device bench also measures the host's own read bandwidth (C, one\n"
           "thread per core) to show how far the driver is from the hardware.\n"
           "  --ctx N[,N2..]  KV lengths (up to 8): decode is measured at each, the model loaded\n"
           "                  once; each length gets sessions sized as a run of that length alone\n"
           "                  (n_ctx = max(N, longest prompt) + n: the attention split is the\n"
           "                  same). Prefill, bank counters and kernel times are the first\n"
           "                  length's; ctx and runs in the JSON are the first length's, contexts\n"
           "                  lists every length\n"
           "  --profile       the time breakdown in full: GPU ms per token, GB/s and share of\n"
           "                  the probe of each component, for decode and for prefill (the\n"
           "                  first --prompt length, 3 profiled prefills after a warm-up, the\n"
           "                  middle one by GPU time, its passes summed, per prompt token),\n"
           "                  and decode's breakdown at every --ctx length. Components:\n"
           "                  attention (W_q, W_k, W_v, W_o, rope and q/k norms, attention),\n"
           "                  ffn (gate, up, down), meki (W_mg, bank row, W_mo, MeKi norm),\n"
           "                  lm_head (the LM head product and argmax), other (embedding,\n"
           "                  input norms). Kernels that do FFN and MeKi work in one dispatch\n"
           "                  (the SwiGLU with W_mg's rows stacked in, ffn_out with W_mo) are\n"
           "                  split by the bytes each part reads (bench/profile.c has the\n"
           "                  table). Without --profile the first length's decode breakdown\n"
           "                  is still measured (breakdown in the JSON)\n"
           "  --plot F.svg    also draws the result as an SVG (decode tok/s against KV length,\n"
           "                  dense and MeKi; prefill tok/s against prompt length; the\n"
           "                  breakdown as stacked bars; every value written on it); without\n"
           "                  --json the text output is then report's table of the result\n"
           "  --kernels       no model: the matrix-vector kernel of every weight type alone at\n"
           "                  the FFN shapes of --config (default 1.7b: 6144 x 2048 and 2048 x\n"
           "                  6144; random blocks, median of 15) and decode attention at KV\n"
           "                  lengths 128, 1024 and 10240 (f16 cache), in GB/s of the bytes\n"
           "                  they read and as a share of the probe; --json: kernels (name,\n"
           "                  shape, rows, cols, bytes, ms, gbps, of_probe), attention\n"
           "  --probe         only the probe, no model: its best GB/s and winning shape;\n"
           "                  --json: probe_gbps, probe_best, probe_sweep (one entry per\n"
           "                  shape: pattern, wg, vec, groups, group_bytes, gbps, reads),\n"
           "                  probe_bytes, probe_reps, probe_timer, probe_seconds, and on\n"
           "                  CPU devices host_read_gbps, host_threads\n"
           "  --cold          read the bank from storage, not RAM: O_DIRECT (where the file\n"
           "                  system refuses it, as --cold-dontneed)\n"
           "  --cold-dontneed the same by plain reads, each slab's pages dropped after its\n"
           "                  read (fadvise DONTNEED, no readahead)\n"
           "  --cache-mb M    hot-row cache of M MiB (default 0: every slab from storage)\n"
           "  --bank-threads T  reader threads (default 4)\n"
           "  --bank-sync     reference path: read each slab before submitting (no overlap)\n"
           "  --prompt P[,P2..] prompt lengths of the prefill measurement (up to 4, each <= 4096;\n"
           "                  default 128,512); prefill_tok_s in the JSON is the first's\n"
           "  --chunk C       tokens per batched prefill pass (default 128)\n"
           "  --json   one JSON object (keys: device, driver, device_info (vendor_id, device_id,\n"
           "           driver_id, driver_version, api_version as \"1.3.230\", subgroup_size, cpu,\n"
           "           uma), mekivk_version, commit (git describe at configure time), tuning\n"
           "           (source, row), model, ctx, n_decode, reps, block, profile,\n"
           "           probe_gbps, host_read_gbps and host_threads (CPU devices only), weight_types, runs\n"
           "           (mode, decode_tok_s, prefill_tok_s, prefill (prompt, tok_s, stall_ms: one per\n"
           "           prompt length), weight_bytes_per_token, weight_gbps,\n"
           "           kv_bytes_per_token (K/V of ctx positions, as --kv-type stores them), time_over_roofline (time\n"
           "           per token over (weight + K/V bytes) / probe bandwidth), bank,\n"
           "           decode_tok_s_reps, kernels, breakdown (attention, ffn, meki, lm_head, other:\n"
           "           GPU ms per token), breakdown_gbps, breakdown_of_probe, gpu_ms_per_token (the\n"
           "           step's GPU time, first timestamp to last), split_wait_ms (MeKi: GPU idle\n"
           "           between the step's two submissions, in neither), breakdown_shared_ms (time of\n"
           "           kernels split between ffn and meki), profile_complete; with --profile\n"
           "           also prefill_profile_prompt, prefill_breakdown (ms per prompt token),\n"
           "           prefill_breakdown_gbps, prefill_breakdown_of_probe, prefill_gpu_ms_per_token,\n"
           "           prefill_split_wait_ms, prefill_breakdown_shared_ms, prefill_kernels),\n"
           "           meki_over_dense (ratio of the\n"
           "           medians), meki_over_dense_paired (median of the per-repetition\n"
           "           ratios: robust to drift between repetitions); bank:\n"
           "           bytes_read, reads, stall_ms, stall_us_median, stall_steps,\n"
           "           window_us_median, read_us_mean, cache_hit_rate, io_mode, crc; contexts: one\n"
           "           entry per --ctx length (ctx, runs (mode, decode_tok_s, decode_tok_s_reps, with\n"
           "           --profile breakdown), meki_over_dense, meki_over_dense_paired). --probe\n"
           "           and --kernels print device_info, mekivk_version, commit and tuning too)\n");
}

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

static void json_str(const char *s)
{
    if (!s) s = "";
    mkv_json_print_str(stdout, s, strlen(s));
}

/* "key": {"attention": v[0], ..., "other": v[4]} */
static void print_comp_json(const char *key, const double *v)
{
    printf("\"%s\": {", key);
    for (uint32_t c = 0; c < MKV_COMP_COUNT; c++) printf("%s\"%s\": %.4f", c ? ", " : "", mkv_component_name[c], v[c]);
    printf("}");
}

/* A breakdown's keys: prefix "" for decode, "prefill_" for prefill; then ", ". */
static void print_breakdown_json(const char *prefix, const comp_stats *b, double probe)
{
    char key[64];
    double of[MKV_COMP_COUNT];
    for (uint32_t c = 0; c < MKV_COMP_COUNT; c++) of[c] = probe > 0 ? b->gbps[c] / probe : 0;
    snprintf(key, sizeof key, "%sbreakdown", prefix);
    print_comp_json(key, b->ms);
    snprintf(key, sizeof key, "%sbreakdown_gbps", prefix);
    printf(", ");
    print_comp_json(key, b->gbps);
    snprintf(key, sizeof key, "%sbreakdown_of_probe", prefix);
    printf(", ");
    print_comp_json(key, of);
    printf(", \"%sgpu_ms_per_token\": %.4f, \"%ssplit_wait_ms\": %.4f, \"%sbreakdown_shared_ms\": %.4f, ", prefix, b->gpu_ms,
           prefix, b->wait_ms, prefix, b->shared_ms);
}

static double comp_sum(const comp_stats *b)
{
    double t = 0;
    for (uint32_t c = 0; c < MKV_COMP_COUNT; c++) t += b->ms[c];
    return t;
}

/* The --profile table of a mode: decode and (if measured) prefill by
 * component, then the checks: the components against the pass's GPU time
 * and the wall time per token. */
static void print_comp_table(const comp_stats *dec, const comp_stats *pre, uint32_t prompt, double probe, double dec_tok_s,
                             double pre_tok_s)
{
    if (!dec->valid) {
        printf("      no time breakdown: the device has no GPU timestamps\n");
        return;
    }
    const bool p = pre && pre->valid;
    printf("      %-10s %10s %8s %8s", "component", "decode ms", "GB/s", "probe");
    if (p) printf("  %10s %8s %8s", "prefill ms", "GB/s", "probe");
    printf("\n");
    for (uint32_t c = 0; c <= MKV_COMP_COUNT; c++) {
        const bool sum = c == MKV_COMP_COUNT;
        printf("      %-10s %10.3f", sum ? "sum" : mkv_component_name[c], sum ? comp_sum(dec) : dec->ms[c]);
        if (sum) printf(" %8s %8s", "", "");
        else printf(" %8.2f %7.1f%%", dec->gbps[c], probe > 0 ? 100 * dec->gbps[c] / probe : 0.0);
        if (p) {
            printf("  %10.3f", sum ? comp_sum(pre) : pre->ms[c]);
            if (!sum) printf(" %8.2f %7.1f%%", pre->gbps[c], probe > 0 ? 100 * pre->gbps[c] / probe : 0.0);
        }
        printf("\n");
    }
    printf("      (per token; prefill: of a %u-token prompt)\n", prompt);
    /* the components partition the step's dispatches: they add up to its GPU time unless the table misses some */
    const bool dec_ok = fabs(comp_sum(dec) - dec->gpu_ms) <= 1e-3 * dec->gpu_ms;
    printf("      check, decode: the components %s the step's GPU time, %.3f ms (first to last timestamp",
           dec_ok ? "add up to" : "DO NOT add up to", dec->gpu_ms);
    if (dec->wait_ms > 0) printf(", less %.3f ms idle between its two submissions", dec->wait_ms);
    printf(")");
    if (dec_tok_s > 0)
        printf(";\n        a token of the timed runs took %.3f ms (median speed); the profiled step's GPU time is %.0f %% of that\n"
               "        (the host's part of a token is no GPU time; the profiled steps ran apart from the timed ones,\n"
               "        with a timestamp after every dispatch)",
               1e3 / dec_tok_s, 100 * dec->gpu_ms * dec_tok_s / 1e3);
    printf("\n");
    if (p) {
        printf("      check, prefill: the components %s the passes' GPU time, %.3f ms per token",
               fabs(comp_sum(pre) - pre->gpu_ms) <= 1e-3 * pre->gpu_ms ? "add up to" : "DO NOT add up to", pre->gpu_ms);
        if (pre_tok_s > 0) printf(";\n        a token of the timed prefills took %.3f ms (median speed)", 1e3 / pre_tok_s);
        printf("\n");
    }
    if (dec->shared_ms > 0 || (p && pre->shared_ms > 0))
        printf("      of these, kernels doing FFN and MeKi work in one dispatch, split by the bytes each part reads:\n"
               "        %.3f ms (decode)%s", dec->shared_ms, p ? "" : "\n");
    if (p && (dec->shared_ms > 0 || pre->shared_ms > 0)) printf(", %.3f ms (prefill)\n", pre->shared_ms);
    if (!dec->complete || (p && !pre->complete))
        printf("      incomplete: the pass has more dispatches than the recorder times; the rest is missing\n");
    if (dec->unknown || (p && pre->unknown))
        printf("      %u dispatches of kernels outside bench/profile.c's table counted as other\n",
               dec->unknown > (p ? pre->unknown : 0) ? dec->unknown : pre->unknown);
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
            (st = profile_decode(xr, n_modes, c->ctx, so.n_ctx, n_vocab, false, err)))
            goto out;
        for (uint32_t m = 0; m < n_modes; m++) c->bd[m] = xr[m].bd;
    }
out:
    destroy_sessions(xr);
    return st;
}

static int bench_main(int argc, char **argv);

/* bench --plot F.svg: the run's JSON, captured from stdout through a
 * temporary file, drawn by mkv_bench_plot_svg; printed as it is with
 * --json, else summed up by report's table. */
static int bench_plot(int argc, char **argv, int plot_at)
{
    const char *svg = argv[plot_at + 1];
    bool json = false;
    char **av = calloc((size_t)argc + 1, sizeof *av);
    if (!av) { fprintf(stderr, "mekivk bench: out of memory\n"); return 1; }
    int ac = 0;
    for (int i = 0; i < argc; i++) {
        if (i == plot_at || i == plot_at + 1) continue;
        if (!strcmp(argv[i], "--json")) json = true;
        av[ac++] = argv[i];
    }
    av[ac++] = "--json";
    FILE *tmp = tmpfile();
    int saved = -1;
    fflush(stdout);
    if (!tmp || (saved = dup(1)) < 0 || dup2(fileno(tmp), 1) < 0) {
        fprintf(stderr, "mekivk bench: --plot: cannot capture the JSON: %s\n", strerror(errno));
        if (saved >= 0) close(saved);
        if (tmp) fclose(tmp);
        free(av);
        return 1;
    }
    int rc = bench_main(ac, av);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    free(av);
    long n = rc == 0 && fseek(tmp, 0, SEEK_END) == 0 ? ftell(tmp) : -1;
    char *text = n > 0 ? malloc((size_t)n) : NULL;
    if (text) {
        rewind(tmp);
        if (fread(text, 1, (size_t)n, tmp) != (size_t)n) { free(text); text = NULL; }
    }
    fclose(tmp);
    if (rc) return rc;
    if (!text) { fprintf(stderr, "mekivk bench: --plot: cannot read the JSON back\n"); return 1; }
    mkv_error err = {0};
    mkv_report_input in = {.name = "bench", .text = text, .len = (size_t)n};
    if (json) fwrite(text, 1, (size_t)n, stdout);
    else if (mkv_report_table(&in, 1, false, stdout, &err)) rc = cli_fail("bench", &err);
    if (!rc && mkv_bench_plot_svg(text, (size_t)n, svg, &err)) rc = cli_fail("bench", &err);
    else if (!rc) fprintf(stderr, "mekivk bench: wrote %s\n", svg);
    free(text);
    return rc;
}

int mkv_cmd_bench(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--sweep")) return mkv_bench_sweep(argc, argv); /* its own flags and --help */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) break;
        if (!strcmp(argv[i], "--plot")) {
            if (i + 1 >= argc || !*argv[i + 1]) {
                fprintf(stderr, "mekivk bench: --plot needs a file name (F.svg)\n");
                return 2;
            }
            return bench_plot(argc, argv, i);
        }
    }
    return bench_main(argc, argv);
}

static int bench_main(int argc, char **argv)
{
    const char *model_path = NULL, *bank_path = NULL;
    uint32_t ctxs[MAX_CTXS] = {512}, n_ctxs = 1, n = 32, reps = 3, block = 8, chunk = 0;
    uint32_t n_prompt[MAX_PROMPTS] = {128, 512}, n_prompts = 2;
    mkv_kv_type kv_type = MKV_KV_F16;
    bool json = false, cold = false, dontneed = false, bank_sync = false, probe = false, kernels = false, profile = false;
    const char *config = "1.7b";
    uint32_t cache_mb = 0, bank_threads = 0;
    mkv_device_opts dopts;
    if (!cli_device_defaults(&dopts)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--probe")) probe = true;
        else if (!strcmp(a, "--kernels")) kernels = true;
        else if (!strcmp(a, "--profile")) profile = true;
        else if (!strcmp(a, "--config")) { if (!(config = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--cold")) cold = true;
        else if (!strcmp(a, "--cold-dontneed")) cold = dontneed = true;
        else if (!strcmp(a, "--bank-sync")) bank_sync = true;
        else if (!strcmp(a, "--cache-mb")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, 1u << 20, &cache_mb)) return 2; }
        else if (!strcmp(a, "--bank-threads")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 64, &bank_threads)) return 2; }
        else if (!strcmp(a, "--model")) { if (!(model_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--bank")) { if (!(bank_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i)) || !cli_device(a, v, &dopts)) return 2; }
        else if (!strcmp(a, "--ctx")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32_list(a, v, 1, MKV_MAX_CTX / 2, ctxs, MAX_CTXS, &n_ctxs)) return 2; }
        else if (!strcmp(a, "-n")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 4096, &n)) return 2; }
        else if (!strcmp(a, "--reps")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MAX_REPS, &reps)) return 2; }
        else if (!strcmp(a, "--block")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, 4096, &block)) return 2; }
        else if (!strcmp(a, "--kv-type")) { if (!(v = cli_value(argc, argv, &i)) || !cli_kv_type(a, v, &kv_type)) return 2; }
        else if (!strcmp(a, "--prompt")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32_list(a, v, 1, MAX_PROMPT, n_prompt, MAX_PROMPTS, &n_prompts)) return 2; }
        else if (!strcmp(a, "--chunk")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 1024, &chunk)) return 2; }
        else { fprintf(stderr, "mekivk bench: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (probe) return mkv_bench_probe(&dopts, json);
    if (kernels) return mkv_bench_kernels(&dopts, config, json);
    if (!model_path) { fprintf(stderr, "mekivk bench: --model is required (see --help)\n"); return 2; }
    uint32_t max_prompt = 0;
    for (uint32_t k = 0; k < n_prompts; k++) max_prompt = n_prompt[k] > max_prompt ? n_prompt[k] : max_prompt;
    const uint32_t ctx = ctxs[0];

    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    mode_run runs[2] = {{.mode = "dense", .meki_off = true}, {.mode = "meki", .meki_off = false}};
    ctx_run *cr = calloc(n_ctxs, sizeof *cr);
    uint32_t n_modes = bank_path ? 2 : 1;
    mkv_model_opts mopts = {.bank_path = bank_path, .bank_cold = cold, .bank_cold_dontneed = dontneed};
    mkv_model_info info;
    if (!cr) {
        fprintf(stderr, "mekivk bench: out of memory\n");
        goto out;
    }
    if (mkv_device_create(&dopts, &dev, &err) || mkv_model_load(dev, model_path, &mopts, &model, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    mkv_model_get_info(model, &info);
    mkv_session_opts so = {.n_ctx = (ctx > max_prompt ? ctx : max_prompt) + n, .kv_type = kv_type,
                           .bank_cache_bytes = (uint64_t)cache_mb << 20, .bank_threads = bank_threads,
                           .bank_sync = bank_sync, .prefill_chunk = chunk};
    /* the prefill pass's tokens, as the session takes them */
    uint32_t pass_tokens = chunk ? chunk : 128;
    if (pass_tokens > so.n_ctx) pass_tokens = so.n_ctx;
    for (uint32_t m = 0; m < n_modes; m++) {
        runs[m].stall_us = calloc((size_t)reps * n, sizeof(double));
        runs[m].window_us = calloc((size_t)reps * n, sizeof(double));
        if (!runs[m].stall_us || !runs[m].window_us) {
            fprintf(stderr, "mekivk bench: out of memory\n");
            goto out;
        }
    }
    if (create_sessions(model, so, runs, n_modes, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    /* The yardstick: the device's streaming-read bandwidth (the probe
     * picks a buffer size that defeats caches). Without it bench still
     * measures, and says why the probe is missing. Beside a CPU device, the
     * host's own read bandwidth too. */
    double probe_gbps = 0;
    mkv_error perr = {0};
    if (mkv_device_bandwidth(dev, 0, &probe_gbps, &perr)) fprintf(stderr, "mekivk bench: no bandwidth probe: %s\n", perr.msg);
    uint32_t host_threads = 0;
    const double host_gbps = mkv_bench_host_read_gbps(dev, &host_threads);
    /* Warm-up: the first prefill records the prefill pass (pipelines built). */
    for (uint32_t m = 0; m < n_modes; m++) {
        const uint32_t two[2] = {0, 1 % info.n_vocab};
        if (mkv_session_prefill(runs[m].s, two, 2, MKV_PREFILL_LAST, NULL, NULL, &err)) {
            rc = cli_fail("bench", &err);
            goto out;
        }
    }
    /* Alternate the modes: every `block` tokens within a repetition, and
     * which goes first (AB, BA, AB, ...) across repetitions, so that machine
     * noise and drift (thermal, page cache, neighbours) hit both alike. */
    for (uint32_t rep = 0; rep < reps; rep++) {
        const uint32_t order[2] = {rep % 2 ? n_modes - 1 : 0, rep % 2 ? 0 : 1};
        if (run_rep(runs, order, n_modes, rep, n_prompt, n_prompts, ctx, n, block, info.n_vocab, &err)) {
            rc = cli_fail("bench", &err);
            goto out;
        }
        if (!json)
            for (uint32_t m = 0; m < n_modes; m++)
                fprintf(stderr, "rep %u/%u %-5s %.2f tok/s\n", rep + 1, reps, runs[m].mode, runs[m].decode[rep]);
    }
    /* Kernel times from profiled steps, in a session of its own per mode (a
     * timestamp after every dispatch would slow the timed runs). */
    for (uint32_t m = 0; m < n_modes; m++) mkv_session_get_stats(runs[m].s, &runs[m].stats);
    destroy_sessions(runs);
    so.profile = true;
    if (create_sessions(model, so, runs, n_modes, &err) ||
        profile_decode(runs, n_modes, ctx, so.n_ctx, info.n_vocab, true, &err) ||
        (profile && profile_prefill(runs, n_modes, n_prompt[0], pass_tokens, so.n_ctx, info.n_vocab, &err))) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    destroy_sessions(runs);
    /* The first length's figures, then every further one. */
    cr[0].ctx = ctx;
    for (uint32_t m = 0; m < n_modes; m++) {
        memcpy(cr[0].decode[m], runs[m].decode, sizeof runs[m].decode);
        cr[0].bd[m] = runs[m].bd;
    }
    ctx_medians(&cr[0], n_modes, reps);
    for (uint32_t c = 1; c < n_ctxs; c++) {
        mkv_session_opts sc = so;
        cr[c].ctx = ctxs[c];
        sc.n_ctx = (ctxs[c] > max_prompt ? ctxs[c] : max_prompt) + n;
        if (run_length(model, sc, n_modes, reps, n, block, info.n_vocab, profile, json, &cr[c], &err)) {
            rc = cli_fail("bench", &err);
            goto out;
        }
        ctx_medians(&cr[c], n_modes, reps);
    }

    double med[2] = {0};
    /* The paired estimate: both modes ran in turns within each repetition,
     * on the same machine state, so the median of their per-repetition
     * ratios is robust to drift between repetitions (the ratio of the two
     * medians can pair a slow repetition of one mode with a fast one of
     * the other). */
    const double paired = cr[0].paired;
    if (json) {
        printf("{");
        mkv_bench_print_meta_json(stdout, dev);
        printf("\"model\": ");
        json_str(model_path);
        printf(", \"ctx\": %u, \"n_decode\": %u, \"reps\": %u, \"block\": %u, \"profile\": %s, \"weight_types\": ", ctx, n,
               reps, block, profile ? "true" : "false");
        json_str(info.weight_types);
        printf(", \"kv_type\": \"%s\", \"probe_gbps\": %.3f, ", cli_kv_type_name(kv_type), probe_gbps);
        if (host_gbps > 0) printf("\"host_read_gbps\": %.3f, \"host_threads\": %u, ", host_gbps, host_threads);
        printf("\"runs\": [");
    } else {
        printf("device: %s (%s), bandwidth probe %.2f GB/s\n", mkv_device_name(dev), mkv_device_driver(dev), probe_gbps);
        mkv_bench_print_meta_text(stdout, dev);
        printf("model: %s, ctx %u, %u tokens x %u reps, turns of %u tokens\n", model_path, ctx, n, reps, block ? block : n);
        printf("weights: %s; KV cache %s\n", info.weight_types, cli_kv_type_name(kv_type));
        if (host_gbps > 0) printf("host read (C, %u threads): %.2f GB/s\n", host_threads, host_gbps);
    }
    for (uint32_t m = 0; m < n_modes; m++) {
        mode_run *r = &runs[m];
        med[m] = mkv_median(r->decode, reps);
        double pre = mkv_median(r->prefill[0], reps);
        uint64_t wbytes = r->meki_off ? info.weight_bytes_dense : info.weight_bytes_meki;
        const mkv_session_stats *ss = &r->stats;
        double hit = ss->cache_hits + ss->cache_misses ? (double)ss->cache_hits / (ss->cache_hits + ss->cache_misses) : 0;
        double stall_med = mkv_median(r->stall_us, r->n_stall), window_med = mkv_median(r->window_us, r->n_stall);
        double read_us = ss->bank_reads ? ss->bank_read_ms * 1e3 / (double)ss->bank_reads : 0;
        double wgbps = (double)wbytes * med[m] * 1e-9; /* weights streamed per second at the median speed */
        /* The roofline: a step must read the weights and the K/V cache once
         * (ctx positions of every layer, as stored); time per token over the
         * time those bytes take at the probe's bandwidth. */
        const uint64_t kv_bytes =
            2ull * info.n_layer * mkv_kv_cache_bytes(ctx, info.n_kv_head * info.head_dim, kv_type == MKV_KV_Q8_0);
        const double roof = probe_gbps > 0 && med[m] > 0 ? (1.0 / med[m]) / ((wbytes + kv_bytes) / (probe_gbps * 1e9)) : 0;
        if (json) {
            printf("%s{\"mode\": \"%s\", \"decode_tok_s\": %.4f, \"prefill_tok_s\": %.4f, \"weight_bytes_per_token\": %llu, "
                   "\"weight_gbps\": %.3f, \"kv_bytes_per_token\": %llu, \"time_over_roofline\": %.3f, "
                   "\"bank\": {\"bytes_read\": %llu, \"reads\": %llu, \"stall_ms\": %.3f, \"stall_us_median\": %.3f, "
                   "\"stall_steps\": %llu, \"window_us_median\": %.1f, \"read_us_mean\": %.1f, \"cache_hit_rate\": %.4f, "
                   "\"io_mode\": \"%s\", \"crc\": \"%s\"}, ",
                   m ? ", " : "", r->mode, med[m], pre, (unsigned long long)wbytes, wgbps, (unsigned long long)kv_bytes, roof,
                   (unsigned long long)ss->bank_bytes_read,
                   (unsigned long long)ss->bank_reads, ss->bank_stall_ms, stall_med, (unsigned long long)ss->stall_steps,
                   window_med, read_us, hit, ss->bank_io, r->meki_off ? "" : mkv_crc32c_impl());
            printf("\"prefill\": [");
            for (uint32_t k = 0; k < n_prompts; k++)
                printf("%s{\"prompt\": %u, \"tok_s\": %.4f, \"stall_ms\": %.3f}", k ? ", " : "", n_prompt[k],
                       mkv_median(r->prefill[k], reps), mkv_median(r->prefill_stall[k], reps));
            printf("], ");
            printf("\"decode_tok_s_reps\": [");
            for (uint32_t k = 0; k < reps; k++) printf("%s%.4f", k ? ", " : "", r->decode[k]);
            printf("], ");
            printf("\"kernels\": [");
            for (uint32_t k = 0; k < r->n_kernels; k++)
                printf("%s{\"name\": \"%s\", \"ms\": %.4f, \"gbps\": %.3f}", k ? ", " : "", r->kernels[k].name, r->kernels[k].ms,
                       r->kernels[k].ms > 0 ? r->kernels[k].bytes / (r->kernels[k].ms * 1e6) : 0.0);
            printf("], ");
            print_breakdown_json("", &r->bd, probe_gbps);
            printf("\"profile_complete\": %s", r->bd.complete && (!profile || r->pre_bd.complete) ? "true" : "false");
            if (profile) {
                printf(", \"prefill_profile_prompt\": %u, ", n_prompt[0]);
                print_breakdown_json("prefill_", &r->pre_bd, probe_gbps);
                printf("\"prefill_kernels\": [");
                for (uint32_t k = 0; k < r->n_pre_kernels; k++)
                    printf("%s{\"name\": \"%s\", \"ms\": %.4f, \"gbps\": %.3f}", k ? ", " : "", r->pre_kernels[k].name,
                           r->pre_kernels[k].ms, r->pre_kernels[k].ms > 0 ? r->pre_kernels[k].bytes / (r->pre_kernels[k].ms * 1e6) : 0.0);
                printf("]");
            }
            printf("}");
        } else {
            printf("\n%-5s decode %.2f tok/s (median), %.1f MB weights/token: %.2f GB/s, %.0f %% of the probe\n",
                   r->mode, med[m], wbytes / 1e6, wgbps, probe_gbps > 0 ? 100 * wgbps / probe_gbps : 0.0);
            for (uint32_t k = 0; k < n_prompts; k++) {
                printf("      prefill of %u tokens: %.2f tok/s (median)", n_prompt[k], mkv_median(r->prefill[k], reps));
                if (!r->meki_off) printf(", the GPU waited %.3f ms on the bank", mkv_median(r->prefill_stall[k], reps));
                printf("\n");
            }
            if (roof > 0)
                printf("      %.0f ms per token: %.2fx the time its %.1f MB of weights and %.1f MB of K/V take at the probe's bandwidth\n",
                       1e3 / med[m], roof, wbytes / 1e6, kv_bytes / 1e6);
            if (!r->meki_off)
                printf("      bank (%s, crc %s): %llu reads of %.0f us on average, %llu bytes, cache hit rate %.2f\n"
                       "      stall %.3f ms total in %llu steps, median %.1f us/token; median %.0f us of GPU work hides each read\n",
                       ss->bank_io, mkv_crc32c_impl(), (unsigned long long)ss->bank_reads, read_us,
                       (unsigned long long)ss->bank_bytes_read, hit, ss->bank_stall_ms, (unsigned long long)ss->stall_steps,
                       stall_med, window_med);
            for (uint32_t k = 0; k < r->n_kernels; k++)
                printf("      %-26s %8.3f ms %8.2f GB/s\n", r->kernels[k].name, r->kernels[k].ms,
                       r->kernels[k].ms > 0 ? r->kernels[k].bytes / (r->kernels[k].ms * 1e6) : 0.0);
            if (profile) {
                if (r->n_pre_kernels) printf("      prefill of %u tokens, per token:\n", n_prompt[0]);
                for (uint32_t k = 0; k < r->n_pre_kernels; k++)
                    printf("      %-26s %8.3f ms %8.2f GB/s\n", r->pre_kernels[k].name, r->pre_kernels[k].ms,
                           r->pre_kernels[k].ms > 0 ? r->pre_kernels[k].bytes / (r->pre_kernels[k].ms * 1e6) : 0.0);
                print_comp_table(&r->bd, &r->pre_bd, n_prompt[0], probe_gbps, med[m], pre);
            } else if (r->bd.valid) {
                printf("      by component (ms/token):");
                for (uint32_t c = 0; c < MKV_COMP_COUNT; c++) printf(" %s %.3f%s", mkv_component_name[c], r->bd.ms[c], c + 1 < MKV_COMP_COUNT ? "," : "");
                printf("; sum %.3f, the step's GPU time %.3f\n", comp_sum(&r->bd), r->bd.gpu_ms);
            }
        }
    }
    if (json) {
        printf("]");
        if (n_modes == 2) printf(", \"meki_over_dense\": %.4f, \"meki_over_dense_paired\": %.4f", med[0] > 0 ? med[1] / med[0] : 0.0,
                                 paired);
        printf(", \"contexts\": [");
        for (uint32_t c = 0; c < n_ctxs; c++) {
            printf("%s{\"ctx\": %u, \"runs\": [", c ? ", " : "", cr[c].ctx);
            for (uint32_t m = 0; m < n_modes; m++) {
                printf("%s{\"mode\": \"%s\", \"decode_tok_s\": %.4f, \"decode_tok_s_reps\": [", m ? ", " : "", runs[m].mode,
                       cr[c].med[m]);
                for (uint32_t k = 0; k < reps; k++) printf("%s%.4f", k ? ", " : "", cr[c].decode[m][k]);
                printf("]");
                if (profile) {
                    printf(", ");
                    print_comp_json("breakdown", cr[c].bd[m].ms);
                    printf(", \"gpu_ms_per_token\": %.4f", cr[c].bd[m].gpu_ms);
                }
                printf("}");
            }
            printf("]");
            if (n_modes == 2)
                printf(", \"meki_over_dense\": %.4f, \"meki_over_dense_paired\": %.4f",
                       cr[c].med[0] > 0 ? cr[c].med[1] / cr[c].med[0] : 0.0, cr[c].paired);
            printf("}");
        }
        printf("]}\n");
    } else {
        if (n_modes == 2)
            printf("\nmeki / dense decode: %.4f (medians), %.4f (median of the per-repetition ratios)\n",
                   med[0] > 0 ? med[1] / med[0] : 0.0, paired);
        if (n_modes == 2 && runs[0].bd.valid && runs[1].bd.valid)
            printf("MeKi's cost per token from the two modes' GPU time: %.3f ms (meki %.3f - dense %.3f); its breakdown "
                   "component: %.3f ms\n",
                   runs[1].bd.gpu_ms - runs[0].bd.gpu_ms, runs[1].bd.gpu_ms, runs[0].bd.gpu_ms, runs[1].bd.ms[MKV_COMP_MEKI]);
        if (n_ctxs > 1 || profile) {
            printf("\ndecode by KV length (median tok/s%s):\n  %7s", profile ? "; GPU ms per token by component" : "", "ctx");
            for (uint32_t m = 0; m < n_modes; m++) printf(" %9s", runs[m].mode);
            if (n_modes == 2) printf(" %10s", "meki/dense");
            printf("\n");
            for (uint32_t c = 0; c < n_ctxs; c++) {
                printf("  %7u", cr[c].ctx);
                for (uint32_t m = 0; m < n_modes; m++) printf(" %9.3f", cr[c].med[m]);
                if (n_modes == 2) printf(" %10.4f", cr[c].med[0] > 0 ? cr[c].med[1] / cr[c].med[0] : 0.0);
                printf("\n");
                if (!profile) continue;
                for (uint32_t m = 0; m < n_modes; m++) {
                    printf("  %7s %-5s", "", runs[m].mode);
                    for (uint32_t k = 0; k < MKV_COMP_COUNT; k++) printf(" %s %.2f", mkv_component_name[k], cr[c].bd[m].ms[k]);
                    printf("; GPU %.2f ms\n", cr[c].bd[m].gpu_ms);
                }
            }
        }
    }
    rc = 0;
out:
    destroy_sessions(runs);
    for (uint32_t m = 0; m < 2; m++) {
        free(runs[m].stall_us);
        free(runs[m].window_us);
    }
    free(cr);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    return rc;
}
