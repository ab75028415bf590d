/* GGUF v3 (and v2) reader. The file is mapped read-only and walked with a
 * bounds-checked cursor; every count and length is checked against the
 * bytes that remain before anything is allocated from it, so a hostile
 * count cannot make us allocate more than a small multiple of the file. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "dequant.h"
#include "error.h"
#include "fileio.h"

/* ---- ggml types ---------------------------------------------------------- */

/* Block size (elements) and bytes per block of every type whose layout we
 * know. A type not listed here has no known size, so a file using it cannot
 * be bounds-checked and is refused. */
static const struct {
    uint32_t type;
    const char *name;
    uint32_t blck, bytes;
} ggml_types[] = {
    {MKV_GGML_F32, "F32", 1, 4},      {MKV_GGML_F16, "F16", 1, 2},
    {MKV_GGML_Q4_0, "Q4_0", 32, 18},  {MKV_GGML_Q4_1, "Q4_1", 32, 20},
    {MKV_GGML_Q5_0, "Q5_0", 32, 22},  {MKV_GGML_Q5_1, "Q5_1", 32, 24},
    {MKV_GGML_Q8_0, "Q8_0", 32, 34},  {MKV_GGML_Q8_1, "Q8_1", 32, 36},
    {MKV_GGML_Q2_K, "Q2_K", 256, 84}, {MKV_GGML_Q3_K, "Q3_K", 256, 110},
    {MKV_GGML_Q4_K, "Q4_K", 256, 144}, {MKV_GGML_Q5_K, "Q5_K", 256, 176},
    {MKV_GGML_Q6_K, "Q6_K", 256, 210}, {MKV_GGML_Q8_K, "Q8_K", 256, 292},
    {24, "I8", 1, 1},                 {25, "I16", 1, 2},
    {26, "I32", 1, 4},                {27, "I64", 1, 8},
    {28, "F64", 1, 8},                {MKV_GGML_BF16, "BF16", 1, 2},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static int ggml_type_index(uint32_t type)
{
    for (size_t i = 0; i < N_GGML_TYPES; i++)
        if (ggml_types[i].type == type) return (int)i;
    return -1;
}

const char *mkv_ggml_type_name(uint32_t type)
{
    int i = ggml_type_index(type);
    return i < 0 ? "unknown" : ggml_types[i].name;
}

uint64_t mkv_ggml_nbytes(uint32_t type, uint64_t n)
{
    int i = ggml_type_index(type);
    if (i < 0) return 0;
    uint64_t blocks = n / ggml_types[i].blck;
    if (blocks * ggml_types[i].blck != n) return 0;
    if (blocks > UINT64_MAX / ggml_types[i].bytes) return 0;
    return blocks * ggml_types[i].bytes;
}

const char *mkv_gguf_vtype_name(uint32_t vtype)
{
    static const char *const names[] = {"u8",  "i8",  "u16",    "i16",   "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return vtype < sizeof names / sizeof names[0] ? names[vtype] : "unknown";
}

/* ---- bounds-checked cursor --------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    uint64_t pos, size;
    const char *path;
    mkv_error *err;
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->pos; }

/* Takes n bytes; `what` names the field for the message. */
static mkv_status take(cursor *c, uint64_t n, const uint8_t **out, const char *what)
{
    if (n > left(c))
        return mkv_fail(c->err, MKV_ERR_TRUNCATED,
                        "%s: %s at offset = %" PRIu64 ": needs %" PRIu64 " bytes, file ends after %" PRIu64
                        " (size %" PRIu64 ")",
                        c->path, what, c->pos, n, left(c), c->size);
    *out = c->p + c->pos;
    c->pos += n;
    return MKV_OK;
}

static uint64_t le(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static mkv_status take_u32(cursor *c, uint32_t *v, const char *what)
{
    const uint8_t *b = NULL;
    mkv_status st = take(c, 4, &b, what);
    if (st == MKV_OK) *v = (uint32_t)le(b, 4);
    return st;
}

static mkv_status take_u64(cursor *c, uint64_t *v, const char *what)
{
    const uint8_t *b = NULL;
    mkv_status st = take(c, 8, &b, what);
    if (st == MKV_OK) *v = le(b, 8);
    return st;
}

/* A GGUF string: u64 length, then the bytes (not NUL-terminated). */
static mkv_status take_str(cursor *c, const char **s, uint64_t *len, const char *what)
{
    char w[160];
    snprintf(w, sizeof w, "%s length", what);
    mkv_status st = take_u64(c, len, w);
    if (st != MKV_OK) return st;
    if (*len > left(c))
        return mkv_fail(c->err, MKV_ERR_TRUNCATED,
                        "%s: %s length = %" PRIu64 ": past end of file (%" PRIu64 " bytes left at offset %" PRIu64
                        ")",
                        c->path, what, *len, left(c), c->pos);
    const uint8_t *b = NULL;
    st = take(c, *len, &b, what);
    *s = (const char *)b;
    return st;
}

/* Copies a name/key string, refusing empty ones and embedded NULs (they
 * would make two different names compare equal once terminated). */
static mkv_status dup_name(cursor *c, const char *s, uint64_t len, char **out, const char *what)
{
    if (len == 0) return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s length = 0: empty name", c->path, what);
    if (memchr(s, '\0', len))
        return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s = '%.*s...': contains a NUL byte", c->path, what,
                        (int)strnlen(s, len), s);
    char *d = mkv_malloc(len + 1);
    if (!d) return mkv_fail(c->err, MKV_ERR_NO_MEMORY, "%s: %s: out of memory", c->path, what);
    memcpy(d, s, len);
    d[len] = '\0';
    *out = d;
    return MKV_OK;
}

/* ---- metadata values ----------------------------------------------------- */

/* Size of a fixed-size value type, 0 for STRING/ARRAY, -1 if unknown. */
static int vtype_size(uint32_t t)
{
    switch (t) {
    case MKV_GGUF_U8: case MKV_GGUF_I8: case MKV_GGUF_BOOL: return 1;
    case MKV_GGUF_U16: case MKV_GGUF_I16: return 2;
    case MKV_GGUF_U32: case MKV_GGUF_I32: case MKV_GGUF_F32: return 4;
    case MKV_GGUF_U64: case MKV_GGUF_I64: case MKV_GGUF_F64: return 8;
    case MKV_GGUF_STRING: case MKV_GGUF_ARRAY: return 0;
    default: return -1;
    }
}

#define MAX_ARRAY_DEPTH 8 /* nested arrays deeper than this are refused: bounds recursion */

/* Reads and validates one value of type t. When kv is not NULL (a top-level
 * value), records it there. */
static mkv_status take_value(cursor *c, uint32_t t, int depth, mkv_gguf_kv *kv, const char *what)
{
    const uint8_t *b = NULL;
    mkv_status st;
    int sz = vtype_size(t);
    if (sz < 0) return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s type = %u: unknown value type", c->path, what, t);
    if (sz > 0) {
        if ((st = take(c, (uint64_t)sz, &b, what)) != MKV_OK) return st;
        uint64_t u = le(b, sz);
        if (t == MKV_GGUF_BOOL && u > 1)
            return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s = %u: bool is not 0 or 1", c->path, what, b[0]);
        if (!kv) return MKV_OK;
        switch (t) {
        case MKV_GGUF_I8: kv->v.i64 = (int8_t)u; break;
        case MKV_GGUF_I16: kv->v.i64 = (int16_t)u; break;
        case MKV_GGUF_I32: kv->v.i64 = (int32_t)u; break;
        case MKV_GGUF_I64: kv->v.i64 = (int64_t)u; break;
        case MKV_GGUF_F32: { float f; uint32_t u32 = (uint32_t)u; memcpy(&f, &u32, 4); kv->v.f64 = f; break; }
        case MKV_GGUF_F64: memcpy(&kv->v.f64, &u, 8); break;
        default: kv->v.u64 = u; break;
        }
        return MKV_OK;
    }
    if (t == MKV_GGUF_STRING) {
        const char *s;
        uint64_t len;
        if ((st = take_str(c, &s, &len, what)) != MKV_OK) return st;
        if (kv) { kv->v.str.ptr = s; kv->v.str.len = len; }
        return MKV_OK;
    }
    /* array: element type, count, elements */
    if (depth >= MAX_ARRAY_DEPTH)
        return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s nesting = %d: arrays nested too deep", c->path, what, depth);
    uint32_t et;
    uint64_t n;
    char w[192];
    snprintf(w, sizeof w, "%s element type", what);
    if ((st = take_u32(c, &et, w)) != MKV_OK) return st;
    int esz = vtype_size(et);
    if (esz < 0) return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s = %u: unknown value type", c->path, w, et);
    snprintf(w, sizeof w, "%s array length", what);
    if ((st = take_u64(c, &n, w)) != MKV_OK) return st;
    /* Every element takes at least this many bytes: a count that cannot fit
     * in the rest of the file is refused before any loop or allocation. */
    uint64_t min_el = esz > 0 ? (uint64_t)esz : et == MKV_GGUF_STRING ? 8 : 12;
    if (n > left(c) / min_el)
        return mkv_fail(c->err, MKV_ERR_TRUNCATED,
                        "%s: %s = %" PRIu64 ": %s elements of >= %" PRIu64 " bytes cannot fit in the %" PRIu64
                        " bytes left",
                        c->path, w, n, et == MKV_GGUF_ARRAY ? "array" : et == MKV_GGUF_STRING ? "string" : "scalar",
                        min_el, left(c));
    if (kv) {
        kv->arr_type = et;
        kv->arr_n = n;
        kv->arr_data = c->p + c->pos;
    }
    snprintf(w, sizeof w, depth ? "%s" : "%s element", what); /* "element" once, however deep */
    if (esz > 0 && et != MKV_GGUF_BOOL) return take(c, n * (uint64_t)esz, &b, w);
    for (uint64_t i = 0; i < n; i++)
        if ((st = take_value(c, et, depth + 1, NULL, w)) != MKV_OK) return st;
    return MKV_OK;
}

/* ---- open / close -------------------------------------------------------- */

static int cmp_kv_ptr(const void *a, const void *b)
{
    return strcmp((*(const mkv_gguf_kv *const *)a)->key, (*(const mkv_gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const mkv_gguf_tensor *const *)a)->name, (*(const mkv_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    uint64_t x = (*(const mkv_gguf_tensor *const *)a)->offset, y = (*(const mkv_gguf_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static mkv_status read_header(cursor *c, mkv_gguf *g)
{
    const uint8_t *b = NULL;
    mkv_status st;
    if ((st = take(c, 4, &b, "magic")) != MKV_OK) return st;
    if (memcmp(b, "GGUF", 4) != 0)
        return mkv_fail(c->err, MKV_ERR_BAD_MAGIC, "%s: magic = %02x %02x %02x %02x: not a GGUF file (\"GGUF\")",
                        c->path, b[0], b[1], b[2], b[3]);
    if ((st = take_u32(c, &g->version, "version")) != MKV_OK) return st;
    if (g->version != 2 && g->version != 3)
        return mkv_fail(c->err, MKV_ERR_BAD_VERSION, "%s: version = %u: not supported (2, 3%s)", c->path,
                        g->version, (g->version & 0xffff) == 0 ? "; big-endian file?" : "");
    if ((st = take_u64(c, &g->n_tensors, "n_tensors")) != MKV_OK) return st;
    if ((st = take_u64(c, &g->n_kv, "n_kv")) != MKV_OK) return st;
    /* Minimal sizes: a key/value is a length, >= 1 key byte, a type and
     * >= 1 value byte; a tensor info a length, >= 1 name byte, n_dims, one
     * ne, the type and the offset. */
    if (g->n_kv > left(c) / 14)
        return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: n_kv = %" PRIu64 ": cannot fit in the %" PRIu64 " bytes left",
                        c->path, g->n_kv, left(c));
    if (g->n_tensors > left(c) / 33)
        return mkv_fail(c->err, MKV_ERR_FORMAT,
                        "%s: n_tensors = %" PRIu64 ": cannot fit in the %" PRIu64 " bytes left", c->path,
                        g->n_tensors, left(c));
    return MKV_OK;
}

static mkv_status read_kvs(cursor *c, mkv_gguf *g)
{
    mkv_status st;
    char what[160];
    g->kv = mkv_calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    if (!g->kv) return mkv_fail(c->err, MKV_ERR_NO_MEMORY, "%s: n_kv = %" PRIu64 ": out of memory", c->path, g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        mkv_gguf_kv *kv = &g->kv[i];
        const char *s;
        uint64_t len;
        snprintf(what, sizeof what, "key #%" PRIu64, i);
        if ((st = take_str(c, &s, &len, what)) != MKV_OK) return st;
        if ((st = dup_name(c, s, len, (char **)&kv->key, what)) != MKV_OK) return st;
        snprintf(what, sizeof what, "key '%.100s' type", kv->key);
        if ((st = take_u32(c, &kv->type, what)) != MKV_OK) return st;
        snprintf(what, sizeof what, "key '%.100s' value", kv->key);
        if ((st = take_value(c, kv->type, 0, kv, what)) != MKV_OK) return st;
    }
    return MKV_OK;
}

static mkv_status read_tensor_infos(cursor *c, mkv_gguf *g)
{
    mkv_status st;
    char what[160];
    g->tensors = mkv_calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors)
        return mkv_fail(c->err, MKV_ERR_NO_MEMORY, "%s: n_tensors = %" PRIu64 ": out of memory", c->path,
                        g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        mkv_gguf_tensor *t = &g->tensors[i];
        const char *s;
        uint64_t len;
        snprintf(what, sizeof what, "tensor #%" PRIu64 " name", i);
        if ((st = take_str(c, &s, &len, what)) != MKV_OK) return st;
        if ((st = dup_name(c, s, len, (char **)&t->name, what)) != MKV_OK) return st;
        snprintf(what, sizeof what, "tensor '%.100s' n_dims", t->name);
        if ((st = take_u32(c, &t->n_dims, what)) != MKV_OK) return st;
        if (t->n_dims < 1 || t->n_dims > 4)
            return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s = %u: not in 1..4", c->path, what, t->n_dims);
        uint64_t n = 1;
        for (uint32_t d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims) continue;
            snprintf(what, sizeof what, "tensor '%.100s' ne[%u]", t->name, d);
            if ((st = take_u64(c, &t->ne[d], what)) != MKV_OK) return st;
            if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX / n)
                return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: %s = %" PRIu64 ": %s", c->path, what, t->ne[d],
                                t->ne[d] == 0 ? "zero" : "element count overflows");
            n *= t->ne[d];
        }
        snprintf(what, sizeof what, "tensor '%.100s' type", t->name);
        if ((st = take_u32(c, &t->type, what)) != MKV_OK) return st;
        int ti = ggml_type_index(t->type);
        if (ti < 0)
            return mkv_fail(c->err, MKV_ERR_UNSUPPORTED, "%s: %s = %u: unknown ggml type, its size cannot be known",
                            c->path, what, t->type);
        if (t->ne[0] % ggml_types[ti].blck != 0)
            return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: tensor '%s' ne[0] = %" PRIu64 ": not a multiple of the %s block (%u)",
                            c->path, t->name, t->ne[0], ggml_types[ti].name, ggml_types[ti].blck);
        t->nbytes = mkv_ggml_nbytes(t->type, n);
        if (t->nbytes == 0)
            return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: tensor '%s' elements = %" PRIu64 ": size overflows",
                            c->path, t->name, n);
        snprintf(what, sizeof what, "tensor '%.100s' offset", t->name);
        if ((st = take_u64(c, &t->offset, what)) != MKV_OK) return st;
    }
    return MKV_OK;
}

static mkv_status read_alignment(cursor *c, mkv_gguf *g)
{
    g->alignment = 32;
    if (!mkv_gguf_find_kv(g, "general.alignment")) return MKV_OK;
    uint32_t a;
    mkv_status st = mkv_gguf_get_u32(g, "general.alignment", &a, c->err);
    if (st != MKV_OK) return st;
    if (a == 0 || (a & (a - 1)) != 0)
        return mkv_fail(c->err, MKV_ERR_FORMAT, "%s: general.alignment = %u: not a power of two", c->path, a);
    g->alignment = a;
    return MKV_OK;
}

/* Duplicate keys and names, alignment, bounds and overlap of tensor data. */
static mkv_status check_tables(cursor *c, mkv_gguf *g)
{
    mkv_status st = MKV_OK;
    uint64_t n = g->n_kv > g->n_tensors ? g->n_kv : g->n_tensors;
    const void **sorted = mkv_malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return mkv_fail(c->err, MKV_ERR_NO_MEMORY, "%s: out of memory", c->path);

    const mkv_gguf_kv **ks = (const mkv_gguf_kv **)sorted;
    for (uint64_t i = 0; i < g->n_kv; i++) ks[i] = &g->kv[i];
    qsort(ks, g->n_kv, sizeof *ks, cmp_kv_ptr);
    for (uint64_t i = 1; i < g->n_kv; i++)
        if (strcmp(ks[i - 1]->key, ks[i]->key) == 0) {
            st = mkv_fail(c->err, MKV_ERR_FORMAT, "%s: key = '%s': duplicate key", c->path, ks[i]->key);
            goto out;
        }

    const mkv_gguf_tensor **ts = (const mkv_gguf_tensor **)sorted;
    for (uint64_t i = 0; i < g->n_tensors; i++) ts[i] = &g->tensors[i];
    qsort(ts, g->n_tensors, sizeof *ts, cmp_tensor_name);
    for (uint64_t i = 1; i < g->n_tensors; i++)
        if (strcmp(ts[i - 1]->name, ts[i]->name) == 0) {
            st = mkv_fail(c->err, MKV_ERR_FORMAT, "%s: tensor name = '%s': duplicate tensor", c->path, ts[i]->name);
            goto out;
        }

    uint64_t room = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        mkv_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0) {
            st = mkv_fail(c->err, MKV_ERR_FORMAT, "%s: tensor '%s' offset = %" PRIu64
                          ": not a multiple of general.alignment (%" PRIu64 ")",
                          c->path, t->name, t->offset, g->alignment);
            goto out;
        }
        if (t->offset > room || t->nbytes > room - t->offset) {
            st = mkv_fail(c->err, MKV_ERR_FORMAT, "%s: tensor '%s' offset = %" PRIu64 " + %" PRIu64
                          " bytes: past end of file (%" PRIu64 " bytes, data section at %" PRIu64 ")",
                          c->path, t->name, t->offset, t->nbytes, g->size, g->data_offset);
            goto out;
        }
        t->data = g->map + g->data_offset + t->offset;
    }

    qsort(ts, g->n_tensors, sizeof *ts, cmp_tensor_offset);
    for (uint64_t i = 1; i < g->n_tensors; i++)
        if (ts[i - 1]->offset + ts[i - 1]->nbytes > ts[i]->offset) {
            st = mkv_fail(c->err, MKV_ERR_FORMAT, "%s: tensor '%s' offset = %" PRIu64
                          ": overlaps tensor '%s' (offset %" PRIu64 ", %" PRIu64 " bytes)",
                          c->path, ts[i]->name, ts[i]->offset, ts[i - 1]->name, ts[i - 1]->offset,
                          ts[i - 1]->nbytes);
            goto out;
        }
