/* Safetensors reader; see safetensors.h for what is checked. Layout of a
 * file: u64 little-endian N, then N bytes of JSON (an object: tensor name
 * -> {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional
 * "__metadata__" object of strings), then the data section, offsets
 * relative to its start. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "half.h"
#include "json.h"

#define MAX_SHARDS 4096u

static const struct {
    const char *name;
    uint32_t size;
} dtypes[] = {[MKV_ST_F32] = {"F32", 4}, [MKV_ST_F16] = {"F16", 2}, [MKV_ST_BF16] = {"BF16", 2}};

/* Valid safetensors dtypes this reader refuses (named in the message). */
static const char *const other_dtypes[] = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F64",
                                           "F8_E4M3", "F8_E5M2", "F8_E8M0", "E8M0", "F4", "F6_E2M3", "F6_E3M2",
                                           "C64"};

const char *mkv_st_dtype_name(uint32_t dtype) { return dtype <= MKV_ST_BF16 ? dtypes[dtype].name : "unknown"; }
uint32_t mkv_st_dtype_size(uint32_t dtype) { return dtype <= MKV_ST_BF16 ? dtypes[dtype].size : 0; }

/* ---- building the table --------------------------------------------------- */

typedef struct builder {
    mkv_safetensors *st;
    uint32_t cap_t, cap_m, cap_f;
} builder;

static mkv_status oom(mkv_error *err, const char *path) { return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path); }

static mkv_status grow(void **p, uint32_t *cap, uint32_t n, size_t elem, const char *path, mkv_error *err)
{
    if (n < *cap) return MKV_OK;
    uint32_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return oom(err, path);
    *p = q;
    *cap = c;
    return MKV_OK;
}

static mkv_status map_file(const char *path, mkv_st_file *f, mkv_error *err)
{
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return oom(err, path);
    int fd;
    uint64_t size;
    mkv_status st = mkv_open_regular(path, 0, &fd, &size, err);
    if (st != MKV_OK) return st;
    if (size > SIZE_MAX) st = mkv_fail(err, MKV_ERR_IO, "%s: size = %" PRIu64 ": too large to map", path, size);
    if (st == MKV_OK && size > 0) {
        void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) st = mkv_fail(err, MKV_ERR_IO, "%s: mmap: %s", path, strerror(errno));
        else f->map = m;
    }
    if (st == MKV_OK) f->size = size;
    close(fd);
    return st;
}

static uint64_t le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static mkv_status parse_dtype(const char *path, const char *tname, const mkv_json_value *v, uint32_t *out,
                              mkv_error *err)
{
    if (v->type != MKV_JSON_STRING)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': dtype is not a string", path, tname);
    for (uint32_t i = 0; i <= MKV_ST_BF16; i++)
        if (strcmp(v->str, dtypes[i].name) == 0) { *out = i; return MKV_OK; }
    for (size_t i = 0; i < sizeof other_dtypes / sizeof other_dtypes[0]; i++)
        if (strcmp(v->str, other_dtypes[i]) == 0)
            return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: tensor '%s': dtype = %s is not supported (F32, F16, BF16)",
                            path, tname, v->str);
    return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': dtype = '%.64s' is not a safetensors dtype", path, tname,
                    v->str);
}

/* One tensor entry {"dtype", "shape", "data_offsets"}; data_size is the
 * size of the file's data section. */
