/* Host description of argmax.comp (variants argmax, argmax_final).
 * argmax:       bindings 0 x (float n), 1 slots (vec2 per workgroup);
 *               dispatch ceil(n / chunk) groups.
 * argmax_final: bindings 0 slots, 1 result (vec2: value, index bits);
 *               dispatch 1 group.
 * Spec constants: 0 WG (power of two). */
#ifndef MKV_SHADER_ARGMAX_H
#define MKV_SHADER_ARGMAX_H
#include <stdint.h>
typedef struct mkv_pc_argmax {
    uint32_t n, chunk;
} mkv_pc_argmax;
#endif
