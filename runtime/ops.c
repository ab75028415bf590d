/* One recording function per kernel. Push-constant structs and dispatch
 * geometry come from the shaders' host descriptions (shaders/<name>.h). */
#include "ops.h"

#include <math.h>
#include <string.h>

#include "argmax.h"
#include "attn.h"
#include "embed.h"
#include "ffn_act.h"
#include "meki_v.h"
#include "mm.h"
#include "mm_cm.h"
#include "ffn_out.h"
#include "wmo_layout.h"
#include "matmul.h"
#include "matvec.h"
#include "pipeline.h"
#include "rmsnorm.h"
#include "rope_kv.h"

#define SETS_PER_POOL 256u

mkv_status mkv_recorder_init(mkv_recorder *r, mkv_device *d, VkCommandBuffer cb, bool timing, mkv_error *err)
{
    memset(r, 0, sizeof *r);
    r->d = d;
    r->cb = cb;
    mkv_tunables_for(d, &r->tune);
    if (timing && d->timestamps) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = MKV_REC_MAX_MARKS + 1};
        MKV_VK(d->vk.vkCreateQueryPool(d->dev, &qi, NULL, &r->query_pool), err);
        d->vk.vkCmdResetQueryPool(cb, r->query_pool, 0, MKV_REC_MAX_MARKS + 1);
        d->vk.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, r->query_pool, 0);
    }
    return MKV_OK;
}

void mkv_recorder_release(mkv_recorder *r)
{
    if (!r->d) return;
    for (uint32_t i = 0; i < r->n_pools; i++) r->d->vk.vkDestroyDescriptorPool(r->d->dev, r->pools[i], NULL);
    if (r->query_pool) r->d->vk.vkDestroyQueryPool(r->d->dev, r->query_pool, NULL);
    r->n_pools = 0;
    r->query_pool = VK_NULL_HANDLE;
}

static mkv_status alloc_set(mkv_recorder *r, const mkv_pipeline *p, VkDescriptorSet *set, mkv_error *err)
{
    if (r->sets_left == 0) {
        if (r->n_pools == MKV_REC_MAX_POOLS) return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "recorder: more than %u descriptor sets", MKV_REC_MAX_POOLS * SETS_PER_POOL);
        VkDescriptorPoolSize ps[2] = {{.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = SETS_PER_POOL * 8},
                                      {.type = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, .descriptorCount = SETS_PER_POOL * 2}};
        VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = SETS_PER_POOL,
                                         .poolSizeCount = 2, .pPoolSizes = ps};
        MKV_VK(r->d->vk.vkCreateDescriptorPool(r->d->dev, &pi, NULL, &r->pools[r->n_pools]), err);
        r->n_pools++;
        r->sets_left = SETS_PER_POOL;
    }
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = r->pools[r->n_pools - 1], .descriptorSetCount = 1,
                                      .pSetLayouts = &p->set_layout};
    VkResult res = r->d->vk.vkAllocateDescriptorSets(r->d->dev, &ai, set);
    if (res == VK_ERROR_OUT_OF_POOL_MEMORY || res == VK_ERROR_FRAGMENTED_POOL) {
        r->sets_left = 0; /* this pool ran out of descriptors first: next pool */
        return alloc_set(r, p, set, err);
    }
    if (res != VK_SUCCESS) return mkv_vk_fail(err, res, "vkAllocateDescriptorSets");
    r->sets_left--;
    return MKV_OK;
}

mkv_status mkv_rec_dispatch(mkv_recorder *r, mkv_kernel_id k, mkv_spec spec,
                            const mkv_buffer *const *bufs, uint32_t n_bufs, const void *pc, uint32_t pc_size,
                            uint32_t gx, uint32_t gy, uint64_t bytes, mkv_error *err)
{
    const mkv_pipeline *p;
    mkv_status st = mkv_pipeline_get(r->d, k, spec.v, spec.n, &p, err);
    if (st) return st;
    const char *name = mkv_kernel_spirv_table[k].name;
    if (n_bufs != p->n_bindings || pc_size != p->push_size)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "kernel %s: called with %u bindings and %u push bytes, shader has %u and %u",
                        name, n_bufs, pc_size, p->n_bindings, p->push_size);
    for (uint32_t i = 0; i < n_bufs; i++)
        if (mkv_binding_type(p, i) == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER && !bufs[i]->view)
            return mkv_fail(err, MKV_ERR_INVALID_ARG, "kernel %s: binding %u is a texel buffer and the buffer has no texel view",
                            name, i);
    if (gx == 0 || gy == 0) return MKV_OK; /* nothing to do */
    if (gx > r->d->props.limits.maxComputeWorkGroupCount[0] || gy > r->d->props.limits.maxComputeWorkGroupCount[1])
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "kernel %s: %u x %u workgroups exceed the device limit", name, gx, gy);
    VkDescriptorSet set;
    if ((st = alloc_set(r, p, &set, err))) return st;
    VkDescriptorBufferInfo bi[16];
    VkWriteDescriptorSet w[16];
    for (uint32_t i = 0; i < n_bufs; i++) {
        const VkDescriptorType type = mkv_binding_type(p, i);
        bi[i] = (VkDescriptorBufferInfo){.buffer = bufs[i]->buf, .offset = 0, .range = VK_WHOLE_SIZE};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = i,
                                      .descriptorCount = 1, .descriptorType = type};
        if (type == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER) w[i].pTexelBufferView = &bufs[i]->view;
        else w[i].pBufferInfo = &bi[i];
    }
    r->d->vk.vkUpdateDescriptorSets(r->d->dev, n_bufs, w, 0, NULL);

    /* Each dispatch reads what the previous ones wrote. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    r->d->vk.vkCmdPipelineBarrier(r->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    r->d->vk.vkCmdBindPipeline(r->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    r->d->vk.vkCmdBindDescriptorSets(r->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    if (pc_size) r->d->vk.vkCmdPushConstants(r->cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pc_size, pc);
    r->d->vk.vkCmdDispatch(r->cb, gx, gy, 1);
    r->n_dispatch++;
    if (r->query_pool && r->n_marks < MKV_REC_MAX_MARKS) {
        r->mark_kernel[r->n_marks] = k;
        r->mark_bytes[r->n_marks] = bytes;
        r->n_marks++;
        r->d->vk.vkCmdWriteTimestamp(r->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, r->query_pool, r->n_marks);
    }
    return MKV_OK;
}

#define DISPATCH(r, k, spec, bufs, pc, gx, gy, bytes, err) \
    mkv_rec_dispatch(r, k, spec, bufs, (uint32_t)(sizeof bufs / sizeof bufs[0]), &pc, sizeof pc, gx, gy, bytes, err)

static uint32_t div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

/* The typed kernels' texel variant (wt_bind.glsl) when the device's tuning
 * picks texel reads and every buffer it reads that way has its view. */
