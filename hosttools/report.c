/* Saved bench results read back (report.h): each JSON text is parsed into
 * an rp_doc (the figures report and the plots use, checked for type), then
 * turned into labelled rows ("decode tok/s, dense, KV 512"). The table
 * lines the results' rows up by label, so results measured at different
 * KV or prompt lengths still share the rows they have in common, and each
 * result's extra rows land next to their neighbours. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "svg.h"

#define RP_MAX_MODES 8
#define RP_MAX_POINTS 64 /* KV lengths, prompt lengths, prefill breakdown bars */
#define RP_PARTS 5

static const char *const part_key[RP_PARTS] = {"attention", "ffn", "meki", "lm_head", "other"};
static const char *const part_name[RP_PARTS] = {"attention", "FFN", "MeKi", "LM head", "other"};
static const char *const part_color[RP_PARTS] = {"#8cb4e0", "#f6b26b", "#e06666", "#93c47d", "#cccccc"};

typedef struct rp_prefill {
    double prompt, tok_s, stall_ms; /* stall_ms NaN when absent */
} rp_prefill;

typedef struct rp_mode {
    const char *name;                     /* "dense", "meki" */
    double decode, weight_gbps;           /* at the top-level ctx; NaN when absent */
    rp_prefill prefill[RP_MAX_POINTS];    /* ascending prompt */
    uint32_t n_prefill;
    bool has_bd;
    double bd[RP_PARTS];                  /* decode ms per token; NaN: part absent */
} rp_mode;

typedef struct rp_ctx {
    double ctx, tok_s[RP_MAX_MODES], ratio, paired; /* NaN when absent */
    bool has_bd[RP_MAX_MODES];
    double bd[RP_MAX_MODES][RP_PARTS]; /* decode ms per token at this length (bench --profile) */
} rp_ctx;

typedef struct rp_bar {
    char name[96];
    double v[RP_PARTS];
} rp_bar;

typedef struct rp_doc {
    const char *name; /* the file, in messages */
    mkv_json j;       /* the strings below point into it */
    const char *device, *driver, *model, *weight_types, *kv_type, *version, *commit;
    char tuning[512], api[48];
    double ctx, n_decode, reps, probe, host, subgroup;
    uint32_t device_info; /* the device_info object, or MKV_JSON_NONE */
    rp_mode modes[RP_MAX_MODES];
    uint32_t n_modes;
    rp_ctx ctxs[RP_MAX_POINTS]; /* ascending ctx */
    uint32_t n_ctx;
    rp_bar pbars[RP_MAX_POINTS]; /* prefill breakdown, one bar per mode (and prompt) */
    uint32_t n_pbars;
} rp_doc;

/* ---- parsing --------------------------------------------------------------------- */

static const char *type_name(mkv_json_type t)
{
    switch (t) {
    case MKV_JSON_NULL: return "null";
    case MKV_JSON_FALSE:
    case MKV_JSON_TRUE: return "a boolean";
    case MKV_JSON_NUMBER: return "a number";
    case MKV_JSON_STRING: return "a string";
    case MKV_JSON_ARRAY: return "an array";
    case MKV_JSON_OBJECT: return "an object";
    }
    return "?";
}

/* Member `key` of obj when it has `type` (*out), MKV_JSON_NONE when it is
 * absent or null, an error naming where/key when it has another type. */
static mkv_status member(const rp_doc *d, uint32_t obj, const char *where, const char *key, mkv_json_type type,
                         uint32_t *out, mkv_error *err)
{
    *out = MKV_JSON_NONE;
    uint32_t i = mkv_json_get(&d->j, obj, key);
    if (i == MKV_JSON_NONE || d->j.v[i].type == MKV_JSON_NULL) return MKV_OK;
    if (d->j.v[i].type != type)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s%s%s: expected %s, found %s", d->name, where, *where ? "." : "", key,
                        type_name(type), type_name(d->j.v[i].type));
    if (type == MKV_JSON_NUMBER && !isfinite(d->j.v[i].num))
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s%s%s = %s: not a finite number", d->name, where, *where ? "." : "",
                        key, d->j.v[i].str);
    *out = i;
    return MKV_OK;
}

static mkv_status num(const rp_doc *d, uint32_t obj, const char *where, const char *key, double *out, mkv_error *err)
{
    uint32_t i;
    *out = NAN;
    mkv_status st = member(d, obj, where, key, MKV_JSON_NUMBER, &i, err);
    if (!st && i != MKV_JSON_NONE) *out = d->j.v[i].num;
    return st;
}

static mkv_status str(const rp_doc *d, uint32_t obj, const char *where, const char *key, const char **out,
                      mkv_error *err)
{
    uint32_t i;
    *out = NULL;
    mkv_status st = member(d, obj, where, key, MKV_JSON_STRING, &i, err);
    if (!st && i != MKV_JSON_NONE) *out = d->j.v[i].str;
    return st;
}

/* The mode called name: its index, added if new; -1 (error set) when
 * there are too many. */
static int mode_of(rp_doc *d, const char *name, mkv_error *err)
{
    for (uint32_t m = 0; m < d->n_modes; m++)
        if (!strcmp(d->modes[m].name, name)) return (int)m;
    if (d->n_modes == RP_MAX_MODES) {
        mkv_fail(err, MKV_ERR_FORMAT, "%s: more than %d modes", d->name, RP_MAX_MODES);
        return -1;
    }
    rp_mode *r = &d->modes[d->n_modes];
    *r = (rp_mode){.name = name, .decode = NAN, .weight_gbps = NAN};
    for (int p = 0; p < RP_PARTS; p++) r->bd[p] = NAN;
    return (int)d->n_modes++;
}

