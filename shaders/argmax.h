/* Host description of argmax.comp (variants argmax, argmax_tb, argmax_final).
 * argmax:       bindings 0 x (float n, read as vec4: the buffer holds
 *               whole 16 bytes; argmax_tb: its texel view), 1 slots (vec2
 *               per workgroup); chunk a multiple of 4; dispatch
 *               ceil(n / chunk) groups.
 * argmax_final: bindings 0 slots, 1 result (vec2: value, index bits);
 *               dispatch 1 group.
 * Spec constants: 0 WG (a multiple of the subgroup size). Needs subgroup
 * arithmetic. */
#ifndef MKV_SHADER_ARGMAX_H
#define MKV_SHADER_ARGMAX_H
#include <stdint.h>
typedef struct mkv_pc_argmax {
    uint32_t n, chunk;
} mkv_pc_argmax;
#endif