static bool texel(const mkv_recorder *r, const mkv_buffer *w, const mkv_buffer *x)
{
    return r->tune.texel_reads && w->view && x->view;
}
#define TYPED_KERNEL(name, tex, type) ((tex) ? MKV_KERNEL_##name##_TB_T(type) : MKV_KERNEL_##name##_T(type))

mkv_status mkv_op_embed(mkv_recorder *r, const mkv_buffer *params, const mkv_matrix *t, const mkv_buffer *h,
                        uint32_t ldh, uint32_t n_batch, mkv_error *err)
{
    const uint32_t wg = r->tune.wg_norm;
    for (uint32_t p = 0; p < t->n_parts; p++) {
        mkv_pc_embed pc = {.row_begin = p * t->rows_per_part, .n_rows = mkv_matrix_part_rows(t, p),
                           .d_model = t->cols, .ldw = t->ldw, .nb = t->nb, .ldh = ldh, .il = t->il};
        const mkv_buffer *b[] = {params, &t->parts[p], h};
        mkv_status st = DISPATCH(r, MKV_KERNEL_EMBED_T(t->type), mkv_spec1(wg), b, pc, div_up(t->cols, wg), n_batch,
                                 mkv_matrix_rows_bytes(t, n_batch), err);
        if (st) return st;
    }
    return MKV_OK;
}

/* rmsnorm.comp's spec constants: WG, and P = 4 (vec4 at a time) where the
 * length and row strides allow. */
static mkv_spec norm_spec(const mkv_recorder *r, uint32_t n, uint32_t ldx, uint32_t ldy)
{
    return mkv_spec2(r->tune.wg_norm, n % 4 == 0 && ldx % 4 == 0 && ldy % 4 == 0 ? 4 : 1);
}
/* Its texel variants, where the device's tuning picks texel reads and the
 * buffers read through views (x and the weights) have them. */
static bool norm_texel(const mkv_recorder *r, const mkv_buffer *x, const mkv_buffer *w, const mkv_buffer *w2)
{
    return r->tune.texel_reads && x->view && w->view && (!w2 || w2->view);
}

mkv_status mkv_op_rmsnorm(mkv_recorder *r, const mkv_buffer *x, const mkv_buffer *w, const mkv_buffer *y,
                          uint32_t n, uint32_t n_vec, float eps, mkv_error *err)
{
    return mkv_op_rmsnorm_rows(r, false, x, n, w, y, n, n, n_vec, eps, err);
}

mkv_status mkv_op_rmsnorm_rows(mkv_recorder *r, bool add, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *w,
                               const mkv_buffer *y, uint32_t ldy, uint32_t n, uint32_t n_vec, float eps, mkv_error *err)
{
    mkv_pc_rmsnorm pc = {.n = n, .eps = eps, .ldx = ldx, .ldy = ldy};
    const mkv_buffer *b[] = {x, w, y, y}; /* rmsnorm_add reads y's old values through binding 3 */
    const bool tex = norm_texel(r, x, w, add ? y : NULL);
    const mkv_kernel_id k = add ? (tex ? MKV_KERNEL_RMSNORM_ADD_TB : MKV_KERNEL_RMSNORM_ADD)
                                : (tex ? MKV_KERNEL_RMSNORM_TB : MKV_KERNEL_RMSNORM);
    return mkv_rec_dispatch(r, k, norm_spec(r, n, ldx, ldy), b, add ? 4 : 3, &pc, sizeof pc, n_vec, 1, 8ull * n * n_vec, err);
}

mkv_status mkv_op_rmsnorm_add_norm(mkv_recorder *r, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *w,
                                   const mkv_buffer *y, uint32_t ldy, const mkv_buffer *w2, const mkv_buffer *y2,
                                   uint32_t n, uint32_t n_vec, float eps, mkv_error *err)
{
    mkv_pc_rmsnorm pc = {.n = n, .eps = eps, .ldx = ldx, .ldy = ldy};
    const mkv_buffer *b[] = {x, w, y, w2, y2, y}; /* y's old values through binding 5 */
    /* bytes: those of rmsnorm_add and rmsnorm, each 8n a vector (what the
     * profile splits it by: bench/profile.c) */
    return DISPATCH(r, norm_texel(r, x, w, w2) && y->view ? MKV_KERNEL_RMSNORM_ADD_NORM_TB : MKV_KERNEL_RMSNORM_ADD_NORM,
                    norm_spec(r, n, ldx, ldy), b, pc, n_vec, 1, 16ull * n * n_vec, err);
}