/* The KV-length point for ctx, added (empty) if new; NULL when full. */
static rp_ctx *ctx_point(rp_doc *d, double ctx, mkv_error *err)
{
    for (uint32_t i = 0; i < d->n_ctx; i++)
        if (d->ctxs[i].ctx == ctx) return &d->ctxs[i];
    if (d->n_ctx == RP_MAX_POINTS) {
        mkv_fail(err, MKV_ERR_FORMAT, "%s: more than %d KV lengths", d->name, RP_MAX_POINTS);
        return NULL;
    }
    rp_ctx *c = &d->ctxs[d->n_ctx++];
    *c = (rp_ctx){.ctx = ctx};
    c->ratio = c->paired = NAN;
    for (int m = 0; m < RP_MAX_MODES; m++) c->tok_s[m] = NAN;
    return c;
}

/* A breakdown object's parts into v (NaN where absent). */
static mkv_status parts(const rp_doc *d, uint32_t obj, const char *where, double v[RP_PARTS], mkv_error *err)
{
    mkv_status st;
    for (int p = 0; p < RP_PARTS; p++) TRY(num(d, obj, where, part_key[p], &v[p], err));
    return MKV_OK;
}

static mkv_status parse_run(rp_doc *d, uint32_t run, uint32_t k, double top_prompt, mkv_error *err)
{
    mkv_status st;
    char where[64], sub[96];
    snprintf(where, sizeof where, "runs[%u]", k);
    if (d->j.v[run].type != MKV_JSON_OBJECT)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected an object, found %s", d->name, where,
                        type_name(d->j.v[run].type));
    const char *mode;
    TRY(str(d, run, where, "mode", &mode, err));
    if (!mode) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: no \"mode\"", d->name, where);
    int m = mode_of(d, mode, err);
    if (m < 0) return err->status;
    rp_mode *r = &d->modes[m];
    double prefill_tok_s;
    TRY(num(d, run, where, "decode_tok_s", &r->decode, err));
    TRY(num(d, run, where, "weight_gbps", &r->weight_gbps, err));
    TRY(num(d, run, where, "prefill_tok_s", &prefill_tok_s, err));
    uint32_t a, o;
    TRY(member(d, run, where, "prefill", MKV_JSON_ARRAY, &a, err));
    r->n_prefill = 0;
    for (uint32_t e = a == MKV_JSON_NONE ? MKV_JSON_NONE : d->j.v[a].first, i = 0; e != MKV_JSON_NONE;
         e = d->j.v[e].next, i++) {
        snprintf(sub, sizeof sub, "%s.prefill[%u]", where, i);
        if (d->j.v[e].type != MKV_JSON_OBJECT)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected an object, found %s", d->name, sub,
                            type_name(d->j.v[e].type));
        if (r->n_prefill == RP_MAX_POINTS)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: more than %d prompt lengths", d->name, sub, RP_MAX_POINTS);
        rp_prefill p;
        TRY(num(d, e, sub, "prompt", &p.prompt, err));
        TRY(num(d, e, sub, "tok_s", &p.tok_s, err));
        TRY(num(d, e, sub, "stall_ms", &p.stall_ms, err));
        if (isnan(p.prompt) || isnan(p.tok_s))
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: needs \"prompt\" and \"tok_s\"", d->name, sub);
        uint32_t at = r->n_prefill++; /* kept in prompt order */
        while (at > 0 && r->prefill[at - 1].prompt > p.prompt) {
            r->prefill[at] = r->prefill[at - 1];
            at--;
        }
        r->prefill[at] = p;
    }
    /* a result from before per-prompt figures: prefill_tok_s at the top-level prompt */
    if (r->n_prefill == 0 && !isnan(prefill_tok_s) && !isnan(top_prompt))
        r->prefill[r->n_prefill++] = (rp_prefill){top_prompt, prefill_tok_s, NAN};

    TRY(member(d, run, where, "breakdown", MKV_JSON_OBJECT, &o, err));
    if (o != MKV_JSON_NONE) {
        snprintf(sub, sizeof sub, "%s.breakdown", where);
        TRY(parts(d, o, sub, r->bd, err));
        r->has_bd = true;
    }
    /* prefill_breakdown: one object (at prefill_profile_prompt), or an
     * array of them with their prompt inside */
    double profile_prompt;
    TRY(num(d, run, where, "prefill_profile_prompt", &profile_prompt, err));
    uint32_t pb = mkv_json_get(&d->j, run, "prefill_breakdown");
    if (pb != MKV_JSON_NONE && d->j.v[pb].type != MKV_JSON_NULL) {
        const bool many = d->j.v[pb].type == MKV_JSON_ARRAY;
        if (!many && d->j.v[pb].type != MKV_JSON_OBJECT)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.prefill_breakdown: expected an object or an array, found %s",
                            d->name, where, type_name(d->j.v[pb].type));
        uint32_t i = 0;
        for (uint32_t e = many ? d->j.v[pb].first : pb; e != MKV_JSON_NONE; e = many ? d->j.v[e].next : MKV_JSON_NONE, i++) {
            if (many) snprintf(sub, sizeof sub, "%s.prefill_breakdown[%u]", where, i);
            else snprintf(sub, sizeof sub, "%s.prefill_breakdown", where);
            if (d->j.v[e].type != MKV_JSON_OBJECT)
                return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected an object, found %s", d->name, sub,
                                type_name(d->j.v[e].type));
            if (d->n_pbars == RP_MAX_POINTS)
                return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: more than %d prefill breakdowns", d->name, sub,
                                RP_MAX_POINTS);
            rp_bar *b = &d->pbars[d->n_pbars++];
            double prompt;
            TRY(num(d, e, sub, "prompt", &prompt, err));
            if (isnan(prompt)) prompt = profile_prompt;
            TRY(parts(d, e, sub, b->v, err));
            if (isnan(prompt)) snprintf(b->name, sizeof b->name, "%s", mode);
            else snprintf(b->name, sizeof b->name, "%s, prompt %.0f", mode, prompt);
        }
    }
    return MKV_OK;
}

