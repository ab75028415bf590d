/* mekivk bench's report of a measurement (bench_run.c): one JSON object
 * (--json; bench.c's help lists its keys) or the text for people. Both
 * take each mode's figures from mode_figures, so they cannot disagree. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bank.h"
#include "bench_run.h"
#include "cli.h"
#include "json.h"
#include "meta.h"
#include "stats.h"

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

/* A mode's figures at the first --ctx length. */
typedef struct mode_figs {
    double med, pre;          /* decode and first prompt's prefill tok/s, medians */
    uint64_t wbytes, kv_bytes; /* weight and K/V bytes a token reads */
    double wgbps;             /* weights streamed per second at the median speed */
    double roof;              /* time per token over (wbytes + kv_bytes) at the probe's bandwidth; 0: unknown */
    double hit, stall_med, window_med, read_us;
} mode_figs;

static mode_figs mode_figures(const bench_opts *o, const bench_result *res, uint32_t m)
{
    const mode_run *r = &res->runs[m];
    const mkv_model_info *info = &res->info;
    const mkv_session_stats *ss = &r->stats;
    mode_figs f;
    f.med = mkv_median(r->decode, o->reps);
    f.pre = mkv_median(r->prefill[0], o->reps);
    f.wbytes = r->meki_off ? info->weight_bytes_dense : info->weight_bytes_meki;
    f.hit = ss->cache_hits + ss->cache_misses ? (double)ss->cache_hits / (ss->cache_hits + ss->cache_misses) : 0;
    f.stall_med = mkv_median(r->stall_us, r->n_stall);
    f.window_med = mkv_median(r->window_us, r->n_stall);
    f.read_us = ss->bank_reads ? ss->bank_read_ms * 1e3 / (double)ss->bank_reads : 0;
    f.wgbps = (double)f.wbytes * f.med * 1e-9;
    /* The roofline: a step must read the weights and the K/V cache once
     * (ctx positions of every layer, as stored); time per token over the
     * time those bytes take at the probe's bandwidth. */
    f.kv_bytes = 2ull * info->n_layer *
                 mkv_kv_cache_bytes(o->ctxs[0], info->n_kv_head * info->head_dim, o->kv_type == MKV_KV_Q8_0);
    f.roof = res->probe_gbps > 0 && f.med > 0 ? (1.0 / f.med) / ((f.wbytes + f.kv_bytes) / (res->probe_gbps * 1e9)) : 0;
    return f;
}

static void kernels_json(const mkv_kernel_time *k, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        printf("%s{\"name\": \"%s\", \"ms\": %.4f, \"gbps\": %.3f}", i ? ", " : "", k[i].name, k[i].ms,
               k[i].ms > 0 ? k[i].bytes / (k[i].ms * 1e6) : 0.0);
}

static void kernels_text(const mkv_kernel_time *k, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        printf("      %-26s %8.3f ms %8.2f GB/s\n", k[i].name, k[i].ms, k[i].ms > 0 ? k[i].bytes / (k[i].ms * 1e6) : 0.0);
}

