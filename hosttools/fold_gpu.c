/* The fold on a Vulkan device, batched over tokens with the engine's
 * kernels. Per layer, for the batch's embedding rows X:
 *     T   = silu(X W_pg^T) * (X W_pu^T)        [matmul_swiglu]
 *     Y_l = M_l[batch] + beta_l * T W_pd^T      [matmul, accumulating into the staged M rows]
 *     O_l = rmsnorm(Y_l) * (alpha_l * mix_w)    [rmsnorm, alpha folded into the weight]
 * The projectors of every layer are uploaded once (f16), the step is
 * recorded once for a full batch and replayed per batch; a partial last
 * batch runs on zero rows past its end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fold.h"
#include "half.h"
#include "ops.h"

typedef struct gpu_layer {
    mkv_matrix wg, wu, wd;     /* [d_proj x d_model] x2, [d_mem x d_proj] */
    mkv_buffer mix_w;          /* [d_mem]: alpha * mix_norm weight */
    mkv_buffer y, o;           /* [batch_alloc x d_mem]: M rows in, then M + beta G; normalised out */
    float beta;
} gpu_layer;

typedef struct gpu_fold {
    mkv_fold base;
    mkv_device *dev;
    uint32_t batch_alloc;      /* batch rounded up to the matmul's batch tile */
    mkv_buffer x, t;           /* [batch_alloc x ld(d_model)], [batch_alloc x ld(d_proj)] */
    gpu_layer *layers;
    VkCommandBuffer cb;
    VkFence fence;
    mkv_recorder rec;
    bool recorded;
} gpu_fold;

/* Fills matrix rows from a checkpoint tensor ([rows, cols] HF layout). */
typedef struct rows_src {
    const mkv_st_tensor *t;
    float *tmp;
} rows_src;

static mkv_status fill_rows(void *user, uint32_t row0, uint32_t n, void *dst, mkv_error *err)
{
    rows_src *s = user;
    const uint32_t cols = (uint32_t)s->t->shape[1];
    uint16_t *out = dst;
    for (uint32_t i = 0; i < n; i++) {
        mkv_status st = mkv_st_rows_f32(s->t, row0 + i, 1, s->tmp, err);
        if (st) return st;
        for (uint32_t k = 0; k < cols; k++) out[(size_t)i * cols + k] = mkv_float_to_half(s->tmp[k]);
    }
    return MKV_OK;
}

static void gpu_destroy(mkv_fold *base)
{
    gpu_fold *f = (gpu_fold *)base;
    mkv_device *d = f->dev;
    if (f->fence) d->vk.vkDestroyFence(d->dev, f->fence, NULL);
    if (f->cb) d->vk.vkFreeCommandBuffers(d->dev, d->cmd_pool, 1, &f->cb);
    mkv_recorder_release(&f->rec);
    if (f->layers)
        for (uint32_t l = 0; l < base->c->n_layer; l++) {
            gpu_layer *L = &f->layers[l];
            mkv_matrix_destroy(d, &L->wg);
            mkv_matrix_destroy(d, &L->wu);
            mkv_matrix_destroy(d, &L->wd);
            mkv_buffer_destroy(d, &L->mix_w);
            mkv_buffer_destroy(d, &L->y);
            mkv_buffer_destroy(d, &L->o);
        }
    free(f->layers);
    mkv_buffer_destroy(d, &f->x);
    mkv_buffer_destroy(d, &f->t);
    free(f);
}

/* The whole batch step, recorded once. */
static mkv_status record(gpu_fold *f, mkv_error *err)
{
    const mkv_ckpt *c = f->base.c;
    mkv_device *d = f->dev;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = d->cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    MKV_VK(d->vk.vkAllocateCommandBuffers(d->dev, &ai, &f->cb), err);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    MKV_VK(d->vk.vkCreateFence(d->dev, &fi, NULL, &f->fence), err);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    MKV_VK(d->vk.vkBeginCommandBuffer(f->cb, &bi), err);
    mkv_status st = mkv_recorder_init(&f->rec, d, f->cb, false, err);
    const uint32_t B = f->batch_alloc, ldp = mkv_matrix_ld(c->d_proj);
    for (uint32_t l = 0; l < c->n_layer && !st; l++) {
        gpu_layer *L = &f->layers[l];
        /* projector hidden: T = silu(X Wg^T) * (X Wu^T) */
        st = mkv_op_matmul_swiglu(&f->rec, &L->wg, &L->wu, &f->x, &f->t, B, ldp, err);
        /* Y = M rows + beta * T Wd^T */
        if (!st) st = mkv_op_matmul(&f->rec, &L->wd, &f->t, &L->y, B, c->d_mem, true, L->beta, err);
        /* O = rmsnorm(Y) * alpha * mix_w */
        if (!st) st = mkv_op_rmsnorm(&f->rec, &L->y, &L->mix_w, &L->o, c->d_mem, B, c->norm_eps, err);
    }
    mkv_rec_finish(&f->rec);
    VkResult r = d->vk.vkEndCommandBuffer(f->cb);
    if (!st && r != VK_SUCCESS) st = mkv_vk_fail(err, r, "vkEndCommandBuffer");
    f->recorded = st == MKV_OK;
    return st;
}

