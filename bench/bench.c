/* mekivk bench: decode speed of a model with its MeKi branch on and off, in
 * one process, alternating modes over repetitions; medians and their ratio;
 * bank counters; per-kernel GPU times from one profiled step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_REPS 64
#define MAX_KERNELS 32

typedef struct mode_run {
    const char *mode;
    bool meki_off;
    mkv_session *s;
    double decode[MAX_REPS];
    double prefill[MAX_REPS];
    double *stall_us;       /* per decoded token (all reps) */
    uint32_t n_stall;
    mkv_kernel_time kernels[MAX_KERNELS];
    uint32_t n_kernels;
    mkv_session_stats stats;
} mode_run;

static void help(void)
{
    printf("usage: mekivk bench --model F.gguf [--bank F.mkb] [--ctx N] [-n N] [--reps R]\n"
           "                    [--prompt P] [--json] [--device I|NAME]\n\n"
           "Measures greedy decode speed at a KV-cache length of --ctx (default 512; the\n"
           "cache before it is not computed, only its length matters for speed), -n tokens\n"
           "per repetition (default 32), --reps repetitions (default 3), alternating dense\n"
           "and MeKi when a bank is given. Prefill speed is measured on a --prompt-token\n"
           "prompt (default 16; token by token for now). Reports medians, the MeKi/dense\n"
           "ratio, bank counters and per-kernel GPU time from one profiled step.\n"
           "  --json   one JSON object (keys: device, driver, model, ctx, n_decode, runs,\n"
           "           meki_over_dense)\n");
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

/* One repetition of a mode: a short prompt from position 0, then n greedy
 * tokens from position ctx. */
static mkv_status run_once(mode_run *r, uint32_t rep, uint32_t n_prompt, uint32_t ctx, uint32_t n, uint32_t n_vocab,
                           mkv_error *err)
{
    mkv_status st;
    mkv_session_reset(r->s);
    uint32_t tok = 1 % n_vocab;
    double t0 = cli_now_s();
    for (uint32_t i = 0; i < n_prompt; i++)
        if ((st = mkv_session_step(r->s, (i * 7919u + 1) % n_vocab, NULL, &tok, err))) return st;
    r->prefill[rep] = n_prompt / (cli_now_s() - t0);
    if ((st = mkv_session_seek(r->s, ctx, err))) return st;
    t0 = cli_now_s();
    for (uint32_t i = 0; i < n; i++) {
        if ((st = mkv_session_step(r->s, tok, NULL, &tok, err))) return st;
        mkv_session_stats ss;
        mkv_session_get_stats(r->s, &ss);
        r->stall_us[r->n_stall++] = ss.last_stall_us;
    }
    r->decode[rep] = n / (cli_now_s() - t0);
    return MKV_OK;
}

int mkv_cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *bank_path = NULL;
    uint32_t ctx = 512, n = 32, reps = 3, n_prompt = 16;
    bool json = false;
    mkv_device_opts dopts;
    mkv_device_opts_default(&dopts);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--model")) { if (!(model_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--bank")) { if (!(bank_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i))) return 2; cli_device_arg(v, &dopts); }
        else if (!strcmp(a, "--ctx")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MKV_MAX_CTX / 2, &ctx)) return 2; }
        else if (!strcmp(a, "-n")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 4096, &n)) return 2; }
        else if (!strcmp(a, "--reps")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MAX_REPS, &reps)) return 2; }
        else if (!strcmp(a, "--prompt")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 4096, &n_prompt)) return 2; }
        else { fprintf(stderr, "mekivk bench: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!model_path) { fprintf(stderr, "mekivk bench: --model is required (see --help)\n"); return 2; }
    if (n_prompt > ctx) n_prompt = ctx;

    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    mode_run runs[2] = {{.mode = "dense", .meki_off = true}, {.mode = "meki", .meki_off = false}};
    uint32_t n_modes = bank_path ? 2 : 1;
    mkv_model_opts mopts = {.bank_path = bank_path};
    mkv_model_info info;
    if (mkv_device_create(&dopts, &dev, &err) || mkv_model_load(dev, model_path, &mopts, &model, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    mkv_model_get_info(model, &info);
    mkv_session_opts so = {.n_ctx = ctx + n, .profile = true};
    for (uint32_t m = 0; m < n_modes; m++) {
        so.meki_off = runs[m].meki_off;
        runs[m].stall_us = calloc((size_t)reps * n, sizeof(double));
        if (!runs[m].stall_us || mkv_session_create(model, &so, &runs[m].s, &err)) { rc = cli_fail("bench", &err); goto out; }
    }
    /* Alternate the modes so drift (thermal, page cache) hits both alike. */
    for (uint32_t rep = 0; rep < reps; rep++)
        for (uint32_t m = 0; m < n_modes; m++) {
            if (run_once(&runs[m], rep, n_prompt, ctx, n, info.n_vocab, &err)) { rc = cli_fail("bench", &err); goto out; }
            if (!json) fprintf(stderr, "rep %u/%u %-5s %.2f tok/s\n", rep + 1, reps, runs[m].mode, runs[m].decode[rep]);
        }
    for (uint32_t m = 0; m < n_modes; m++) {
        runs[m].n_kernels = mkv_session_profile(runs[m].s, runs[m].kernels, MAX_KERNELS);
        mkv_session_get_stats(runs[m].s, &runs[m].stats);
    }

    double med[2] = {0};
    if (json) {
        printf("{\"device\": \"%s\", \"driver\": \"%s\", \"model\": \"%s\", \"ctx\": %u, \"n_decode\": %u, \"reps\": %u, \"runs\": [",
               mkv_device_name(dev), mkv_device_driver(dev), model_path, ctx, n, reps);
    } else {
        printf("device: %s (%s)\nmodel: %s, ctx %u, %u tokens x %u reps\n", mkv_device_name(dev), mkv_device_driver(dev),
               model_path, ctx, n, reps);
    }
    for (uint32_t m = 0; m < n_modes; m++) {
        mode_run *r = &runs[m];
        med[m] = median(r->decode, reps);
        double pre = median(r->prefill, reps);
        uint64_t wbytes = r->meki_off ? info.weight_bytes_dense : info.weight_bytes_meki;
        const mkv_session_stats *ss = &r->stats;
        double hit = ss->cache_hits + ss->cache_misses ? (double)ss->cache_hits / (ss->cache_hits + ss->cache_misses) : 0;
        double stall_med = median(r->stall_us, r->n_stall);
        if (json) {
            printf("%s{\"mode\": \"%s\", \"decode_tok_s\": %.4f, \"prefill_tok_s\": %.4f, \"weight_bytes_per_token\": %llu, "
                   "\"bank\": {\"bytes_read\": %llu, \"stall_ms\": %.3f, \"stall_us_median\": %.3f, \"cache_hit_rate\": %.4f}, \"kernels\": [",
                   m ? ", " : "", r->mode, med[m], pre, (unsigned long long)wbytes, (unsigned long long)ss->bank_bytes_read,
                   ss->bank_stall_ms, stall_med, hit);
            for (uint32_t k = 0; k < r->n_kernels; k++)
                printf("%s{\"name\": \"%s\", \"ms\": %.4f, \"gbps\": %.3f}", k ? ", " : "", r->kernels[k].name, r->kernels[k].ms,
                       r->kernels[k].ms > 0 ? r->kernels[k].bytes / (r->kernels[k].ms * 1e6) : 0.0);
            printf("]}");
        } else {
            printf("\n%-5s decode %.2f tok/s (median), prefill %.2f tok/s, %.1f MB weights/token\n", r->mode, med[m], pre, wbytes / 1e6);
            if (!r->meki_off)
                printf("      bank: %llu bytes read, stall %.3f ms total, median %.1f us/token, cache hit rate %.2f\n",
                       (unsigned long long)ss->bank_bytes_read, ss->bank_stall_ms, stall_med, hit);
            for (uint32_t k = 0; k < r->n_kernels; k++)
                printf("      %-14s %8.3f ms %8.2f GB/s\n", r->kernels[k].name, r->kernels[k].ms,
                       r->kernels[k].ms > 0 ? r->kernels[k].bytes / (r->kernels[k].ms * 1e6) : 0.0);
        }
    }
    if (json) {
        printf("]");
        if (n_modes == 2) printf(", \"meki_over_dense\": %.4f", med[0] > 0 ? med[1] / med[0] : 0.0);
        printf("}\n");
    } else if (n_modes == 2) {
        printf("\nmeki / dense decode: %.4f\n", med[0] > 0 ? med[1] / med[0] : 0.0);
    }
    rc = 0;
out:
    for (uint32_t m = 0; m < 2; m++) {
        mkv_session_destroy(runs[m].s);
        free(runs[m].stall_us);
    }
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    return rc;
}
