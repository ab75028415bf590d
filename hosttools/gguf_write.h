/* GGUF v3 writer used by synth (and later convert). Tensor data is
 * streamed: metadata and tensor infos first, then each tensor's bytes in the
 * order they were declared, aligned to general.alignment. */
#ifndef MKV_GGUF_WRITE_H
#define MKV_GGUF_WRITE_H

#include <stdint.h>

#include "fileio.h"
#include "gguf.h"

typedef struct mkv_gguf_writer mkv_gguf_writer;

mkv_status mkv_gguf_writer_create(mkv_gguf_writer **out, mkv_error *err);
void mkv_gguf_writer_free(mkv_gguf_writer *w);

/* Metadata (keys are copied). */
mkv_status mkv_gguf_set_u32(mkv_gguf_writer *w, const char *key, uint32_t v);
mkv_status mkv_gguf_set_f32(mkv_gguf_writer *w, const char *key, float v);
mkv_status mkv_gguf_set_str(mkv_gguf_writer *w, const char *key, const char *v);
mkv_status mkv_gguf_set_u8_array(mkv_gguf_writer *w, const char *key, const uint8_t *v, uint64_t n);

/* Any scalar metadata type (vtype a mkv_gguf_vtype other than STRING and
 * ARRAY); `value` points to a value of the matching C type (BOOL: uint8_t). */
mkv_status mkv_gguf_set_scalar(mkv_gguf_writer *w, const char *key, uint32_t vtype, const void *value);
/* Array of n fixed-size elements (elem_vtype as above), little-endian C values. */
mkv_status mkv_gguf_set_array(mkv_gguf_writer *w, const char *key, uint32_t elem_vtype, const void *elems,
                              uint64_t n);
/* Array of n NUL-terminated strings. */
mkv_status mkv_gguf_set_str_array(mkv_gguf_writer *w, const char *key, const char *const *strs, uint64_t n);

/* Declares a tensor (ne[0] fastest; n_dims 1..4) of a ggml type. Data is
 * supplied later by mkv_gguf_writer_write in declaration order. */
mkv_status mkv_gguf_add_tensor(mkv_gguf_writer *w, const char *name, uint32_t n_dims,
                               const uint64_t ne[4], uint32_t type);

/* Writes the file. For each declared tensor, calls fill(user, index, name,
 * dst, nbytes) to produce its bytes (dst holds nbytes). */
typedef mkv_status (*mkv_gguf_fill_fn)(void *user, uint32_t index, const char *name, void *dst,
                                       uint64_t nbytes, mkv_error *err);
/* The file appears at `path` only once complete and synced (written as a
 * temporary beside it, then renamed: runtime/fileio.h); on failure a file
 * already at `path` is untouched and nothing is left behind. */
mkv_status mkv_gguf_writer_write(mkv_gguf_writer *w, const char *path, mkv_gguf_fill_fn fill,
                                 void *user, mkv_error *err);
/* The same, but the complete file is left unpublished in *staged (its
 * temporary name): publish it with mkv_atomic_publish / _publish_all once
 * its companion files are complete too, or remove it with mkv_atomic_abort.
 * On failure *staged is idle. */
mkv_status mkv_gguf_writer_write_staged(mkv_gguf_writer *w, const char *path, mkv_gguf_fill_fn fill,
                                        void *user, mkv_atomic_file *staged, mkv_error *err);

/* Size in bytes of the file mkv_gguf_writer_write would write now. */
uint64_t mkv_gguf_writer_size(const mkv_gguf_writer *w);

#endif