static mkv_status parse_contexts(rp_doc *d, uint32_t arr, mkv_error *err)
{
    mkv_status st;
    char where[64], sub[96];
    uint32_t k = 0;
    for (uint32_t e = d->j.v[arr].first; e != MKV_JSON_NONE; e = d->j.v[e].next, k++) {
        snprintf(where, sizeof where, "contexts[%u]", k);
        if (d->j.v[e].type != MKV_JSON_OBJECT)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected an object, found %s", d->name, where,
                            type_name(d->j.v[e].type));
        double ctx;
        TRY(num(d, e, where, "ctx", &ctx, err));
        if (isnan(ctx)) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: no \"ctx\"", d->name, where);
        rp_ctx *c = ctx_point(d, ctx, err);
        if (!c) return err->status;
        TRY(num(d, e, where, "meki_over_dense", &c->ratio, err));
        TRY(num(d, e, where, "meki_over_dense_paired", &c->paired, err));
        uint32_t runs;
        TRY(member(d, e, where, "runs", MKV_JSON_ARRAY, &runs, err));
        uint32_t i = 0;
        for (uint32_t r = runs == MKV_JSON_NONE ? MKV_JSON_NONE : d->j.v[runs].first; r != MKV_JSON_NONE;
             r = d->j.v[r].next, i++) {
            snprintf(sub, sizeof sub, "%s.runs[%u]", where, i);
            if (d->j.v[r].type != MKV_JSON_OBJECT)
                return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected an object, found %s", d->name, sub,
                                type_name(d->j.v[r].type));
            const char *mode;
            TRY(str(d, r, sub, "mode", &mode, err));
            if (!mode) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: no \"mode\"", d->name, sub);
            int m = mode_of(d, mode, err);
            if (m < 0) return err->status;
            TRY(num(d, r, sub, "decode_tok_s", &c->tok_s[m], err));
            uint32_t o;
            TRY(member(d, r, sub, "breakdown", MKV_JSON_OBJECT, &o, err));
            if (o != MKV_JSON_NONE) {
                char bsub[128];
                snprintf(bsub, sizeof bsub, "%s.breakdown", sub);
                TRY(parts(d, o, bsub, c->bd[m], err));
                c->has_bd[m] = true;
            }
        }
    }
    return MKV_OK;
}

/* device_info and tuning: what the result ran on. */
static mkv_status parse_device(rp_doc *d, mkv_error *err)
{
    mkv_status st;
    uint32_t di, t;
    TRY(member(d, 0, "", "device_info", MKV_JSON_OBJECT, &di, err));
    d->device_info = di;
    d->subgroup = NAN;
    const char *tsrc = NULL, *trow = NULL;
    if (di != MKV_JSON_NONE) {
        const char *s;
        if (!d->device) TRY(str(d, di, "device_info", "name", &d->device, err));
        if (!d->driver) TRY(str(d, di, "device_info", "driver", &d->driver, err));
        TRY(num(d, di, "device_info", "subgroup_size", &d->subgroup, err));
        uint32_t api = mkv_json_get(&d->j, di, "api_version");
        if (api != MKV_JSON_NONE && d->j.v[api].type == MKV_JSON_NUMBER && d->j.v[api].is_uint) {
            uint64_t v = d->j.v[api].u; /* VK_MAKE_API_VERSION(variant, major, minor, patch) */
            snprintf(d->api, sizeof d->api, "%u.%u.%u", (unsigned)(v >> 22 & 0x7f), (unsigned)(v >> 12 & 0x3ff),
                     (unsigned)(v & 0xfff));
        } else {
            TRY(str(d, di, "device_info", "api_version", &s, err));
            if (s) snprintf(d->api, sizeof d->api, "%s", s);
        }
        TRY(str(d, di, "device_info", "tuning_source", &tsrc, err));
        TRY(str(d, di, "device_info", "tuning_row", &trow, err));
    }
    uint32_t ti = mkv_json_get(&d->j, 0, "tuning");
    if (ti != MKV_JSON_NONE && d->j.v[ti].type == MKV_JSON_STRING) {
        tsrc = NULL;
        trow = d->j.v[ti].str;
    } else {
        TRY(member(d, 0, "", "tuning", MKV_JSON_OBJECT, &t, err));
        if (t != MKV_JSON_NONE) {
            TRY(str(d, t, "tuning", "source", &tsrc, err));
            TRY(str(d, t, "tuning", "row", &trow, err));
        }
    }
    if (tsrc && trow) snprintf(d->tuning, sizeof d->tuning, "%s: %s", tsrc, trow);
    else if (tsrc || trow) snprintf(d->tuning, sizeof d->tuning, "%s", tsrc ? tsrc : trow);
    return MKV_OK;
}

static void doc_free(rp_doc *d)
{
    if (!d) return;
    mkv_json_free(&d->j);
    free(d);
}