void mkv_bench_print_json(const mkv_device *dev, const bench_opts *o, const bench_result *res)
{
    const uint32_t n_modes = res->n_modes, reps = o->reps;
    const ctx_run *cr = res->cr;
    double med[2] = {0};
    printf("{");
    mkv_bench_print_meta_json(stdout, dev);
    printf("\"model\": ");
    json_str(o->model_path);
    printf(", \"ctx\": %u, \"n_decode\": %u, \"reps\": %u, \"block\": %u, \"profile\": %s, \"weight_types\": ", o->ctxs[0],
           o->n, reps, o->block, o->profile ? "true" : "false");
    json_str(res->info.weight_types);
    printf(", \"kv_type\": \"%s\", \"probe_gbps\": %.3f, ", cli_kv_type_name(o->kv_type), res->probe_gbps);
    if (res->host_gbps > 0) printf("\"host_read_gbps\": %.3f, \"host_threads\": %u, ", res->host_gbps, res->host_threads);
    printf("\"runs\": [");
    for (uint32_t m = 0; m < n_modes; m++) {
        const mode_run *r = &res->runs[m];
        const mkv_session_stats *ss = &r->stats;
        const mode_figs f = mode_figures(o, res, m);
        med[m] = f.med;
        printf("%s{\"mode\": \"%s\", \"decode_tok_s\": %.4f, \"prefill_tok_s\": %.4f, \"weight_bytes_per_token\": %llu, "
               "\"weight_gbps\": %.3f, \"kv_bytes_per_token\": %llu, \"time_over_roofline\": %.3f, "
               "\"bank\": {\"bytes_read\": %llu, \"reads\": %llu, \"stall_ms\": %.3f, \"stall_us_median\": %.3f, "
               "\"stall_steps\": %llu, \"window_us_median\": %.1f, \"read_us_mean\": %.1f, \"cache_hit_rate\": %.4f, "
               "\"io_mode\": \"%s\", \"crc\": \"%s\"}, ",
               m ? ", " : "", r->mode, f.med, f.pre, (unsigned long long)f.wbytes, f.wgbps, (unsigned long long)f.kv_bytes,
               f.roof, (unsigned long long)ss->bank_bytes_read, (unsigned long long)ss->bank_reads, ss->bank_stall_ms,
               f.stall_med, (unsigned long long)ss->stall_steps, f.window_med, f.read_us, f.hit, ss->bank_io,
               r->meki_off ? "" : mkv_crc32c_impl());
        printf("\"prefill\": [");
        for (uint32_t k = 0; k < o->n_prompts; k++)
            printf("%s{\"prompt\": %u, \"tok_s\": %.4f, \"stall_ms\": %.3f}", k ? ", " : "", o->n_prompt[k],
                   mkv_median(r->prefill[k], reps), mkv_median(r->prefill_stall[k], reps));
        printf("], ");
        printf("\"decode_tok_s_reps\": [");
        for (uint32_t k = 0; k < reps; k++) printf("%s%.4f", k ? ", " : "", r->decode[k]);
        printf("], ");
        printf("\"kernels\": [");
        kernels_json(r->kernels, r->n_kernels);
        printf("], ");
        print_breakdown_json("", &r->bd, res->probe_gbps);
        printf("\"profile_complete\": %s", r->bd.complete && (!o->profile || r->pre_bd.complete) ? "true" : "false");
        if (o->profile) {
            printf(", \"prefill_profile_prompt\": %u, ", o->n_prompt[0]);
            print_breakdown_json("prefill_", &r->pre_bd, res->probe_gbps);
            printf("\"prefill_kernels\": [");
            kernels_json(r->pre_kernels, r->n_pre_kernels);
            printf("]");
        }
        printf("}");
    }
    printf("]");
    /* The paired estimate: both modes ran in turns within each repetition,
     * on the same machine state, so the median of their per-repetition
     * ratios is robust to drift between repetitions (the ratio of the two
     * medians can pair a slow repetition of one mode with a fast one of
     * the other). */
    if (n_modes == 2)
        printf(", \"meki_over_dense\": %.4f, \"meki_over_dense_paired\": %.4f", med[0] > 0 ? med[1] / med[0] : 0.0,
               cr[0].paired);
    printf(", \"contexts\": [");
    for (uint32_t c = 0; c < o->n_ctxs; c++) {
        printf("%s{\"ctx\": %u, \"runs\": [", c ? ", " : "", cr[c].ctx);
        for (uint32_t m = 0; m < n_modes; m++) {
            printf("%s{\"mode\": \"%s\", \"decode_tok_s\": %.4f, \"decode_tok_s_reps\": [", m ? ", " : "", res->runs[m].mode,
                   cr[c].med[m]);
            for (uint32_t k = 0; k < reps; k++) printf("%s%.4f", k ? ", " : "", cr[c].decode[m][k]);
            printf("]");
            if (o->profile) {
                printf(", ");
                print_comp_json("breakdown", cr[c].bd[m].ms);
                printf(", \"gpu_ms_per_token\": %.4f, \"kernels\": [", cr[c].bd[m].gpu_ms);
                kernels_json(cr[c].kernels[m], cr[c].n_kernels[m]);
                printf("]");
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
}

void mkv_bench_print_text(const mkv_device *dev, const bench_opts *o, const bench_result *res)
{
    const uint32_t n_modes = res->n_modes, reps = o->reps;
    const ctx_run *cr = res->cr;
    const mode_run *runs = res->runs;
    const double probe_gbps = res->probe_gbps;
    double med[2] = {0};
    printf("device: %s (%s), bandwidth probe %.2f GB/s\n", mkv_device_name(dev), mkv_device_driver(dev), probe_gbps);
    mkv_bench_print_meta_text(stdout, dev);
    printf("model: %s, ctx %u, %u tokens x %u reps, turns of %u tokens\n", o->model_path, o->ctxs[0], o->n, reps,
           o->block ? o->block : o->n);
    printf("weights: %s; KV cache %s\n", res->info.weight_types, cli_kv_type_name(o->kv_type));
    if (res->host_gbps > 0) printf("host read (C, %u threads): %.2f GB/s\n", res->host_threads, res->host_gbps);
    for (uint32_t m = 0; m < n_modes; m++) {
        const mode_run *r = &runs[m];
        const mkv_session_stats *ss = &r->stats;
        const mode_figs f = mode_figures(o, res, m);
        med[m] = f.med;
        printf("\n%-5s decode %.2f tok/s (median), %.1f MB weights/token: %.2f GB/s, %.0f %% of the probe\n", r->mode, f.med,
               f.wbytes / 1e6, f.wgbps, probe_gbps > 0 ? 100 * f.wgbps / probe_gbps : 0.0);
        for (uint32_t k = 0; k < o->n_prompts; k++) {
            printf("      prefill of %u tokens: %.2f tok/s (median)", o->n_prompt[k], mkv_median(r->prefill[k], reps));
            if (!r->meki_off) printf(", the GPU waited %.3f ms on the bank", mkv_median(r->prefill_stall[k], reps));
            printf("\n");
        }
        if (f.roof > 0)
            printf("      %.0f ms per token: %.2fx the time its %.1f MB of weights and %.1f MB of K/V take at the probe's bandwidth\n",
                   1e3 / f.med, f.roof, f.wbytes / 1e6, f.kv_bytes / 1e6);
        if (!r->meki_off)
            printf("      bank (%s, crc %s): %llu reads of %.0f us on average, %llu bytes, cache hit rate %.2f\n"
                   "      stall %.3f ms total in %llu steps, median %.1f us/token; median %.0f us of GPU work hides each read\n",
                   ss->bank_io, mkv_crc32c_impl(), (unsigned long long)ss->bank_reads, f.read_us,
                   (unsigned long long)ss->bank_bytes_read, f.hit, ss->bank_stall_ms, (unsigned long long)ss->stall_steps,
                   f.stall_med, f.window_med);
        kernels_text(r->kernels, r->n_kernels);
        if (o->profile) {
            if (r->n_pre_kernels) printf("      prefill of %u tokens, per token:\n", o->n_prompt[0]);
            kernels_text(r->pre_kernels, r->n_pre_kernels);
            print_comp_table(&r->bd, &r->pre_bd, o->n_prompt[0], probe_gbps, f.med, f.pre);
        } else if (r->bd.valid) {
            printf("      by component (ms/token):");
            for (uint32_t c = 0; c < MKV_COMP_COUNT; c++)
                printf(" %s %.3f%s", mkv_component_name[c], r->bd.ms[c], c + 1 < MKV_COMP_COUNT ? "," : "");
            printf("; sum %.3f, the step's GPU time %.3f\n", comp_sum(&r->bd), r->bd.gpu_ms);
        }
    }
    if (n_modes == 2)
        printf("\nmeki / dense decode: %.4f (medians), %.4f (median of the per-repetition ratios)\n",
               med[0] > 0 ? med[1] / med[0] : 0.0, cr[0].paired);
    if (n_modes == 2 && runs[0].bd.valid && runs[1].bd.valid)
        printf("MeKi's cost per token from the two modes' GPU time: %.3f ms (meki %.3f - dense %.3f); its breakdown "
               "component: %.3f ms\n",
               runs[1].bd.gpu_ms - runs[0].bd.gpu_ms, runs[1].bd.gpu_ms, runs[0].bd.gpu_ms, runs[1].bd.ms[MKV_COMP_MEKI]);
    if (o->n_ctxs > 1 || o->profile) {
        printf("\ndecode by KV length (median tok/s%s):\n  %7s", o->profile ? "; GPU ms per token by component" : "", "ctx");
        for (uint32_t m = 0; m < n_modes; m++) printf(" %9s", runs[m].mode);
        if (n_modes == 2) printf(" %10s", "meki/dense");
        printf("\n");
        for (uint32_t c = 0; c < o->n_ctxs; c++) {
            printf("  %7u", cr[c].ctx);
            for (uint32_t m = 0; m < n_modes; m++) printf(" %9.3f", cr[c].med[m]);
            if (n_modes == 2) printf(" %10.4f", cr[c].med[0] > 0 ? cr[c].med[1] / cr[c].med[0] : 0.0);
            printf("\n");
            if (!o->profile) continue;
            for (uint32_t m = 0; m < n_modes; m++) {
                printf("  %7s %-5s", "", runs[m].mode);
                for (uint32_t k = 0; k < MKV_COMP_COUNT; k++) printf(" %s %.2f", mkv_component_name[k], cr[c].bd[m].ms[k]);
                printf("; GPU %.2f ms\n", cr[c].bd[m].gpu_ms);
            }
        }
    }
}
