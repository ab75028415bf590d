/* mekivk bench --sweep (sweep.h).
 *
 * The model's GGUF description (no upload) gives its product shapes and
 * weight types: per layer q/k/v (one fused product when their types agree,
 * as model.c loads them), the output projection, gate+up (SwiGLU) and down
 * (ffn_out), and the LM head; decode attention at its head shape. Each
 * distinct (kernel, type, rows, cols) becomes a job, weighted by how often
 * a token (decode) or a prefill pass runs it. The groups of the sweep space
 * (runtime/tuning.h: reads, matvec, mm, attn) are tuned one after the
 * other, greedily: every variant of a group is run on every job of the
 * group, first once on random data and compared with a C reference (the
 * weights decoded by runtime/dequant.c, sums in double; a variant that
 * fails is skipped and reported), then timed with GPU timestamps; the
 * fastest is kept, and the next group starts from it.
 *
 * Timing: as bench --kernels does, the products of a job take turns over
 * copies of its matrix that together exceed the caches (a decode step
 * streams every weight from memory once); each variant's time on a job is
 * the median of `reps` back-to-back runs (a prefill product: one run), the
 * smallest of five rounds taken in turn over the variants (load from
 * elsewhere on the machine only ever adds time, and hits them alike). A
 * group's variants are scored per category (decode products, prefill
 * products, decode attention: ms per token or per prefill pass); a variant
 * replaces the group's current values only if it is slower in no category
 * (2 % of slack for noise) and at least 3 % faster over them, so the
 * written file is never slower than the table's row by the sweep's own
 * measure. A variant already 1.5x slower than the current values over the
 * jobs done is dropped ("pruned").
 *
 * Whole prefills have the last word on a group that times prefill products
 * (reads, mm): kernels timed alone did not foretell a whole prefill (the
 * 8 x 8 mm tile: faster alone, 3-4 % slower in 128-token prefills on
 * lavapipe). Before such a group's new values are taken, the model itself
 * (dense: the MeKi branch off) runs whole prefills with the current values
 * and with the new, taking turns (sweep_check.h); the new are kept only if
 * their median is at least 3 % lower (GAIN) where prefill is all the group
 * times (mm), or no more than 2 % higher (SLACK) where it is one of its
 * categories (reads: decode gains count too). */
#include "sweep.h"
#include "stats.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "sweep_check.h"
#include "sweep_job.h"

#define SLACK 1.02   /* a variant may be this much slower in a category (noise) */
#define GAIN 0.97    /* and must be at least this much faster overall to be taken */
#define PRUNE 1.5    /* dropped once this much slower than the current values */

static const char *const cat_name[N_CAT] = {"decode products", "prefill products", "decode attention"};
static const char *const cat_key[N_CAT] = {"decode_ms", "prefill_ms", "attention_ms"};
static const char *const cat_col[N_CAT] = {"decode", "prefill", "attention"};

typedef struct variant_result {
    mkv_tunables t;
    double cat_ms[N_CAT];  /* weighted sums over the group's jobs */
    double job_ms[MAX_JOBS];
    bool failed, pruned;
    uint32_t pruned_after;  /* jobs timed when it was dropped */
    double pruned_ratio;    /* its time over the current values' on them */
    char error[640];
} variant_result;

typedef struct sweep_opts {
    const char *model, *out, *bank; /* bank: a MeKi model's, for the prefill check (its branch stays off) */
    bool json, quick;
    uint32_t reps, reps_mm, rounds, n_tok, n_kv;
    uint32_t prefill_tokens, prefill_rounds; /* the whole-prefill check */
} sweep_opts;


static bool job_in_group(const job *j, mkv_tuning_group g)
{
    switch (g) {
    case MKV_TUNE_READS: return true;
    case MKV_TUNE_MATVEC: return j->kind == J_MATVEC || j->kind == J_SWIGLU || j->kind == J_FFN_OUT;
    case MKV_TUNE_MM: return j->kind == J_MM;
    case MKV_TUNE_ATTN: return j->kind == J_ATTN;
    default: return false;
    }
}

static const char *kind_name(job_kind k)
{
    static const char *const n[] = {"matvec", "matvec_swiglu", "ffn_out", "mm", "attn"};
    return n[k];
}

