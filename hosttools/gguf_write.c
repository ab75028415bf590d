/* GGUF v3 writer. Each key/value is serialized when it is set (so setting a
 * key again just replaces its bytes); tensors are declared first and their
 * data produced one at a time by a callback at write time, so a writer
 * never holds more than one tensor's bytes. Layout as ggml writes it:
 * header, key/values, tensor infos, padding to general.alignment, then each
 * tensor's data padded to the alignment. */
#include "gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

typedef struct wkv {
    char *key;
    uint8_t *blob; /* serialized key, type and value */
    uint64_t len;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t n_dims, type;
    uint64_t ne[4], nbytes;
} wtensor;

struct mkv_gguf_writer {
    wkv *kv;
    uint64_t n_kv, cap_kv;
    wtensor *t;
    uint64_t n_t, cap_t;
    uint64_t alignment;
};

/* ---- growable byte buffer ------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    uint64_t len, cap;
    bool oom;
} bytes;

static void put(bytes *b, const void *src, uint64_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        uint64_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_le(bytes *b, uint64_t v, int n)
{
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (uint64_t)n);
}

static void put_str(bytes *b, const char *s, uint64_t len)
{
    put_le(b, len, 8);
    put(b, s, len);
}

/* ---- key/values ---------------------------------------------------------- */

mkv_status mkv_gguf_writer_create(mkv_gguf_writer **out, mkv_error *err)
{
    mkv_gguf_writer *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w) return mkv_fail(err, MKV_ERR_NO_MEMORY, "gguf writer: out of memory");
    w->alignment = 32;
    /* Written explicitly so readers need not know the default. */
    if (mkv_gguf_set_u32(w, "general.alignment", 32) != MKV_OK) {
        mkv_gguf_writer_free(w);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "gguf writer: out of memory");
    }
    *out = w;
    return MKV_OK;
}

void mkv_gguf_writer_free(mkv_gguf_writer *w)
{
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].blob);
    }
    for (uint64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Starts a kv blob: key string and value type. */
static void kv_begin(bytes *b, const char *key, uint32_t type)
{
    put_str(b, key, strlen(key));
    put_le(b, type, 4);
}

/* Stores (or replaces) key's serialized blob; takes ownership of b. */
static mkv_status kv_commit(mkv_gguf_writer *w, const char *key, bytes *b)
{
    if (b->oom) {
        free(b->p);
        return MKV_ERR_NO_MEMORY;
    }
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].blob);
            w->kv[i].blob = b->p;
            w->kv[i].len = b->len;
            return MKV_OK;
        }
    if (w->n_kv == w->cap_kv) {
        uint64_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *kv = realloc(w->kv, cap * sizeof *kv);
        if (!kv) { free(b->p); return MKV_ERR_NO_MEMORY; }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) { free(b->p); return MKV_ERR_NO_MEMORY; }
    w->kv[w->n_kv++] = (wkv){.key = k, .blob = b->p, .len = b->len};
    return MKV_OK;
}

static int scalar_size(uint32_t t)
{
    switch (t) {
    case MKV_GGUF_U8: case MKV_GGUF_I8: case MKV_GGUF_BOOL: return 1;
    case MKV_GGUF_U16: case MKV_GGUF_I16: return 2;
    case MKV_GGUF_U32: case MKV_GGUF_I32: case MKV_GGUF_F32: return 4;
    case MKV_GGUF_U64: case MKV_GGUF_I64: case MKV_GGUF_F64: return 8;
    default: return 0;
    }
}

static bool key_ok(const mkv_gguf_writer *w, const char *key) { return w && key && key[0]; }

mkv_status mkv_gguf_set_scalar(mkv_gguf_writer *w, const char *key, uint32_t vtype, const void *value)
{
    int sz = scalar_size(vtype);
    if (!key_ok(w, key) || !value || sz == 0) return MKV_ERR_INVALID_ARG;
    if (strcmp(key, "general.alignment") == 0) {
        /* the reader insists on u32, a power of two */
        if (vtype != MKV_GGUF_U32) return MKV_ERR_INVALID_ARG;
        uint32_t a;
        memcpy(&a, value, 4);
        if (a == 0 || (a & (a - 1))) return MKV_ERR_INVALID_ARG;
        w->alignment = a;
    }
    if (vtype == MKV_GGUF_BOOL && *(const uint8_t *)value > 1) return MKV_ERR_INVALID_ARG;
    bytes b = {0};
    kv_begin(&b, key, vtype);
    put(&b, value, (uint64_t)sz); /* host is little-endian, as GGUF */
    return kv_commit(w, key, &b);
}