mkv_status mkv_op_rmsnorm_last(mkv_recorder *r, const mkv_buffer *params, const mkv_buffer *x, uint32_t ldx,
                               const mkv_buffer *w, const mkv_buffer *y, uint32_t n, float eps, mkv_error *err)
{
    mkv_pc_rmsnorm pc = {.n = n, .eps = eps, .ldx = ldx, .ldy = n};
    const mkv_buffer *b[] = {x, w, y, params};
    return DISPATCH(r, norm_texel(r, x, w, NULL) ? MKV_KERNEL_RMSNORM_LAST_TB : MKV_KERNEL_RMSNORM_LAST,
                    norm_spec(r, n, ldx, n), b, pc, 1, 1, 8ull * n, err);
}

/* The batched products' x rows: whole vec4s, at least a row of w's blocks. */
static mkv_status check_mm_x(const char *what, const mkv_matrix *w, uint32_t ldx, mkv_error *err)
{
    const uint32_t need = w->nb * mkv_wtype_get(w->type)->block;
    if (ldx % 4 || ldx < need)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: x rows of %u floats for a %ux%u %s matrix (need a multiple of 4 >= %u)",
                        what, ldx, w->rows, w->cols, mkv_wtype_get(w->type)->name, need);
    return MKV_OK;
}

/* mm.comp's and mm_cm.comp's push constants for part p of w. */
static mkv_pc_mm mm_pc(const mkv_matrix *w, uint32_t p, uint32_t ldx, uint32_t ldy, uint32_t y_offset, uint32_t flags)
{
    return (mkv_pc_mm){.n_rows = mkv_matrix_part_rows(w, p), .ldw = w->ldw, .nb = w->nb, .ldx4 = ldx / 4, .ldy = ldy,
                       .y_offset = y_offset + p * w->rows_per_part, .accumulate = (flags & MKV_MATVEC_ACCUMULATE) != 0,
                       .act = (flags & MKV_MATVEC_SIGMOID) != 0, .il = w->il};
}

/* mm_cm's subgroups per workgroup for w: four of 16 rows each, or fewer
 * where the device's shared memory or workgroup size holds less (0: none
 * fits, or a subgroup larger than a fragment's 256 elements). */
static uint32_t mm_cm_subgroups(const mkv_recorder *r, const mkv_matrix *w)
{
    const VkPhysicalDeviceLimits *l = &r->d->props.limits;
    const uint32_t kt = mkv_mm_cm_kt(w->type == MKV_WT_Q6_K), sg = r->d->subgroup_size;
    if (sg > 256) return 0;
    uint32_t n = 4;
    while (n && (mkv_mm_cm_shared(kt, n) > l->maxComputeSharedMemorySize || sg * n > l->maxComputeWorkGroupSize[0] ||
                 sg * n > l->maxComputeWorkGroupInvocations))
        n /= 2;
    return n;
}

mkv_status mkv_op_mm_cm(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *y,
                        uint32_t ldy, uint32_t y_offset, uint32_t n_batch, const mkv_buffer *params, uint32_t flags,
                        bool emulate, mkv_error *err)
{
    mkv_status st = check_mm_x("mm_cm", w, ldx, err);
    if (st) return st;
    if (!emulate && !r->d->coop_nv)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "mm_cm: %s has no 16x16x16 f16 cooperative matrices", r->d->props.deviceName);
    const uint32_t n_sg = mm_cm_subgroups(r, w), sg = r->d->subgroup_size;
    if (!n_sg)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "mm_cm: %s: %u bytes of shared memory, subgroups of %u: a %s tile needs %u "
                        "bytes and a subgroup (of at most 256)", r->d->props.deviceName,
                        r->d->props.limits.maxComputeSharedMemorySize, sg, mkv_wtype_get(w->type)->name,
                        mkv_mm_cm_shared(mkv_mm_cm_kt(w->type == MKV_WT_Q6_K), 1));
    for (uint32_t p = 0; p < w->n_parts; p++) {
        const uint32_t n = mkv_matrix_part_rows(w, p);
        mkv_pc_mm pc = mm_pc(w, p, ldx, ldy, y_offset, flags);
        const mkv_buffer *b[] = {&w->parts[p], x, y, params};
        const mkv_kernel_id k = emulate ? MKV_KERNEL_MM_CM_EMU_T(w->type) : MKV_KERNEL_MM_CM_T(w->type);
        st = DISPATCH(r, k, mkv_spec2(sg * n_sg, sg), b, pc, div_up(n, 16 * n_sg), div_up(n_batch, MKV_MM_CM_TOKENS),
                      mkv_matrix_rows_bytes(w, n), err);
        if (st) return st;
    }
    return MKV_OK;
}

mkv_status mkv_op_mm(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *y,
                     uint32_t ldy, uint32_t y_offset, uint32_t n_batch, const mkv_buffer *params, uint32_t flags,
                     mkv_error *err)
{
    mkv_status st = check_mm_x("mm", w, ldx, err);
    if (st) return st;
    const mkv_tunables *t = &r->tune;
    /* on cooperative matrices where the tuning asks and a tile fits (emulated: tests only,
     * device.h); else the register tiles */
    if (t->coop_mm && (r->d->coop_nv || r->d->coop_emulate) && mm_cm_subgroups(r, w))
        return mkv_op_mm_cm(r, w, x, ldx, y, ldy, y_offset, n_batch, params, flags, !r->d->coop_nv, err);
    for (uint32_t p = 0; p < w->n_parts; p++) {
        const uint32_t n = mkv_matrix_part_rows(w, p);
        mkv_pc_mm pc = mm_pc(w, p, ldx, ldy, y_offset, flags);
        const mkv_buffer *b[] = {&w->parts[p], x, y, params};
        const mkv_spec spec = {{t->wg_mm, t->rows_mm, t->nr_mm, t->nb_mm, r->d->subgroup_size}, 5};
        st = DISPATCH(r, TYPED_KERNEL(MM, texel(r, &w->parts[p], x), w->type), spec, b, pc, div_up(n, t->rows_mm),
                      div_up(n_batch, t->nb_mm), mkv_matrix_rows_bytes(w, n), err);
        if (st) return st;
    }
    return MKV_OK;
}

