/* Host description of embed.comp (one variant per weight type).
 * Bindings: 0 step params, 1 embedding part (rows of ldw words,
 *           wtype_layout.h), 2 h (float, a row of ldh per token of the pass).
 * Spec constants: 0 WG. Dispatch: ceil(d_model / WG) x batch x 1 per part
 * (rows past step.n_tok do nothing). */
#ifndef MKV_SHADER_EMBED_H
#define MKV_SHADER_EMBED_H
#include <stdint.h>
typedef struct mkv_pc_embed {
    uint32_t row_begin, n_rows, d_model, ldw, nb, ldh;
    uint32_t il; /* the table's row interleaving (mkv_matrix.il) */
} mkv_pc_embed;
#endif
