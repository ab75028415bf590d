/* The Vulkan device: instance, chosen physical device, queue, features the
 * engine uses, the validation messenger, and the pipeline cache. */
#ifndef MKV_DEVICE_H
#define MKV_DEVICE_H

#include <stdatomic.h>
#include <volk.h>

#include "error.h"
#include "kernel_table.h"

typedef struct mkv_pipeline {
    mkv_kernel_id kernel;
    uint32_t spec[4];            /* specialization constants 0..3 */
    uint32_t n_spec;
    uint32_t n_bindings;         /* reflected from the SPIR-V */
    uint32_t texel_bindings;     /* bit i: binding i is a uniform texel buffer (reflected) */
    uint32_t push_size;          /* reflected from the SPIR-V */
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
} mkv_pipeline;

struct mkv_device {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool cmd_pool;

    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    char driver[512];
    uint32_t subgroup_size;
    bool fp16_arith, storage16, storage8, timestamps, uma;
    float timestamp_period_ns;
    uint64_t max_storage_range;   /* bytes one storage-buffer binding may cover */
    /* Texel-buffer reads (buffers viewed as RGBA32UI uniform texel
     * buffers): the texels one view may cover; 0 when the format lacks
     * uniform-texel-buffer support. */
    uint64_t max_texel_elements;

    bool quiet;
    atomic_uint validation_count;

    mkv_pipeline **pipelines;    /* cache, grown as kernels are first used (entries never move) */
    uint32_t n_pipelines, cap_pipelines;
};

/* Turns a failed VkResult into MKV_ERR_VULKAN with the call's name. */
mkv_status mkv_vk_fail(mkv_error *err, VkResult r, const char *what);
#define MKV_VK(call, err)                                      \
    do {                                                       \
        VkResult vk_r_ = (call);                               \
        if (vk_r_ != VK_SUCCESS) return mkv_vk_fail(err, vk_r_, #call); \
    } while (0)

const char *mkv_vk_result_name(VkResult r);

/* Runs a one-off command buffer recorded by `record` and waits for it. */
typedef void (*mkv_record_fn)(VkCommandBuffer cb, void *user);
mkv_status mkv_device_submit_once(mkv_device *d, mkv_record_fn record, void *user, mkv_error *err);

#endif