out:
    free(sorted);
    return st;
}

mkv_status mkv_gguf_open(const char *path, mkv_gguf **out, mkv_error *err)
{
    mkv_status st = MKV_OK;
    mkv_gguf *g = NULL;
    int fd = -1;
    *out = NULL;

    g = mkv_calloc(1, sizeof *g);
    if (g) g->fd = -1;
    if (!g || !(g->path = mkv_strdup(path))) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    uint64_t size;
    if ((st = mkv_open_regular(path, 0, &fd, &size, err)) != MKV_OK) goto out;
    g->fd = fd; /* kept: tensor data is read with pread (mkv_gguf_tensor_read) */
    if (size > SIZE_MAX) {
        st = mkv_fail(err, MKV_ERR_IO, "%s: size = %" PRIu64 ": too large to map", path, size);
        goto out;
    }
    g->size = size;
    if (g->size > 0) { /* mmap of 0 bytes fails; an empty file is just truncated */
        void *m = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            st = mkv_fail(err, MKV_ERR_IO, "%s: mmap: %s", path, strerror(errno));
            goto out;
        }
        g->map = m;
    }

    cursor c = {.p = g->map, .pos = 0, .size = g->size, .path = path, .err = err};
    if ((st = read_header(&c, g)) != MKV_OK) goto out;
    if ((st = read_kvs(&c, g)) != MKV_OK) goto out;
    if ((st = read_tensor_infos(&c, g)) != MKV_OK) goto out;
    if ((st = read_alignment(&c, g)) != MKV_OK) goto out;
    g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if ((st = check_tables(&c, g)) != MKV_OK) goto out;