/* Parses text[0..len) as one bench --json result into a new doc. */
static mkv_status doc_parse(const char *name, const char *text, size_t len, rp_doc **out, mkv_error *err)
{
    mkv_status st;
    *out = NULL;
    rp_doc *d = calloc(1, sizeof *d);
    if (!d) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", name);
    d->name = name;
    if ((st = mkv_json_parse(text, len, name, &d->j, err))) goto out;
    if (d->j.v[0].type != MKV_JSON_OBJECT) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: not a bench result: the JSON is %s, not an object", name,
                      type_name(d->j.v[0].type));
        goto out;
    }
    uint32_t runs = mkv_json_get(&d->j, 0, "runs");
    if (runs == MKV_JSON_NONE) {
        const char *what = mkv_json_get(&d->j, 0, "probe_sweep") != MKV_JSON_NONE ? " (a `bench --probe` result)"
                           : mkv_json_get(&d->j, 0, "kernels") != MKV_JSON_NONE ? " (a `bench --kernels` result)"
                                                                                : "";
        st = mkv_fail(err, MKV_ERR_FORMAT,
                      "%s: not a bench result: no \"runs\"%s; report compares `mekivk bench --model F --json` results",
                      name, what);
        goto out;
    }
    if (d->j.v[runs].type != MKV_JSON_ARRAY || d->j.v[runs].n == 0) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: not a bench result: \"runs\" is %s, not a non-empty array", name,
                      d->j.v[runs].type == MKV_JSON_ARRAY ? "empty" : type_name(d->j.v[runs].type));
        goto out;
    }
    double prompt, ratio, paired;
    if ((st = str(d, 0, "", "device", &d->device, err)) || (st = str(d, 0, "", "driver", &d->driver, err)) ||
        (st = str(d, 0, "", "model", &d->model, err)) || (st = str(d, 0, "", "weight_types", &d->weight_types, err)) ||
        (st = str(d, 0, "", "kv_type", &d->kv_type, err)) || (st = str(d, 0, "", "mekivk_version", &d->version, err)) ||
        (st = str(d, 0, "", "commit", &d->commit, err)) || (st = num(d, 0, "", "ctx", &d->ctx, err)) ||
        (st = num(d, 0, "", "n_decode", &d->n_decode, err)) || (st = num(d, 0, "", "reps", &d->reps, err)) ||
        (st = num(d, 0, "", "probe_gbps", &d->probe, err)) || (st = num(d, 0, "", "host_read_gbps", &d->host, err)) ||
        (st = num(d, 0, "", "prompt", &prompt, err)) || (st = num(d, 0, "", "meki_over_dense", &ratio, err)) ||
        (st = num(d, 0, "", "meki_over_dense_paired", &paired, err)) || (st = parse_device(d, err)))
        goto out;
    uint32_t k = 0;
    for (uint32_t r = d->j.v[runs].first; r != MKV_JSON_NONE; r = d->j.v[r].next, k++)
        if ((st = parse_run(d, r, k, prompt, err))) goto out;
    uint32_t ctxs;
    if ((st = member(d, 0, "", "contexts", MKV_JSON_ARRAY, &ctxs, err))) goto out;
    if (ctxs != MKV_JSON_NONE && (st = parse_contexts(d, ctxs, err))) goto out;
    /* the top-level figures are those at `ctx`: they fill what contexts lacks there */
    bool any = !isnan(ratio);
    for (uint32_t m = 0; m < d->n_modes; m++) any |= !isnan(d->modes[m].decode);
    if (!isnan(d->ctx) && any) {
        rp_ctx *c = ctx_point(d, d->ctx, err);
        if (!c) {
            st = err->status;
            goto out;
        }
        for (uint32_t m = 0; m < d->n_modes; m++)
            if (isnan(c->tok_s[m])) c->tok_s[m] = d->modes[m].decode;
        if (isnan(c->ratio)) c->ratio = ratio;
        if (isnan(c->paired)) c->paired = paired;
    }
    for (uint32_t i = 1; i < d->n_ctx; i++) /* ascending KV length */
        for (uint32_t j = i; j > 0 && d->ctxs[j].ctx < d->ctxs[j - 1].ctx; j--) {
            rp_ctx t = d->ctxs[j];
            d->ctxs[j] = d->ctxs[j - 1];
            d->ctxs[j - 1] = t;
        }
out:
    if (st) doc_free(d);
    else *out = d;
    return st;
}

static mkv_status docs_parse(const mkv_report_input *in, uint32_t n, rp_doc ***out, mkv_error *err)
{
    mkv_status st = MKV_OK;
    rp_doc **docs = calloc(n ? n : 1, sizeof *docs);
    if (!docs) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    for (uint32_t i = 0; i < n && !st; i++) st = doc_parse(in[i].name, in[i].text, in[i].len, &docs[i], err);
    if (st) {
        for (uint32_t i = 0; i < n; i++) doc_free(docs[i]);
        free(docs);
        docs = NULL;
    }
    *out = docs;
    return st;
}

static void docs_free(rp_doc **docs, uint32_t n)
{
    if (!docs) return;
    for (uint32_t i = 0; i < n; i++) doc_free(docs[i]);
    free(docs);
}

/* ---- rows ------------------------------------------------------------------------- */

enum { PLOT_NONE, PLOT_DECODE, PLOT_PREFILL };

typedef struct rp_cell {
    bool has, is_num;
    double v;
    char text[512]; /* as long as the longest field a doc keeps (tuning) */
} rp_cell;

typedef struct rp_row {
    char label[128];
    int plot;        /* which report --plot panel shows it */
    char group[96];  /* its group there ("dense, KV 512") */
    rp_cell *cell;   /* one per result */
} rp_row;

typedef struct rp_table {
    rp_row *row;
    uint32_t n, cap, n_cols;
} rp_table;

/* The row labelled `label`, added after row *cursor if new (*cursor
 * becomes it); NULL when out of memory. */
static rp_row *row_at(rp_table *t, const char *label, uint32_t *cursor)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (!strcmp(t->row[i].label, label)) return &t->row[*cursor = i];
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? 2 * t->cap : 64;
        rp_row *r = realloc(t->row, cap * sizeof *r);
        if (!r) return NULL;
        t->row = r;
        t->cap = cap;
    }
    rp_cell *cells = calloc(t->n_cols, sizeof *cells);
    if (!cells) return NULL;
    uint32_t at = *cursor == UINT32_MAX ? 0 : *cursor + 1;
    memmove(&t->row[at + 1], &t->row[at], (t->n - at) * sizeof *t->row);
    t->n++;
    rp_row *r = &t->row[at];
    *r = (rp_row){.plot = PLOT_NONE, .cell = cells};
    snprintf(r->label, sizeof r->label, "%s", label);
    *cursor = at;
    return r;
}

/* What one result adds to the table (column col). */
typedef struct rp_adder {
    rp_table *t;
    uint32_t col, cursor;
    bool oom;
} rp_adder;

