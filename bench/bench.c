/* mekivk bench: decode speed of a model with its MeKi branch on and off, in
 * one process, alternating modes over repetitions; medians and their ratio;
 * bank counters; per-kernel GPU times from profiled steps. bench --probe:
 * the device's streaming-read bandwidth alone, with its sweep of shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank.h"
#include "cli.h"
#include "host_bw.h"
#include "kernel_bench.h"
#include "ops.h"
#include "synth.h"


#define MAX_REPS 64
#define MAX_KERNELS 32
#define MAX_PROMPTS 4
#define MAX_PROMPT 4096
#define PROFILE_STEPS 7
#define HOST_READ_BYTES (256ull << 20) /* the host read: far beyond any CPU cache */

typedef struct mode_run {
    const char *mode;
    bool meki_off;
    mkv_session *s;
    double decode[MAX_REPS];
    double prefill[MAX_PROMPTS][MAX_REPS];     /* tok/s per prompt length */
    double prefill_stall[MAX_PROMPTS][MAX_REPS]; /* ms the GPU waited on the bank in that prefill */
    double *stall_us;       /* per decoded token (all reps) */
    double *window_us;      /* GPU time before the first bank-reading dispatch, per decoded token */
    uint32_t n_stall;
    mkv_kernel_time kernels[MAX_KERNELS];
    uint32_t n_kernels;
    mkv_session_stats stats;
} mode_run;

static void help(void)
{
    printf("usage: mekivk bench --model F.gguf [--bank F.mkb] [--ctx N] [-n N] [--reps R]\n"
           "                    [--prompt P] [--cold] [--cold-dontneed] [--cache-mb M]\n"
           "                    [--bank-threads T] [--bank-sync] [--block B] [--kv-type f16|q8_0]\n"
           "                    [--json]\n"
           "                    [--device I|NAME]\n"
           "       mekivk bench --probe [--json] [--device I|NAME]\n"
           "       mekivk bench --kernels [--config 1.7b] [--json] [--device I|NAME]\n\n"
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
           "bank counters and per-kernel GPU time (the median of 7 profiled steps, taken\n"
           "after the timed runs in separate sessions, the modes taking turns step by\n"
           "step). The bandwidth probe is the yardstick for each mode's weight GB/s\n"
           "(weight bytes per token x decode tok/s): streaming reads of up to 256 MiB\n"
           "in a sweep of kernel shapes (access pattern x workgroup width x loads per\n"
           "iteration x bytes per workgroup), each read once, the fastest confirmed by\n"
           "the median of 3 reads; the best kept.\n"
           "On a CPU device bench also measures the host's own read bandwidth (C, one\n"
           "thread per core) to show how far the driver is from the hardware.\n"
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
           "  --json   one JSON object (keys: device, driver, model, ctx, n_decode, reps, block,\n"
           "           probe_gbps, host_read_gbps and host_threads (CPU devices only), weight_types, runs\n"
           "           (mode, decode_tok_s, prefill_tok_s, prefill (prompt, tok_s, stall_ms: one per\n"
           "           prompt length), weight_bytes_per_token, weight_gbps,\n"
           "           kv_bytes_per_token (K/V of ctx positions, as --kv-type stores them), time_over_roofline (time\n"
           "           per token over (weight + K/V bytes) / probe bandwidth), bank,\n"
           "           decode_tok_s_reps, kernels), meki_over_dense (ratio of the\n"
           "           medians), meki_over_dense_paired (median of the per-repetition\n"
           "           ratios: robust to drift between repetitions); bank:\n"
           "           bytes_read, reads, stall_ms, stall_us_median, stall_steps,\n"
           "           window_us_median, read_us_mean, cache_hit_rate, io_mode, crc)\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, uint32_t n)
{
    if (n == 0) return 0;
    double *t = malloc(n * sizeof *t);
    if (!t) return 0;
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_double);
    double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return m;
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
        mkv_session_stats ss;
        mkv_session_get_stats(r->s, &ss);
        r->window_us[r->n_stall] = ss.last_window_us;
        r->stall_us[r->n_stall++] = ss.last_stall_us;
    }
    *secs += mkv_now_s() - t0;
    return MKV_OK;
}

