/* Streaming safetensors writer: the header is formatted from the declared
 * tensors, then each tensor's values are produced in float32 chunks by a
 * callback and stored as F32, F16 or BF16 (round to nearest even), so no
 * more than one chunk is held in memory. */
#ifndef MKV_SAFETENSORS_WRITE_H
#define MKV_SAFETENSORS_WRITE_H

#include <stdint.h>

#include "mekivk.h"
#include "progress.h"

typedef struct mkv_stw_decl {
    char name[96];        /* printable ASCII without '"' or '\\' */
    uint32_t dtype;       /* mkv_st_dtype */
    uint32_t n_dims;      /* 0 (scalar) .. 2 */
    uint64_t shape[2];
} mkv_stw_decl;

static inline uint64_t mkv_stw_numel(const mkv_stw_decl *d)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < d->n_dims; i++) n *= d->shape[i];
    return n;
}

/* Produces elements [first, first + n) of tensor `index` as floats. */
typedef mkv_status (*mkv_stw_fill_fn)(void *user, uint32_t index, uint64_t first, uint64_t n, float *dst,
                                      mkv_error *err);

/* Writes tensors t[0..n) to path in order, atomically (a temporary beside
 * it, renamed once complete: runtime/fileio.h); metadata: a JSON object text for
 * "__metadata__" or NULL. progress (may be NULL) advances by bytes written. */
mkv_status mkv_stw_write(const char *path, const mkv_stw_decl *t, uint32_t n, const char *metadata,
                         mkv_stw_fill_fn fill, void *user, mkv_progress *progress, mkv_error *err);

#endif
