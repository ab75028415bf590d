/* GGUF v3 reader: memory-maps the file, parses and validates the header,
 * every metadata key/value and the tensor table. Every count, length,
 * offset and size is checked against the file before use; no allocation is
 * sized by an unchecked count. Tensor data stays in the file: `data` views
 * it through the mapping, while mkv_gguf_tensor_read and the conversions
 * to f32 read it with pread, so a file that shrinks after it was opened
 * gives an error there instead of SIGBUS (the model upload reads only
 * those ways). */
#ifndef MKV_GGUF_H
#define MKV_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include "mekivk.h"

/* ggml tensor types (values as in the GGUF spec). */
typedef enum mkv_ggml_type {
    MKV_GGML_F32 = 0,
    MKV_GGML_F16 = 1,
    MKV_GGML_Q4_0 = 2,
    MKV_GGML_Q4_1 = 3,
    MKV_GGML_Q5_0 = 6,
    MKV_GGML_Q5_1 = 7,
    MKV_GGML_Q8_0 = 8,
    MKV_GGML_Q8_1 = 9,
    MKV_GGML_Q2_K = 10,
    MKV_GGML_Q3_K = 11,
    MKV_GGML_Q4_K = 12,
    MKV_GGML_Q5_K = 13,
    MKV_GGML_Q6_K = 14,
    MKV_GGML_Q8_K = 15,
    MKV_GGML_BF16 = 30,
} mkv_ggml_type;

/* GGUF metadata value types. */
typedef enum mkv_gguf_vtype {
    MKV_GGUF_U8 = 0, MKV_GGUF_I8 = 1, MKV_GGUF_U16 = 2, MKV_GGUF_I16 = 3,
    MKV_GGUF_U32 = 4, MKV_GGUF_I32 = 5, MKV_GGUF_F32 = 6, MKV_GGUF_BOOL = 7,
    MKV_GGUF_STRING = 8, MKV_GGUF_ARRAY = 9, MKV_GGUF_U64 = 10, MKV_GGUF_I64 = 11,
    MKV_GGUF_F64 = 12,
} mkv_gguf_vtype;

/* Name of a ggml type ("F16", "Q8_0", "BF16"); "unknown" for others. */
const char *mkv_ggml_type_name(uint32_t type);
/* Name of a metadata value type ("u32", "string", "array"); "unknown" for others. */
const char *mkv_gguf_vtype_name(uint32_t vtype);
/* Bytes for n elements of `type` (n a multiple of the block size), or 0 if
 * the type is unknown or n is not a whole number of blocks. */
uint64_t mkv_ggml_nbytes(uint32_t type, uint64_t n);

typedef struct mkv_gguf_tensor {
    const char *name;      /* NUL-terminated copy */
    uint32_t n_dims;       /* 1..4 */
    uint64_t ne[4];        /* ne[0] is the fastest-varying (row length); unused dims = 1 */
    uint32_t type;         /* mkv_ggml_type */
    uint64_t offset;       /* from the start of the data section */
    uint64_t nbytes;       /* checked: offset + nbytes inside the file */
    const void *data;      /* points into the mapping (a file truncated since
                            * it was opened makes reading here raise SIGBUS:
                            * readers that must survive that use
                            * mkv_gguf_tensor_read) */
} mkv_gguf_tensor;

typedef struct mkv_gguf_kv {
    const char *key;       /* NUL-terminated copy */
    uint32_t type;         /* mkv_gguf_vtype */
    uint32_t arr_type;     /* element type when type == ARRAY */
    uint64_t arr_n;        /* element count when type == ARRAY */
    const void *arr_data;  /* first element in the mapping: raw little-endian values, or
                            * (u64 length, bytes) per string (see mkv_gguf_array_get) */
    union {
        uint64_t u64;      /* every unsigned integer type and bool */
        int64_t i64;       /* every signed integer type */
        double f64;        /* F32 and F64 */
        struct { const char *ptr; uint64_t len; } str; /* into the mapping, not NUL-terminated */
    } v;
} mkv_gguf_kv;

typedef struct mkv_gguf {
    char *path;
    uint32_t version;      /* 3 (2 accepted too) */
    uint64_t n_kv, n_tensors;
    mkv_gguf_kv *kv;
    mkv_gguf_tensor *tensors;
    uint64_t alignment;    /* general.alignment or 32 */
    uint64_t data_offset;  /* start of the data section in the file */
    const uint8_t *map;    /* whole file */
    uint64_t size;         /* when opened */
    int fd;                /* open read-only until mkv_gguf_close: tensor data is read from it */
} mkv_gguf;