/* One repetition: every mode's prompt, then n tokens per mode from position
 * ctx, the modes taking turns every `block` tokens (0: all n at once), in
 * the order given. Each mode's decode speed is its n tokens over the time
 * its own turns took. */
static mkv_status run_rep(mode_run *runs, const uint32_t *order, uint32_t n_modes, uint32_t rep, const uint32_t *n_prompt,
                          uint32_t n_prompts, uint32_t ctx, uint32_t n, uint32_t block, uint32_t n_vocab, mkv_error *err)
{
    mkv_status st;
    uint32_t tok[2];
    double secs[2] = {0, 0};
    for (uint32_t k = 0; k < n_modes; k++)
        if ((st = run_prompt(&runs[order[k]], rep, n_prompt, n_prompts, ctx, n_vocab, &tok[order[k]], err))) return st;
    if (block == 0) block = n;
    for (uint32_t done = 0; done < n; done += block) {
        uint32_t len = n - done < block ? n - done : block;
        for (uint32_t k = 0; k < n_modes; k++)
            if ((st = run_block(&runs[order[k]], len, &tok[order[k]], &secs[order[k]], err))) return st;
    }
    for (uint32_t m = 0; m < n_modes; m++) runs[m].decode[rep] = n / secs[m];
    return MKV_OK;
}

/* Per-kernel GPU time: the median over PROFILE_STEPS decode steps at
 * position ctx (after one warm-up step), so one slow step does not skew it.
 * The modes take turns step by step, so that drift of the machine's speed
 * hits both alike and their kernel times compare. */
static mkv_status profile(mode_run *runs, uint32_t n_modes, uint32_t ctx, uint32_t n_vocab, mkv_error *err)
{
    static double ms[2][MAX_KERNELS][PROFILE_STEPS];
    mkv_kernel_time step[MAX_KERNELS];
    uint32_t tok[2] = {1 % n_vocab, 1 % n_vocab};
    mkv_status st;
    for (uint32_t i = 0; i <= PROFILE_STEPS; i++) {
        for (uint32_t m = 0; m < n_modes; m++) {
            mode_run *r = &runs[m];
            if ((st = mkv_session_seek(r->s, ctx, err)) || (st = mkv_session_step(r->s, tok[m], NULL, &tok[m], err)))
                return st;
            if (i == 0) continue; /* warm-up */
            uint32_t n = mkv_session_profile(r->s, step, MAX_KERNELS);
            if (i == 1) {
                memcpy(r->kernels, step, n * sizeof *step);
                r->n_kernels = n;
            }
            for (uint32_t k = 0; k < r->n_kernels && k < n; k++) ms[m][k][i - 1] = step[k].ms; /* same kernels, same order */
        }
    }
    for (uint32_t m = 0; m < n_modes; m++)
        for (uint32_t k = 0; k < runs[m].n_kernels; k++) runs[m].kernels[k].ms = median(ms[m][k], PROFILE_STEPS);
    return MKV_OK;
}

/* The host's own read bandwidth (GB/s), measured only beside a CPU device,
 * whose memory is the host's; 0 elsewhere or when it cannot run (said on
 * stderr). */
static double host_read_gbps(const mkv_device *dev, uint32_t *threads)
{
    if (!mkv_device_is_cpu(dev)) return 0;
    mkv_error err = {0};
    double gbps = 0;
    if (mkv_host_read_bandwidth(HOST_READ_BYTES, 0, &gbps, threads, &err))
        fprintf(stderr, "mekivk bench: no host read bandwidth: %s\n", err.msg);
    return gbps;
}

static void print_shape_json(const mkv_bandwidth_shape *s)
{
    printf("{\"pattern\": \"%s\", \"wg\": %u, \"vec\": %u, \"groups\": %u, \"group_bytes\": %llu, \"gbps\": %.3f, "
           "\"reads\": %u}",
           s->pattern, s->wg, s->vec, s->groups, (unsigned long long)s->group_bytes, s->gbps, s->reads);
}

