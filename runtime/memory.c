/* Buffers and uploads. One VkDeviceMemory per buffer: a model has a few
 * hundred tensors, far under maxMemoryAllocationCount (>= 4096). */
#include "memory.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static void record_fill_zero(const mkv_device *d, VkCommandBuffer cb, void *user)
{
    mkv_buffer *b = user;
    d->vk.vkCmdFillBuffer(cb, b->buf, 0, VK_WHOLE_SIZE, 0);
}

static int find_type(const mkv_device *d, uint32_t bits, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < d->mem_props.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (d->mem_props.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

/* b's RGBA32UI view, where the device has texel reads and one view covers it. */
static mkv_status texel_view(mkv_device *d, mkv_buffer *b, mkv_error *err)
{
    if (!d->max_texel_elements || b->size / 16 > d->max_texel_elements) return MKV_OK;
    VkBufferViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = b->buf,
                                 .format = VK_FORMAT_R32G32B32A32_UINT, .offset = 0, .range = b->size};
    MKV_VK(d->vk.vkCreateBufferView(d->dev, &vi, NULL, &b->view), err);
    return MKV_OK;
}

mkv_status mkv_buffer_create(mkv_device *d, VkDeviceSize size, mkv_mem_kind kind, mkv_buffer *b, mkv_error *err)
{
    memset(b, 0, sizeof *b);
    if (size == 0) return mkv_fail(err, MKV_ERR_INVALID_ARG, "buffer size = 0");
    size = (size + 15) & ~(VkDeviceSize)15;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                 (d->max_texel_elements ? VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT : 0),
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    MKV_VK(d->vk.vkCreateBuffer(d->dev, &bi, NULL, &b->buf), err);
    b->size = size;
    VkMemoryRequirements req;
    d->vk.vkGetBufferMemoryRequirements(d->dev, b->buf, &req);

    /* Prefer memory the host can map (UMA: also device-local), so uploads
     * and per-token writes need no staging copy. */
    const VkMemoryPropertyFlags HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    int type = -1;
    if (kind == MKV_MEM_DEVICE) {
        type = find_type(d, req.memoryTypeBits, DL | HV);
        if (type < 0) type = find_type(d, req.memoryTypeBits, DL);
    } else {
        type = find_type(d, req.memoryTypeBits, HV | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (type < 0) type = find_type(d, req.memoryTypeBits, HV);
    }
    if (type < 0) type = find_type(d, req.memoryTypeBits, 0);
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    VkResult r = d->vk.vkAllocateMemory(d->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        mkv_buffer_destroy(d, b);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "Vulkan: vkAllocateMemory of %llu bytes returned %s",
                        (unsigned long long)req.size, mkv_vk_result_name(r));
    }
    if ((r = d->vk.vkBindBufferMemory(d->dev, b->buf, b->mem, 0)) != VK_SUCCESS) {
        mkv_buffer_destroy(d, b);
        return mkv_vk_fail(err, r, "vkBindBufferMemory");
    }
    mkv_status st = texel_view(d, b, err);
    if (st) {
        mkv_buffer_destroy(d, b);
        return st;
    }
    if (d->mem_props.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        if ((r = d->vk.vkMapMemory(d->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map)) != VK_SUCCESS) {
            mkv_buffer_destroy(d, b);
            return mkv_vk_fail(err, r, "vkMapMemory");
        }
        memset(b->map, 0, size);
        return MKV_OK;
    }
    /* Not mappable: zero it on the GPU. */
    st = mkv_device_submit_once(d, record_fill_zero, b, err);
    if (st) mkv_buffer_destroy(d, b);
    return st;
}

void mkv_buffer_destroy(mkv_device *d, mkv_buffer *b)
{
    if (!b) return;
    if (b->view) d->vk.vkDestroyBufferView(d->dev, b->view, NULL);
    if (b->map) d->vk.vkUnmapMemory(d->dev, b->mem);
    if (b->buf) d->vk.vkDestroyBuffer(d->dev, b->buf, NULL);
    if (b->mem) d->vk.vkFreeMemory(d->dev, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

typedef struct copy_job {
    VkBuffer src, dst;
    VkBufferCopy region;
} copy_job;

static void record_copy(const mkv_device *d, VkCommandBuffer cb, void *user)
{
    copy_job *j = user;
    d->vk.vkCmdCopyBuffer(cb, j->src, j->dst, 1, &j->region);
}

/* Moves n bytes between a host-visible staging buffer and b, in chunks. */
static mkv_status staged_copy(mkv_device *d, mkv_buffer *b, VkDeviceSize off, void *host, VkDeviceSize n,
                              bool to_device, mkv_error *err)
{
    const VkDeviceSize chunk = 64u << 20;
    mkv_buffer stage;
    mkv_status st = mkv_buffer_create(d, n < chunk ? n : chunk, MKV_MEM_HOST, &stage, err);
    if (st) return st;
    for (VkDeviceSize done = 0; done < n && !st;) {
        VkDeviceSize len = n - done < chunk ? n - done : chunk;
        copy_job j = {.region = {.size = len}};
        if (to_device) {
            memcpy(stage.map, (uint8_t *)host + done, len);
            j.src = stage.buf;
            j.dst = b->buf;
            j.region.dstOffset = off + done;
        } else {
            j.src = b->buf;
            j.dst = stage.buf;
            j.region.srcOffset = off + done;
        }
        st = mkv_device_submit_once(d, record_copy, &j, err);
        if (!st && !to_device) memcpy((uint8_t *)host + done, stage.map, len);
        done += len;
    }
    mkv_buffer_destroy(d, &stage);
    return st;
}

static mkv_status check_range(const mkv_buffer *b, VkDeviceSize off, VkDeviceSize n, mkv_error *err)
{
    if (off > b->size || n > b->size - off)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "buffer access [%llu, +%llu) outside %llu bytes",
                        (unsigned long long)off, (unsigned long long)n, (unsigned long long)b->size);
    return MKV_OK;
}

mkv_status mkv_buffer_write(mkv_device *d, mkv_buffer *b, VkDeviceSize off, const void *src, VkDeviceSize n, mkv_error *err)
{
    mkv_status st = check_range(b, off, n, err);
    if (st || n == 0) return st;
    if (b->map) {
        memcpy((uint8_t *)b->map + off, src, n);
        return MKV_OK;
    }
    return staged_copy(d, b, off, (void *)src, n, true, err);
}

mkv_status mkv_buffer_read(mkv_device *d, const mkv_buffer *b, VkDeviceSize off, void *dst, VkDeviceSize n, mkv_error *err)
{
    mkv_status st = check_range(b, off, n, err);
    if (st || n == 0) return st;
    if (b->map) {
        memcpy(dst, (const uint8_t *)b->map + off, n);
        return MKV_OK;
    }
    return staged_copy(d, (mkv_buffer *)b, off, dst, n, false, err);
}

/* Rows filled and repacked per call of the fill callback. */
#define FILL_ROWS 64u

static uint32_t log2u(uint32_t v)
{
    uint32_t l = 0;
    while (v >>= 1) l++;
    return l;
}

/* The interleaving of rows of nb blocks of type t in groups of il_rows
 * (shaders/wt_common.glsl): log2 G | log2 B << 8, B the blocks a
 * subgroup's lanes read in one step (a unit each); 0 (plain) where a
 * block's quants are not whole 16-byte chunks, a step is less than a block
 * or a row is not whole runs. */
static uint32_t il_layout(const mkv_device *d, mkv_wtype t, uint32_t nb, uint32_t il_rows)
{
    const mkv_wtype_info *wi = mkv_wtype_get(t);
    const uint32_t quant = wi->block_bytes - wi->scale_bytes, step = d->subgroup_size * wi->unit;
    if (il_rows <= 1 || il_rows > 64 || (il_rows & (il_rows - 1)) || quant % 16 || step < wi->block) return 0;
    const uint32_t b = step / wi->block;
    if (step % wi->block || (b & (b - 1)) || nb % b) return 0;
    return log2u(il_rows) | log2u(b) << 8;
}

/* Stores the plain row `src` (ldw words) as row r of its part `dst` in the
 * matrix's layout (the inverse of wt_row and wt_qc, shaders/wt_row.glsl). */
static void place_row(const mkv_matrix *m, uint32_t r, const uint32_t *src, uint32_t *dst)
{
    const mkv_wtype_info *wi = mkv_wtype_get(m->type);
    const uint32_t lg = m->il & 31u, i = r & ((1u << lg) - 1u), qw = m->nb * (wi->block_bytes - wi->scale_bytes) / 4;
    const uint64_t g0 = (uint64_t)(r - i) * m->ldw;
    if (!m->il) {
        memcpy(dst + g0, src, 4ull * m->ldw);
        return;
    }
    const uint32_t run = (wi->block_bytes - wi->scale_bytes) / 16 << ((m->il >> 8) & 31u); /* chunks per run */
    for (uint32_t c = 0; c < qw / 4; c++)
        memcpy(dst + g0 + 4ull * ((uint64_t)(c / run) * (run << lg) + (uint64_t)i * run + c % run), src + 4ull * c, 16);
    for (uint32_t j = 0; j < m->ldw - qw; j++) dst[g0 + ((uint64_t)qw << lg) + ((uint64_t)j << lg) + i] = src[qw + j];
}

mkv_status mkv_matrix_create(mkv_device *d, const char *name, mkv_wtype type, uint32_t rows, uint32_t cols,
                             mkv_rows_fn fill, void *user, mkv_matrix *m, mkv_error *err)
{
    return mkv_matrix_create_il(d, name, type, rows, cols, d->tune.il_rows, fill, user, m, err);
}

mkv_status mkv_matrix_create_il(mkv_device *d, const char *name, mkv_wtype type, uint32_t rows, uint32_t cols,
                                uint32_t il_rows, mkv_rows_fn fill, void *user, mkv_matrix *m, mkv_error *err)
{
    memset(m, 0, sizeof *m);
    if (rows == 0 || cols == 0) return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: empty matrix %ux%u", name, rows, cols);
    const mkv_wtype_info *wi = mkv_wtype_get(type);
    if (!wi) return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: weight type %d unknown", name, (int)type);
    if (!mkv_wtype_cols_ok(type, cols))
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "%s: %u columns: not whole %s blocks of %u", name, cols, wi->name,
                        wi->block);
    m->type = type;
    m->rows = rows;
    m->cols = cols;
    m->nb = mkv_wtype_blocks(type, cols);
    m->ldw = mkv_wtype_row_words(type, cols);
    const uint64_t row_bytes = 4ull * m->ldw, src_bytes = mkv_wtype_src_row_bytes(type, cols);
    uint64_t max_rows = d->max_storage_range / row_bytes;
    if (max_rows == 0)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: one row of %u columns exceeds maxStorageBufferRange (%llu bytes)",
                        name, cols, (unsigned long long)d->max_storage_range);
    /* parts hold whole groups of interleaved rows; plain rows where a group does not fit a binding */
    m->il = il_layout(d, type, m->nb, il_rows);
    const uint32_t group = max_rows < (1u << (m->il & 31u)) ? (m->il = 0, 1u) : 1u << (m->il & 31u);
    max_rows = max_rows / group * group;
    m->rows_per_part = max_rows < rows ? (uint32_t)max_rows : rows;
    m->n_parts = (rows + m->rows_per_part - 1) / m->rows_per_part;
    if (m->n_parts > MKV_MATRIX_MAX_PARTS)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: %ux%u needs %u parts of maxStorageBufferRange, more than %u",
                        name, rows, cols, m->n_parts, MKV_MATRIX_MAX_PARTS);
    mkv_status st = MKV_OK;
    uint8_t *src = NULL, *host = NULL;
    uint32_t *row = NULL;
    if (fill && (!(src = mkv_malloc(FILL_ROWS * src_bytes)) || !(row = mkv_malloc(row_bytes)))) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory for %u rows of %llu bytes", name, FILL_ROWS,
                      (unsigned long long)src_bytes);
        goto out;
    }
    for (uint32_t p = 0; p < m->n_parts && !st; p++) {
        const uint32_t n = mkv_matrix_part_rows(m, p), n_alloc = (n + group - 1) / group * group;
        if ((st = mkv_buffer_create(d, (VkDeviceSize)n_alloc * row_bytes, MKV_MEM_DEVICE, &m->parts[p], err)) ||
            !fill)
            continue;
        /* Repack straight into the mapping when there is one (unified
         * memory: no second copy of the weights on the host). */
        uint8_t *dst = m->parts[p].map;
        if (!dst) {
            free(host);
            if (!(host = mkv_calloc((size_t)n_alloc, (size_t)row_bytes))) {
                st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory staging %u rows", name, n);
                continue;
            }
            dst = host;
        }
        for (uint32_t r = 0; r < n && !st; r += FILL_ROWS) {
            const uint32_t k = n - r < FILL_ROWS ? n - r : FILL_ROWS;
            if ((st = fill(user, p * m->rows_per_part + r, k, src, err))) break;
            for (uint32_t i = 0; i < k; i++) {
                mkv_wtype_repack_row(type, cols, src + i * src_bytes, row);
                place_row(m, r + i, row, (uint32_t *)dst);
            }
        }
        if (!st && host) st = mkv_buffer_write(d, &m->parts[p], 0, host, (VkDeviceSize)n_alloc * row_bytes, err);
        free(host);
        host = NULL;
    }
out:
    free(src);
    free(row);
    free(host);
    if (st) mkv_matrix_destroy(d, m);
    return st;
}

void mkv_matrix_destroy(mkv_device *d, mkv_matrix *m)
{
    for (uint32_t p = 0; p < m->n_parts; p++) mkv_buffer_destroy(d, &m->parts[p]);
    memset(m, 0, sizeof *m);
}

uint64_t mkv_matrix_bytes(const mkv_matrix *m) { return mkv_matrix_rows_bytes(m, m->rows); }
