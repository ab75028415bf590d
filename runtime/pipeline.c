/* Pipelines and a minimal SPIR-V reflector (bindings, push-constant size,
 * the optional features its capabilities need). */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

enum {
    OP_CAPABILITY = 17, OP_TYPE_INT = 21, OP_TYPE_FLOAT = 22, OP_TYPE_VECTOR = 23, OP_TYPE_IMAGE = 25, OP_TYPE_SAMPLED_IMAGE = 27,
    OP_TYPE_STRUCT = 30, OP_TYPE_POINTER = 32, OP_VARIABLE = 59, OP_DECORATE = 71, OP_MEMBER_DECORATE = 72,
    DEC_BINDING = 33, DEC_OFFSET = 35, SC_PUSH_CONSTANT = 9, DIM_BUFFER = 5,
};

/* The capabilities the kernels declare (SPIR-V spec, "Capability"), and
 * the MKV_SPV_NEED_* bit of each that needs an optional feature (0: core,
 * or asked of every device by mkv_device_requirements_get). */
static const struct { uint32_t cap, need; } known_caps[] = {
    {1, 0},    /* Shader */
    {46, 0},   /* SampledBuffer (uniform texel buffers) */
    {50, 0},   /* ImageQuery */
    {61, 0},   /* GroupNonUniform */
    {63, 0},   /* GroupNonUniformArithmetic */
    {65, 0},   /* GroupNonUniformShuffle */
    {9, MKV_SPV_NEED_FLOAT16},          /* Float16 */
    {5345, MKV_SPV_NEED_MEMORY_MODEL},  /* VulkanMemoryModel */
    {5357, MKV_SPV_NEED_COOP_NV},       /* CooperativeMatrixNV */
};

const char *mkv_spv_need_name(uint32_t bit)
{
    switch (bit) {
    case MKV_SPV_NEED_FLOAT16: return "shaderFloat16";
    case MKV_SPV_NEED_MEMORY_MODEL: return "vulkanMemoryModel";
    case MKV_SPV_NEED_COOP_NV: return "VK_NV_cooperative_matrix";
    default: return "?";
    }
}