static mkv_status parse_entry(const char *path, const mkv_json *j, uint32_t e, uint64_t data_size,
                              mkv_st_tensor *t, mkv_error *err)
{
    const char *tn = j->v[e].key;
    if (j->v[e].type != MKV_JSON_OBJECT) return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': not an object", path, tn);
    uint32_t vd = MKV_JSON_NONE, vs = MKV_JSON_NONE, vo = MKV_JSON_NONE;
    for (uint32_t c = j->v[e].first; c != MKV_JSON_NONE; c = j->v[c].next) {
        uint32_t *slot = !strcmp(j->v[c].key, "dtype") ? &vd : !strcmp(j->v[c].key, "shape") ? &vs
                         : !strcmp(j->v[c].key, "data_offsets") ? &vo : NULL;
        if (!slot) return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': unknown field '%.64s'", path, tn, j->v[c].key);
        if (*slot != MKV_JSON_NONE) return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': field '%s' repeated", path, tn, j->v[c].key);
        *slot = c;
    }
    if (vd == MKV_JSON_NONE || vs == MKV_JSON_NONE || vo == MKV_JSON_NONE)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': missing %s", path, tn,
                        vd == MKV_JSON_NONE ? "dtype" : vs == MKV_JSON_NONE ? "shape" : "data_offsets");
    mkv_status st = parse_dtype(path, tn, &j->v[vd], &t->dtype, err);
    if (st) return st;
    /* shape: non-negative integers whose product (times the element size) fits */
    const mkv_json_value *s = &j->v[vs];
    if (s->type != MKV_JSON_ARRAY) return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': shape is not an array", path, tn);
    if (s->n > MKV_ST_MAX_DIMS)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': shape has %u dims (max %u)", path, tn, s->n, MKV_ST_MAX_DIMS);
    const uint64_t sz = dtypes[t->dtype].size;
    uint64_t numel = 1;
    t->n_dims = 0;
    for (uint32_t c = s->first; c != MKV_JSON_NONE; c = j->v[c].next) {
        const mkv_json_value *d = &j->v[c];
        if (d->type != MKV_JSON_NUMBER || !d->is_uint)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': shape[%u] = %.32s: not a non-negative integer", path,
                            tn, t->n_dims, d->type == MKV_JSON_NUMBER ? d->str : "(not a number)");
        if (d->u && numel > UINT64_MAX / sz / d->u)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': shape[%u] = %" PRIu64 ": byte size overflows", path,
                            tn, t->n_dims, d->u);
        numel *= d->u;
        t->shape[t->n_dims++] = d->u;
    }
    t->numel = numel;
    /* data_offsets: [begin, end), ordered, inside the data section, numel * size bytes */
    const mkv_json_value *o = &j->v[vo];
    uint32_t b = o->first, en = b != MKV_JSON_NONE ? j->v[b].next : MKV_JSON_NONE;
    if (o->type != MKV_JSON_ARRAY || o->n != 2 || j->v[b].type != MKV_JSON_NUMBER || !j->v[b].is_uint ||
        j->v[en].type != MKV_JSON_NUMBER || !j->v[en].is_uint)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': data_offsets is not [begin, end] of two integers", path, tn);
    t->begin = j->v[b].u;
    t->end = j->v[en].u;
    if (t->begin > t->end)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s': data_offsets = [%" PRIu64 ", %" PRIu64 "]: begin after end",
                        path, tn, t->begin, t->end);
    if (t->end > data_size)
        return mkv_fail(err, MKV_ERR_TRUNCATED,
                        "%s: tensor '%s': data_offsets end = %" PRIu64 " is past the end of the data section (%" PRIu64
                        " bytes)", path, tn, t->end, data_size);
    if (t->end - t->begin != numel * sz)
        return mkv_fail(err, MKV_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets span %" PRIu64 " bytes, shape of %" PRIu64 " elements of %s needs %" PRIu64,
                        path, tn, t->end - t->begin, numel, dtypes[t->dtype].name, numel * sz);
    return MKV_OK;
}

static mkv_status parse_metadata(builder *bd, const char *path, const mkv_json *j, uint32_t e, mkv_error *err)
{
    mkv_safetensors *st = bd->st;
    if (j->v[e].type != MKV_JSON_OBJECT) return mkv_fail(err, MKV_ERR_FORMAT, "%s: __metadata__ is not an object", path);
    for (uint32_t c = j->v[e].first; c != MKV_JSON_NONE; c = j->v[c].next) {
        if (j->v[c].type != MKV_JSON_STRING)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: __metadata__['%s'] is not a string", path, j->v[c].key);
        mkv_status s = grow((void **)&st->meta, &bd->cap_m, st->n_meta, sizeof *st->meta, path, err);
        if (s) return s;
        char *k = strdup(j->v[c].key), *v = strdup(j->v[c].str);
        if (!k || !v) { free(k); free(v); return oom(err, path); }
        st->meta[st->n_meta++] = (mkv_st_meta){.key = k, .value = v};
    }
    return MKV_OK;
}

