/* Safetensors reader: one file, or shards listed by a Hugging Face
 * `model.safetensors.index.json` (weight_map: tensor name -> shard file).
 * Files are memory-mapped; nothing is copied until a tensor is fetched.
 *
 * Every header is checked before use: the 8-byte header length (non-zero,
 * at most MKV_ST_MAX_HEADER, inside the file), the JSON (mkv_json, strict),
 * each tensor's dtype (F32, F16, BF16; others refused by name), shape (at
 * most 8 dims, element count without overflow), data_offsets [begin, end)
 * (ordered, inside the data section, end - begin == numel * dtype size, no
 * two tensors overlapping), and unique names across all shards.
 * Errors name the file, the tensor and the value:
 *   MKV_ERR_IO         open/stat/mmap failed (a shard the index names is missing)
 *   MKV_ERR_TRUNCATED  header length or a tensor's end past the end of the file
 *   MKV_ERR_FORMAT     bad header length, bad JSON, bad shape/offsets/size,
 *                      overlap, duplicate name, index without weight_map
 *   MKV_ERR_UNSUPPORTED a known safetensors dtype other than F32/F16/BF16
 *   MKV_ERR_MISSING    a tensor the index names is not in its shard */
#ifndef MKV_SAFETENSORS_H
#define MKV_SAFETENSORS_H

#include <stdint.h>

#include "mekivk.h"

#define MKV_ST_MAX_HEADER (100u << 20) /* as the format's reference reader */
#define MKV_ST_MAX_DIMS 8

typedef enum mkv_st_dtype { MKV_ST_F32, MKV_ST_F16, MKV_ST_BF16 } mkv_st_dtype;

/* "F32", "F16", "BF16"; bytes per element. */
const char *mkv_st_dtype_name(uint32_t dtype);
uint32_t mkv_st_dtype_size(uint32_t dtype);

typedef struct mkv_st_tensor {
    const char *name;
    uint32_t dtype;               /* mkv_st_dtype */
    uint32_t n_dims;              /* 0 (a scalar) .. MKV_ST_MAX_DIMS */
    uint64_t shape[MKV_ST_MAX_DIMS];
    uint64_t numel;               /* product of shape (1 for a scalar) */
    uint64_t begin, end;          /* data_offsets, from the start of the data section */
    uint32_t file;                /* index into mkv_safetensors.files */
    const uint8_t *data;          /* numel elements of dtype, little-endian, unaligned */
} mkv_st_tensor;

typedef struct mkv_st_file {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint64_t header_len;          /* JSON bytes after the 8-byte length */
    uint32_t n_tensors;           /* of this file */
} mkv_st_file;

typedef struct mkv_st_meta {
    const char *key, *value;
} mkv_st_meta;

typedef struct mkv_safetensors {
    char *path;                   /* as opened */
    uint32_t n_files;
    mkv_st_file *files;
    uint32_t n_tensors;
    mkv_st_tensor *tensors;       /* sorted by name */
    uint32_t n_meta;
    mkv_st_meta *meta;            /* __metadata__ string pairs of every file, in order */
    char *strings;                /* owns names and metadata */
} mkv_safetensors;

/* Opens `path`: a .safetensors file, a *.index.json, or a directory holding
 * model.safetensors.index.json or model.safetensors. */
mkv_status mkv_st_open(const char *path, mkv_safetensors **out, mkv_error *err);
void mkv_st_close(mkv_safetensors *st);

/* The tensor called `name`, or NULL. */
const mkv_st_tensor *mkv_st_find(const mkv_safetensors *st, const char *name);
/* Same, but MKV_ERR_MISSING naming the checkpoint and tensor if absent. */
mkv_status mkv_st_get(const mkv_safetensors *st, const char *name, const mkv_st_tensor **out, mkv_error *err);

/* Elements [first, first + n) of t as float32 (F16/BF16 converted). The
 * caller checks the range (asserted: first + n <= numel). */
void mkv_st_to_f32(const mkv_st_tensor *t, uint64_t first, uint64_t n, float *dst);
/* Rows [row0, row0 + n_rows) of a tensor seen as [shape[0], numel/shape[0]]
 * (a 2-D weight: HF layout [out, in]) as float32. MKV_ERR_INVALID_ARG if out
 * of range. */
mkv_status mkv_st_rows_f32(const mkv_st_tensor *t, uint64_t row0, uint64_t n_rows, float *dst, mkv_error *err);

#endif