mkv_status mkv_gguf_set_u32(mkv_gguf_writer *w, const char *key, uint32_t v)
{
    return mkv_gguf_set_scalar(w, key, MKV_GGUF_U32, &v);
}

mkv_status mkv_gguf_set_f32(mkv_gguf_writer *w, const char *key, float v)
{
    return mkv_gguf_set_scalar(w, key, MKV_GGUF_F32, &v);
}

mkv_status mkv_gguf_set_str(mkv_gguf_writer *w, const char *key, const char *v)
{
    if (!key_ok(w, key) || !v || strcmp(key, "general.alignment") == 0) return MKV_ERR_INVALID_ARG;
    bytes b = {0};
    kv_begin(&b, key, MKV_GGUF_STRING);
    put_str(&b, v, strlen(v));
    return kv_commit(w, key, &b);
}

mkv_status mkv_gguf_set_array(mkv_gguf_writer *w, const char *key, uint32_t elem_vtype, const void *elems,
                              uint64_t n)
{
    int sz = scalar_size(elem_vtype);
    if (!key_ok(w, key) || (!elems && n) || sz == 0 || strcmp(key, "general.alignment") == 0)
        return MKV_ERR_INVALID_ARG;
    bytes b = {0};
    kv_begin(&b, key, MKV_GGUF_ARRAY);
    put_le(&b, elem_vtype, 4);
    put_le(&b, n, 8);
    put(&b, elems, n * (uint64_t)sz);
    return kv_commit(w, key, &b);
}

mkv_status mkv_gguf_set_u8_array(mkv_gguf_writer *w, const char *key, const uint8_t *v, uint64_t n)
{
    return mkv_gguf_set_array(w, key, MKV_GGUF_U8, v, n);
}

mkv_status mkv_gguf_set_str_array(mkv_gguf_writer *w, const char *key, const char *const *strs, uint64_t n)
{
    if (!key_ok(w, key) || (!strs && n) || strcmp(key, "general.alignment") == 0) return MKV_ERR_INVALID_ARG;
    bytes b = {0};
    kv_begin(&b, key, MKV_GGUF_ARRAY);
    put_le(&b, MKV_GGUF_STRING, 4);
    put_le(&b, n, 8);
    for (uint64_t i = 0; i < n; i++) put_str(&b, strs[i], strlen(strs[i]));
    return kv_commit(w, key, &b);
}

/* ---- tensors and layout ---------------------------------------------------- */

mkv_status mkv_gguf_add_tensor(mkv_gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t ne[4],
                               uint32_t type)
{
    if (!w || !name || !name[0] || n_dims < 1 || n_dims > 4) return MKV_ERR_INVALID_ARG;
    wtensor t = {.n_dims = n_dims, .type = type, .ne = {1, 1, 1, 1}};
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX / n) return MKV_ERR_INVALID_ARG;
        t.ne[d] = ne[d];
        n *= ne[d];
    }
    t.nbytes = mkv_ggml_nbytes(type, n);
    /* unknown type, or rows (ne[0]) not whole blocks */
    if (t.nbytes == 0 || mkv_ggml_nbytes(type, ne[0]) == 0) return MKV_ERR_INVALID_ARG;
    for (uint64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return MKV_ERR_INVALID_ARG;
    if (w->n_t == w->cap_t) {
        uint64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return MKV_ERR_NO_MEMORY;
        w->t = p;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name))) return MKV_ERR_NO_MEMORY;
    w->t[w->n_t++] = t;
    return MKV_OK;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

/* Offset of each tensor's data in the data section: declaration order,
 * each aligned (the alignment may change until write, so computed late). */
static uint64_t next_offset(const mkv_gguf_writer *w, uint64_t off, uint64_t i)
{
    return align_up(off + w->t[i].nbytes, w->alignment);
}