static int by_begin(const void *a, const void *b)
{
    const mkv_st_tensor *x = *(const mkv_st_tensor *const *)a, *y = *(const mkv_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Maps file `path` as files[index] and appends its tensors. */
static mkv_status add_file(builder *bd, const char *path, mkv_error *err)
{
    mkv_safetensors *st = bd->st;
    mkv_status s = grow((void **)&st->files, &bd->cap_f, st->n_files, sizeof *st->files, path, err);
    if (s) return s;
    uint32_t fi = st->n_files++;
    mkv_st_file *f = &st->files[fi];
    if ((s = map_file(path, f, err)) != MKV_OK) return s;
    if (f->size < 8)
        return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: size = %" PRIu64 ": shorter than the 8-byte header length", path, f->size);
    uint64_t hl = le64(f->map);
    if (hl == 0) return mkv_fail(err, MKV_ERR_FORMAT, "%s: header length = 0: no JSON header", path);
    if (hl > MKV_ST_MAX_HEADER)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: header length = %" PRIu64 ": larger than the %u-byte limit", path, hl,
                        MKV_ST_MAX_HEADER);
    if (hl > f->size - 8)
        return mkv_fail(err, MKV_ERR_TRUNCATED, "%s: header length = %" PRIu64 ": past the end of the file (%" PRIu64 " bytes)",
                        path, hl, f->size);
    f->header_len = hl;
    const uint64_t data_size = f->size - 8 - hl;
    const uint8_t *data = f->map + 8 + hl;
    char what[PATH_MAX + 16];
    snprintf(what, sizeof what, "%s: header", path);
    mkv_json j;
    if ((s = mkv_json_parse((const char *)f->map + 8, (size_t)hl, what, &j, err)) != MKV_OK) return s;
    uint32_t first_new = st->n_tensors;
    mkv_st_tensor **order = NULL;
    if (j.v[0].type != MKV_JSON_OBJECT) {
        s = mkv_fail(err, MKV_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto out;
    }
    for (uint32_t c = j.v[0].first; c != MKV_JSON_NONE; c = j.v[c].next) {
        if (strcmp(j.v[c].key, "__metadata__") == 0) {
            if ((s = parse_metadata(bd, path, &j, c, err)) != MKV_OK) goto out;
            continue;
        }
        if ((s = grow((void **)&st->tensors, &bd->cap_t, st->n_tensors, sizeof *st->tensors, path, err))) goto out;
        mkv_st_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        if ((s = parse_entry(path, &j, c, data_size, t, err)) != MKV_OK) goto out;
        if (!(t->name = strdup(j.v[c].key))) { s = oom(err, path); goto out; }
        t->file = fi;
        t->data = data + t->begin;
        st->n_tensors++;
        f->n_tensors++;
    }
    /* no two tensors of this file share a byte */
    uint32_t n = st->n_tensors - first_new;
    if (n > 1) {
        if (!(order = malloc((size_t)n * sizeof *order))) { s = oom(err, path); goto out; }
        for (uint32_t i = 0; i < n; i++) order[i] = &st->tensors[first_new + i];
        qsort(order, n, sizeof *order, by_begin);
        for (uint32_t i = 1; i < n; i++) {
            const mkv_st_tensor *a = order[i - 1], *b = order[i];
            if (b->begin < a->end && b->begin != b->end && a->begin != a->end) {
                s = mkv_fail(err, MKV_ERR_FORMAT,
                             "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %" PRIu64 ") overlap",
                             path, a->name, a->begin, a->end, b->name, b->begin, b->end);
                goto out;
            }
        }
    }
out:
    free(order);
    mkv_json_free(&j);
    return s;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const mkv_st_tensor *)a)->name, ((const mkv_st_tensor *)b)->name);
}

