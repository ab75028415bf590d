/* The one table of kernel tunables (specialization constants), chosen per
 * device. Each line says why. Workgroup widths must be powers of two (the
 * shaders' shared-memory tree reductions halve them). */
#ifndef MKV_TUNABLES_H
#define MKV_TUNABLES_H

#include "device.h"

typedef struct mkv_tunables {
    uint32_t wg_matvec;    /* threads per matvec workgroup */
    uint32_t rows_matvec;  /* rows per matvec workgroup */
    uint32_t nr_matvec;    /* rows a subgroup takes at once (one x load feeds them all) */
    uint32_t wg_norm;      /* norms, rope, residual: one vector per workgroup */
    uint32_t wg_attn;      /* attention: threads over positions, then dims */
    uint32_t wg_argmax;
    uint32_t attn_chunk;   /* target positions per attention split */
    uint32_t wg_matmul;    /* matmul: weight rows (threads) per workgroup */
    uint32_t tb_matmul;    /* matmul: batch rows per workgroup (register tile) */
} mkv_tunables;

static inline uint32_t mkv_pow2_at_least(uint32_t v, uint32_t lo)
{
    uint32_t p = 1;
    while (p < v || p < lo) p <<= 1;
    return p;
}

static inline void mkv_tunables_for(const mkv_device *d, mkv_tunables *t)
{
    uint32_t sg = d->subgroup_size ? d->subgroup_size : 32;
    /* Matvec: a subgroup per row. Four subgroups per workgroup (at least
     * 64 threads) amortise the workgroup launch, which costs lavapipe more
     * than a row of 1024 columns does. */
    t->wg_matvec = mkv_pow2_at_least(4 * sg, 64);
    /* Four rows per subgroup, taken at once: each unit of x is loaded
     * once for four rows (on a CPU driver every invocation's load is a
     * memory access of its own, and x loads outnumbered weight loads up to
     * 8 to 1 for the 4-bit types), and a d_mem = 64 matrix still spreads
     * over 4 groups. */
    t->nr_matvec = 4;
    /* lavapipe: 8 rows at once measured 10-35 % faster than 4 at the 1.7b
     * shapes on a 2-core VM (bench --kernels); its per-invocation loads
     * cost far more than the registers the extra rows take. */
    if (mkv_device_is_cpu(d)) t->nr_matvec = 8;
    t->rows_matvec = t->nr_matvec * (t->wg_matvec / sg);
    /* Norms and rope touch a few KiB: one subgroup-multiple of 64 is plenty. */
    t->wg_norm = mkv_pow2_at_least(sg, 64);
    t->wg_attn = mkv_pow2_at_least(sg, 64);
    t->wg_argmax = mkv_pow2_at_least(sg, 128);
    /* Attention splits of ~256 positions keep every core busy at long
     * context while the combine pass stays tiny. */
    t->attn_chunk = 256;
    /* Matmul (offline fold, batched over tokens): 64 threads, each one
     * weight row, share a staged slice of 8 batch rows; 8 sums per thread
     * stay in registers on every GPU we target, and each weight chunk read
     * feeds 8 rows' dot products. */
    t->wg_matmul = 64;
    t->tb_matmul = 8;
    if (t->wg_matvec > d->props.limits.maxComputeWorkGroupSize[0]) t->wg_matvec = d->props.limits.maxComputeWorkGroupSize[0];
    if (t->wg_matmul > d->props.limits.maxComputeWorkGroupSize[0]) t->wg_matmul = d->props.limits.maxComputeWorkGroupSize[0];
}

#endif
