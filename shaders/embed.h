/* Host description of embed.comp.
 * Bindings: 0 step params, 1 embedding part (f16, row stride ld halves),
 *           2 h (float, d_model).
 * Spec constants: 0 WG. Dispatch: ceil(d_model / WG) x 1 x 1 per part. */
#ifndef MKV_SHADER_EMBED_H
#define MKV_SHADER_EMBED_H
#include <stdint.h>
typedef struct mkv_pc_embed {
    uint32_t row_begin, n_rows, d_model, ld;
} mkv_pc_embed;
#endif
