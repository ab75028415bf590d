/* Host description of bw_probe.comp: one streaming read of a buffer.
 * Variants: bw_probe (block), bw_probe_run, bw_probe_grid: the access
 *           pattern (see the shader).
 * Bindings: 0 data (n16 16-byte chunks), 1 out (one uint: the dispatch
 *           XORs the XOR of all the data's 32-bit words into it).
 * Spec constants: 0 WG (power of two), 1 VEC (chunks per invocation per
 *           loop iteration, >= 1; 1 when not given).
 * Dispatch: ceil(n16 / per_group) x 1 x 1. */
#ifndef MKV_SHADER_BW_PROBE_H
#define MKV_SHADER_BW_PROBE_H
#include <stdint.h>
typedef struct mkv_pc_bw_probe {
    uint32_t n16, per_group;
} mkv_pc_bw_probe;
#endif
