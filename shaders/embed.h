/* Host description of embed.comp (one variant per weight type).
 * Bindings: 0 step params, 1 embedding part (rows of ldw words,
 *           wtype_layout.h), 2 h (float, d_model).
 * Spec constants: 0 WG. Dispatch: ceil(d_model / WG) x 1 x 1 per part. */
#ifndef MKV_SHADER_EMBED_H
#define MKV_SHADER_EMBED_H
#include <stdint.h>
typedef struct mkv_pc_embed {
    uint32_t row_begin, n_rows, d_model, ldw, nb;
} mkv_pc_embed;
#endif