static rp_cell *add(rp_adder *a, int plot, const char *group, const char *fmt, ...) MKV_PRINTF(4, 5);
static rp_cell *add(rp_adder *a, int plot, const char *group, const char *fmt, ...)
{
    char label[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(label, sizeof label, fmt, ap);
    va_end(ap);
    rp_row *r = row_at(a->t, label, &a->cursor);
    if (!r) {
        a->oom = true;
        return NULL;
    }
    if (plot != PLOT_NONE) {
        r->plot = plot;
        snprintf(r->group, sizeof r->group, "%s", group);
    }
    rp_cell *c = &r->cell[a->col];
    c->has = true;
    return c;
}

/* text into a cell; a longer one ends in "..." where it was cut (a JSON
 * string can be any length), never cut silently */
static void add_text(rp_adder *a, const char *label, const char *text)
{
    if (!text || !*text) return;
    rp_cell *c = add(a, PLOT_NONE, NULL, "%s", label);
    if (!c) return;
    const size_t n = strlen(text), cap = sizeof c->text;
    if (n < cap) {
        memcpy(c->text, text, n + 1);
    } else {
        memcpy(c->text, text, cap - 4);
        memcpy(c->text + cap - 4, "...", 4);
    }
}

static void add_num(rp_adder *a, int plot, const char *group, const char *label, double v)
{
    if (isnan(v)) return;
    rp_cell *c = add(a, plot, group, "%s", label);
    if (c) {
        c->is_num = true;
        c->v = v;
    }
}

static void add_int(rp_adder *a, const char *label, double v)
{
    if (isnan(v)) return;
    char b[32];
    snprintf(b, sizeof b, "%.0f", v);
    add_text(a, label, b);
}

static void doc_rows(const rp_doc *d, rp_adder *a)
{
    char label[128], group[96], b[64];
    add_text(a, "device", d->device);
    add_text(a, "driver", d->driver);
    add_text(a, "Vulkan API version", d->api);
    add_int(a, "subgroup size", d->subgroup);
    if (d->device_info != MKV_JSON_NONE) /* the rest of device_info as it is */
        for (uint32_t e = d->j.v[d->device_info].first; e != MKV_JSON_NONE; e = d->j.v[e].next) {
            static const char *const shown[] = {"name", "driver", "api_version", "subgroup_size", "tuning_source",
                                                "tuning_row"};
            const mkv_json_value *v = &d->j.v[e];
            bool skip = false;
            for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) skip |= !strcmp(v->key, shown[i]);
            if (skip) continue;
            snprintf(label, sizeof label, "device_info.%s", v->key);
            if (v->type == MKV_JSON_STRING) add_text(a, label, v->str);
            else if (v->type == MKV_JSON_TRUE || v->type == MKV_JSON_FALSE) add_text(a, label, v->type == MKV_JSON_TRUE ? "yes" : "no");
            else if (v->type == MKV_JSON_NUMBER && v->is_uint && (!strcmp(v->key, "vendor_id") || !strcmp(v->key, "device_id"))) {
                snprintf(b, sizeof b, "0x%04llx", (unsigned long long)v->u);
                add_text(a, label, b);
            } else if (v->type == MKV_JSON_NUMBER) add_text(a, label, v->str);
        }
    add_text(a, "tuning", d->tuning);
    add_text(a, "mekivk version", d->version);
    add_text(a, "commit", d->commit);
    add_text(a, "model", d->model);
    add_text(a, "weight types", d->weight_types);
    add_text(a, "KV cache type", d->kv_type);
    add_int(a, "ctx (KV length)", d->ctx);
    add_int(a, "tokens per repetition", d->n_decode);
    add_int(a, "repetitions", d->reps);
    add_num(a, PLOT_NONE, NULL, "probe GB/s", d->probe);
    add_num(a, PLOT_NONE, NULL, "host read GB/s", d->host);
    for (uint32_t i = 0; i < d->n_ctx; i++) {
        const rp_ctx *c = &d->ctxs[i];
        for (uint32_t m = 0; m < d->n_modes; m++) {
            snprintf(label, sizeof label, "decode tok/s, %s, KV %.0f", d->modes[m].name, c->ctx);
            snprintf(group, sizeof group, "%s, KV %.0f", d->modes[m].name, c->ctx);
            add_num(a, PLOT_DECODE, group, label, c->tok_s[m]);
        }
        snprintf(label, sizeof label, "MeKi / dense, KV %.0f", c->ctx);
        add_num(a, PLOT_NONE, NULL, label, c->ratio);
        snprintf(label, sizeof label, "MeKi / dense paired, KV %.0f", c->ctx);
        add_num(a, PLOT_NONE, NULL, label, c->paired);
    }
    for (uint32_t m = 0; m < d->n_modes; m++)
        for (uint32_t i = 0; i < d->modes[m].n_prefill; i++) {
            const rp_prefill *p = &d->modes[m].prefill[i];
            snprintf(label, sizeof label, "prefill tok/s, %s, %.0f tokens", d->modes[m].name, p->prompt);
            snprintf(group, sizeof group, "%s, %.0f tokens", d->modes[m].name, p->prompt);
            add_num(a, PLOT_PREFILL, group, label, p->tok_s);
        }
    for (uint32_t m = 0; m < d->n_modes; m++) {
        snprintf(label, sizeof label, "weight GB/s, %s", d->modes[m].name);
        add_num(a, PLOT_NONE, NULL, label, d->modes[m].weight_gbps);
    }
    for (uint32_t m = 0; m < d->n_modes; m++) {
        if (!d->modes[m].has_bd) continue;
        for (int p = 0; p < RP_PARTS; p++) {
            snprintf(label, sizeof label, "decode ms/token, %s, %s", d->modes[m].name, part_name[p]);
            add_num(a, PLOT_NONE, NULL, label, d->modes[m].bd[p]);
        }
    }
    for (uint32_t i = 0; i < d->n_pbars; i++)
        for (int p = 0; p < RP_PARTS; p++) {
            snprintf(label, sizeof label, "prefill ms/token, %s, %s", d->pbars[i].name, part_name[p]);
            add_num(a, PLOT_NONE, NULL, label, d->pbars[i].v[p]);
        }
}

static void table_free(rp_table *t)
{
    for (uint32_t i = 0; i < t->n; i++) free(t->row[i].cell);
    free(t->row);
    *t = (rp_table){0};
}

static mkv_status table_build(rp_doc *const *docs, uint32_t n, rp_table *t, mkv_error *err)
{
    *t = (rp_table){.n_cols = n};
    for (uint32_t f = 0; f < n; f++) {
        rp_adder a = {.t = t, .col = f, .cursor = UINT32_MAX};
        doc_rows(docs[f], &a);
        if (a.oom) {
            table_free(t);
            return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
        }
    }
    return MKV_OK;
}