/* Sorts the table by name (for mkv_st_find) and refuses a name seen twice. */
static mkv_status sort_unique(mkv_safetensors *st, const char *path, mkv_error *err)
{
    qsort(st->tensors, st->n_tensors, sizeof *st->tensors, by_name);
    for (uint32_t i = 1; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, st->tensors[i - 1].name) == 0)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: tensor '%s' appears twice (%s, %s)", path, st->tensors[i].name,
                            st->files[st->tensors[i - 1].file].path, st->files[st->tensors[i].file].path);
    return MKV_OK;
}

/* ---- index (sharded checkpoints) ------------------------------------------ */

typedef struct wm_entry {
    const char *tensor, *shard;
} wm_entry;

static int by_shard(const void *a, const void *b) { return strcmp(((const wm_entry *)a)->shard, ((const wm_entry *)b)->shard); }

static mkv_status open_index(builder *bd, const char *path, mkv_error *err)
{
    mkv_st_file idx;
    mkv_status s = map_file(path, &idx, err);
    mkv_json j = {0};
    wm_entry *e = NULL;
    char dir[PATH_MAX], shard_path[PATH_MAX];
    if (s) goto out;
    if (idx.size > MKV_ST_MAX_HEADER) {
        s = mkv_fail(err, MKV_ERR_FORMAT, "%s: size = %" PRIu64 ": larger than the %u-byte limit", path, idx.size, MKV_ST_MAX_HEADER);
        goto out;
    }
    if ((s = mkv_json_parse((const char *)idx.map, (size_t)idx.size, path, &j, err)) != MKV_OK) goto out;
    uint32_t wm = mkv_json_get(&j, 0, "weight_map");
    if (wm == MKV_JSON_NONE || j.v[wm].type != MKV_JSON_OBJECT) {
        s = mkv_fail(err, MKV_ERR_FORMAT, "%s: weight_map: missing or not an object", path);
        goto out;
    }
    uint32_t n = j.v[wm].n;
    if (n == 0) {
        s = mkv_fail(err, MKV_ERR_FORMAT, "%s: weight_map is empty", path);
        goto out;
    }
    if (!(e = malloc((size_t)n * sizeof *e))) { s = oom(err, path); goto out; }
    uint32_t k = 0;
    for (uint32_t c = j.v[wm].first; c != MKV_JSON_NONE; c = j.v[c].next, k++) {
        const mkv_json_value *v = &j.v[c];
        if (v->type != MKV_JSON_STRING || v->len == 0 || strchr(v->str, '/') || strlen(v->str) != v->len ||
            !strcmp(v->str, ".") || !strcmp(v->str, "..")) {
            s = mkv_fail(err, MKV_ERR_FORMAT, "%s: weight_map['%s']: not a shard file name in the index's folder", path, v->key);
            goto out;
        }
        e[k] = (wm_entry){.tensor = v->key, .shard = v->str};
    }
    /* the index's folder */
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    /* open each distinct shard once */
    qsort(e, n, sizeof *e, by_shard);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(e[i].shard, e[i - 1].shard) == 0) continue;
        if (bd->st->n_files >= MAX_SHARDS) {
            s = mkv_fail(err, MKV_ERR_FORMAT, "%s: more than %u shards", path, MAX_SHARDS);
            goto out;
        }
        if ((size_t)snprintf(shard_path, sizeof shard_path, "%s/%s", dir, e[i].shard) >= sizeof shard_path) {
            s = mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: shard path too long", path);
            goto out;
        }
        if (access(shard_path, F_OK) != 0) {
            s = mkv_fail(err, MKV_ERR_IO, "%s: weight_map['%s'] names shard '%s': %s: %s", path, e[i].tensor, e[i].shard,
                         shard_path, strerror(errno));
            goto out;
        }
        if ((s = add_file(bd, shard_path, err)) != MKV_OK) goto out;
    }
    /* every tensor the index names is in the shard it names */
    if ((s = sort_unique(bd->st, path, err)) != MKV_OK) goto out;
    for (uint32_t i = 0; i < n; i++) {
        const mkv_st_tensor *t = mkv_st_find(bd->st, e[i].tensor);
        const char *in = t ? strrchr(bd->st->files[t->file].path, '/') + 1 : NULL;
        if (!t || strcmp(in, e[i].shard) != 0) {
            s = mkv_fail(err, MKV_ERR_MISSING, "%s: tensor '%s' (weight_map -> %s) is not in shard %s%s%s", path,
                         e[i].tensor, e[i].shard, e[i].shard, t ? "; found in " : "", t ? in : "");
            goto out;
        }
    }