/* Opens and validates `path`. Errors: MKV_ERR_IO, MKV_ERR_BAD_MAGIC,
 * MKV_ERR_BAD_VERSION, MKV_ERR_TRUNCATED, MKV_ERR_FORMAT (bad counts,
 * duplicate names, misaligned/overlapping/out-of-file tensors, bad dims),
 * each message naming the file, the field and the value. Every metadata
 * value type of GGUF v3 is parsed; arrays of arrays are accepted up to a
 * nesting depth of 8 and refused beyond. general.alignment (an integer
 * that fits u32, default 32) must be a power of two. Tensors of any ggml
 * type of known size are accepted here (the model loader narrows that
 * down by name); a type whose size is unknown cannot be bounds-checked and
 * is refused with MKV_ERR_UNSUPPORTED. */
mkv_status mkv_gguf_open(const char *path, mkv_gguf **out, mkv_error *err);
void mkv_gguf_close(mkv_gguf *g);

const mkv_gguf_tensor *mkv_gguf_find_tensor(const mkv_gguf *g, const char *name);
const mkv_gguf_kv *mkv_gguf_find_kv(const mkv_gguf *g, const char *key);

/* Typed getters. MKV_ERR_MISSING if absent, MKV_ERR_FORMAT if the type does
 * not convert, naming the key, the type found and the type expected
 * ("qwen3.block_count type = f32: expected an integer"); integers must fit,
 * strings are copied NUL-terminated. */
mkv_status mkv_gguf_get_u32(const mkv_gguf *g, const char *key, uint32_t *out, mkv_error *err);
mkv_status mkv_gguf_get_f32(const mkv_gguf *g, const char *key, float *out, mkv_error *err);
mkv_status mkv_gguf_get_str(const mkv_gguf *g, const char *key, char *out, size_t cap, mkv_error *err);

/* Element i (< kv->arr_n) of an array of scalars or strings, returned as a
 * top-level value of type kv->arr_type in *out (its key is kv's). Strings
 * are walked from the start: O(i). MKV_ERR_INVALID_ARG if kv is not an
 * array or i is out of range, MKV_ERR_UNSUPPORTED for arrays of arrays. */
mkv_status mkv_gguf_array_get(const mkv_gguf *g, const mkv_gguf_kv *kv, uint64_t i, mkv_gguf_kv *out,
                              mkv_error *err);

/* Rows of a tensor: ne[1]*ne[2]*ne[3] rows of ne[0] elements each. */
uint64_t mkv_gguf_tensor_rows(const mkv_gguf_tensor *t);

/* Bytes [byte0, byte0 + n) of tensor t's data, read from the file with
 * pread (not through the mapping). MKV_ERR_INVALID_ARG for a range past
 * the tensor; MKV_ERR_TRUNCATED when the file has shrunk since it was
 * opened, MKV_ERR_IO on a read error, each message naming the file and the
 * tensor. */
mkv_status mkv_gguf_tensor_read(const mkv_gguf *g, const mkv_gguf_tensor *t, uint64_t byte0, uint64_t n, void *dst,
                                mkv_error *err);

/* Converts rows [row0, row0 + n_rows) of a tensor to floats (dst has
 * n_rows*ne0 elements), exactly as ggml's dequantize_row_* does
 * (runtime/dequant.h): F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
 * Q5_K, Q6_K. The rows are read with mkv_gguf_tensor_read through a
 * bounded buffer (about 1 MiB, or one row), with its errors.
 * MKV_ERR_UNSUPPORTED (naming the type) for other types,
 * MKV_ERR_INVALID_ARG for rows out of range. */
mkv_status mkv_gguf_rows_to_f32(const mkv_gguf *g, const mkv_gguf_tensor *t, uint64_t row0, uint64_t n_rows,
                                float *dst, mkv_error *err);
/* The whole tensor (ne0*ne1*ne2*ne3 floats), as mkv_gguf_rows_to_f32. */
mkv_status mkv_gguf_tensor_to_f32(const mkv_gguf *g, const mkv_gguf_tensor *t, float *dst, mkv_error *err);

#endif