/* A cell as printed: text as it is, numbers by mkv_svg_num, from the
 * second column on followed by their ratio to the first column's. */
static void cell_text(const rp_row *r, uint32_t col, char *out, size_t n)
{
    const rp_cell *c = &r->cell[col], *first = &r->cell[0];
    char b[32];
    if (!c->has) snprintf(out, n, "-");
    else if (!c->is_num) snprintf(out, n, "%s", c->text);
    else if (col > 0 && first->has && first->is_num && first->v != 0)
        snprintf(out, n, "%s (%.2fx)", mkv_svg_num(b, c->v), c->v / first->v);
    else snprintf(out, n, "%s", mkv_svg_num(b, c->v));
    for (char *p = out; *p; p++) /* one line per row */
        if ((unsigned char)*p < 0x20) *p = ' ';
}

/* Display width: UTF-8 characters, not bytes. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void pad(FILE *out, const char *s, size_t w)
{
    fputs(s, out);
    for (size_t k = width(s); k < w; k++) fputc(' ', out);
}

/* Markdown cell text: '|' escaped. */
static void md_cell(FILE *out, const char *s)
{
    fputs("| ", out);
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
    fputc(' ', out);
}

static void table_print(const rp_table *t, rp_doc *const *docs, bool markdown, FILE *out)
{
    const uint32_t nc = t->n_cols;
    char buf[sizeof ((rp_cell *)0)->text + 64]; /* a cell as printed: its text, or a number and its ratio */
    if (markdown) {
        md_cell(out, "");
        for (uint32_t c = 0; c < nc; c++) md_cell(out, docs[c]->name);
        fputs("|\n", out);
        for (uint32_t c = 0; c <= nc; c++) fputs("|---", out);
        fputs("|\n", out);
        for (uint32_t i = 0; i < t->n; i++) {
            md_cell(out, t->row[i].label);
            for (uint32_t c = 0; c < nc; c++) {
                cell_text(&t->row[i], c, buf, sizeof buf);
                md_cell(out, buf);
            }
            fputs("|\n", out);
        }
    } else {
        size_t *w = calloc(nc + 1, sizeof *w);
        if (!w) return;
        for (uint32_t c = 0; c < nc; c++) w[c + 1] = width(docs[c]->name);
        for (uint32_t i = 0; i < t->n; i++) {
            if (width(t->row[i].label) > w[0]) w[0] = width(t->row[i].label);
            for (uint32_t c = 0; c < nc; c++) {
                cell_text(&t->row[i], c, buf, sizeof buf);
                if (width(buf) > w[c + 1]) w[c + 1] = width(buf);
            }
        }
        pad(out, "", w[0]);
        for (uint32_t c = 0; c < nc; c++) {
            fputs("  ", out);
            pad(out, docs[c]->name, c + 1 < nc ? w[c + 1] : 0);
        }
        fputc('\n', out);
        size_t total = w[0];
        for (uint32_t c = 0; c < nc; c++) total += 2 + w[c + 1];
        for (size_t k = 0; k < total; k++) fputc('-', out);
        fputc('\n', out);
        for (uint32_t i = 0; i < t->n; i++) {
            pad(out, t->row[i].label, w[0]);
            for (uint32_t c = 0; c < nc; c++) {
                cell_text(&t->row[i], c, buf, sizeof buf);
                fputs("  ", out);
                pad(out, buf, c + 1 < nc ? w[c + 1] : 0);
            }
            fputc('\n', out);
        }
        free(w);
    }
    if (nc > 1) fprintf(out, "\nIn parentheses: the value over the first column's (%s).\n", docs[0]->name);
}

mkv_status mkv_report_table(const mkv_report_input *in, uint32_t n, bool markdown, FILE *out, mkv_error *err)
{
    mkv_status st;
    rp_doc **docs;
    rp_table t;
    TRY(docs_parse(in, n, &docs, err));
    if (!(st = table_build(docs, n, &t, err))) {
        table_print(&t, docs, markdown, out);
        table_free(&t);
    }
    docs_free(docs, n);
    return st;
}

/* ---- plots ------------------------------------------------------------------------- */

#define PLOT_W 960.0

/* Dense blue and MeKi red in every plot; other modes from the palette. */
static const char *mode_color(const char *mode, uint32_t m)
{
    return !strcmp(mode, "dense") ? "#1f77b4" : !strcmp(mode, "meki") ? "#d62728" : mkv_svg_color(m + 2);
}

/* A line per mode: decode tok/s at each KV length, MeKi / dense under the axis. */
static double plot_decode(mkv_svg *s, double y, const rp_doc *d)
{
    uint32_t np = 0;
    for (uint32_t i = 0; i < d->n_ctx; i++)
        for (uint32_t m = 0; m < d->n_modes; m++) np += !isnan(d->ctxs[i].tok_s[m]);
    if (np == 0) return mkv_svg_note(s, y, PLOT_W, "(a) Decode tok/s against KV length", "no decode figures in this result");
    double x[RP_MAX_MODES][RP_MAX_POINTS], v[RP_MAX_MODES][RP_MAX_POINTS], rx[RP_MAX_POINTS];
    char rtext[RP_MAX_POINTS][32];
    const char *rt[RP_MAX_POINTS];
    mkv_svg_series se[RP_MAX_MODES];
    uint32_t ns = 0, nr = 0;
    for (uint32_t m = 0; m < d->n_modes; m++) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < d->n_ctx; i++)
            if (!isnan(d->ctxs[i].tok_s[m])) {
                x[ns][k] = d->ctxs[i].ctx;
                v[ns][k++] = d->ctxs[i].tok_s[m];
            }
        if (k) {
            se[ns] = (mkv_svg_series){.name = d->modes[m].name, .color = mode_color(d->modes[m].name, m), .n = k,
                                      .x = x[ns], .y = v[ns]};
            ns++;
        }
    }
    for (uint32_t i = 0; i < d->n_ctx; i++)
        if (!isnan(d->ctxs[i].ratio)) {
            rx[nr] = d->ctxs[i].ctx;
            mkv_svg_num(rtext[nr], d->ctxs[i].ratio);
            rt[nr] = rtext[nr];
            nr++;
        }
    char title[128];
    snprintf(title, sizeof title, "(a) Decode tok/s against KV length%s",
             d->n_ctx == 1 ? " (one KV length in this result)" : "");
    mkv_svg_lines c = {.title = title, .xlabel = "KV length (tokens in the cache)", .ylabel = "decode tok/s",
                       .xname = "KV", .yunit = "tok/s", .series = se, .n_series = ns,
                       .row_label = "MeKi / dense", .n_row = nr, .row_x = rx, .row_text = rt};
    return mkv_svg_line_chart(s, y, PLOT_W, &c);
}