mkv_status mkv_op_ffn_act(mkv_recorder *r, const mkv_buffer *gu, uint32_t ldgu, uint32_t n_rows, uint32_t n_ffn,
                          uint32_t up_row, const mkv_buffer *t, uint32_t ldt, uint32_t n_mem, const mkv_buffer *g,
                          uint32_t ldg, uint32_t n_batch, const mkv_buffer *params, mkv_error *err)
{
    mkv_pc_ffn_act pc = {.n_rows = n_rows, .n_ffn = n_ffn, .up_row = up_row, .n_mem = n_mem, .ldgu = ldgu, .ldt = ldt, .ldg = ldg};
    const mkv_buffer *b[] = {gu, t, g ? g : t, params};
    const uint32_t rows4 = n_rows % 4 == 0 && n_ffn % 4 == 0 && up_row % 4 == 0 && ldgu % 4 == 0 && ldt % 4 == 0;
    const mkv_kernel_id k = r->tune.texel_reads && gu->view ? MKV_KERNEL_FFN_ACT_TB : MKV_KERNEL_FFN_ACT;
    return DISPATCH(r, k, mkv_spec2(r->tune.wg_norm, rows4 ? 4 : 1), b, pc,
                    div_up(n_rows, r->tune.wg_norm * MKV_FFN_ACT_ROWS), n_batch,
                    8ull * n_rows * n_batch, err);
}

mkv_status mkv_op_meki_v(mkv_recorder *r, const mkv_buffer *ring, uint32_t row_byte_offset, uint32_t bank_dtype,
                         const mkv_buffer *g, uint32_t ldg, const mkv_buffer *v, uint32_t ldv, uint32_t n_mem,
                         uint32_t n_batch, const mkv_buffer *params, mkv_error *err)
{
    mkv_pc_meki_v pc = {.n_mem = n_mem, .ldg = ldg, .ldv = ldv, .row_byte_offset = row_byte_offset, .bank_dtype = bank_dtype};
    const mkv_buffer *b[] = {ring, g, v, params};
    return DISPATCH(r, MKV_KERNEL_MEKI_V, mkv_spec1(r->tune.wg_norm), b, pc, div_up(n_mem, r->tune.wg_norm), n_batch,
                    6ull * n_mem * n_batch, err);
}

/* The products' spec constant SW (matvec.comp, ffn_out.comp): 1 when a
 * unit's scale words of the nr rows a subgroup takes at once may come in
 * nr / 4 loads: the type reads one scale word per unit, and nr rows from
 * any multiple of nr (rows per workgroup, W_up's first row) lie in one
 * interleaving group, whose scale planes take turns word by word
 * (shaders/wt_common.glsl). */
static uint32_t sw_grouped(const mkv_matrix *w, uint32_t nr, uint32_t rows, uint32_t up_row)
{
    const uint32_t g = 1u << (w->il & 31u);
    return mkv_wtype_get(w->type)->sw && w->il && nr % 4 == 0 && g % nr == 0 && rows % nr == 0 && up_row % nr == 0;
}

mkv_status mkv_op_matvec(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                         uint32_t y_offset, uint32_t flags, mkv_error *err)
{
    const uint32_t rows = r->tune.rows_matvec;
    for (uint32_t p = 0; p < w->n_parts; p++) {
        uint32_t n = mkv_matrix_part_rows(w, p);
        mkv_pc_matvec pc = {.n_rows = n, .ldw = w->ldw, .nb = w->nb, .row_offset = y_offset + p * w->rows_per_part,
                            .accumulate = (flags & MKV_MATVEC_ACCUMULATE) != 0, .act = (flags & MKV_MATVEC_SIGMOID) != 0,
                            .il = w->il};
        const mkv_buffer *b[] = {&w->parts[p], x, y};
        const uint32_t nr = r->tune.nr_matvec;
        const mkv_spec spec = mkv_spec5(r->tune.wg_matvec, rows, nr, r->d->subgroup_size, sw_grouped(w, nr, rows, 0));
        mkv_status st = DISPATCH(r, TYPED_KERNEL(MATVEC, texel(r, &w->parts[p], x), w->type), spec, b, pc,
                                 mkv_matvec_groups(n, rows), 1, mkv_matrix_rows_bytes(w, n), err);
        if (st) return st;
    }
    return MKV_OK;
}

static mkv_status check_single_part(const mkv_matrix *w, const char *what, mkv_error *err)
{
    if (w->n_parts != 1)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: %ux%u matrix exceeds one storage binding", what, w->rows, w->cols);
    return MKV_OK;
}

/* The SwiGLU variants keep two sums per row (gate and up): half the rows at
 * once, so they hold as many sums as matvec does (on lavapipe 64 rows of
 * two sums spilled, f16 SwiGLU ran 20 % slower than with 32). */
static mkv_spec swiglu_spec(const mkv_recorder *r, const mkv_matrix *w, uint32_t up_row)
{
    const uint32_t nr = r->tune.nr_matvec > 1 ? r->tune.nr_matvec / 2 : 1, rows = r->tune.rows_matvec;
    return mkv_spec5(r->tune.wg_matvec, rows, nr, r->d->subgroup_size, sw_grouped(w, nr, rows, up_row));
}

