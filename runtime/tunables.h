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
    uint32_t wg_mm;        /* mm (prefill products): threads per workgroup */
    uint32_t rows_mm;      /* mm: weight rows per workgroup */
    uint32_t nr_mm;        /* mm: rows a subgroup takes at once */
    uint32_t nb_mm;        /* mm: tokens per workgroup (register tile NR x NB) */
    bool texel_reads;      /* typed kernels read weights and input as texel buffers (wt_bind.glsl) */
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
    /* lavapipe: one subgroup per workgroup. It hands each CPU thread a
     * contiguous range of workgroups, so a grid of few large workgroups
     * splits unevenly (SwiGLU's 3072 + 64 MeKi gate rows made 13 groups of
     * 256 rows: one thread did 7 and the step waited for it); and a
     * single-subgroup workgroup needs no barrier (ffn_out's tail). */
    if (mkv_device_is_cpu(d)) t->wg_matvec = sg;
    /* Four rows per subgroup, taken at once: each unit of x is loaded
     * once for four rows (on a CPU driver every invocation's load is a
     * memory access of its own, and x loads outnumbered weight loads up to
     * 8 to 1 for the 4-bit types), and a d_mem = 64 matrix still spreads
     * over 4 groups. */
    t->nr_matvec = 4;
    t->rows_matvec = t->nr_matvec * (t->wg_matvec / sg);
    /* Weights and inputs as storage buffers, except on lavapipe: there a
     * storage-buffer load runs lane by lane in a loop, 32 bits at a time,
     * while a texel fetch gathers a 16-byte texel per lane without one
     * (bench --probe, 2-core VM: 1.2 GB/s against 23 GB/s). GPUs read both
     * through their caches; a sweep (issue 15) may pick texels elsewhere
     * (Adreno's texture path is the usual suspect). */
    t->texel_reads = mkv_device_is_cpu(d) && d->max_texel_elements > 0;
    /* lavapipe, texel reads (bench --kernels --config 1.7b, 2-core VM,
     * GB/s of f16 / q8_0 / q4_0 / q4_k over the gate and down shapes):
     * rows at once 4: 7.2-8.7 / 4.1-6.2 / 2.6-4.0 / 2.3-3.9; 16: 8.0-8.7
     * / 4.5-6.1 / 3.1-4.7 / 3.1-4.8; 32: no better, some shapes halved
     * (x's reuse against the number of row streams the CPU prefetches at
     * once). Four groups of 16 rows per workgroup cut the workgroup count,
     * which the gate's short rows felt: q8_0 gate 4.5 -> 5.8, q4_0 3.1 ->
     * 4.4 GB/s. With storage-buffer reads (no texel views), x's loads cost
     * as much as the weights' unless many rows share them: 64 rows at once
     * (f16 / q8_0 / q4_0 at 0.98 / 0.80 / 0.62 GB/s with 16, 1.02 / 0.93
     * / 0.81 with 64, probe 1.17). Registers cost a CPU nothing. */
    if (mkv_device_is_cpu(d)) {
        t->nr_matvec = t->texel_reads ? 16 : 64;
        t->rows_matvec = 64;
    }
    /* Norms and rope touch a few KiB: one subgroup-multiple of 64 is plenty.
     * lavapipe: one subgroup, so their tree reductions' barriers cost
     * nothing (each barrier switches between a workgroup's subgroups, and
     * a batch runs these once per token: rope_kv at 64 threads took 0.69 s
     * of a 7.7 s 128-token prefill of the 0.6b shape, 0.40 s at 8). */
    t->wg_norm = mkv_pow2_at_least(sg, 64);
    if (mkv_device_is_cpu(d)) t->wg_norm = mkv_pow2_at_least(sg, 1);
    /* Attention: teams of lanes per position, merged through shared memory
     * at the end; 64 threads give a GPU several teams per workgroup.
     * lavapipe: one subgroup per workgroup, so no merge and no barrier at
     * all (a workgroup is one CPU thread; barriers switch coroutines). */
    t->wg_attn = mkv_device_is_cpu(d) ? sg : mkv_pow2_at_least(sg, 64);
    t->wg_argmax = mkv_pow2_at_least(sg, 128);
    /* Attention splits of ~256 positions keep every core busy at long
     * context while the combine pass stays tiny (lavapipe, 0.6b shape:
     * 128, 256 and 1024 measured alike, within noise). */
    t->attn_chunk = 256;
    /* Matmul (offline fold, batched over tokens): 64 threads, each one
     * weight row, share a staged slice of 8 batch rows; 8 sums per thread
     * stay in registers on every GPU we target, and each weight chunk read
     * feeds 8 rows' dot products. */
    t->wg_matmul = 64;
    t->tb_matmul = 8;
    /* mm (prefill): as matvec, a subgroup per NR rows, four per workgroup;
     * a register tile of 4 rows x 8 tokens (32 sums, 8 tokens' x of one
     * unit) keeps within a GPU's registers for f16 and feeds each weight
     * load to 8 tokens. */
    t->wg_mm = mkv_pow2_at_least(4 * sg, 64);
    t->nr_mm = 4;
    t->nb_mm = 8;
    t->rows_mm = t->nr_mm * (t->wg_mm / sg);
    /* lavapipe, 0.6b shapes, 128-token prefill (mm's share of it, f16;
     * rows x tokens at once): 4 x 8: 6.3 s, 8 x 8: 5.8, 4 x 16: 5.7, 8 x 16:
     * 5.2, 16 x 8: 6.0, 2 x 16: 7.3; with 8 x 16, 64 rows per workgroup
     * rather than 16: 5.2 -> 5.1 s and a quarter of the workgroups, whose
     * launches lavapipe feels (one subgroup each, as for matvec). A 128-sum
     * tile spills to the stack, which costs a CPU less than the x loads
     * and weight decodes a smaller one repeats. */
    if (mkv_device_is_cpu(d)) {
        t->wg_mm = sg;
        t->nr_mm = 8;
        t->nb_mm = 16;
        t->rows_mm = 64;
    }
    if (t->wg_matvec > d->props.limits.maxComputeWorkGroupSize[0]) t->wg_matvec = d->props.limits.maxComputeWorkGroupSize[0];
    if (t->wg_matmul > d->props.limits.maxComputeWorkGroupSize[0]) t->wg_matmul = d->props.limits.maxComputeWorkGroupSize[0];
    if (t->wg_mm > d->props.limits.maxComputeWorkGroupSize[0]) t->wg_mm = d->props.limits.maxComputeWorkGroupSize[0];
}

#endif
