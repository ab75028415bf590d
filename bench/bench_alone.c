/* mekivk bench without a model: the device's streaming-read bandwidth
 * (--probe: the probe's sweep of shapes, runtime/probe.c) and every weight
 * type's matrix-vector kernel and decode attention alone (--kernels:
 * kernel_bench.c), each against the probe; beside a CPU device, the host's
 * own read bandwidth (host_bw.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_alone.h"
#include "cli.h"
#include "host_bw.h"
#include "kernel_bench.h"
#include "meta.h"
#include "synth.h"

#define HOST_READ_BYTES (256ull << 20) /* the host read: far beyond any CPU cache */

double mkv_bench_host_read_gbps(const mkv_device *dev, uint32_t *threads)
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
int mkv_bench_probe(const mkv_device_opts *dopts, bool json)
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
    const double host = mkv_bench_host_read_gbps(dev, &threads);
    const mkv_bandwidth_shape *b = &sw->shapes[sw->best];
    if (json) {
        printf("{");
        mkv_bench_print_meta_json(stdout, dev);
        printf("\"probe_gbps\": %.3f, \"probe_bytes\": %llu, "
               "\"probe_reps\": %u, \"probe_timer\": \"%s\", \"probe_seconds\": %.3f, \"probe_best\": ",
               sw->best_gbps, (unsigned long long)sw->bytes, sw->reps, sw->gpu_timer ? "gpu" : "host", sw->seconds);
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
        mkv_bench_print_meta_text(stdout, dev);
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

bool mkv_bench_parse_types(const char *flag, const char *s, uint32_t *types)
{
    *types = 0;
    if (!strcmp(s, "none")) return true;
    const char *p = s;
    for (;;) {
        const size_t n = strcspn(p, ",");
        int found = -1;
        for (int t = 0; t < MKV_WT_COUNT && found < 0; t++)
            if (strlen(mkv_wtype_get((mkv_wtype)t)->name) == n && !strncmp(p, mkv_wtype_get((mkv_wtype)t)->name, n))
                found = t;
        if (found < 0) {
            fprintf(stderr, "mekivk bench: %s = '%s': '%.*s' is not a weight type (expected names among", flag, s,
                    (int)n, p);
            for (int t = 0; t < MKV_WT_COUNT; t++) fprintf(stderr, " %s", mkv_wtype_get((mkv_wtype)t)->name);
            fprintf(stderr, ", separated by commas, or none)\n");
            return false;
        }
        *types |= 1u << found;
        if (!p[n]) return true;
        p += n + 1;
    }
}

/* bench --kernels: the chosen weight types' matrix-vector products at a
 * config's FFN shapes, and decode attention at the chosen KV lengths, each
 * against the probe. */
int mkv_bench_kernels(const mkv_device_opts *dopts, const mkv_bench_kernels_opts *o)
{
    const mkv_synth_shape *sh = mkv_synth_find_shape(o->config);
    if (!sh) {
        fprintf(stderr, "mekivk bench: --config '%s': expected tiny, small, 0.6b, 1.7b or 4b\n", o->config);
        return 2;
    }
    const bool json = o->json;
    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_kernel_bench_row rows[MKV_KERNEL_BENCH_MAX];
    uint32_t n_rows = 0;
    double probe = 0;
    double attn_ms[MKV_BENCH_KERNELS_MAX_KV] = {0}, attn_gbps[MKV_BENCH_KERNELS_MAX_KV] = {0};
    if (mkv_device_create(dopts, &dev, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    if (mkv_device_bandwidth(dev, 0, &probe, &err)) fprintf(stderr, "mekivk bench: no bandwidth probe: %s\n", err.msg);
    if (!json) {
        printf("device: %s (%s), bandwidth probe %.2f GB/s; %s shapes\n", mkv_device_name(dev), mkv_device_driver(dev),
               probe, sh->name);
        mkv_bench_print_meta_text(stdout, dev);
    }
    if (mkv_kernel_bench(dev, sh->d_model, sh->d_ffn, o->types, 15, !json, rows, &n_rows, &err)) {
        rc = cli_fail("bench", &err);
        goto out;
    }
    for (uint32_t i = 0; i < o->n_kv; i++) {
        if (mkv_kernel_bench_attention(dev, sh->n_head, sh->n_kv_head, sh->head_dim, o->kv[i], 5, &attn_ms[i],
                                       &attn_gbps[i], &err)) {
            rc = cli_fail("bench", &err);
            goto out;
        }
        if (!json) printf("  attention    kv %5u %14.3f ms  %6.2f GB/s\n", o->kv[i], attn_ms[i], attn_gbps[i]);
    }
    if (json) {
        printf("{");
        mkv_bench_print_meta_json(stdout, dev);
        printf("\"config\": \"%s\", \"probe_gbps\": %.3f, \"kernels\": [", sh->name, probe);
        for (uint32_t i = 0; i < n_rows; i++)
            printf("%s{\"name\": \"matvec_%s\", \"shape\": \"%s\", \"rows\": %u, \"cols\": %u, \"bytes\": %llu, "
                   "\"ms\": %.4f, \"gbps\": %.3f, \"of_probe\": %.3f}",
                   i ? ", " : "", mkv_wtype_get(rows[i].type)->name, rows[i].shape, rows[i].rows, rows[i].cols,
                   (unsigned long long)rows[i].bytes, rows[i].ms, rows[i].gbps, probe > 0 ? rows[i].gbps / probe : 0.0);
        printf("], \"attention\": [");
        for (uint32_t i = 0; i < o->n_kv; i++)
            printf("%s{\"n_kv\": %u, \"ms\": %.4f, \"gbps\": %.3f, \"of_probe\": %.3f}", i ? ", " : "", o->kv[i],
                   attn_ms[i], attn_gbps[i], probe > 0 ? attn_gbps[i] / probe : 0.0);
        printf("]}\n");
    } else if (probe > 0 && n_rows) {
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