/* bench --probe: the sweep's best figure and winning shape (with --json the
 * whole sweep), and beside a CPU device the host's read bandwidth. */
static int probe_only(const mkv_device_opts *dopts, bool json)
{
    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_bandwidth_sweep *sw = malloc(sizeof *sw);
    if (!sw) {
        fprintf(stderr, "mekivk bench: out of memory\n");
        return 1;
    }
    if (mkv_device_create(dopts, &dev, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    if (mkv_device_bandwidth_sweep(dev, 0, sw, &err)) {
        fprintf(stderr, "mekivk bench: no bandwidth probe: %s\n", err.msg);
        goto out;
    }
    uint32_t threads = 0;
    const double host = host_read_gbps(dev, &threads);
    const mkv_bandwidth_shape *b = &sw->shapes[sw->best];
    if (json) {
        printf("{\"device\": \"%s\", \"driver\": \"%s\", \"probe_gbps\": %.3f, \"probe_bytes\": %llu, "
               "\"probe_reps\": %u, \"probe_timer\": \"%s\", \"probe_seconds\": %.3f, \"probe_best\": ",
               mkv_device_name(dev), mkv_device_driver(dev), sw->best_gbps, (unsigned long long)sw->bytes, sw->reps,
               sw->gpu_timer ? "gpu" : "host", sw->seconds);
        print_shape_json(b);
        printf(", \"probe_sweep\": [");
        for (uint32_t i = 0; i < sw->n_shapes; i++) {
            printf("%s", i ? ", " : "");
            print_shape_json(&sw->shapes[i]);
        }
        printf("]");
        if (host > 0) printf(", \"host_read_gbps\": %.3f, \"host_threads\": %u", host, threads);
        printf("}\n");
    } else {
        printf("device: %s (%s)\n", mkv_device_name(dev), mkv_device_driver(dev));
        printf("bandwidth probe: %.2f GB/s, the best of %u shapes reading %llu MiB (its median of %u reads; %.1f s, %s clock)\n",
               sw->best_gbps, sw->n_shapes, (unsigned long long)(sw->bytes >> 20), sw->reps, sw->seconds,
               sw->gpu_timer ? "GPU" : "host");
        printf("winning shape: pattern %s, workgroups of %u invocations, %u loads of 16 bytes per iteration, "
               "%u workgroups of %llu KiB\n",
               b->pattern, b->wg, b->vec, b->groups, (unsigned long long)(b->group_bytes >> 10));
        if (host > 0)
            printf("host read (C, %u threads): %.2f GB/s; the probe reaches %.0f %% of it\n", threads, host,
                   100 * sw->best_gbps / host);
    }
    rc = 0;
out:
    free(sw);
    mkv_device_destroy(dev);
    return rc;
}

/* bench --kernels: every weight type's matrix-vector product at a config's
 * FFN shapes, and decode attention at three KV lengths, each against the
 * probe. */
static int kernels_only(const mkv_device_opts *dopts, const char *config, bool json)
{
    const mkv_synth_shape *sh = mkv_synth_find_shape(config);
    if (!sh) {
        fprintf(stderr, "mekivk bench: --config '%s': expected tiny, small, 0.6b, 1.7b or 4b\n", config);
        return 2;
    }
    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_kernel_bench_row rows[MKV_KERNEL_BENCH_MAX];
    uint32_t n_rows = 0;
    double probe = 0;
    static const uint32_t kv_lens[] = {128, 1024, 10240};
    double attn_ms[3] = {0}, attn_gbps[3] = {0};
    if (mkv_device_create(dopts, &dev, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    if (mkv_device_bandwidth(dev, 0, &probe, &err)) fprintf(stderr, "mekivk bench: no bandwidth probe: %s\n", err.msg);
    if (!json) printf("device: %s (%s), bandwidth probe %.2f GB/s; %s shapes\n", mkv_device_name(dev),
                      mkv_device_driver(dev), probe, sh->name);
    if (mkv_kernel_bench(dev, sh->d_model, sh->d_ffn, 15, !json, rows, &n_rows, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    for (size_t i = 0; i < 3; i++) {
        if (mkv_kernel_bench_attention(dev, sh->n_head, sh->n_kv_head, sh->head_dim, kv_lens[i], 5, &attn_ms[i],
                                       &attn_gbps[i], &err)) {
            rc = cli_fail("bench", &err);
            goto out;
        }
        if (!json) printf("  attention    kv %5u %14.3f ms  %6.2f GB/s\n", kv_lens[i], attn_ms[i], attn_gbps[i]);
    }
    if (json) {
        printf("{\"device\": \"%s\", \"driver\": \"%s\", \"config\": \"%s\", \"probe_gbps\": %.3f, \"kernels\": [",
               mkv_device_name(dev), mkv_device_driver(dev), sh->name, probe);
        for (uint32_t i = 0; i < n_rows; i++)
            printf("%s{\"name\": \"matvec_%s\", \"shape\": \"%s\", \"rows\": %u, \"cols\": %u, \"bytes\": %llu, "
                   "\"ms\": %.4f, \"gbps\": %.3f, \"of_probe\": %.3f}",
                   i ? ", " : "", mkv_wtype_get(rows[i].type)->name, rows[i].shape, rows[i].rows, rows[i].cols,
                   (unsigned long long)rows[i].bytes, rows[i].ms, rows[i].gbps, probe > 0 ? rows[i].gbps / probe : 0.0);
        printf("], \"attention\": [");
        for (size_t i = 0; i < 3; i++)
            printf("%s{\"n_kv\": %u, \"ms\": %.4f, \"gbps\": %.3f, \"of_probe\": %.3f}", i ? ", " : "", kv_lens[i],
                   attn_ms[i], attn_gbps[i], probe > 0 ? attn_gbps[i] / probe : 0.0);
        printf("]}\n");
    } else if (probe > 0) {
        printf("of the probe:");
        for (uint32_t i = 0; i < n_rows; i++)
            printf("%s %s/%s %.0f %%", i % 4 ? "," : "\n ", mkv_wtype_get(rows[i].type)->name, rows[i].shape,
                   100 * rows[i].gbps / probe);
        printf("\n");
    }
    rc = 0;
out:
    mkv_device_destroy(dev);
    return rc;
}

int mkv_cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *bank_path = NULL;
    uint32_t ctx = 512, n = 32, reps = 3, block = 8, chunk = 0;
    uint32_t n_prompt[MAX_PROMPTS] = {128, 512}, n_prompts = 2;
    mkv_kv_type kv_type = MKV_KV_F16;
    bool json = false, cold = false, dontneed = false, bank_sync = false, probe = false, kernels = false;
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
        else if (!strcmp(a, "--config")) { if (!(config = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--cold")) cold = true;
        else if (!strcmp(a, "--cold-dontneed")) cold = dontneed = true;
        else if (!strcmp(a, "--bank-sync")) bank_sync = true;
        else if (!strcmp(a, "--cache-mb")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, 1u << 20, &cache_mb)) return 2; }
        else if (!strcmp(a, "--bank-threads")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 64, &bank_threads)) return 2; }
        else if (!strcmp(a, "--model")) { if (!(model_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--bank")) { if (!(bank_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i)) || !cli_device(a, v, &dopts)) return 2; }
        else if (!strcmp(a, "--ctx")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MKV_MAX_CTX / 2, &ctx)) return 2; }
        else if (!strcmp(a, "-n")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 4096, &n)) return 2; }
        else if (!strcmp(a, "--reps")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MAX_REPS, &reps)) return 2; }
        else if (!strcmp(a, "--block")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, 4096, &block)) return 2; }
        else if (!strcmp(a, "--kv-type")) { if (!(v = cli_value(argc, argv, &i)) || !cli_kv_type(a, v, &kv_type)) return 2; }
        else if (!strcmp(a, "--prompt")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32_list(a, v, 1, MAX_PROMPT, n_prompt, MAX_PROMPTS, &n_prompts)) return 2; }
        else if (!strcmp(a, "--chunk")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 1024, &chunk)) return 2; }
        else { fprintf(stderr, "mekivk bench: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (probe) return probe_only(&dopts, json);
    if (kernels) return kernels_only(&dopts, config, json);
    if (!model_path) { fprintf(stderr, "mekivk bench: --model is required (see --help)\n"); return 2; }
    uint32_t max_prompt = 0;
    for (uint32_t k = 0; k < n_prompts; k++) max_prompt = n_prompt[k] > max_prompt ? n_prompt[k] : max_prompt;

    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    mode_run runs[2] = {{.mode = "dense", .meki_off = true}, {.mode = "meki", .meki_off = false}};
    uint32_t n_modes = bank_path ? 2 : 1;
    mkv_model_opts mopts = {.bank_path = bank_path, .bank_cold = cold, .bank_cold_dontneed = dontneed};
    mkv_model_info info;
    if (mkv_device_create(&dopts, &dev, &err) || mkv_model_load(dev, model_path, &mopts, &model, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    mkv_model_get_info(model, &info);
    mkv_session_opts so = {.n_ctx = (ctx > max_prompt ? ctx : max_prompt) + n, .kv_type = kv_type,
                           .bank_cache_bytes = (uint64_t)cache_mb << 20, .bank_threads = bank_threads,
                           .bank_sync = bank_sync, .prefill_chunk = chunk};
    for (uint32_t m = 0; m < n_modes; m++) {
        so.meki_off = runs[m].meki_off;
        runs[m].stall_us = calloc((size_t)reps * n, sizeof(double));
        runs[m].window_us = calloc((size_t)reps * n, sizeof(double));
        if (!runs[m].stall_us || !runs[m].window_us || mkv_session_create(model, &so, &runs[m].s, &err)) {
            rc = cli_fail("bench", &err);
            goto out;
        }
    }
    /* The yardstick: the device's streaming-read bandwidth (the probe
     * picks a buffer size that defeats caches). Without it bench still
     * measures, and says why the probe is missing. Beside a CPU device, the
     * host's own read bandwidth too. */
    double probe_gbps = 0;
    mkv_error perr = {0};
    if (mkv_device_bandwidth(dev, 0, &probe_gbps, &perr)) fprintf(stderr, "mekivk bench: no bandwidth probe: %s\n", perr.msg);
    uint32_t host_threads = 0;
    const double host_gbps = host_read_gbps(dev, &host_threads);
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
    for (uint32_t m = 0; m < n_modes; m++) {
        mkv_session_get_stats(runs[m].s, &runs[m].stats);
        mkv_session_destroy(runs[m].s);
        runs[m].s = NULL;
        so.meki_off = runs[m].meki_off;
        so.profile = true;
        if (mkv_session_create(model, &so, &runs[m].s, &err)) {
            rc = cli_fail("bench", &err);
            goto out;
        }
    }
    if (profile(runs, n_modes, ctx, info.n_vocab, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }

    double med[2] = {0};
    /* The paired estimate: both modes ran in turns within each repetition,
     * on the same machine state, so the median of their per-repetition
     * ratios is robust to drift between repetitions (the ratio of the two
     * medians can pair a slow repetition of one mode with a fast one of
     * the other). */
    double ratios[MAX_REPS], paired = 0;
    if (n_modes == 2) {
        for (uint32_t k = 0; k < reps; k++) ratios[k] = runs[0].decode[k] > 0 ? runs[1].decode[k] / runs[0].decode[k] : 0;
        paired = median(ratios, reps);
    }
    if (json) {
        printf("{\"device\": \"%s\", \"driver\": \"%s\", \"model\": \"%s\", \"ctx\": %u, \"n_decode\": %u, \"reps\": %u, "
               "\"block\": %u, \"weight_types\": \"%s\", \"kv_type\": \"%s\", \"probe_gbps\": %.3f, ",
               mkv_device_name(dev), mkv_device_driver(dev), model_path, ctx, n, reps, block, info.weight_types,
               cli_kv_type_name(kv_type), probe_gbps);
        if (host_gbps > 0) printf("\"host_read_gbps\": %.3f, \"host_threads\": %u, ", host_gbps, host_threads);
        printf("\"runs\": [");
    } else {
        printf("device: %s (%s), bandwidth probe %.2f GB/s\nmodel: %s, ctx %u, %u tokens x %u reps, turns of %u tokens\n",
               mkv_device_name(dev), mkv_device_driver(dev), probe_gbps, model_path, ctx, n, reps, block ? block : n);
        printf("weights: %s; KV cache %s\n", info.weight_types, cli_kv_type_name(kv_type));
        if (host_gbps > 0) printf("host read (C, %u threads): %.2f GB/s\n", host_threads, host_gbps);
    }
    for (uint32_t m = 0; m < n_modes; m++) {
        mode_run *r = &runs[m];
        med[m] = median(r->decode, reps);
        double pre = median(r->prefill[0], reps);
        uint64_t wbytes = r->meki_off ? info.weight_bytes_dense : info.weight_bytes_meki;
        const mkv_session_stats *ss = &r->stats;
        double hit = ss->cache_hits + ss->cache_misses ? (double)ss->cache_hits / (ss->cache_hits + ss->cache_misses) : 0;
        double stall_med = median(r->stall_us, r->n_stall), window_med = median(r->window_us, r->n_stall);
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
                       median(r->prefill[k], reps), median(r->prefill_stall[k], reps));
            printf("], ");
            printf("\"decode_tok_s_reps\": [");
            for (uint32_t k = 0; k < reps; k++) printf("%s%.4f", k ? ", " : "", r->decode[k]);
            printf("], ");
            printf("\"kernels\": [");
            for (uint32_t k = 0; k < r->n_kernels; k++)
                printf("%s{\"name\": \"%s\", \"ms\": %.4f, \"gbps\": %.3f}", k ? ", " : "", r->kernels[k].name, r->kernels[k].ms,
                       r->kernels[k].ms > 0 ? r->kernels[k].bytes / (r->kernels[k].ms * 1e6) : 0.0);
            printf("]}");
        } else {
            printf("\n%-5s decode %.2f tok/s (median), %.1f MB weights/token: %.2f GB/s, %.0f %% of the probe\n",
                   r->mode, med[m], wbytes / 1e6, wgbps, probe_gbps > 0 ? 100 * wgbps / probe_gbps : 0.0);
            for (uint32_t k = 0; k < n_prompts; k++) {
                printf("      prefill of %u tokens: %.2f tok/s (median)", n_prompt[k], median(r->prefill[k], reps));
                if (!r->meki_off) printf(", the GPU waited %.3f ms on the bank", median(r->prefill_stall[k], reps));
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
                printf("      %-18s %8.3f ms %8.2f GB/s\n", r->kernels[k].name, r->kernels[k].ms,
                       r->kernels[k].ms > 0 ? r->kernels[k].bytes / (r->kernels[k].ms * 1e6) : 0.0);
        }
    }
    if (json) {
        printf("]");
        if (n_modes == 2) printf(", \"meki_over_dense\": %.4f, \"meki_over_dense_paired\": %.4f", med[0] > 0 ? med[1] / med[0] : 0.0,
                                 paired);
        printf("}\n");
    } else if (n_modes == 2) {
        printf("\nmeki / dense decode: %.4f (medians), %.4f (median of the per-repetition ratios)\n",
               med[0] > 0 ? med[1] / med[0] : 0.0, paired);
    }
    rc = 0;
out:
    for (uint32_t m = 0; m < 2; m++) {
        mkv_session_destroy(runs[m].s);
        free(runs[m].stall_us);
        free(runs[m].window_us);
    }
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    return rc;
}