static mkv_status gpu_run(mkv_fold *base, uint32_t t0, uint32_t n, float *out, mkv_error *err)
{
    gpu_fold *f = (gpu_fold *)base;
    const mkv_ckpt *c = base->c;
    const uint32_t D = c->d_model, M = c->d_mem, NL = c->n_layer, ldd = mkv_matrix_ld(D);
    /* stage the batch: embedding rows (padded), every layer's M rows; zeros past n */
    float *x = f->x.map;
    memset(x, 0, (size_t)f->batch_alloc * ldd * sizeof *x);
    for (uint32_t i = 0; i < n; i++) mkv_st_to_f32(c->embed, (uint64_t)(t0 + i) * D, D, x + (size_t)i * ldd);
    for (uint32_t l = 0; l < NL; l++) {
        float *y = f->layers[l].y.map;
        mkv_st_to_f32(c->layers[l].mem, (uint64_t)t0 * M, (uint64_t)n * M, y);
        memset(y + (size_t)n * M, 0, (size_t)(f->batch_alloc - n) * M * sizeof *y);
    }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &f->cb};
    MKV_VK(f->dev->vk.vkResetFences(f->dev->dev, 1, &f->fence), err);
    mkv_status sst = mkv_device_submit(f->dev, &si, f->fence, err);
    if (sst) return sst;
    MKV_VK(f->dev->vk.vkWaitForFences(f->dev->dev, 1, &f->fence, VK_TRUE, UINT64_MAX), err);
    for (uint32_t l = 0; l < NL; l++) {
        const float *o = f->layers[l].o.map;
        for (uint32_t i = 0; i < n; i++) memcpy(out + ((size_t)i * NL + l) * M, o + (size_t)i * M, M * sizeof *o);
    }
    return MKV_OK;
}

mkv_status mkv_fold_gpu_create(const mkv_ckpt *c, mkv_device *dev, uint32_t batch, mkv_fold **out, mkv_error *err)
{
    *out = NULL;
    if (!dev || batch == 0) return mkv_fail(err, MKV_ERR_INVALID_ARG, "fold: no device or batch 0");
    gpu_fold *f = calloc(1, sizeof *f);
    if (!f) return mkv_fail(err, MKV_ERR_NO_MEMORY, "fold: out of memory");
    f->base = (mkv_fold){.c = c, .batch = batch, .run = gpu_run, .destroy = gpu_destroy};
    f->dev = dev;
    mkv_tunables tune;
    mkv_tunables_for(dev, &tune);
    f->batch_alloc = (batch + tune.tb_matmul - 1) / tune.tb_matmul * tune.tb_matmul;
    const uint32_t B = f->batch_alloc, M = c->d_mem;
    rows_src src = {.tmp = malloc((size_t)(c->d_model > c->d_proj ? c->d_model : c->d_proj) * sizeof(float))};
    float *mix = malloc((size_t)M * sizeof *mix);
    mkv_status st = src.tmp && mix && (f->layers = calloc(c->n_layer, sizeof *f->layers))
                        ? MKV_OK : mkv_fail(err, MKV_ERR_NO_MEMORY, "fold: out of memory");
    /* staging buffers the host writes and reads must be mapped */
    if (!st) st = mkv_buffer_create(dev, (VkDeviceSize)B * mkv_matrix_ld(c->d_model) * 4, MKV_MEM_HOST, &f->x, err);
    if (!st) st = mkv_buffer_create(dev, (VkDeviceSize)B * mkv_matrix_ld(c->d_proj) * 4, MKV_MEM_DEVICE, &f->t, err);
    for (uint32_t l = 0; l < c->n_layer && !st; l++) {
        const mkv_ckpt_layer *CL = &c->layers[l];
        gpu_layer *L = &f->layers[l];
        char name[64];
        snprintf(name, sizeof name, "layer %u projector", l);
        src.t = CL->proj_gate;
        st = mkv_matrix_create_il(dev, name, MKV_WT_F16, c->d_proj, c->d_model, 1, fill_rows, &src, &L->wg, err);
        src.t = CL->proj_up;
        if (!st) st = mkv_matrix_create_il(dev, name, MKV_WT_F16, c->d_proj, c->d_model, 1, fill_rows, &src, &L->wu, err);
        src.t = CL->proj_down;
        if (!st) st = mkv_matrix_create_il(dev, name, MKV_WT_F16, c->d_mem, c->d_proj, 1, fill_rows, &src, &L->wd, err);
        if (!st) st = mkv_buffer_create(dev, (VkDeviceSize)M * 4, MKV_MEM_HOST, &L->mix_w, err);
        if (!st) st = mkv_buffer_create(dev, (VkDeviceSize)B * M * 4, MKV_MEM_HOST, &L->y, err);
        if (!st) st = mkv_buffer_create(dev, (VkDeviceSize)B * M * 4, MKV_MEM_HOST, &L->o, err);
        if (!st && (!L->y.map || !L->o.map || !L->mix_w.map))
            st = mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "fold: device has no host-visible memory for staging");
        if (st) break;
        mkv_st_to_f32(CL->mix_norm, 0, M, mix);
        const float alpha = mkv_ckpt_scalar(CL->alpha);
        for (uint32_t j = 0; j < M; j++) mix[j] *= alpha;
        memcpy(L->mix_w.map, mix, (size_t)M * sizeof *mix);
        L->beta = mkv_ckpt_scalar(CL->beta);
    }
    if (!st && !f->x.map) st = mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "fold: device has no host-visible memory for staging");
    if (!st) st = record(f, err);
    free(src.tmp);
    free(mix);
    if (st) {
        gpu_destroy(&f->base);
        return st;
    }
    *out = &f->base;
    return MKV_OK;
}
