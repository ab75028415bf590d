/* A minimal safetensors writer for the tests, independent of the product's
 * reader and writer: it formats the JSON header by hand, lays tensors out
 * back to back in the order given, and pads the header with spaces to a
 * multiple of 8 as the format's reference writer does. */
#ifndef MKV_ST_WRITER_H
#define MKV_ST_WRITER_H

#include <stdint.h>

typedef struct stw_tensor {
    const char *name;
    const char *dtype;     /* "F32", "F16", "BF16" (or anything, for hostile files) */
    uint32_t n_dims;       /* 0 = scalar */
    uint64_t shape[4];
    const void *data;      /* nbytes little-endian bytes */
    uint64_t nbytes;
} stw_tensor;

/* Writes the file; metadata is a JSON object text for "__metadata__" or
 * NULL. Returns 0 on success. */
int stw_write(const char *path, const stw_tensor *t, uint32_t n, const char *metadata);

/* Writes exactly: u64 header_len, then `header` (its strlen bytes), then
 * data_len bytes of data. For hostile files, header_len may disagree. */
int stw_write_raw(const char *path, uint64_t header_len, const char *header, const void *data, uint64_t data_len);

/* floats -> little-endian F16 / BF16 (round to nearest even) / F32 bytes. */
void stw_to_f16(const float *x, uint64_t n, uint8_t *out);
void stw_to_bf16(const float *x, uint64_t n, uint8_t *out);
void stw_to_f32(const float *x, uint64_t n, uint8_t *out);

#endif
