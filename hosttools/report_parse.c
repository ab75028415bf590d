/* Saved bench results read back (report_doc.h): each JSON text is parsed
 * into an rp_doc, the figures report and the plots use, every member
 * checked for type (an error names the file, the member and what it
 * holds). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_doc.h"

const char *const rp_part_key[RP_PARTS] = {"attention", "ffn", "meki", "lm_head", "other"};
const char *const rp_part_name[RP_PARTS] = {"attention", "FFN", "MeKi", "LM head", "other"};
const char *const rp_part_color[RP_PARTS] = {"#8cb4e0", "#f6b26b", "#e06666", "#93c47d", "#cccccc"};

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

/* Run object obj at `where` (runs[k], contexts[i].runs[j]): an object with
 * a "mode"; *m its mode's index. */
static mkv_status run_mode(rp_doc *d, uint32_t obj, const char *where, int *m, mkv_error *err)
{
    if (d->j.v[obj].type != MKV_JSON_OBJECT)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected an object, found %s", d->name, where,
                        type_name(d->j.v[obj].type));
    const char *mode;
    mkv_status st = str(d, obj, where, "mode", &mode, err);
    if (st) return st;
    if (!mode) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: no \"mode\"", d->name, where);
    *m = mode_of(d, mode, err);
    return *m < 0 ? err->status : MKV_OK;
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
    for (int p = 0; p < RP_PARTS; p++) TRY(num(d, obj, where, rp_part_key[p], &v[p], err));
    return MKV_OK;
}

static mkv_status parse_run(rp_doc *d, uint32_t run, uint32_t k, double top_prompt, mkv_error *err)
{
    mkv_status st;
    char where[64], sub[96];
    snprintf(where, sizeof where, "runs[%u]", k);
    int m;
    TRY(run_mode(d, run, where, &m, err));
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
            if (isnan(prompt)) snprintf(b->name, sizeof b->name, "%s", r->name);
            else snprintf(b->name, sizeof b->name, "%s, prompt %.0f", r->name, prompt);
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
            int m;
            TRY(run_mode(d, r, sub, &m, err));
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

/* A `bench --kernels` result's kernels[] ({name, shape, ms, gbps,
 * of_probe}) and attention[] ({n_kv, ms, gbps, of_probe}). */
static mkv_status parse_kernels(rp_doc *d, mkv_error *err)
{
    mkv_status st;
    static const char *const arrays[] = {"kernels", "attention"};
    for (int k = 0; k < 2; k++) {
        uint32_t a;
        TRY(member(d, 0, "", arrays[k], MKV_JSON_ARRAY, &a, err));
        uint32_t i = 0;
        for (uint32_t e = a == MKV_JSON_NONE ? MKV_JSON_NONE : d->j.v[a].first; e != MKV_JSON_NONE; e = d->j.v[e].next, i++) {
            char where[48];
            snprintf(where, sizeof where, "%s[%u]", arrays[k], i);
            if (d->j.v[e].type != MKV_JSON_OBJECT)
                return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: expected an object, found %s", d->name, where,
                                type_name(d->j.v[e].type));
            if (d->n_kernels == RP_MAX_KERNELS)
                return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: more than %d kernels", d->name, where, RP_MAX_KERNELS);
            rp_kernel *r = &d->kernels[d->n_kernels];
            if (k == 0) {
                const char *name, *shape;
                TRY(str(d, e, where, "name", &name, err));
                TRY(str(d, e, where, "shape", &shape, err));
                if (!name) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: no \"name\"", d->name, where);
                snprintf(r->label, sizeof r->label, "%.60s%s%.24s", name, shape ? " " : "", shape ? shape : "");
            } else {
                double n_kv;
                TRY(num(d, e, where, "n_kv", &n_kv, err));
                if (isnan(n_kv)) return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: no \"n_kv\"", d->name, where);
                snprintf(r->label, sizeof r->label, "attention, KV %.0f", n_kv);
            }
            TRY(num(d, e, where, "ms", &r->ms, err));
            TRY(num(d, e, where, "gbps", &r->gbps, err));
            TRY(num(d, e, where, "of_probe", &r->of_probe, err));
            d->n_kernels++;
        }
    }
    return MKV_OK;
}

void rp_doc_free(rp_doc *d)
{
    if (!d) return;
    mkv_json_free(&d->j);
    free(d);
}

/* Parses text[0..len) as one bench --json result into a new doc. */
mkv_status rp_doc_parse(const char *name, const char *text, size_t len, rp_doc **out, mkv_error *err)
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
    if (runs == MKV_JSON_NONE && mkv_json_get(&d->j, 0, "kernels") != MKV_JSON_NONE) { /* bench --kernels */
        d->kernels_result = true;
        if ((st = str(d, 0, "", "device", &d->device, err)) || (st = str(d, 0, "", "driver", &d->driver, err)) ||
            (st = str(d, 0, "", "mekivk_version", &d->version, err)) || (st = str(d, 0, "", "commit", &d->commit, err)) ||
            (st = str(d, 0, "", "config", &d->config, err)) || (st = num(d, 0, "", "probe_gbps", &d->probe, err)) ||
            (st = parse_device(d, err)) || (st = parse_kernels(d, err)))
            goto out;
        d->ctx = d->n_decode = d->reps = d->host = NAN;
        goto out;
    }
    if (runs == MKV_JSON_NONE) {
        const char *what = mkv_json_get(&d->j, 0, "probe_sweep") != MKV_JSON_NONE ? " (a `bench --probe` result)" : "";
        st = mkv_fail(err, MKV_ERR_FORMAT,
                      "%s: not a bench result: no \"runs\" nor \"kernels\"%s; report compares `mekivk bench --model F "
                      "--json` and `mekivk bench --kernels --json` results",
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
    if (st) rp_doc_free(d);
    else *out = d;
    return st;
}

mkv_status rp_docs_parse(const mkv_report_input *in, uint32_t n, rp_doc ***out, mkv_error *err)
{
    mkv_status st = MKV_OK;
    rp_doc **docs = calloc(n ? n : 1, sizeof *docs);
    if (!docs) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    for (uint32_t i = 0; i < n && !st; i++) st = rp_doc_parse(in[i].name, in[i].text, in[i].len, &docs[i], err);
    if (st) {
        for (uint32_t i = 0; i < n; i++) rp_doc_free(docs[i]);
        free(docs);
        docs = NULL;
    }
    *out = docs;
    return st;
}

void rp_docs_free(rp_doc **docs, uint32_t n)
{
    if (!docs) return;
    for (uint32_t i = 0; i < n; i++) rp_doc_free(docs[i]);
    free(docs);
}