mkv_status mkv_op_matvec_swiglu(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                                uint32_t n_rows, mkv_error *err)
{
    mkv_status st = check_single_part(w, "ffn_gate+up", err);
    if (st) return st;
    if (w->rows % 2 || n_rows > w->rows / 2)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "matvec_swiglu: %u rows of a %u-row gate+up matrix", n_rows, w->rows);
    const uint32_t rows = r->tune.rows_matvec;
    mkv_pc_matvec pc = {.n_rows = n_rows, .ldw = w->ldw, .nb = w->nb, .up_row = w->rows / 2, .il = w->il};
    const mkv_buffer *b[] = {&w->parts[0], x, y};
    return DISPATCH(r, TYPED_KERNEL(MATVEC_SWIGLU, texel(r, &w->parts[0], x), w->type), swiglu_spec(r, w, pc.up_row), b, pc,
                    mkv_matvec_groups(n_rows, rows), 1, 2 * mkv_matrix_rows_bytes(w, n_rows), err);
}

mkv_status mkv_op_matvec_swiglu_meki(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                                     uint32_t n_ffn, uint32_t n_mem, const mkv_buffer *g, mkv_error *err)
{
    mkv_status st = check_single_part(w, "ffn_gate+up+meki_gate", err);
    if (st) return st;
    const uint32_t n_rows = n_ffn + (n_mem + 1) / 2;
    if (n_mem == 0 || w->rows != 2 * n_rows)
        return mkv_fail(err, MKV_ERR_INVALID_ARG,
                        "matvec_swiglu_meki: %ux%u matrix: need 2 x %u rows (d_ffn %u + half of d_mem %u)", w->rows,
                        w->cols, n_rows, n_ffn, n_mem);
    const uint32_t rows = r->tune.rows_matvec;
    mkv_pc_matvec pc = {.n_rows = n_rows, .ldw = w->ldw, .nb = w->nb, .up_row = n_rows, .n_ffn = n_ffn, .n_mem = n_mem,
                        .il = w->il};
    const mkv_buffer *b[] = {&w->parts[0], x, y, g};
    return DISPATCH(r, TYPED_KERNEL(MATVEC_SWIGLU_MEKI, texel(r, &w->parts[0], x), w->type), swiglu_spec(r, w, pc.up_row), b, pc,
                    mkv_matvec_groups(n_rows, rows), 1, mkv_matrix_bytes(w), err);
}

static mkv_status check_f16(const mkv_matrix *w, const char *what, mkv_error *err)
{
    mkv_status st = check_single_part(w, what, err);
    if (!st && w->type != MKV_WT_F16)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: %s weights: matmul reads f16 only", what, mkv_wtype_get(w->type)->name);
    if (!st && w->il)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: interleaved rows: this kernel reads plain rows (mkv_matrix_create_il)", what);
    return st;
}

mkv_status mkv_op_matmul(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                         uint32_t n_batch, uint32_t ldy, bool accumulate, float scale, mkv_error *err)
{
    mkv_status st = check_f16(w, "matmul", err);
    if (st) return st;
    mkv_pc_matmul pc = {.n_rows = w->rows, .n_batch = n_batch, .ld8 = w->ldw / 4, .ldy = ldy,
                        .accumulate = accumulate, .scale = scale};
    const mkv_buffer *b[] = {&w->parts[0], x, y};
    return DISPATCH(r, MKV_KERNEL_MATMUL, mkv_spec2(r->tune.wg_matmul, r->tune.tb_matmul), b, pc, div_up(w->rows, r->tune.wg_matmul),
                    div_up(n_batch, r->tune.tb_matmul), mkv_matrix_bytes(w), err);
}

mkv_status mkv_op_matmul_swiglu(mkv_recorder *r, const mkv_matrix *wg, const mkv_matrix *wu, const mkv_buffer *x,
                                const mkv_buffer *y, uint32_t n_batch, uint32_t ldy, mkv_error *err)
{
    mkv_status st = check_f16(wg, "matmul gate", err);
    if (!st) st = check_f16(wu, "matmul up", err);
    if (st) return st;
    if (wg->rows != wu->rows || wg->cols != wu->cols)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "matmul_swiglu: gate %ux%u and up %ux%u differ", wg->rows, wg->cols,
                        wu->rows, wu->cols);
    mkv_pc_matmul pc = {.n_rows = wg->rows, .n_batch = n_batch, .ld8 = wg->ldw / 4, .ldy = ldy, .scale = 1.0f};
    const mkv_buffer *b[] = {&wg->parts[0], x, y, &wu->parts[0]};
    return DISPATCH(r, MKV_KERNEL_MATMUL_SWIGLU, mkv_spec2(r->tune.wg_matmul, r->tune.tb_matmul), b, pc,
                    div_up(wg->rows, r->tune.wg_matmul), div_up(n_batch, r->tune.tb_matmul), 2 * mkv_matrix_bytes(wg), err);
}

/* A pass's batch and row strides (0: one token, rows packed). */
static uint32_t attn_batch(const mkv_attn_dims *a) { return a->n_batch ? a->n_batch : 1; }
static uint32_t attn_ld_q(const mkv_attn_dims *a) { return a->ld_q ? a->ld_q : a->n_head * a->head_dim; }
static uint32_t attn_ld_qkv(const mkv_attn_dims *a)
{
    return a->ld_qkv ? a->ld_qkv : (a->n_head + 2 * a->n_kv_head) * a->head_dim;
}