out:
    free(e);
    mkv_json_free(&j);
    if (idx.map) munmap((void *)idx.map, (size_t)idx.size);
    free(idx.path);
    return s;
}

/* ---- public --------------------------------------------------------------- */

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

mkv_status mkv_st_open(const char *path, mkv_safetensors **out, mkv_error *err)
{
    *out = NULL;
    if (!path || !*path) return mkv_fail(err, MKV_ERR_INVALID_ARG, "safetensors: no path");
    mkv_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) { free(st); return oom(err, path); }
    builder bd = {.st = st};
    mkv_status s;
    char p[PATH_MAX];
    if (is_dir(path)) {
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
        if (access(p, F_OK) == 0) {
            s = open_index(&bd, p, err);
        } else {
            snprintf(p, sizeof p, "%s/model.safetensors", path);
            if (access(p, F_OK) != 0)
                s = mkv_fail(err, MKV_ERR_IO, "%s: holds neither model.safetensors.index.json nor model.safetensors", path);
            else
                s = add_file(&bd, p, err);
        }
    } else if (ends_with(path, ".json")) {
        s = open_index(&bd, path, err);
    } else {
        s = add_file(&bd, path, err);
    }
    if (s == MKV_OK) s = sort_unique(st, path, err);
    if (s != MKV_OK) {
        mkv_st_close(st);
        return s;
    }
    *out = st;
    return MKV_OK;
}

void mkv_st_close(mkv_safetensors *st)
{
    if (!st) return;
    for (uint32_t i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap((void *)st->files[i].map, (size_t)st->files[i].size);
        free(st->files[i].path);
    }
    for (uint32_t i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    for (uint32_t i = 0; i < st->n_meta; i++) {
        free((char *)st->meta[i].key);
        free((char *)st->meta[i].value);
    }
    free(st->files);
    free(st->tensors);
    free(st->meta);
    free(st->path);
    free(st);
}

const mkv_st_tensor *mkv_st_find(const mkv_safetensors *st, const char *name)
{
    size_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (c == 0) return &st->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

mkv_status mkv_st_get(const mkv_safetensors *st, const char *name, const mkv_st_tensor **out, mkv_error *err)
{
    *out = mkv_st_find(st, name);
    if (!*out) return mkv_fail(err, MKV_ERR_MISSING, "%s: tensor '%s' is missing", st->path, name);
    return MKV_OK;
}

void mkv_st_to_f32(const mkv_st_tensor *t, uint64_t first, uint64_t n, float *dst)
{
    const uint8_t *p = t->data + first * dtypes[t->dtype].size;
    switch (t->dtype) {
    case MKV_ST_F32:
        memcpy(dst, p, n * 4); /* little-endian host (the engine targets no other) */
        break;
    case MKV_ST_F16:
        for (uint64_t i = 0; i < n; i++) dst[i] = mkv_half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    default: /* BF16: the high half of an f32 */
        for (uint64_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, 4);
        }
    }
}

mkv_status mkv_st_rows_f32(const mkv_st_tensor *t, uint64_t row0, uint64_t n_rows, float *dst, mkv_error *err)
{
    uint64_t rows = t->n_dims ? t->shape[0] : 1;
    uint64_t cols = rows ? t->numel / rows : 0;
    if (row0 > rows || n_rows > rows - row0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "tensor '%s': rows [%" PRIu64 ", +%" PRIu64 ") outside %" PRIu64, t->name,
                        row0, n_rows, rows);
    mkv_st_to_f32(t, row0 * cols, n_rows * cols, dst);
    return MKV_OK;
}