/* ---- the sweep ------------------------------------------------------------------------- */

typedef struct group_result {
    mkv_tuning_group g;
    variant_result v[MKV_TUNING_MAX_VARIANTS];
    uint32_t n, chosen, n_jobs;
    bool cat_used[N_CAT];
    /* the whole-prefill check, where one ran: of variant `candidate` */
    bool checked, kernel_choice, kept; /* kernel_choice: the kernel times chose it (else --quick checked it anyway) */
    uint32_t candidate;
    double threshold;                  /* its ratio must be at most this to be kept */
    mkv_prefill_ab ab;
} group_result;

/* The score of variant i against the current values (variant 0): the sum
 * over the group's categories of its time / theirs; infinity when it may
 * not be taken (failed, pruned, slower in a category). */
static double score(const group_result *gr, uint32_t i)
{
    const variant_result *v = &gr->v[i], *b = &gr->v[0];
    if (v->failed || v->pruned) return INFINITY;
    double s = 0;
    for (int c = 0; c < N_CAT; c++) {
        if (!gr->cat_used[c]) continue;
        if (b->cat_ms[c] <= 0) continue;
        const double ratio = v->cat_ms[c] / b->cat_ms[c];
        if (i && ratio > SLACK) return INFINITY;
        s += ratio;
    }
    return s;
}

static uint32_t n_cats(const group_result *gr)
{
    uint32_t n = 0;
    for (int c = 0; c < N_CAT; c++) n += gr->cat_used[c];
    return n;
}

static mkv_status sweep_group(mkv_device *d, const sweep_opts *o, job *jobs, uint32_t n_jobs, group_result *gr,
                              mkv_progress *prog, mkv_error *err)
{
    mkv_status st = MKV_OK;
    uint32_t done = 0;
    for (uint32_t ji = 0; ji < n_jobs && !st; ji++) {
        job *j = &jobs[ji];
        if (!job_in_group(j, gr->g)) continue;
        gr->cat_used[cat_of(j)] = true;
        gr->n_jobs++;
        if ((st = mkv_sweep_job_host(j, err))) break;
        job_dev jd;
        if ((st = mkv_sweep_job_dev_create(d, j, !o->quick, &jd, err))) {
            mkv_sweep_job_dev_destroy(d, &jd);
            break;
        }
        const uint32_t reps = j->kind == J_MM ? o->reps_mm : o->reps;
        for (uint32_t round = 0; round < o->rounds && !st; round++)
            for (uint32_t i = 0; i < gr->n && !st; i++) {
                variant_result *v = &gr->v[i];
                mkv_progress_add(prog, 1);
                if (v->failed || v->pruned) continue;
                if (round == 0) {
                    double e = 0;
                    mkv_error verr = {0};
                    mkv_status vst = mkv_sweep_check_job(d, &jd, &v->t, &e, &verr);
                    if (vst || !(e <= mkv_sweep_tolerance(j, &v->t))) {
                        char desc[96];
                        mkv_tuning_describe(gr->g, &v->t, false, desc, sizeof desc);
                        v->failed = true;
                        if (vst) snprintf(v->error, sizeof v->error, "%s %s %ux%u: %.500s", kind_name(j->kind),
                                          mkv_wtype_get(j->type)->name, j->rows, j->cols, verr.msg);
                        else snprintf(v->error, sizeof v->error, "%s %s %ux%u%s: relative error %.3g > %.3g",
                                      kind_name(j->kind), mkv_wtype_get(j->type)->name, j->rows, j->cols,
                                      j->kind == J_MM ? " (batch)" : "", e, mkv_sweep_tolerance(j, &v->t));
                        fprintf(stderr, "mekivk bench --sweep: %s %s fails its check, skipped: %s\n",
                                mkv_tuning_group_name(gr->g), desc, v->error);
                        if (i == 0) /* the current values themselves: nothing to compare with */
                            st = mkv_fail(err, MKV_ERR_UNSUPPORTED, "the current %s values (%s) fail their check: %s",
                                          mkv_tuning_group_name(gr->g), desc, v->error);
                        continue;
                    }
                }
                double ms = 0;
                if ((st = mkv_sweep_time_job(d, &jd, &v->t, reps, &ms, err))) break;
                if (round == 0 || ms < v->job_ms[ji]) v->job_ms[ji] = ms;
            }
        mkv_sweep_job_dev_destroy(d, &jd);
        if (st) break;
        /* the weighted sums so far; prune the far slower */
        for (uint32_t i = 0; i < gr->n; i++) {
            variant_result *v = &gr->v[i];
            if (v->failed || v->pruned) continue;
            v->cat_ms[cat_of(j)] += j->count * v->job_ms[ji];
        }
        done++;
        double base = 0;
        for (int c = 0; c < N_CAT; c++) base += gr->v[0].cat_ms[c];
        for (uint32_t i = 1; i < gr->n; i++) {
            variant_result *v = &gr->v[i];
            double s = 0;
            for (int c = 0; c < N_CAT; c++) s += v->cat_ms[c];
            if (!v->failed && !v->pruned && s > PRUNE * base) { /* its remaining steps count as done */
                v->pruned = true;
                v->pruned_after = done;
                v->pruned_ratio = s / base;
            }
        }
    }
    if (st) return st;
    gr->chosen = 0;
    double best = score(gr, 0) * GAIN;
    for (uint32_t i = 1; i < gr->n; i++) {
        const double s = score(gr, i);
        if (s < best) best = s, gr->chosen = i;
    }
    return MKV_OK;
}

