/* mekivk bench: decode speed of a model with its MeKi branch on and off, in
 * one process, alternating modes over repetitions; medians and their ratio;
 * bank counters; per-kernel GPU times from profiled steps and their
 * breakdown by component (profile.c); decode at several KV lengths in one
 * run. This file: the options, --help and --plot; the measurement is
 * bench_run.c's, its report bench_print.c's (bench --probe and --kernels,
 * the device alone: bench_alone.c; --sweep: sweep.c). Every JSON form says
 * what it ran on: device_info, mekivk_version, commit, tuning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_alone.h"
#include "bench_run.h"
#include "cli.h"
#include "report.h"
#include "sweep.h"

static void help(void)
{
    printf("usage: mekivk bench --model F.gguf [--bank F.mkb] [--ctx N[,N2..]] [-n N] [--reps R]\n"
           "                    [--prompt P] [--profile] [--cold] [--cold-dontneed] [--cache-mb M]\n"
           "                    [--bank-threads T] [--bank-sync] [--block B] [--kv-type f16|q8_0]\n"
           "                    [--json] [--plot F.svg]\n"
           "                    [--device I|NAME]\n"
           "       mekivk bench --probe [--json] [--device I|NAME]\n"
           "       mekivk bench --kernels [--config 1.7b] [--types T[,T2..]|none] [--ctx N[,N2..]]\n"
           "                    [--json] [--device I|NAME]\n"
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
           "                  lists every length (with --profile, its kernels too)\n"
           "  --profile       the time breakdown in full: GPU ms per token, GB/s and share of\n"
           "                  the probe of each component, for decode and for prefill (the\n"
           "                  first --prompt length, 3 profiled prefills after a warm-up, the\n"
           "                  middle one by GPU time, its passes summed, per prompt token),\n"
           "                  and decode's breakdown and kernels at every --ctx length. Components:\n"
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
           "                  (n_kv, ms, gbps, of_probe). --types (weight type names, or\n"
           "                  none) and --ctx (KV lengths) choose what it measures\n"
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
    bench_opts o = {.ctxs = {512}, .n_ctxs = 1, .n = 32, .reps = 3, .block = 8, .n_prompt = {128, 512}, .n_prompts = 2,
                    .kv_type = MKV_KV_F16};
    bool probe = false, kernels = false, ctx_given = false;
    mkv_bench_kernels_opts ko = {.config = "1.7b", .types = (1u << MKV_WT_COUNT) - 1u, .kv = {128, 1024, 10240}, .n_kv = 3};
    mkv_device_opts dopts;
    if (!cli_device_defaults(&dopts)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--probe")) probe = true;
        else if (!strcmp(a, "--kernels")) kernels = true;
        else if (!strcmp(a, "--profile")) o.profile = true;
        else if (!strcmp(a, "--config")) { if (!(ko.config = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--types")) { if (!(v = cli_value(argc, argv, &i)) || !mkv_bench_parse_types(a, v, &ko.types)) return 2; }
        else if (!strcmp(a, "--cold")) o.cold = true;
        else if (!strcmp(a, "--cold-dontneed")) o.cold = o.dontneed = true;
        else if (!strcmp(a, "--bank-sync")) o.bank_sync = true;
        else if (!strcmp(a, "--cache-mb")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, 1u << 20, &o.cache_mb)) return 2; }
        else if (!strcmp(a, "--bank-threads")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 64, &o.bank_threads)) return 2; }
        else if (!strcmp(a, "--model")) { if (!(o.model_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--bank")) { if (!(o.bank_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i)) || !cli_device(a, v, &dopts)) return 2; }
        else if (!strcmp(a, "--ctx")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32_list(a, v, 1, MKV_MAX_CTX / 2, o.ctxs, MAX_CTXS, &o.n_ctxs)) return 2; ctx_given = true; }
        else if (!strcmp(a, "-n")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 4096, &o.n)) return 2; }
        else if (!strcmp(a, "--reps")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MAX_REPS, &o.reps)) return 2; }
        else if (!strcmp(a, "--block")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, 4096, &o.block)) return 2; }
        else if (!strcmp(a, "--kv-type")) { if (!(v = cli_value(argc, argv, &i)) || !cli_kv_type(a, v, &o.kv_type)) return 2; }
        else if (!strcmp(a, "--prompt")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32_list(a, v, 1, MAX_PROMPT, o.n_prompt, MAX_PROMPTS, &o.n_prompts)) return 2; }
        else if (!strcmp(a, "--chunk")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 1024, &o.chunk)) return 2; }
        else { fprintf(stderr, "mekivk bench: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (probe) return mkv_bench_probe(&dopts, o.json);
    if (kernels) {
        _Static_assert(MAX_CTXS <= MKV_BENCH_KERNELS_MAX_KV, "--ctx's lengths fit bench --kernels' options");
        if (ctx_given) { /* the attention's KV lengths */
            ko.n_kv = o.n_ctxs;
            memcpy(ko.kv, o.ctxs, o.n_ctxs * sizeof o.ctxs[0]);
        }
        ko.json = o.json;
        return mkv_bench_kernels(&dopts, &ko);
    }
    if (!o.model_path) { fprintf(stderr, "mekivk bench: --model is required (see --help)\n"); return 2; }

    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    bench_result res = {0};
    mkv_model_opts mopts = {.bank_path = o.bank_path, .bank_cold = o.cold, .bank_cold_dontneed = o.dontneed};
    if (mkv_device_create(&dopts, &dev, &err) || mkv_model_load(dev, o.model_path, &mopts, &model, &err) ||
        mkv_bench_measure(dev, model, &o, &res, &err)) {
        rc = cli_fail("bench", &err);
    } else {
        if (o.json) mkv_bench_print_json(dev, &o, &res);
        else mkv_bench_print_text(dev, &o, &res);
        rc = 0;
    }
    mkv_bench_result_free(&res);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    return rc;
}
