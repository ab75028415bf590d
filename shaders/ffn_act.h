/* Host description of ffn_act.comp (ffn_act_tb: gu through its RGBA32UI
 * texel view, wt_bind.glsl).
 * Bindings: 0 gu (float, rows of ldgu: the product with w_ffn), 1 t
 *           (float, rows of ldt), 2 g (float, rows of ldg; any buffer when
 *           n_mem = 0), 3 step params.
 * Spec constants: 0 WG, 1 P (rows an invocation takes at once: 4 needs
 *   n_rows, n_ffn, up_row, ldgu and ldt multiples of 4; else 1).
 * Dispatch: ceil(n_rows / (WG x MKV_FFN_ACT_ROWS)) x batch x 1 (any count
 * is correct: the invocations stride over the rows). */
#ifndef MKV_SHADER_FFN_ACT_H
#define MKV_SHADER_FFN_ACT_H
#include <stdint.h>
#define MKV_FFN_ACT_ROWS 8u /* rows per invocation */
typedef struct mkv_pc_ffn_act {
    uint32_t n_rows, n_ffn, up_row, n_mem, ldgu, ldt, ldg;
} mkv_pc_ffn_act;
#endif