/* The whole-prefill check of a group that times prefill products: its
 * choice (with --quick, the mm group's first other variant that passed its
 * check, if the kernel times chose none: so that CI runs the check) against
 * the values before it. Not confirmed: the group keeps those. The model is
 * loaded at the first check and kept for the next. */
static mkv_status confirm_prefill(mkv_device *d, const sweep_opts *o, mkv_model **model, group_result *gr,
                                  mkv_progress *prog, mkv_error *err)
{
    if (!gr->cat_used[CAT_PREFILL]) return MKV_OK;
    uint32_t c = gr->chosen;
    for (uint32_t i = 1; !c && o->quick && gr->g == MKV_TUNE_MM && i < gr->n; i++)
        if (!gr->v[i].failed) c = i;
    if (!c) return MKV_OK;
    mkv_error e = {0};
    mkv_status st = MKV_OK;
    const mkv_model_opts mo = {.bank_path = o->bank};
    if (!*model && (st = mkv_model_load(d, o->model, &mo, model, &e)))
        return mkv_fail(err, st, "the %s group's prefill check: loading the model: %s", mkv_tuning_group_name(gr->g), e.msg);
    prog->total += mkv_prefill_ab_steps(o->prefill_rounds);
    if ((st = mkv_prefill_ab_run(d, *model, &gr->v[0].t, &gr->v[c].t, o->prefill_tokens, o->prefill_rounds, prog,
                                 &gr->ab, &e)))
        return mkv_fail(err, st, "the %s group's %s", mkv_tuning_group_name(gr->g), e.msg);
    gr->checked = true;
    gr->candidate = c;
    gr->kernel_choice = c == gr->chosen;
    gr->threshold = n_cats(gr) == 1 ? GAIN : SLACK;
    gr->kept = gr->kernel_choice && gr->ab.ratio <= gr->threshold;
    if (!gr->kept) gr->chosen = 0;
    return MKV_OK;
}

