#include "safetensors_write.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "half.h"
#include "safetensors.h"

#define CHUNK (1u << 20) /* floats per fill call */

static void encode(uint32_t dtype, const float *x, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        if (dtype == MKV_ST_F32) {
            for (int k = 0; k < 4; k++) out[4 * i + (uint64_t)k] = (uint8_t)(b >> (8 * k));
            continue;
        }
        uint16_t h;
        if (dtype == MKV_ST_F16) h = mkv_float_to_half(x[i]);
        else if ((b & 0x7fffffffu) > 0x7f800000u) h = (uint16_t)(b >> 16 | 0x40); /* NaN stays NaN */
        else h = (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
        out[2 * i] = (uint8_t)h;
        out[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

static mkv_status header_text(const char *path, const mkv_stw_decl *t, uint32_t n, const char *metadata, char **out,
                              uint64_t *len_out, mkv_error *err)
{
    size_t cap = 64 + (metadata ? strlen(metadata) : 0) + (size_t)n * 200, len = 0;
    char *h = malloc(cap);
    if (!h) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    len += (size_t)snprintf(h + len, cap - len, "{");
    if (metadata) len += (size_t)snprintf(h + len, cap - len, "\"__metadata__\":%s", metadata);
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        for (const char *c = t[i].name; *c; c++)
            if (*c < 0x20 || *c == '"' || *c == '\\' || *c > 0x7e) {
                free(h);
                return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: tensor name '%s' needs escaping", path, t[i].name);
            }
        uint64_t bytes = mkv_stw_numel(&t[i]) * mkv_st_dtype_size(t[i].dtype);
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", (i || metadata) ? "," : "",
                                t[i].name, mkv_st_dtype_name(t[i].dtype));
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%" PRIu64, d ? "," : "", t[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + bytes);
        off += bytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' '; /* the data section starts 8-aligned */
    *out = h;
    *len_out = len;
    return MKV_OK;
}

mkv_status mkv_stw_write(const char *path, const mkv_stw_decl *t, uint32_t n, const char *metadata,
                         mkv_stw_fill_fn fill, void *user, mkv_progress *progress, mkv_error *err)
{
    char *h = NULL;
    uint64_t hl = 0;
    float *x = NULL;
    uint8_t *bytes = NULL;
    int fd = -1;
    mkv_atomic_file af = MKV_ATOMIC_FILE_INIT;
    mkv_status st = header_text(path, t, n, metadata, &h, &hl, err);
    if (st) return st;
    x = malloc(CHUNK * sizeof *x);
    bytes = malloc(CHUNK * 4);
    if (!x || !bytes) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
    if ((st = mkv_atomic_begin(&af, path, err)) != MKV_OK) goto out;
    fd = af.fd;
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(hl >> (8 * i));
    if ((st = mkv_write_full(fd, le, 8, path, err)) || (st = mkv_write_full(fd, h, hl, path, err))) goto out;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t numel = mkv_stw_numel(&t[i]), sz = mkv_st_dtype_size(t[i].dtype);
        for (uint64_t k = 0; k < numel; k += CHUNK) {
            uint64_t m = numel - k < CHUNK ? numel - k : CHUNK;
            if ((st = fill(user, i, k, m, x, err)) != MKV_OK) goto out;
            encode(t[i].dtype, x, m, bytes);
            if ((st = mkv_write_full(fd, bytes, m * sz, path, err)) != MKV_OK) goto out;
            if (progress) mkv_progress_add(progress, m * sz);
        }
    }
    st = mkv_atomic_commit(&af, err);
out:
    if (st != MKV_OK) mkv_atomic_abort(&af); /* an earlier file at path stays */
    free(h);
    free(x);
    free(bytes);
    return st;
}
