/* The command line's argument helpers (cli.h): each reports the flag and
 * value at fault on stderr. In the hosttools library, so that tests can
 * run subcommands as functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "mekivk: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool cli_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-') goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) goto bad;
    *out = v;
    return true;
bad:
    fprintf(stderr, "mekivk: %s = '%s': not a non-negative integer\n", flag, s ? s : "");
    return false;
}

bool cli_u32(const char *flag, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (!cli_u64(flag, s, &v)) return false;
    if (v < lo || v > hi) {
        fprintf(stderr, "mekivk: %s = %llu: must be in %u..%u\n", flag, (unsigned long long)v, lo, hi);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool cli_tokens(const char *flag, const char *s, uint32_t **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    uint32_t *t = malloc(cap * sizeof *t);
    if (!t) return false;
    const char *p = s;
    while (*p) {
        char *end;
        if (*p < '0' || *p > '9') goto bad;
        unsigned long long v = strtoull(p, &end, 10);
        if (v > UINT32_MAX || (*end && *end != ',')) goto bad;
        t[(*n)++] = (uint32_t)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) goto bad;
    *out = t;
    return true;
bad:
    fprintf(stderr, "mekivk: %s = '%s': expected comma-separated token ids like 1,2,3\n", flag, s);
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

void cli_device_arg(const char *s, mkv_device_opts *opts)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) opts->index = (int)v;
    else opts->name = s;
}