static void help(void)
{
    printf("usage: mekivk bench --sweep --model F.gguf [--bank F.mkb] [--out tuning.json] [--json]\n"
           "                    [--quick] [--reps R] [--prefill-tokens N] [--device I|NAME]\n\n"
           "Times the tunable variants of every kernel the model uses on this device, at\n"
           "the model's shapes and weight types, and writes the fastest as a tuning file\n"
           "(load it with MKV_TUNING=F or mkv_device_opts.tuning_file). The groups, in\n"
           "order, each starting from the previous one's choice:\n"
           "  reads   texel or storage-buffer reads of weights, inputs and the KV cache\n"
           "  matvec  rows at once and per workgroup of the decode products (matvec,\n"
           "          SwiGLU, ffn_out) at each q/k/v, output, gate+up, down and LM head shape\n"
           "  mm      the register tile of the prefill products, at a 128-token pass, and where\n"
           "          the device has cooperative matrices, the products on them (mm.coop)\n"
           "  attn    positions per decode attention split, and positions per team step\n"
           "          (attn.u; on a GPU with the workgroup, every combination), and the splits\n"
           "          merged by attention's last split rather than attn_combine (attn.merge),\n"
           "          at a KV length of 1024\n"
           "Every variant first runs once on random data of the shape and type and is\n"
           "compared with a C reference (weights decoded on the host, sums in double); a\n"
           "variant that fails is skipped and reported. Times: GPU timestamps, the median\n"
           "of --reps runs back to back (default 5; prefill products 1), the smallest of\n"
           "five rounds taken in turn over the variants, each shape's products over\n"
           "copies of its matrix past the caches. A variant\n"
           "replaces the current values only if it is slower in no category (decode\n"
           "products, prefill products, decode attention; 2%% slack) and at least 3%%\n"
           "faster in all; one 1.5x slower is dropped early.\n"
           "Whole prefills confirm a new choice of the groups that time prefill products\n"
           "(reads, mm) before it is taken (products timed alone can mislead): the model\n"
           "is loaded (MeKi branch off) and runs a prompt of --prefill-tokens from\n"
           "position 0 in a session with the values before the choice and in one with\n"
           "the choice, 3 rounds taking turns (AB, BA, AB), wall time; the choice is kept\n"
           "only if its median is at least 3%% lower (mm) or at most 2%% higher (reads,\n"
           "whose gains may be in decode); otherwise the group keeps the values before.\n"
           "Only variants of the space the kernel tests cover are tried\n"
           "(runtime/tuning.c), so the file loads.\n"
           "MKV_TUNING is ignored: the sweep starts from the tuning table's row.\n"
           "  --bank F   a MeKi model's bank, which loading it needs (default: bank.mkb\n"
           "             beside the model, as synth and convert write it)\n"
           "  --prefill-tokens N  the prefill check's prompt (default 128, --quick 16; at\n"
           "             most the model's context length), 2..4096\n"
           "  --out F    the tuning file (default tuning.json), read back to prove it loads\n"
           "  --json     one JSON object: tuning_file, device, row, subgroup_size, model,\n"
           "             groups [{kernel, variants [{values, ms (null unless timed on every\n"
           "             shape), decode_ms/prefill_ms/attention_ms, ok, pruned, error}],\n"
           "             chosen, speedup, prefill_check (null where none ran, else {tokens,\n"
           "             rounds, candidate (values), current_ms, candidate_ms (medians),\n"
           "             ratio, threshold, kernel_choice, kept})}], table_ms, tuned_ms and\n"
           "             speedup per category (the product of each group's ratio, measured\n"
           "             head to head; a choice the prefill check refused counts 1)\n"
           "  --quick    two variants per group, small shapes' copies, one round; the\n"
           "             prefill check: one round of 16 tokens, and on the mm group even\n"
           "             when the kernel times chose nothing (the other variant then never\n"
           "             kept) (CI)\n");
}

static void print_cats(FILE *f, const double *ms, const bool *used)
{
    bool first = true;
    for (int c = 0; c < N_CAT; c++)
        if (used[c]) {
            fprintf(f, "%s\"%s\": %.4f", first ? "" : ", ", cat_key[c], ms[c]);
            first = false;
        }
}