static double plot_prefill(mkv_svg *s, double y, const rp_doc *d)
{
    double x[RP_MAX_MODES][RP_MAX_POINTS], v[RP_MAX_MODES][RP_MAX_POINTS];
    char tips[RP_MAX_MODES][RP_MAX_POINTS][48];
    const char *tp[RP_MAX_MODES][RP_MAX_POINTS];
    mkv_svg_series se[RP_MAX_MODES];
    uint32_t ns = 0;
    for (uint32_t m = 0; m < d->n_modes; m++) {
        const rp_mode *r = &d->modes[m];
        if (!r->n_prefill) continue;
        for (uint32_t i = 0; i < r->n_prefill; i++) {
            char b[32];
            x[ns][i] = r->prefill[i].prompt;
            v[ns][i] = r->prefill[i].tok_s;
            tp[ns][i] = NULL;
            if (!isnan(r->prefill[i].stall_ms)) {
                snprintf(tips[ns][i], sizeof tips[ns][i], "bank stall %s ms", mkv_svg_num(b, r->prefill[i].stall_ms));
                tp[ns][i] = tips[ns][i];
            }
        }
        se[ns] = (mkv_svg_series){.name = r->name, .color = mode_color(r->name, m), .n = r->n_prefill, .x = x[ns], .y = v[ns], .tip = tp[ns]};
        ns++;
    }
    if (!ns) return mkv_svg_note(s, y, PLOT_W, "(b) Prefill tok/s against prompt length", "no prefill figures in this result");
    mkv_svg_lines c = {.title = "(b) Prefill tok/s against prompt length", .xlabel = "prompt length (tokens)",
                       .ylabel = "prefill tok/s", .xname = "prompt", .yunit = "tok/s", .series = se, .n_series = ns};
    return mkv_svg_line_chart(s, y, PLOT_W, &c);
}

static double plot_stacks(mkv_svg *s, double y, const char *title, const char *const *names, const double *v,
                          uint32_t n_bars)
{
    mkv_svg_stacks c = {.title = title, .ylabel = "ms per token", .unit = "ms/token", .n_parts = RP_PARTS,
                        .part_name = part_name, .part_color = part_color, .n_bars = n_bars, .bar_name = names, .v = v};
    return mkv_svg_stack_chart(s, y, PLOT_W, &c);
}

/* Decode: a bar per mode and KV length where contexts has breakdowns
 * (bench --profile at several lengths), else a bar per mode. */
static double plot_breakdowns(mkv_svg *s, double y, const rp_doc *d)
{
    enum { MAX_BARS = RP_MAX_MODES * RP_MAX_POINTS };
    char names_buf[MAX_BARS][96];
    const char *names[MAX_BARS];
    double v[MAX_BARS * RP_PARTS];
    uint32_t nb = 0;
    double h = 0;
    for (uint32_t i = 0; i < d->n_ctx; i++)
        for (uint32_t m = 0; m < d->n_modes; m++)
            if (d->ctxs[i].has_bd[m]) {
                snprintf(names_buf[nb], sizeof names_buf[nb], "%s, KV %.0f", d->modes[m].name, d->ctxs[i].ctx);
                names[nb] = names_buf[nb];
                memcpy(&v[nb * RP_PARTS], d->ctxs[i].bd[m], sizeof d->ctxs[i].bd[m]);
                nb++;
            }
    if (nb == 0)
        for (uint32_t m = 0; m < d->n_modes; m++)
            if (d->modes[m].has_bd) {
                if (isnan(d->ctx)) snprintf(names_buf[nb], sizeof names_buf[nb], "%s", d->modes[m].name);
                else snprintf(names_buf[nb], sizeof names_buf[nb], "%s, KV %.0f", d->modes[m].name, d->ctx);
                names[nb] = names_buf[nb];
                memcpy(&v[nb * RP_PARTS], d->modes[m].bd, sizeof d->modes[m].bd);
                nb++;
            }
    if (nb) h += plot_stacks(s, y, "(c) Decode time per token by component", names, v, nb);
    else h += mkv_svg_note(s, y, PLOT_W, "(c) Decode time per token by component",
                           "no time breakdown in this result (runs[].breakdown: bench --profile)");
    for (uint32_t i = 0; i < d->n_pbars; i++) {
        names[i] = d->pbars[i].name;
        memcpy(&v[i * RP_PARTS], d->pbars[i].v, sizeof d->pbars[i].v);
    }
    if (d->n_pbars) h += plot_stacks(s, y + h, "(d) Prefill time per token by component", names, v, d->n_pbars);
    else h += mkv_svg_note(s, y + h, PLOT_W, "(d) Prefill time per token by component",
                           "no prefill breakdown in this result (runs[].prefill_breakdown)");
    return h;
}