mkv_status mkv_op_rope_kv(mkv_recorder *r, const mkv_attn_dims *a, const mkv_buffer *params, const mkv_buffer *qkv,
                          const mkv_buffer *qkv_bias, const mkv_buffer *q_norm, const mkv_buffer *k_norm,
                          const mkv_buffer *rope, const mkv_buffer *q, const mkv_buffer *k_cache,
                          const mkv_buffer *v_cache, mkv_error *err)
{
    const uint32_t wg = r->tune.wg_norm;
    if (a->head_dim % 2 || a->head_dim > MKV_ROPE_KV_MAX_HEAD_DIM)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "head_dim = %u: rope kernel needs an even head_dim <= %u", a->head_dim, MKV_ROPE_KV_MAX_HEAD_DIM);
    if (a->kv_q8 && a->head_dim % MKV_KV_Q8_BLOCK)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "head_dim = %u: a q8_0 KV cache needs a multiple of %u", a->head_dim,
                        MKV_KV_Q8_BLOCK);
    const uint32_t ld_qkv = attn_ld_qkv(a), ld_q = attn_ld_q(a);
    mkv_pc_rope_kv pc = {.n_head = a->n_head, .n_kv_head = a->n_kv_head, .head_dim = a->head_dim, .eps = a->eps,
                         .scale_base = (uint32_t)((uint64_t)a->n_ctx * a->n_kv_head * a->head_dim / 4),
                         .ld_qkv = ld_qkv, .ld_q = ld_q, .n_ctx = a->n_ctx};
    const mkv_buffer *bias = qkv_bias ? qkv_bias : qkv; /* unread without bias */
    const mkv_buffer *b[] = {params, qkv, q_norm, k_norm, rope, q, k_cache, v_cache, bias};
    /* four pairs per lane where every row the kernel reads or writes
     * starts on 16 bytes (rope_kv.comp) */
    const uint32_t pairs = a->head_dim % 8 == 0 && ld_qkv % 4 == 0 && ld_q % 4 == 0 ? 4 : 1;
    const mkv_spec spec = mkv_spec5(wg, pairs, !a->rope_norm, a->qk_norm, qkv_bias != NULL);
    const bool tex = r->tune.texel_reads && qkv->view && q_norm->view && k_norm->view && rope->view && bias->view;
    const mkv_kernel_id k = a->kv_q8 ? (tex ? MKV_KERNEL_ROPE_KV_Q8_TB : MKV_KERNEL_ROPE_KV_Q8)
                                     : (tex ? MKV_KERNEL_ROPE_KV_TB : MKV_KERNEL_ROPE_KV);
    return DISPATCH(r, k, spec, b, pc, a->n_head + a->n_kv_head, attn_batch(a),
                    4ull * (a->n_head + 2 * a->n_kv_head) * a->head_dim * attn_batch(a), err);
}

/* attn_rope's inputs: rope_kv's */
typedef struct rope_in {
    const mkv_buffer *qkv, *bias, *q_norm, *k_norm, *rope;
} rope_in;