mkv_status mkv_spirv_reflect(const uint32_t *code, size_t bytes, const char *name, mkv_spirv_info *info, mkv_error *err)
{
    memset(info, 0, sizeof *info);
    size_t n = bytes / 4;
    if (n < 5 || code[0] != 0x07230203u) return mkv_fail(err, MKV_ERR_FORMAT, "shader %s: not SPIR-V", name);
    uint32_t bound = code[3];
    if (bound > (1u << 20)) return mkv_fail(err, MKV_ERR_FORMAT, "shader %s: id bound = %u too large", name, bound);
    /* Per id: scalar/vector byte size, pointer target, struct flag, texel
     * buffer type flag, binding + 1 (decorations precede types and
     * variables in a module, so one pass sees them in time). */
    uint32_t *size = mkv_calloc(bound, 4), *target = mkv_calloc(bound, 4), *binding = mkv_calloc(bound, 4);
    uint8_t *is_struct = mkv_calloc(bound, 1), *is_texel = mkv_calloc(bound, 1);
    uint32_t push_struct = 0;
    mkv_status st = MKV_OK;
    if (!size || !target || !is_struct || !binding || !is_texel) { st = mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory"); goto out; }
    for (size_t i = 5; i < n;) {
        uint32_t op = code[i] & 0xffffu, wc = code[i] >> 16;
        if (wc == 0 || i + wc > n) { st = mkv_fail(err, MKV_ERR_FORMAT, "shader %s: bad instruction at word %zu", name, i); goto out; }
        const uint32_t *a = code + i + 1;
        if (op == OP_CAPABILITY) {
            if (wc < 2) { st = mkv_fail(err, MKV_ERR_FORMAT, "shader %s: bad OpCapability at word %zu", name, i); goto out; }
            size_t c = 0;
            while (c < sizeof known_caps / sizeof known_caps[0] && known_caps[c].cap != a[0]) c++;
            if (c == sizeof known_caps / sizeof known_caps[0]) {
                st = mkv_fail(err, MKV_ERR_FORMAT, "shader %s: SPIR-V capability %u: not one mekivk knows how to enable "
                              "(runtime/pipeline.c, known_caps)", name, a[0]);
                goto out;
            }
            info->needs |= known_caps[c].need;
        } else if ((op == OP_TYPE_INT || op == OP_TYPE_FLOAT) && a[0] < bound) size[a[0]] = a[1] / 8;
        else if (op == OP_TYPE_VECTOR && a[0] < bound && a[1] < bound) size[a[0]] = size[a[1]] * a[2];
        else if (op == OP_TYPE_STRUCT && a[0] < bound) is_struct[a[0]] = 1;
        else if (op == OP_TYPE_POINTER && a[0] < bound) target[a[0]] = a[2];
        else if (op == OP_TYPE_IMAGE && wc >= 9 && a[0] < bound) is_texel[a[0]] = a[2] == DIM_BUFFER && a[6] == 1;
        else if (op == OP_TYPE_SAMPLED_IMAGE && a[0] < bound && a[1] < bound) is_texel[a[0]] = is_texel[a[1]];
        else if (op == OP_VARIABLE && a[2] == SC_PUSH_CONSTANT && a[0] < bound) push_struct = target[a[0]];
        else if (op == OP_VARIABLE && a[0] < bound && a[1] < bound && binding[a[1]] && is_texel[target[a[0]]] &&
                 binding[a[1]] <= 32)
            info->texel_bindings |= 1u << (binding[a[1]] - 1);
        else if (op == OP_DECORATE && a[1] == DEC_BINDING && a[0] < bound && a[2] < 32) {
            binding[a[0]] = a[2] + 1;
            if (a[2] + 1 > info->n_bindings) info->n_bindings = a[2] + 1;
        }
        i += wc;
    }
    /* Push block size = max over members of offset + member size. */
    for (size_t i = 5; push_struct && i < n;) {
        uint32_t op = code[i] & 0xffffu, wc = code[i] >> 16;
        const uint32_t *a = code + i + 1;
        if (op == OP_MEMBER_DECORATE && a[0] == push_struct && a[2] == DEC_OFFSET) {
            /* find the member's type from the OpTypeStruct */
            for (size_t k = 5; k < n;) {
                uint32_t op2 = code[k] & 0xffffu, wc2 = code[k] >> 16;
                if (op2 == OP_TYPE_STRUCT && code[k + 1] == push_struct && a[1] + 2 < wc2) {
                    uint32_t mt = code[k + 2 + a[1]];
                    uint32_t end = a[3] + (mt < bound ? size[mt] : 0);
                    if (end > info->push_size) info->push_size = end;
                }
                k += wc2;
            }
        }
        i += wc;
    }
out:
    free(size);
    free(target);
    free(is_struct);
    free(binding);
    free(is_texel);
    return st;
}

static void destroy_one(mkv_device *d, mkv_pipeline *p)
{
    if (p->pipeline) d->vk.vkDestroyPipeline(d->dev, p->pipeline, NULL);
    if (p->layout) d->vk.vkDestroyPipelineLayout(d->dev, p->layout, NULL);
    if (p->set_layout) d->vk.vkDestroyDescriptorSetLayout(d->dev, p->set_layout, NULL);
    memset(p, 0, sizeof *p);
}

static mkv_status create_one(mkv_device *d, mkv_pipeline *p, mkv_error *err)
{
    const mkv_kernel_spirv *k = &mkv_kernel_spirv_table[p->kernel];
    mkv_spirv_info info;
    mkv_status st = mkv_spirv_reflect(k->code, *k->size, k->name, &info, err);
    if (st) return st;
    /* a module the device was not created for is refused, not created against the spec */
    const uint32_t missing = info.needs & ~mkv_spv_features(d->coop_nv);
    if (missing)
        return mkv_fail(err, MKV_ERR_UNSUPPORTED, "shader %s: needs %s, which %s was created without", k->name,
                        mkv_spv_need_name(missing & -missing), d->props.deviceName);
    /* a pipeline past the device's shared memory is invalid (a tuning file
     * can ask for one; an H200 lost the device over such an attention) */
    uint64_t shm;
    if ((st = mkv_spirv_shared_bytes(k->code, *k->size, k->name, p->spec, p->n_spec, &shm, err))) return st;
    if (shm > d->props.limits.maxComputeSharedMemorySize) {
        char sp[8 * MKV_MAX_SPEC + 1] = "";
        for (uint32_t i = 0, o = 0; i < p->n_spec && o + 12 < sizeof sp; i++)
            o += (uint32_t)snprintf(sp + o, sizeof sp - o, "%s%u", i ? ", " : "", p->spec[i]);
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "shader %s: %llu bytes of shared memory with specialization constants "
                        "[%s] (0: the workgroup width); %s has %u", k->name, (unsigned long long)shm, sp,
                        d->props.deviceName, d->props.limits.maxComputeSharedMemorySize);
    }
    p->n_bindings = info.n_bindings;
    p->push_size = info.push_size;
    p->texel_bindings = info.texel_bindings;

    VkDescriptorSetLayoutBinding b[16];
    if (info.n_bindings > 16) return mkv_fail(err, MKV_ERR_FORMAT, "shader %s: %u bindings (max 16)", k->name, info.n_bindings);
    for (uint32_t i = 0; i < info.n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i, .descriptorType = mkv_binding_type(p, i),
                                              .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = info.n_bindings, .pBindings = b};
    MKV_VK(d->vk.vkCreateDescriptorSetLayout(d->dev, &li, NULL, &p->set_layout), err);
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = info.push_size};
    VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                      .pSetLayouts = &p->set_layout, .pushConstantRangeCount = info.push_size ? 1u : 0u,
                                      .pPushConstantRanges = &pr};
    MKV_VK(d->vk.vkCreatePipelineLayout(d->dev, &pli, NULL, &p->layout), err);

    VkShaderModule mod;
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = *k->size, .pCode = k->code};
    MKV_VK(d->vk.vkCreateShaderModule(d->dev, &mi, NULL, &mod), err);
    VkSpecializationMapEntry me[MKV_MAX_SPEC];
    for (uint32_t i = 0; i < p->n_spec; i++) me[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = p->n_spec, .pMapEntries = me, .dataSize = 4 * p->n_spec, .pData = p->spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod, .pName = "main", .pSpecializationInfo = &si},
        .layout = p->layout,
    };
    VkResult r = d->vk.vkCreateComputePipelines(d->dev, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipeline);
    d->vk.vkDestroyShaderModule(d->dev, mod, NULL);
    if (r != VK_SUCCESS) return mkv_vk_fail(err, r, k->name);
    return MKV_OK;
}