out:
    if (st != MKV_OK) {
        mkv_gguf_close(g);
        return st;
    }
    *out = g;
    return MKV_OK;
}

void mkv_gguf_close(mkv_gguf *g)
{
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free((char *)g->kv[i].key);
    if (g->tensors)
        for (uint64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->map) munmap((void *)g->map, (size_t)g->size);
    if (g->fd >= 0) close(g->fd);
    free(g->path);
    free(g);
}

/* ---- lookups and getters ------------------------------------------------- */

const mkv_gguf_tensor *mkv_gguf_find_tensor(const mkv_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

const mkv_gguf_kv *mkv_gguf_find_kv(const mkv_gguf *g, const char *key)
{
    /* kv may be partially filled while opening: keys are set in order */
    for (uint64_t i = 0; i < g->n_kv && g->kv[i].key; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

static bool is_unsigned(uint32_t t)
{
    return t == MKV_GGUF_U8 || t == MKV_GGUF_U16 || t == MKV_GGUF_U32 || t == MKV_GGUF_U64;
}

static bool is_signed(uint32_t t)
{
    return t == MKV_GGUF_I8 || t == MKV_GGUF_I16 || t == MKV_GGUF_I32 || t == MKV_GGUF_I64;
}

static mkv_status find_or_missing(const mkv_gguf *g, const char *key, const mkv_gguf_kv **kv, mkv_error *err)
{
    *kv = mkv_gguf_find_kv(g, key);
    if (!*kv) return mkv_fail(err, MKV_ERR_MISSING, "%s: key '%s': missing", g->path, key);
    return MKV_OK;
}

/* "key 'k' type = array of string: expected <want>" */
static mkv_status wrong_type(const mkv_gguf *g, const mkv_gguf_kv *kv, const char *want, mkv_error *err)
{
    return mkv_fail(err, MKV_ERR_FORMAT, "%s: key '%s' type = %s%s%s: expected %s", g->path, kv->key,
                    mkv_gguf_vtype_name(kv->type), kv->type == MKV_GGUF_ARRAY ? " of " : "",
                    kv->type == MKV_GGUF_ARRAY ? mkv_gguf_vtype_name(kv->arr_type) : "", want);
}

mkv_status mkv_gguf_get_u32(const mkv_gguf *g, const char *key, uint32_t *out, mkv_error *err)
{
    const mkv_gguf_kv *kv;
    mkv_status st = find_or_missing(g, key, &kv, err);
    if (st != MKV_OK) return st;
    if (is_unsigned(kv->type) && kv->v.u64 <= UINT32_MAX) {
        *out = (uint32_t)kv->v.u64;
        return MKV_OK;
    }
    if (is_signed(kv->type) && kv->v.i64 >= 0 && kv->v.i64 <= (int64_t)UINT32_MAX) {
        *out = (uint32_t)kv->v.i64;
        return MKV_OK;
    }
    if (is_unsigned(kv->type))
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s = %" PRIu64 ": does not fit in u32", g->path, key, kv->v.u64);
    if (is_signed(kv->type))
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s = %" PRId64 ": does not fit in u32", g->path, key, kv->v.i64);
    return wrong_type(g, kv, "an integer (u8..u64, i8..i64)", err);
}

mkv_status mkv_gguf_get_f32(const mkv_gguf *g, const char *key, float *out, mkv_error *err)
{
    const mkv_gguf_kv *kv;
    mkv_status st = find_or_missing(g, key, &kv, err);
    if (st != MKV_OK) return st;
    if (kv->type == MKV_GGUF_F32 || kv->type == MKV_GGUF_F64) *out = (float)kv->v.f64;
    else if (is_unsigned(kv->type)) *out = (float)kv->v.u64; /* some writers store e.g. freq_base as int */
    else if (is_signed(kv->type)) *out = (float)kv->v.i64;
    else return wrong_type(g, kv, "a number (f32, f64 or an integer)", err);
    return MKV_OK;
}

mkv_status mkv_gguf_get_str(const mkv_gguf *g, const char *key, char *out, size_t cap, mkv_error *err)
{
    const mkv_gguf_kv *kv;
    mkv_status st = find_or_missing(g, key, &kv, err);
    if (st != MKV_OK) return st;
    if (kv->type != MKV_GGUF_STRING) return wrong_type(g, kv, "string", err);
    if (kv->v.str.len >= cap)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s length = %" PRIu64 ": longer than %zu bytes", g->path, key,
                        kv->v.str.len, cap ? cap - 1 : 0);
    memcpy(out, kv->v.str.ptr, (size_t)kv->v.str.len);
    out[kv->v.str.len] = '\0';
    return MKV_OK;
}

mkv_status mkv_gguf_array_get(const mkv_gguf *g, const mkv_gguf_kv *kv, uint64_t i, mkv_gguf_kv *out,
                              mkv_error *err)
{
    if (kv->type != MKV_GGUF_ARRAY || i >= kv->arr_n)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: key '%s': element %" PRIu64 " of a %s of %" PRIu64, g->path,
                        kv->key, i, mkv_gguf_vtype_name(kv->type), kv->type == MKV_GGUF_ARRAY ? kv->arr_n : 0);
    if (kv->arr_type == MKV_GGUF_ARRAY)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: key '%s': elements of an array of arrays", g->path, kv->key);
    memset(out, 0, sizeof *out);
    out->key = kv->key;
    out->type = kv->arr_type;
    /* The array was validated whole when the file was opened: every
     * element lies inside the mapping, so the walk needs no bounds checks
     * beyond the cursor's own. */
    cursor c = {.p = kv->arr_data, .pos = 0, .size = (uint64_t)(g->map + g->size - (const uint8_t *)kv->arr_data),
                .path = g->path, .err = err};
    if (kv->arr_type == MKV_GGUF_STRING) {
        for (uint64_t k = 0; k < i; k++) {
            const uint8_t *b = NULL;
            mkv_status st = take(&c, 8, &b, kv->key);
            if (st == MKV_OK) st = take(&c, le(b, 8), &b, kv->key);
            if (st != MKV_OK) return st;
        }
    } else {
        c.pos = i * (uint64_t)vtype_size(kv->arr_type);
    }
    return take_value(&c, kv->arr_type, 1, out, kv->key);
}

/* ---- tensor data ----------------------------------------------------------- */

uint64_t mkv_gguf_tensor_rows(const mkv_gguf_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

mkv_status mkv_gguf_rows_to_f32(const mkv_gguf *g, const mkv_gguf_tensor *t, uint64_t row0, uint64_t n_rows,
                                float *dst, mkv_error *err)
{
    if (!mkv_dequant_supported(t->type))
        return mkv_fail(err, MKV_ERR_UNSUPPORTED,
                        "%s: tensor '%s' type = %s: cannot convert to F32 "
                        "(F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)",
                        g->path, t->name, mkv_ggml_type_name(t->type));
    uint64_t rows = mkv_gguf_tensor_rows(t);
    if (row0 > rows || n_rows > rows - row0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: tensor '%s': rows %" PRIu64 "+%" PRIu64 " of %" PRIu64,
                        g->path, t->name, row0, n_rows, rows);
    /* ne0 is a whole number of blocks (checked at open) */
    const uint64_t n = t->ne[0], row_bytes = mkv_ggml_nbytes(t->type, n);
    if (n_rows == 0) return MKV_OK;
    /* rows read in chunks of about CHUNK bytes (at least one row) */
    enum { CHUNK = 1 << 20 };
    uint64_t per = row_bytes >= CHUNK ? 1 : CHUNK / row_bytes;
    if (per > n_rows) per = n_rows;
    if (per * row_bytes > SIZE_MAX)
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: tensor '%s': a row of %" PRIu64 " bytes", g->path, t->name,
                        row_bytes);
    uint8_t *buf = mkv_malloc((size_t)(per * row_bytes));
    if (!buf)
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: tensor '%s': out of memory for %" PRIu64 " bytes", g->path,
                        t->name, per * row_bytes);
    mkv_status st = MKV_OK;
    for (uint64_t r = 0; r < n_rows && st == MKV_OK; r += per) {
        const uint64_t k = n_rows - r < per ? n_rows - r : per;
        st = mkv_gguf_tensor_read(g, t, (row0 + r) * row_bytes, k * row_bytes, buf, err);
        for (uint64_t i = 0; i < k && st == MKV_OK; i++)
            mkv_dequant_row(t->type, buf + i * row_bytes, n, dst + (r + i) * n);
    }
    free(buf);
    return st;
}

mkv_status mkv_gguf_tensor_read(const mkv_gguf *g, const mkv_gguf_tensor *t, uint64_t byte0, uint64_t n, void *dst,
                                mkv_error *err)
{
    if (byte0 > t->nbytes || n > t->nbytes - byte0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: tensor '%s': bytes %" PRIu64 "+%" PRIu64 " of %" PRIu64,
                        g->path, t->name, byte0, n, t->nbytes);
    if (n == 0) return MKV_OK;
    char what[160];
    snprintf(what, sizeof what, "tensor '%.100s'", t->name);
    return mkv_pread_full(g->fd, dst, n, g->data_offset + t->offset + byte0, g->path, what, err);
}

mkv_status mkv_gguf_tensor_to_f32(const mkv_gguf *g, const mkv_gguf_tensor *t, float *dst, mkv_error *err)
{
    return mkv_gguf_rows_to_f32(g, t, 0, mkv_gguf_tensor_rows(t), dst, err);
}
