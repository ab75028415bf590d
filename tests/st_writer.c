#include "st_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"

static int put_le64(FILE *f, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    return fwrite(b, 1, 8, f) == 8 ? 0 : -1;
}

int stw_write_raw(const char *path, uint64_t header_len, const char *header, const void *data, uint64_t data_len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t hn = strlen(header);
    int rc = put_le64(f, header_len);
    if (!rc && fwrite(header, 1, hn, f) != hn) rc = -1;
    if (!rc && data_len && fwrite(data, 1, (size_t)data_len, f) != data_len) rc = -1;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

int stw_write(const char *path, const stw_tensor *t, uint32_t n, const char *metadata)
{
    size_t cap = 256 + (metadata ? strlen(metadata) : 0);
    for (uint32_t i = 0; i < n; i++) cap += strlen(t[i].name) + 160;
    char *h = malloc(cap + 8);
    if (!h) return -1;
    size_t len = 0;
    len += (size_t)snprintf(h + len, cap - len, "{");
    if (metadata) len += (size_t)snprintf(h + len, cap - len, "\"__metadata__\":%s", metadata);
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", (i || metadata) ? "," : "",
                                t[i].name, t[i].dtype);
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%llu", d ? "," : "", (unsigned long long)t[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                (unsigned long long)(off + t[i].nbytes));
        off += t[i].nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    h[len] = '\0';
    FILE *f = fopen(path, "wb");
    int rc = f ? 0 : -1;
    if (!rc) rc = put_le64(f, len);
    if (!rc && fwrite(h, 1, len, f) != len) rc = -1;
    for (uint32_t i = 0; i < n && !rc; i++)
        if (t[i].nbytes && fwrite(t[i].data, 1, (size_t)t[i].nbytes, f) != t[i].nbytes) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    free(h);
    return rc;
}

void stw_to_f16(const float *x, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; i < n; i++) {
        uint16_t v = mkv_float_to_half(x[i]);
        out[2 * i] = (uint8_t)v;
        out[2 * i + 1] = (uint8_t)(v >> 8);
    }
}

void stw_to_bf16(const float *x, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        b += 0x7fffu + ((b >> 16) & 1u); /* round to nearest even (inputs are finite) */
        out[2 * i] = (uint8_t)(b >> 16);
        out[2 * i + 1] = (uint8_t)(b >> 24);
    }
}

void stw_to_f32(const float *x, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        for (int k = 0; k < 4; k++) out[4 * i + (uint64_t)k] = (uint8_t)(b >> (8 * k));
    }
}