static mkv_status pipeline_get_locked(mkv_device *d, mkv_kernel_id kernel, const uint32_t *spec, uint32_t n_spec,
                                      const mkv_pipeline **out, mkv_error *err);

/* Sessions may be created from several threads: the cache is looked up
 * and grown under the device's lock (entries never move once made). */
mkv_status mkv_pipeline_get(mkv_device *d, mkv_kernel_id kernel, const uint32_t *spec, uint32_t n_spec,
                            const mkv_pipeline **out, mkv_error *err)
{
    pthread_mutex_lock(&d->lock);
    mkv_status st = pipeline_get_locked(d, kernel, spec, n_spec, out, err);
    pthread_mutex_unlock(&d->lock);
    return st;
}

static mkv_status pipeline_get_locked(mkv_device *d, mkv_kernel_id kernel, const uint32_t *spec, uint32_t n_spec,
                                      const mkv_pipeline **out, mkv_error *err)
{
    if ((unsigned)kernel >= MKV_KERNEL_COUNT || n_spec > MKV_MAX_SPEC)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "pipeline: kernel %d with %u spec constants", (int)kernel, n_spec);
    for (uint32_t i = 0; i < d->n_pipelines; i++) {
        const mkv_pipeline *p = d->pipelines[i];
        if (p->kernel == kernel && p->n_spec == n_spec && memcmp(p->spec, spec, 4 * n_spec) == 0) {
            *out = p;
            return MKV_OK;
        }
    }
    if (d->n_pipelines == d->cap_pipelines) {
        uint32_t cap = d->cap_pipelines ? 2 * d->cap_pipelines : 64;
        mkv_pipeline **grown = mkv_realloc(d->pipelines, cap * sizeof *grown);
        if (!grown) return mkv_fail(err, MKV_ERR_NO_MEMORY, "pipeline cache: out of memory (%u entries)", cap);
        d->pipelines = grown;
        d->cap_pipelines = cap;
    }
    mkv_pipeline *p = mkv_calloc(1, sizeof *p);
    if (!p) return mkv_fail(err, MKV_ERR_NO_MEMORY, "pipeline cache: out of memory");
    p->kernel = kernel;
    p->n_spec = n_spec;
    memcpy(p->spec, spec, 4 * n_spec);
    mkv_status st = create_one(d, p, err);
    if (st) {
        destroy_one(d, p);
        free(p);
        return st;
    }
    d->pipelines[d->n_pipelines++] = p;
    *out = p;
    return MKV_OK;
}

void mkv_pipelines_destroy(mkv_device *d)
{
    for (uint32_t i = 0; i < d->n_pipelines; i++) {
        destroy_one(d, d->pipelines[i]);
        free(d->pipelines[i]);
    }
    free(d->pipelines);
    d->pipelines = NULL;
    d->n_pipelines = d->cap_pipelines = 0;
}