int mkv_bench_sweep(int argc, char **argv)
{
    sweep_opts o = {.out = "tuning.json", .reps = 5, .reps_mm = 1, .rounds = 5, .n_tok = 128, .n_kv = 1024,
                    .prefill_tokens = 128, .prefill_rounds = 3};
    bool reps_set = false, prefill_set = false;
    mkv_device_opts dopts;
    if (!cli_device_defaults(&dopts)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--sweep")) continue;
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--quick")) o.quick = true;
        else if (!strcmp(a, "--model")) { if (!(o.model = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(o.out = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--bank")) { if (!(o.bank = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--prefill-tokens")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 2, 4096, &o.prefill_tokens)) return 2; prefill_set = true; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i)) || !cli_device(a, v, &dopts)) return 2; }
        else if (!strcmp(a, "--reps")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 63, &o.reps)) return 2; reps_set = true; }
        else { fprintf(stderr, "mekivk bench --sweep: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!o.model) { fprintf(stderr, "mekivk bench --sweep: --model is required (see --help)\n"); return 2; }
    if (!*o.out) { fprintf(stderr, "mekivk bench --sweep: --out is empty\n"); return 2; }
    if (o.quick) {
        o.rounds = 1, o.reps_mm = 1, o.n_tok = 32, o.n_kv = 256, o.prefill_rounds = 1;
        if (!reps_set) o.reps = 3;
        if (!prefill_set) o.prefill_tokens = 16;
    }
    if (dopts.tuning_file)
        fprintf(stderr, "mekivk bench --sweep: MKV_TUNING=%s ignored: the sweep starts from the tuning table's row\n",
                dopts.tuning_file);
    dopts.tuning_file = NULL;

    int rc = 1;
    mkv_error err = {0};
    mkv_model_desc *desc = NULL;
    mkv_device *dev = NULL;
    mkv_model *model = NULL; /* loaded for the prefill check */
    char bank_path[PATH_MAX];
    job jobs[MAX_JOBS];
    uint32_t n_jobs = 0;
    group_result *gr = calloc(MKV_TUNE_GROUPS, sizeof *gr);
    memset(jobs, 0, sizeof jobs);
    if (!gr) { fprintf(stderr, "mekivk bench --sweep: out of memory\n"); return 1; }
    if (mkv_model_desc_load(o.model, &desc, &err) || mkv_sweep_model_jobs(desc, o.n_tok, o.n_kv, jobs, &n_jobs, &err) ||
        mkv_device_create(&dopts, &dev, &err)) {
        rc = cli_fail("bench --sweep", &err);
        goto out;
    }
    if (o.bank && !desc->cfg.d_mem) {
        fprintf(stderr, "mekivk bench --sweep: %s is a dense model: it takes no bank (%s)\n", o.model, o.bank);
        goto out;
    }
    if (desc->cfg.d_mem && !o.bank) { /* loading a MeKi model takes its bank, even with the branch off */
        const char *slash = strrchr(o.model, '/');
        const int n = slash ? snprintf(bank_path, sizeof bank_path, "%.*s/bank.mkb", (int)(slash - o.model), o.model)
                            : snprintf(bank_path, sizeof bank_path, "bank.mkb");
        if (n < 0 || (size_t)n >= sizeof bank_path || access(bank_path, R_OK)) {
            fprintf(stderr, "mekivk bench --sweep: %s is a MeKi model, and loading it for the prefill check needs its "
                    "bank: none at %s (--bank F)\n", o.model, bank_path);
            goto out;
        }
        o.bank = bank_path;
    }
    if (desc->cfg.n_ctx_train >= 2 && o.prefill_tokens > desc->cfg.n_ctx_train) o.prefill_tokens = desc->cfg.n_ctx_train;
    if (!dev->timestamps) {
        fprintf(stderr, "mekivk bench --sweep: %s has no GPU timestamps to time kernels with\n", dev->props.deviceName);
        goto out;
    }
    const mkv_tuning_key key = mkv_device_tuning_key(dev);
    const mkv_tunables table = dev->tune;
    const char *row = dev->tuning_row;
    mkv_tunables cur = table;

    /* the space, and the progress bar's steps */
    uint64_t steps = 0;
    for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
        mkv_tunables v[MKV_TUNING_MAX_VARIANTS];
        gr[g].g = (mkv_tuning_group)g;
        gr[g].n = mkv_tuning_variants(&key, &cur, (mkv_tuning_group)g, v);
        if (o.quick && gr[g].n > 2) gr[g].n = 2;
        uint32_t nj = 0;
        for (uint32_t i = 0; i < n_jobs; i++) nj += job_in_group(&jobs[i], (mkv_tuning_group)g);
        steps += (uint64_t)gr[g].n * nj * o.rounds;
    }
    if (!o.json) {
        printf("mekivk bench --sweep: %s, subgroup %u, table row \"%s\"\n", dev->props.deviceName, dev->subgroup_size, row);
        printf("model %s: %s, %u layers; %u shapes (decode products, prefill products of %u tokens, decode attention at "
               "%u positions)\n", o.model, desc->cfg.arch, desc->cfg.n_layer, n_jobs, o.n_tok, o.n_kv);
        fflush(stdout);
    }
    mkv_progress prog;
    mkv_progress_start(&prog, true, "sweep", steps);
    for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
        mkv_tunables v[MKV_TUNING_MAX_VARIANTS];
        uint32_t n = mkv_tuning_variants(&key, &cur, (mkv_tuning_group)g, v);
        if (n > gr[g].n) n = gr[g].n;
        gr[g].n = n;
        for (uint32_t i = 0; i < n; i++) gr[g].v[i].t = v[i];
        if (sweep_group(dev, &o, jobs, n_jobs, &gr[g], &prog, &err) ||
            confirm_prefill(dev, &o, &model, &gr[g], &prog, &err)) {
            rc = cli_fail("bench --sweep", &err);
            goto out;
        }
        cur = gr[g].v[gr[g].chosen].t;
    }
    if (prog.done < prog.total) mkv_progress_add(&prog, prog.total - prog.done);

    /* Against the table row, per category: each group measured its choice
     * against the values before it head to head (in turn, round by round);
     * the speed-up is the product of those ratios over the groups timing
     * the category (times taken at different moments are not compared:
     * load from elsewhere on the machine moves them). table_ms: the row's
     * times as the first group measured them; tuned_ms = table_ms / speed-up. */
    double table_ms[N_CAT] = {0}, tuned_ms[N_CAT] = {0}, speedup[N_CAT];
    bool used[N_CAT] = {false};
    for (int c = 0; c < N_CAT; c++) {
        table_ms[c] = gr[MKV_TUNE_READS].v[0].cat_ms[c];
        used[c] = gr[MKV_TUNE_READS].cat_used[c];
        speedup[c] = 1.0;
        for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
            const variant_result *b = &gr[g].v[0], *w = &gr[g].v[gr[g].chosen];
            if (gr[g].cat_used[c] && b->cat_ms[c] > 0 && w->cat_ms[c] > 0) speedup[c] *= b->cat_ms[c] / w->cat_ms[c];
        }
        tuned_ms[c] = table_ms[c] / speedup[c];
    }

    /* the file, and proof that it loads */
    mkv_tunables back = table;
    if (mkv_tuning_save(o.out, &key, &cur, &err) || mkv_tuning_load(o.out, &key, &back, &err)) {
        rc = cli_fail("bench --sweep", &err);
        goto out;
    }
    if (!mkv_tuning_equal(&back, &cur)) {
        fprintf(stderr, "mekivk bench --sweep: %s reads back other values than were written\n", o.out);
        goto out;
    }

    if (o.json) {
        printf("{\"tuning_file\": ");
        mkv_json_print_str(stdout, o.out, strlen(o.out));
        printf(", \"device\": ");
        mkv_json_print_str(stdout, dev->props.deviceName, strlen(dev->props.deviceName));
        printf(", \"row\": ");
        mkv_json_print_str(stdout, row, strlen(row));
        printf(", \"subgroup_size\": %u, \"model\": ", dev->subgroup_size);
        mkv_json_print_str(stdout, o.model, strlen(o.model));
        printf(", \"quick\": %s, \"n_tok\": %u, \"n_kv\": %u,\n \"groups\": [", o.quick ? "true" : "false", o.n_tok, o.n_kv);
        for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
            const group_result *r = &gr[g];
            printf("%s\n  {\"kernel\": \"%s\", \"variants\": [", g ? "," : "", mkv_tuning_group_name(r->g));
            for (uint32_t i = 0; i < r->n; i++) {
                const variant_result *v = &r->v[i];
                char vals[128];
                double ms = 0;
                for (int c = 0; c < N_CAT; c++) ms += v->cat_ms[c];
                mkv_tuning_describe(r->g, &v->t, true, vals, sizeof vals);
                printf("%s\n    {\"values\": %s, ", i ? "," : "", vals);
                if (v->failed || v->pruned) { /* not timed on every shape */
                    printf("\"ms\": null");
                } else {
                    printf("\"ms\": %.4f, ", ms);
                    print_cats(stdout, v->cat_ms, r->cat_used);
                }
                printf(", \"ok\": %s, \"pruned\": %s", v->failed ? "false" : "true", v->pruned ? "true" : "false");
                if (v->pruned) printf(", \"pruned_after\": %u, \"pruned_ratio\": %.4f", v->pruned_after, v->pruned_ratio);
                if (v->failed) {
                    printf(", \"error\": ");
                    mkv_json_print_str(stdout, v->error, strlen(v->error));
                }
                printf("}");
            }
            char vals[128];
            mkv_tuning_describe(r->g, &r->v[r->chosen].t, true, vals, sizeof vals);
            const double sc = score(r, r->chosen);
            printf("],\n   \"chosen\": %s, \"speedup\": %.4f,\n   \"prefill_check\": ", vals,
                   sc > 0 && isfinite(sc) ? n_cats(r) / sc : 1.0);
            if (r->checked) {
                mkv_tuning_describe(r->g, &r->v[r->candidate].t, true, vals, sizeof vals);
                printf("{\"tokens\": %u, \"rounds\": %u, \"candidate\": %s, \"current_ms\": %.3f, \"candidate_ms\": "
                       "%.3f, \"ratio\": %.4f, \"threshold\": %.2f, \"kernel_choice\": %s, \"kept\": %s}}",
                       r->ab.tokens, r->ab.rounds, vals, r->ab.current_ms, r->ab.candidate_ms, r->ab.ratio, r->threshold,
                       r->kernel_choice ? "true" : "false", r->kept ? "true" : "false");
            } else {
                printf("null}");
            }
        }
        printf("],\n \"table_ms\": {");
        print_cats(stdout, table_ms, used);
        printf("}, \"tuned_ms\": {");
        print_cats(stdout, tuned_ms, used);
        printf("}, \"speedup\": {");
        bool first = true;
        for (int c = 0; c < N_CAT; c++)
            if (used[c]) {
                printf("%s\"%s\": %.4f", first ? "" : ", ", cat_key[c], speedup[c]);
                first = false;
            }
        printf("}}\n");
    } else {
        for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
            const group_result *r = &gr[g];
            printf("\n%s (ms; decode and attention: per token, prefill: per %u-token pass)\n  %-24s",
                   mkv_tuning_group_name(r->g), o.n_tok, "");
            for (int c = 0; c < N_CAT; c++)
                if (r->cat_used[c]) printf(" %12s", cat_col[c]);
            printf("\n");
            for (uint32_t i = 0; i < r->n; i++) {
                const variant_result *v = &r->v[i];
                char d[96];
                mkv_tuning_describe(r->g, &v->t, false, d, sizeof d);
                printf("  %-24s", d);
                for (int c = 0; c < N_CAT; c++)
                    if (!r->cat_used[c]) continue;
                    else if (v->failed || v->pruned) printf(" %12s", "-");
                    else printf(" %12.3f", v->cat_ms[c]);
                printf("  %s%s", i == 0 ? "[current] " : "", i == r->chosen ? "<- chosen" : "");
                if (v->pruned)
                    printf("dropped: %.2fx the current's time over the first %u of %u shapes", v->pruned_ratio,
                           v->pruned_after, r->n_jobs);
                if (v->failed) printf("FAILED its check: %s", v->error);
                printf("\n");
            }
            if (r->checked) {
                char d[96];
                mkv_tuning_describe(r->g, &r->v[r->candidate].t, false, d, sizeof d);
                printf("  whole prefill of %u tokens (median of %u, taking turns): current %.1f ms, %s %.1f ms: "
                       "%.3fx -> %s (kept at <= %.2fx%s)\n", r->ab.tokens, r->ab.rounds, r->ab.current_ms, d,
                       r->ab.candidate_ms, r->ab.ratio, r->kept ? "kept" : "rejected", r->threshold,
                       r->kernel_choice ? "" : "; --quick: checked though the kernel times did not choose it");
            }
        }
        printf("\nwrote %s (read back: ok)\nagainst the table row \"%s\" (each group's choice against the values "
               "before it, multiplied):\n", o.out, row);
        for (int c = 0; c < N_CAT; c++)
            if (used[c]) printf("  %-17s %.2fx  (%.3f -> %.3f ms)\n", cat_name[c], speedup[c], table_ms[c], tuned_ms[c]);
    }
    rc = 0;
out:
    for (uint32_t i = 0; i < n_jobs; i++) mkv_sweep_job_free(&jobs[i]);
    free(gr);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    mkv_model_desc_free(desc);
    return rc;
}
