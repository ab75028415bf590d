/* Device memory: buffers (one allocation each), uploads and readbacks, and
 * f16 matrices split into parts that each fit one storage-buffer binding. */
#ifndef MKV_MEMORY_H
#define MKV_MEMORY_H

#include "device.h"
#include "wtype.h"

typedef enum mkv_mem_kind {
    MKV_MEM_DEVICE, /* device-local (host-visible too on unified memory) */
    MKV_MEM_HOST,   /* host-visible, coherent: params, staging, readback */
} mkv_mem_kind;

typedef struct mkv_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* persistent mapping when host-visible, else NULL */
    /* The whole buffer as RGBA32UI texels, for kernels that read it as a
     * uniform texel buffer (wt_bind.glsl); VK_NULL_HANDLE when the device
     * has no texel reads or the buffer holds more texels than one view may
     * cover (kernels then read it as a storage buffer). */
    VkBufferView view;
} mkv_buffer;

/* Creates a zero-filled storage buffer of `size` bytes (> 0), rounded up to
 * whole 16-byte texels, with its texel view where the device allows. */
mkv_status mkv_buffer_create(mkv_device *d, VkDeviceSize size, mkv_mem_kind kind, mkv_buffer *b, mkv_error *err);
void mkv_buffer_destroy(mkv_device *d, mkv_buffer *b);
/* Copies host bytes into / out of a buffer (through a staging copy when the
 * buffer is not host-visible). Waits for completion. */
mkv_status mkv_buffer_write(mkv_device *d, mkv_buffer *b, VkDeviceSize off, const void *src, VkDeviceSize n, mkv_error *err);
mkv_status mkv_buffer_read(mkv_device *d, const mkv_buffer *b, VkDeviceSize off, void *dst, VkDeviceSize n, mkv_error *err);

/* A weight matrix of rows x cols in one of the device weight types
 * (wtype.h): each row is ldw 32-bit words in the layout of
 * shaders/wtype_layout.h (the file's blocks, scales apart from quants,
 * rows on 16 bytes); split by rows into parts that each fit
 * maxStorageBufferRange. */
#define MKV_MATRIX_MAX_PARTS 64
typedef struct mkv_matrix {
    mkv_wtype type;
    uint32_t rows, cols;
    uint32_t nb;          /* blocks per row */
    uint32_t ldw;         /* row stride in 32-bit words */
    uint32_t rows_per_part, n_parts;
    uint32_t il; /* row interleaving, log2 G | log2 C << 8 (shaders/wt_common.glsl); 0: plain rows */
    mkv_buffer parts[MKV_MATRIX_MAX_PARTS];
} mkv_matrix;

/* Floats an input vector of n elements occupies when padded to whole f16
 * blocks (8): what an F16 matrix's kernels read. */
static inline uint32_t mkv_matrix_ld(uint32_t cols) { return (cols + 7u) & ~7u; }
static inline uint32_t mkv_matrix_part_rows(const mkv_matrix *m, uint32_t p)
{
    uint32_t begin = p * m->rows_per_part;
    return m->rows - begin < m->rows_per_part ? m->rows - begin : m->rows_per_part;
}

/* Produces rows [row0, row0+n) of the matrix in the ggml encoding of its
 * type, packed (mkv_wtype_src_row_bytes each): f16 or bf16 values, or
 * ggml blocks. */
typedef mkv_status (*mkv_rows_fn)(void *user, uint32_t row0, uint32_t n, void *dst, mkv_error *err);

/* Allocates the parts and fills them from `fill` (which may be NULL: zeros),
 * repacking each row into the device layout. `name` is used in error
 * messages. MKV_ERR_UNSUPPORTED when cols is not whole blocks of the type. */
mkv_status mkv_matrix_create(mkv_device *d, const char *name, mkv_wtype type, uint32_t rows, uint32_t cols,
                             mkv_rows_fn fill, void *user, mkv_matrix *m, mkv_error *err);
/* The same with the rows interleaved in groups of il_rows (a power of two,
 * at most 64) where the type and shape allow (a block's quants whole
 * 16-byte chunks, a row whole runs of the blocks a subgroup reads in one
 * step; else plain, il = 0): what the typed kernels read best on some
 * devices (shaders/wt_common.glsl). mkv_matrix_create uses the
 * device's tuning (il_rows); 1 gives plain rows, which kernels that read a
 * matrix by their own addressing (matmul, W_mo transposed) need. */
mkv_status mkv_matrix_create_il(mkv_device *d, const char *name, mkv_wtype type, uint32_t rows, uint32_t cols,
                                uint32_t il_rows, mkv_rows_fn fill, void *user, mkv_matrix *m, mkv_error *err);
void mkv_matrix_destroy(mkv_device *d, mkv_matrix *m);
/* Device bytes the matrix occupies (one decode step reads them all). */
uint64_t mkv_matrix_bytes(const mkv_matrix *m);
/* Device bytes of `rows` of its rows. */
static inline uint64_t mkv_matrix_rows_bytes(const mkv_matrix *m, uint32_t rows) { return 4ull * rows * m->ldw; }

#endif