/* Start of the data section in the file, and the file's total size. */
static void layout(const mkv_gguf_writer *w, uint64_t *data_offset, uint64_t *total)
{
    uint64_t meta = 4 + 4 + 8 + 8, off = 0;
    for (uint64_t i = 0; i < w->n_kv; i++) meta += w->kv[i].len;
    for (uint64_t i = 0; i < w->n_t; i++) {
        meta += 8 + strlen(w->t[i].name) + 4 + 8 * w->t[i].n_dims + 4 + 8;
        off = next_offset(w, off, i);
    }
    *data_offset = align_up(meta, w->alignment);
    *total = *data_offset + off;
}

uint64_t mkv_gguf_writer_size(const mkv_gguf_writer *w)
{
    uint64_t data, total;
    layout(w, &data, &total);
    return total;
}

static mkv_status write_zeros(int fd, uint64_t n, const char *path, mkv_error *err)
{
    static const uint8_t zeros[4096];
    while (n > 0) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        mkv_status st = mkv_write_full(fd, zeros, k, path, err);
        if (st != MKV_OK) return st;
        n -= k;
    }
    return MKV_OK;
}

mkv_status mkv_gguf_writer_write_staged(mkv_gguf_writer *w, const char *path, mkv_gguf_fill_fn fill, void *user,
                                        mkv_atomic_file *staged, mkv_error *err)
{
    mkv_status st = MKV_OK;
    bytes meta = {0};
    uint8_t *buf = NULL;
    int fd = -1;
    *staged = (mkv_atomic_file)MKV_ATOMIC_FILE_INIT;
    uint64_t data_offset, total, max_bytes = 0;
    layout(w, &data_offset, &total);

    put(&meta, "GGUF", 4);
    put_le(&meta, 3, 4);
    put_le(&meta, w->n_t, 8);
    put_le(&meta, w->n_kv, 8);
    for (uint64_t i = 0; i < w->n_kv; i++) put(&meta, w->kv[i].blob, w->kv[i].len);
    for (uint64_t i = 0, off = 0; i < w->n_t; off = next_offset(w, off, i), i++) {
        const wtensor *t = &w->t[i];
        put_str(&meta, t->name, strlen(t->name));
        put_le(&meta, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(&meta, t->ne[d], 8);
        put_le(&meta, t->type, 4);
        put_le(&meta, off, 8);
        if (t->nbytes > max_bytes) max_bytes = t->nbytes;
    }
    if (max_bytes > SIZE_MAX) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: tensor of %" PRIu64 " bytes: too large", path, max_bytes);
        goto out;
    }
    buf = malloc(max_bytes ? (size_t)max_bytes : 1);
    if (meta.oom || !buf) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory (largest tensor %" PRIu64 " bytes)", path, max_bytes);
        goto out;
    }

    if ((st = mkv_atomic_begin(staged, path, err)) != MKV_OK) goto out;
    fd = staged->fd;
    if ((st = mkv_write_full(fd, meta.p, meta.len, path, err)) != MKV_OK) goto out;
    if ((st = write_zeros(fd, data_offset - meta.len, path, err)) != MKV_OK) goto out;
    for (uint64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if ((st = fill(user, (uint32_t)i, t->name, buf, t->nbytes, err)) != MKV_OK) goto out;
        if ((st = mkv_write_full(fd, buf, t->nbytes, path, err)) != MKV_OK) goto out;
        if ((st = write_zeros(fd, align_up(t->nbytes, w->alignment) - t->nbytes, path, err)) != MKV_OK) goto out;
    }
    st = mkv_atomic_finish(staged, err);
out:
    if (st != MKV_OK) mkv_atomic_abort(staged); /* no half-written model left behind */
    free(meta.p);
    free(buf);
    return st;
}

mkv_status mkv_gguf_writer_write(mkv_gguf_writer *w, const char *path, mkv_gguf_fill_fn fill, void *user,
                                 mkv_error *err)
{
    mkv_atomic_file f;
    mkv_status st = mkv_gguf_writer_write_staged(w, path, fill, user, &f, err);
    if (st != MKV_OK) return st;
    return mkv_atomic_publish(&f, err);
}
