/* The command line's argument helpers (cli.h): each reports the flag and
 * value at fault on stderr. In the hosttools library, so that tests can
 * run subcommands as functions. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "mekivk: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* Decimal digits only, at least one, the value in 0..UINT64_MAX: no
 * sign, space or trailing junk (strtoull would take " -1" as 2^64 - 1).
 * *end_out: the first byte after the digits. */
static bool parse_u64_prefix(const char *s, uint64_t *out, const char **end_out)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return false; /* overflow */
        v = v * 10 + d;
    }
    if (p == s) return false;
    *out = v;
    *end_out = p;
    return true;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    const char *end;
    return s && parse_u64_prefix(s, out, &end) && *end == '\0';
}

bool cli_u64(const char *flag, const char *s, uint64_t *out)
{
    if (cli_parse_u64(s, out)) return true;
    fprintf(stderr, "mekivk: %s = '%s': not an integer in 0..%llu (digits only)\n", flag, s ? s : "",
            (unsigned long long)UINT64_MAX);
    return false;
}

bool cli_u32(const char *flag, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(s, &v) || v < lo || v > hi) {
        fprintf(stderr, "mekivk: %s = '%s': not an integer in %u..%u\n", flag, s ? s : "", lo, hi);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool cli_u32_list(const char *flag, const char *s, uint32_t lo, uint32_t hi, uint32_t *out, uint32_t cap, uint32_t *n)
{
    char item[32];
    uint32_t k = 0;
    for (const char *p = s;;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (k == cap) {
            fprintf(stderr, "mekivk: %s = '%s': at most %u values\n", flag, s, cap);
            return false;
        }
        if (len == 0 || len >= sizeof item) {
            fprintf(stderr, "mekivk: %s = '%s': expected integers in %u..%u separated by commas\n", flag, s, lo, hi);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!cli_u32(flag, item, lo, hi, &out[k++])) return false;
        if (!e) break;
        p = e + 1;
    }
    *n = k;
    return true;
}

bool cli_tokens(const char *flag, const char *s, uint32_t **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    uint32_t *t = malloc(cap * sizeof *t);
    if (!t) {
        fprintf(stderr, "mekivk: %s: out of memory for %zu token ids\n", flag, cap);
        return false;
    }
    /* item (',' item)*: every item a token id, none empty */
    const char *p = s;
    for (;;) {
        uint64_t v;
        const char *end;
        if (!parse_u64_prefix(p, &v, &end) || v > UINT32_MAX || (*end && *end != ',')) goto bad;
        t[(*n)++] = (uint32_t)v;
        if (!*end) break;
        p = end + 1;
    }
    *out = t;
    return true;
bad:
    fprintf(stderr, "mekivk: %s = '%s': expected comma-separated token ids like 1,2,3 (each in 0..%u, no empty item)\n",
            flag, s, UINT32_MAX);
    free(t);
    *n = 0;
    return false;
}

int cli_fail(const char *cmd, const mkv_error *err)
{
    fprintf(stderr, "mekivk %s: %s (%s)\n", cmd, err->msg[0] ? err->msg : mkv_status_desc(err->status),
            mkv_status_name(err->status));
    return 1;
}

bool cli_device(const char *flag, const char *s, mkv_device_opts *opts)
{
    uint64_t v;
    if (!*s) {
        fprintf(stderr, "mekivk: %s = '': expected a device index or a name substring\n", flag);
        return false;
    }
    if (*s < '0' || *s > '9') { /* a name substring */
        opts->name = s;
        opts->index = -1;
        return true;
    }
    if (!cli_parse_u64(s, &v) || v > INT32_MAX) {
        fprintf(stderr, "mekivk: %s = '%s': not a device index (0..%d) nor a device name\n", flag, s, INT32_MAX);
        return false;
    }
    opts->index = (int)v;
    opts->name = NULL;
    return true;
}

bool cli_device_defaults(mkv_device_opts *opts)
{
    mkv_device_opts_default(opts);
    const char *v = getenv("MKV_VALIDATION");
    opts->validation = v && strcmp(v, "1") == 0;
    const char *tuning = getenv("MKV_TUNING");
    if (tuning && *tuning) opts->tuning_file = tuning;
    const char *dev = getenv("MKV_DEVICE");
    return !dev || !*dev || cli_device("MKV_DEVICE", dev, opts);
}

void cli_load_progress(void *user, uint64_t done, uint64_t total)
{
    cli_load_bar *b = user;
    if (!b->started) {
        mkv_progress_start(&b->p, isatty(2), "loading", total);
        b->started = true;
    }
    if (done > b->done) mkv_progress_add(&b->p, done - b->done);
    b->done = done;
}

bool cli_kv_type(const char *flag, const char *s, mkv_kv_type *out)
{
    if (!strcmp(s, "f16")) *out = MKV_KV_F16;
    else if (!strcmp(s, "q8_0")) *out = MKV_KV_Q8_0;
    else {
        fprintf(stderr, "mekivk: %s = '%s': expected f16 or q8_0\n", flag, s);
        return false;
    }
    return true;
}

const char *cli_kv_type_name(mkv_kv_type t) { return t == MKV_KV_Q8_0 ? "q8_0" : "f16"; }

bool cli_engine_init(cli_engine *e, cli_load_bar *load_bar)
{
    memset(e, 0, sizeof *e);
    e->ctx_min = 1;
    e->mopts.progress = cli_load_progress;
    e->mopts.progress_user = load_bar;
    return cli_device_defaults(&e->dopts);
}

int cli_engine_flag(int argc, char **argv, int *i, cli_engine *e)
{
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--meki-off")) e->sopts.meki_off = true;
    else if (!strcmp(a, "--ignore-fingerprint")) e->mopts.ignore_fingerprint = true;
    else if (!strcmp(a, "--cold")) e->mopts.bank_cold = true;
    else if (!strcmp(a, "--cold-dontneed")) e->mopts.bank_cold = e->mopts.bank_cold_dontneed = true;
    else if (!strcmp(a, "--model")) return (e->model_path = cli_value(argc, argv, i)) ? 1 : -1;
    else if (!strcmp(a, "--bank")) return (e->bank_path = cli_value(argc, argv, i)) ? 1 : -1;
    else if (!strcmp(a, "--device")) return (v = cli_value(argc, argv, i)) && cli_device(a, v, &e->dopts) ? 1 : -1;
    else if (!strcmp(a, "--ctx")) return (v = cli_value(argc, argv, i)) && cli_u32(a, v, e->ctx_min, MKV_MAX_CTX, &e->n_ctx) ? 1 : -1;
    else if (!strcmp(a, "--kv-type"))
        return (v = cli_value(argc, argv, i)) && cli_kv_type(a, v, &e->sopts.kv_type) ? 1 : -1;
    else if (!strcmp(a, "--cache-mb")) {
        uint32_t mb;
        if (!(v = cli_value(argc, argv, i)) || !cli_u32(a, v, 0, 1u << 20, &mb)) return -1;
        e->sopts.bank_cache_bytes = (uint64_t)mb << 20;
    } else
        return 0;
    return 1;
}

const char cli_engine_help[] =
    "  --kv-type T        KV cache storage: f16 (default) or q8_0 (blocks of 32 int8 and\n"
    "                     a scale: 36 bytes per 32 values instead of 64; README, Accuracy)\n"
    "  --meki-off         run a MeKi model with its MeKi branch off\n"
    "  --ignore-fingerprint  accept a bank made for another model\n"
    "  --cold             read the bank from storage, not RAM (O_DIRECT; where the\n"
    "                     file system refuses it, as --cold-dontneed)\n"
    "  --cold-dontneed    the same by plain reads, each slab's pages dropped after\n"
    "                     its read (fadvise DONTNEED, no readahead)\n"
    "  --cache-mb M       keep the bank rows of frequent tokens in M MiB of RAM\n"
    "  --device I|NAME    device index or name substring (see `mekivk devices`)\n";
