/* The re-parameterization fold (DESIGN §2): for every layer l and token x
 *     M̃_l[x] = α_l · RMSNorm_mix( M_l[x] + β_l · G_l(E[x]) )
 *     G_l(e) = W_pd (silu(W_pg e) ⊙ (W_pu e))
 * computed for a batch of consecutive tokens at a time, all layers, by one
 * of two engines: the CPU (threads, float32) or a Vulkan device (the
 * engine's matmul kernels, f16 projector weights, f32 activations). */
#ifndef MKV_FOLD_H
#define MKV_FOLD_H

#include "checkpoint.h"
#include "mekivk.h"

typedef struct mkv_fold mkv_fold;

/* Engines for batches of up to `batch` tokens. The GPU one borrows dev
 * (it must outlive the engine) and uploads the projectors of every layer. */
mkv_status mkv_fold_cpu_create(const mkv_ckpt *c, uint32_t batch, mkv_fold **out, mkv_error *err);
mkv_status mkv_fold_gpu_create(const mkv_ckpt *c, mkv_device *dev, uint32_t batch, mkv_fold **out, mkv_error *err);
void mkv_fold_destroy(mkv_fold *f);

/* Rows of tokens [t0, t0 + n), n <= batch, of every layer, token-major as
 * bank slabs are: out[((t - t0) * n_layer + l) * d_mem + j]. */
mkv_status mkv_fold_run(mkv_fold *f, uint32_t t0, uint32_t n, float *out, mkv_error *err);

/* Internal: what an engine provides. */
struct mkv_fold {
    const mkv_ckpt *c;
    uint32_t batch;
    mkv_status (*run)(mkv_fold *f, uint32_t t0, uint32_t n, float *out, mkv_error *err);
    void (*destroy)(mkv_fold *f);
};

#endif