/* The heading: device and model, then what else says what it ran on. */
static double plot_heading(mkv_svg *s, const rp_doc *d)
{
    mkv_svg_printf(s, "<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\">mekivk bench: ");
    mkv_svg_text(s, d->device ? d->device : "unknown device");
    mkv_svg_printf(s, " \xe2\x80\x94 ");
    mkv_svg_text(s, d->model ? d->model : "unknown model");
    mkv_svg_printf(s, "</text>\n<text x=\"20\" y=\"52\" fill=\"#444444\">");
    const char *sep = "";
    char b[32];
#define ITEM(cond, ...) \
    if (cond) { mkv_svg_printf(s, "%s", sep); __VA_ARGS__; sep = "; "; }
    ITEM(d->driver, mkv_svg_printf(s, "driver "); mkv_svg_text(s, d->driver))
    ITEM(d->api[0], mkv_svg_printf(s, "Vulkan "); mkv_svg_text(s, d->api))
    ITEM(!isnan(d->subgroup), mkv_svg_printf(s, "subgroup %.0f", d->subgroup))
    ITEM(d->tuning[0], mkv_svg_printf(s, "tuning "); mkv_svg_text(s, d->tuning))
    mkv_svg_printf(s, "</text>\n<text x=\"20\" y=\"72\" fill=\"#444444\">");
    sep = "";
    ITEM(d->weight_types, mkv_svg_printf(s, "weights "); mkv_svg_text(s, d->weight_types))
    ITEM(d->kv_type, mkv_svg_printf(s, "KV cache "); mkv_svg_text(s, d->kv_type))
    ITEM(!isnan(d->probe), mkv_svg_printf(s, "probe %s GB/s", mkv_svg_num(b, d->probe)))
    ITEM(d->version, mkv_svg_printf(s, "mekivk "); mkv_svg_text(s, d->version))
    ITEM(d->commit, mkv_svg_printf(s, "commit "); mkv_svg_text(s, d->commit))
#undef ITEM
    mkv_svg_printf(s, "</text>\n");
    return 84;
}

mkv_status mkv_bench_plot_svg(const char *bench_json, size_t n, const char *out_path, mkv_error *err)
{
    mkv_status st;
    rp_doc *d;
    TRY(doc_parse("bench JSON", bench_json, n, &d, err));
    mkv_svg s = {0};
    double y = plot_heading(&s, d);
    y += plot_decode(&s, y, d);
    y += plot_prefill(&s, y, d);
    y += plot_breakdowns(&s, y, d);
    char title[1200];
    snprintf(title, sizeof title, "mekivk bench: %s, %s%s%s", d->device ? d->device : "unknown device",
             d->model ? d->model : "unknown model", d->tuning[0] ? ", tuning " : "", d->tuning);
    st = mkv_svg_save(&s, PLOT_W, y + 10, title, out_path, err);
    mkv_svg_free(&s);
    doc_free(d);
    return st;
}

/* One panel of report --plot: the rows of one kind as groups, a bar per result. */
static double plot_groups(mkv_svg *s, double y, double w, const rp_table *t, int kind,
                          const char *title, const char *ylabel, const char *const *members, const char *const *colors)
{
    uint32_t ng = 0;
    for (uint32_t i = 0; i < t->n; i++) ng += t->row[i].plot == kind;
    if (!ng) return mkv_svg_note(s, y, w, title, "none of the results has these figures");
    const uint32_t nm = t->n_cols;
    double *v = malloc((size_t)ng * nm * sizeof *v);
    const char **names = malloc(ng * sizeof *names);
    if (!v || !names) {
        free(v);
        free(names);
        s->oom = true;
        return 0;
    }
    uint32_t g = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->row[i].plot != kind) continue;
        names[g] = t->row[i].group;
        for (uint32_t m = 0; m < nm; m++) v[g * nm + m] = t->row[i].cell[m].has ? t->row[i].cell[m].v : NAN;
        g++;
    }
    mkv_svg_groups c = {.title = title, .ylabel = ylabel, .unit = "tok/s", .n_groups = ng, .group_name = names,
                        .n_members = nm, .member_name = members, .member_color = colors, .v = v, .ratio_to_first = true};
    double h = mkv_svg_group_chart(s, y, w, &c);
    free(v);
    free(names);
    return h;
}

mkv_status mkv_report_plot_svg(const mkv_report_input *in, uint32_t n, const char *out_path, mkv_error *err)
{
    mkv_status st;
    rp_doc **docs;
    rp_table t = {0};
    mkv_svg s = {0};
    char **members = NULL;
    const char **colors = NULL;
    TRY(docs_parse(in, n, &docs, err));
    if ((st = table_build(docs, n, &t, err))) goto out;
    members = calloc(n, sizeof *members);
    colors = calloc(n, sizeof *colors);
    if (!members || !colors) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(docs[i]->name) + (docs[i]->device ? strlen(docs[i]->device) : 0) + 8;
        if (!(members[i] = malloc(len))) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        snprintf(members[i], len, "%s: %s", docs[i]->name, docs[i]->device ? docs[i]->device : "?");
        colors[i] = mkv_svg_color(i);
    }
    uint32_t most = 0; /* groups in the wider panel: the width follows */
    for (int kind = PLOT_DECODE; kind <= PLOT_PREFILL; kind++) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < t.n; i++) k += t.row[i].plot == kind;
        if (k > most) most = k;
    }
    const double w = fmax(PLOT_W, 284 + most * fmax(90, 24.0 * n + 20));
    mkv_svg_printf(&s, "<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\">mekivk report: %u bench results</text>\n"
                       "<text x=\"20\" y=\"52\" fill=\"#444444\">in grey above a bar: its value over the first result's (",
                   n);
    mkv_svg_text(&s, docs[0]->name);
    mkv_svg_printf(&s, ")</text>\n");
    double y = 64;
    y += plot_groups(&s, y, w, &t, PLOT_DECODE, "Decode tok/s", "decode tok/s", (const char *const *)members, colors);
    y += plot_groups(&s, y, w, &t, PLOT_PREFILL, "Prefill tok/s", "prefill tok/s", (const char *const *)members,
                     colors);
    char title[64];
    snprintf(title, sizeof title, "mekivk report: %u bench results", n);
    st = mkv_svg_save(&s, w, y + 10, title, out_path, err);
out:
    if (members)
        for (uint32_t i = 0; i < n; i++) free(members[i]);
    free(members);
    free(colors);
    mkv_svg_free(&s);
    table_free(&t);
    docs_free(docs, n);
    return st;
}
