/* Weight types on the device: the one table that says, for every type the
 * typed kernels are built for (kernels.cmake), which ggml type it stores
 * and how a row is laid out (shaders/wtype_layout.h), and the repacking of
 * a row of ggml blocks into that layout. Internal. */
#ifndef MKV_WTYPE_H
#define MKV_WTYPE_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel_table.h" /* enum mkv_wtype, generated from kernels.cmake */

typedef struct mkv_wtype_info {
    const char *name;      /* kernel suffix: "q4_k" */
    uint32_t ggml;         /* the ggml type whose blocks are stored (mkv_ggml_type) */
    uint32_t block;        /* elements per block (F16, BF16: 8, rows padded with zeros) */
    uint32_t block_bytes;  /* bytes per block on the device (= in the file, but F16/BF16) */
    uint32_t scale_off;    /* bytes [scale_off, scale_off + scale_bytes) of a block */
    uint32_t scale_bytes;  /*   go to the row's scale plane, the rest to its quant plane */
    uint32_t unit;         /* elements a kernel invocation takes per step of a dot product */
    uint32_t sw;           /* 1: a step reads one scale-plane word (shaders/wtype_layout.h) */
} mkv_wtype_info;

const mkv_wtype_info *mkv_wtype_get(mkv_wtype t);

/* The device type that stores a tensor of ggml type `ggml`: the same type,
 * or F16 for F32 (converted, rounded once). false if no kernel reads it. */
bool mkv_wtype_for_ggml(uint32_t ggml, mkv_wtype *out);

/* True if rows of `cols` elements are whole blocks of t (F16/BF16: any). */
bool mkv_wtype_cols_ok(mkv_wtype t, uint32_t cols);
/* Blocks per row. */
uint32_t mkv_wtype_blocks(mkv_wtype t, uint32_t cols);
/* Device row stride in 32-bit words (a multiple of 4: rows start on 16 bytes). */
uint32_t mkv_wtype_row_words(mkv_wtype t, uint32_t cols);
/* Bytes of one row in its ggml encoding (what a fill callback produces). */
uint64_t mkv_wtype_src_row_bytes(mkv_wtype t, uint32_t cols);
/* One row of cols random weights of type t in its ggml encoding
 * (mkv_wtype_src_row_bytes bytes at dst), for the kernel tests and the
 * sweep: F16 and BF16 values uniform in [-1, 1); block types random quant
 * bytes (every pattern is a valid block) with finite positive f16 fields
 * where the block has them (d in [0.004, 0.02); m or dmin, right after it,
 * in [0.002, 0.01)). *state is a splitmix64 state, advanced. */
void mkv_wtype_random_row(mkv_wtype t, uint32_t cols, uint64_t *state, uint8_t *dst);

/* Writes one row (row_words words) in the device layout from its ggml
 * encoding src (mkv_wtype_src_row_bytes bytes). */
void mkv_wtype_repack_row(mkv_wtype t, uint32_t cols, const void *src, uint32_t *dst);

#endif