static mkv_status attention(mkv_recorder *r, const mkv_attn_dims *a, const mkv_buffer *params, const mkv_buffer *q,
                            const mkv_buffer *k_cache, const mkv_buffer *v_cache, const mkv_buffer *partials,
                            const mkv_buffer *done, const mkv_buffer *out, const rope_in *ro, mkv_error *err)
{
    if (a->n_kv_head == 0 || a->n_head % a->n_kv_head || a->n_head / a->n_kv_head > MKV_ATTN_MAX_GROUP ||
        a->head_dim % 2 || a->head_dim > MKV_ATTN_MAX_HEAD_DIM)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "attention: n_head = %u, n_kv_head = %u, head_dim = %u: need a group of <= %u and an even head_dim <= %u",
                        a->n_head, a->n_kv_head, a->head_dim, MKV_ATTN_MAX_GROUP, MKV_ATTN_MAX_HEAD_DIM);
    if (a->kv_q8 && a->head_dim % MKV_KV_Q8_BLOCK)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "attention: head_dim = %u: a q8_0 KV cache needs a multiple of %u",
                        a->head_dim, MKV_KV_Q8_BLOCK);
    /* (a pipeline past the device's shared memory is invalid: an H200 lost the device over one) */
    const uint32_t shm = mkv_attn_shared(r->tune.wg_attn, r->d->subgroup_size, a->head_dim);
    if (shm > r->d->props.limits.maxComputeSharedMemorySize)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "attention: workgroups of %u threads (attn.wg) at head_dim %u need %u bytes of "
                        "shared memory; the device has %u", r->tune.wg_attn, a->head_dim, shm,
                        r->d->props.limits.maxComputeSharedMemorySize);
    if (a->n_split == 0 || a->n_split > MKV_ATTN_MAX_SPLIT)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "attention: n_split = %u: not in 1..%u", a->n_split, MKV_ATTN_MAX_SPLIT);
    if (a->n_split > 1 && partials->size < 4 * mkv_attn_partials_floats(a->n_head, a->n_split, a->head_dim, a->n_batch))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "attention: partials of %llu bytes for %u splits: need %llu",
                        (unsigned long long)partials->size, a->n_split,
                        (unsigned long long)(4 * mkv_attn_partials_floats(a->n_head, a->n_split, a->head_dim, a->n_batch)));
    if (a->head_dim % 8 == 0 && attn_ld_q(a) % 4) /* q read as vec4 (attn.comp) */
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "attention: q rows of %u floats: need a multiple of 4", attn_ld_q(a));
    mkv_pc_attn pc = {.n_kv_head = a->n_kv_head, .n_split = a->n_split, .scale = 1.0f / sqrtf((float)a->head_dim),
                      .scale_base = (uint32_t)((uint64_t)a->n_ctx * a->n_kv_head * a->head_dim / 4), .ld_q = attn_ld_q(a),
                      .ld_out = attn_ld_q(a), .n_ctx = a->n_ctx, .eps = a->eps};
    /* one split: attention writes the output itself, nothing to combine;
     * merged: the last split of each KV head combines (attn.comp) */
    const bool direct = a->n_split == 1;
    const uint32_t nbt = attn_batch(a);
    const bool merge = !direct && r->tune.merge_attn && done;
    if (merge && done->size < 4ull * nbt * a->n_kv_head)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "attention: split counters of %llu bytes for %u tokens x %u KV heads: need %llu",
                        (unsigned long long)done->size, nbt, a->n_kv_head, 4ull * nbt * a->n_kv_head);
    if ((uint64_t)nbt * a->n_split > r->d->props.limits.maxComputeWorkGroupCount[1])
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "attention: %u tokens x %u splits exceed the device's workgroup count", nbt, a->n_split);
    /* The group size and head_dim are compile-time in the shader (queries
     * and outputs live in registers); attn_rope's flags as rope_kv's. */
    const mkv_spec spec = {{r->tune.wg_attn, a->n_head / a->n_kv_head, a->head_dim, r->d->subgroup_size, r->tune.u_attn, merge,
                            !a->rope_norm, a->qk_norm, ro && ro->bias},
                           ro ? 9 : 6};
    /* bytes: the whole cache capacity is an upper bound; bench rescales by n_kv. */
    const uint64_t bytes = 2 * mkv_kv_cache_bytes(a->n_ctx, a->n_kv_head * a->head_dim, a->kv_q8);
    mkv_status st;
    if (ro) {
        /* bindings 5 and 6 (the merge's output and counters) are unread unless merging;
         * 1 (q) and 11 (the bias) unread in attn_rope without a bias */
        const mkv_buffer *b[] = {params, ro->qkv, k_cache, v_cache, direct ? out : partials, out, merge ? done : out,
                                 ro->qkv, ro->q_norm, ro->k_norm, ro->rope, ro->bias ? ro->bias : ro->qkv};
        st = DISPATCH(r, MKV_KERNEL_ATTN_ROPE, spec, b, pc, a->n_kv_head, a->n_split, bytes, err);
    } else {
        const mkv_buffer *b[] = {params, q, k_cache, v_cache, direct ? out : partials, out, merge ? done : out};
        const bool tex = r->tune.texel_reads && k_cache->view && v_cache->view;
        const mkv_kernel_id k = a->kv_q8 ? (tex ? MKV_KERNEL_ATTN_Q8_TB : MKV_KERNEL_ATTN_Q8) : (tex ? MKV_KERNEL_ATTN_TB : MKV_KERNEL_ATTN);
        st = DISPATCH(r, k, spec, b, pc, a->n_kv_head, nbt * a->n_split, bytes, err);
    }
    if (st || direct || merge) return st;
    mkv_pc_attn_combine pc2 = {.head_dim = a->head_dim, .n_split = a->n_split, .ld_out = attn_ld_q(a)};
    const mkv_buffer *b2[] = {partials, out};
    /* four output values at a time where the partials' rows and the output's start on 16 bytes */
    const uint32_t p4 = a->head_dim % 4 == 0 && pc2.ld_out % 4 == 0 ? 4 : 1;
    const mkv_kernel_id kc = r->tune.texel_reads && partials->view ? MKV_KERNEL_ATTN_COMBINE_TB : MKV_KERNEL_ATTN_COMBINE;
    return DISPATCH(r, kc, mkv_spec2(r->tune.wg_norm, p4), b2, pc2, a->n_head, nbt,
                    4 * mkv_attn_partials_floats(a->n_head, a->n_split, a->head_dim, nbt), err);
}

mkv_status mkv_op_attention(mkv_recorder *r, const mkv_attn_dims *a, const mkv_buffer *params, const mkv_buffer *q,
                            const mkv_buffer *k_cache, const mkv_buffer *v_cache, const mkv_buffer *partials,
                            const mkv_buffer *done, const mkv_buffer *out, mkv_error *err)
{
    return attention(r, a, params, q, k_cache, v_cache, partials, done, out, NULL, err);
}

bool mkv_attn_rope_fits(const mkv_recorder *r, const mkv_attn_dims *a)
{
    return r->tune.rope_attn && attn_batch(a) == 1 && !a->kv_q8;
}

mkv_status mkv_op_rope_attention(mkv_recorder *r, const mkv_attn_dims *a, const mkv_buffer *params, const mkv_buffer *qkv,
                                 const mkv_buffer *qkv_bias, const mkv_buffer *q_norm, const mkv_buffer *k_norm,
                                 const mkv_buffer *rope, const mkv_buffer *k_cache, const mkv_buffer *v_cache,
                                 const mkv_buffer *partials, const mkv_buffer *done, const mkv_buffer *out, mkv_error *err)
{
    if (attn_batch(a) != 1 || a->kv_q8)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "rope + attention: %u tokens, %s cache: one token and f16 only (rope_kv, then "
                        "attention, otherwise)", attn_batch(a), a->kv_q8 ? "q8_0" : "f16");
    const rope_in ro = {qkv, qkv_bias, q_norm, k_norm, rope};
    return attention(r, a, params, qkv, k_cache, v_cache, partials, done, out, &ro, err);
}

/* ffn_out.comp for the matrix `what` names (errors name it). */
static mkv_status ffn_out(mkv_recorder *r, const char *what, const mkv_matrix *w_down, const mkv_buffer *t,
                          const mkv_buffer *h, const mkv_buffer *w_next, const mkv_buffer *xn, const mkv_buffer *counter,
                          float eps, const mkv_ffn_out_meki *meki, mkv_error *err)
{
    mkv_status st = check_single_part(w_down, what, err);
    if (!st && meki) st = check_f16(meki->w_mo_t, "meki_out", err);
    if (st) return st;
    /* W_mo's outputs come in chunks of 8, one invocation each at least: a
     * workgroup takes at most 8 x WG rows; a subgroup never more at once. */
    const uint32_t wg = r->tune.wg_matvec, n = w_down->rows;
    uint32_t rows = r->tune.rows_matvec;
    if (meki && rows > 8 * wg) rows = 8 * wg;
    const uint32_t nr = r->tune.nr_matvec < rows ? r->tune.nr_matvec : rows, g1 = mkv_matvec_groups(n, rows);
    const uint32_t band = 8 * MKV_WMO_BAND; /* outputs per band of W_mo (wmo_layout.h) */
    if (meki && (meki->w_mo_t->rows != div_up(n, band) || meki->w_mo_t->cols % band || meki->w_mo_t->n_parts != 1))
        return mkv_fail(err, MKV_ERR_INVALID_ARG,
                        "ffn_out_meki: meki_out as %u bands of %u x %u in %u parts: need %u bands of d_mem x %u in one, for ffn_down's %u rows",
                        meki->w_mo_t->rows, meki->w_mo_t->cols / band, band, meki->w_mo_t->n_parts, div_up(n, band), band, n);
    if (meki && rows % 8)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "ffn_out_meki: %u rows per workgroup: need a multiple of 8", rows);
    if (meki && meki->z->size < 4ull * (n + g1))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "ffn_out_meki: z holds %llu bytes: need %llu (n + one float per workgroup)",
                        (unsigned long long)meki->z->size, 4ull * (n + g1));
    mkv_pc_ffn_out pc = {.n = n, .ldw = w_down->ldw, .nb = w_down->nb, .ld8_2 = meki ? meki->w_mo_t->rows * MKV_WMO_BAND : 0,
                         .n_mem = meki ? meki->w_mo_t->cols / band : 0, .n_groups = g1, .eps = eps,
                         .row_byte_offset = meki ? meki->row_byte_offset : 0, .bank_dtype = meki ? meki->bank_dtype : 0,
                         .il = w_down->il};
    const uint64_t bytes = mkv_matrix_bytes(w_down) + 16ull * n;
    const mkv_spec spec = {{wg, rows, nr, r->d->subgroup_size, sw_grouped(w_down, nr, rows, 0), n % 4 == 0}, 6};
    if (!meki) {
        const mkv_buffer *b[] = {&w_down->parts[0], t, h, w_next, xn, counter};
        const bool tex = texel(r, &w_down->parts[0], t) && w_next->view;
        return DISPATCH(r, TYPED_KERNEL(FFN_OUT, tex, w_down->type), spec, b, pc, pc.n_groups, 1, bytes, err);
    }
    const mkv_buffer *b[] = {&w_down->parts[0], t, h, w_next, xn, counter, &meki->w_mo_t->parts[0], meki->g, meki->z, meki->w_norm, meki->ring, meki->params};
    const bool tex = texel(r, &w_down->parts[0], t) && w_next->view && meki->w_mo_t->parts[0].view && meki->g->view &&
                     meki->ring->view && meki->w_norm->view;
    return DISPATCH(r, TYPED_KERNEL(FFN_OUT_MEKI, tex, w_down->type), spec, b, pc, pc.n_groups, 1,
                    bytes + mkv_matrix_bytes(meki->w_mo_t) + 4ull * pc.n_mem + 12ull * n, err);
}

mkv_status mkv_op_ffn_out(mkv_recorder *r, const mkv_matrix *w_down, const mkv_buffer *t, const mkv_buffer *h,
                          const mkv_buffer *w_next, const mkv_buffer *xn, const mkv_buffer *counter, float eps,
                          const mkv_ffn_out_meki *meki, mkv_error *err)
{
    return ffn_out(r, "ffn_down", w_down, t, h, w_next, xn, counter, eps, meki, err);
}

mkv_status mkv_op_matvec_norm(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *h,
                              const mkv_buffer *w_norm, const mkv_buffer *xn, const mkv_buffer *counter, float eps,
                              mkv_error *err)
{
    return ffn_out(r, "attn_output", w, x, h, w_norm, xn, counter, eps, NULL, err);
}

uint32_t mkv_argmax_slots(const mkv_recorder *r, uint32_t n) { return div_up(n, r->tune.wg_argmax * 16); }

mkv_status mkv_op_argmax(mkv_recorder *r, const mkv_buffer *x, uint32_t n, const mkv_buffer *slots,
                         const mkv_buffer *result, mkv_error *err)
{
    const uint32_t chunk = r->tune.wg_argmax * 16, n_slots = mkv_argmax_slots(r, n);
    mkv_pc_argmax pc = {.n = n, .chunk = chunk};
    const mkv_buffer *b[] = {x, slots};
    if (x->size < 4 * (((uint64_t)n + 3) & ~3ull))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "argmax: %u values in a buffer of %llu bytes (read as whole vec4s)", n,
                        (unsigned long long)x->size);
    const mkv_kernel_id k = r->tune.texel_reads && x->view ? MKV_KERNEL_ARGMAX_TB : MKV_KERNEL_ARGMAX;
    mkv_status st = DISPATCH(r, k, mkv_spec1(r->tune.wg_argmax), b, pc, n_slots, 1, 4ull * n, err);
    if (st) return st;
    mkv_pc_argmax pc2 = {.n = n_slots, .chunk = n_slots};
    const mkv_buffer *b2[] = {slots, result};
    return DISPATCH(r, MKV_KERNEL_ARGMAX_FINAL, mkv_spec1(r->tune.wg_argmax), b2, pc2, 1, 1, 8ull * n_slots, err);
}

void mkv_rec_finish(mkv_recorder *r)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT, .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    r->d->vk.vkCmdPipelineBarrier(r->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}
