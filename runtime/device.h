/* The Vulkan device: instance, chosen physical device, queue, features the
 * engine uses, the validation messenger, and the pipeline cache. */
#ifndef MKV_DEVICE_H
#define MKV_DEVICE_H

#include <pthread.h>
#include <stdatomic.h>

#include "error.h"
#include "kernel_table.h"
#include "tuning.h"
#include "vk_table.h"

#define MKV_MAX_SPEC 9u /* specialization constants a pipeline may set */

/* The optional device features a kernel's SPIR-V may need, one bit each,
 * from the capabilities it declares (pipeline.c, mkv_spirv_reflect):
 * Float16 needs shaderFloat16, VulkanMemoryModel needs vulkanMemoryModel
 * (with vulkanMemoryModelDeviceScope: once the model is on, every shader's
 * device-scope atomics need it), CooperativeMatrixNV needs
 * VK_NV_cooperative_matrix. Every other capability a kernel declares is
 * core Vulkan 1.2 plus what mkv_device_requirements_get asks of every
 * device; one mekivk does not know is refused. */
enum {
    MKV_SPV_NEED_FLOAT16 = 1u << 0,
    MKV_SPV_NEED_MEMORY_MODEL = 1u << 1,
    MKV_SPV_NEED_COOP_NV = 1u << 2,
};
/* What a device with cooperative matrices is created with (device.c), so
 * that mm_cm.comp can run: tests/test_kernels.c checks that the mm_cm
 * kernels need no more. */
#define MKV_SPV_COOP_FEATURES (MKV_SPV_NEED_FLOAT16 | MKV_SPV_NEED_MEMORY_MODEL | MKV_SPV_NEED_COOP_NV)
/* The optional features a device is created with (MKV_SPV_NEED_* bits):
 * those of cooperative matrices where it has them (mkv_device.coop_nv),
 * else none. vkCreateDevice enables these and pipeline.c refuses a kernel
 * that needs more. */
static inline uint32_t mkv_spv_features(bool coop_nv) { return coop_nv ? MKV_SPV_COOP_FEATURES : 0u; }

typedef struct mkv_pipeline {
    mkv_kernel_id kernel;
    uint32_t spec[MKV_MAX_SPEC]; /* specialization constants 0 .. n_spec - 1 */
    uint32_t n_spec;
    uint32_t n_bindings;         /* reflected from the SPIR-V */
    uint32_t texel_bindings;     /* bit i: binding i is a uniform texel buffer (reflected) */
    uint32_t push_size;          /* reflected from the SPIR-V */
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
} mkv_pipeline;

struct mkv_device {
    mkv_vk_table vk;             /* every Vulkan call goes through this (vk_table.h) */
    void *loader;                /* dlopen handle of libvulkan.so.1; NULL when the host gave vkGetInstanceProcAddr */
    /* Handed over by the host (mkv_device_create_vulkan): instance, device
     * and queue are the host's, never destroyed or waited on here. */
    bool external;
    /* The host's lock around its queue (external devices; may be NULL):
     * held around every vkQueueSubmit, inside `lock`. */
    void (*lock_queue)(void *user);
    void (*unlock_queue)(void *user);
    void *lock_user;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool cmd_pool;      /* one-off submissions only (mkv_device_submit_once); sessions have their own */
    /* Vulkan leaves the queue and a command pool to the application to
     * synchronize: every vkQueueSubmit (mkv_device_submit), every use of
     * cmd_pool and the pipeline cache's growth hold this lock (recursive:
     * a one-off recording may create a pipeline). */
    pthread_mutex_t lock;
    bool lock_ok;

    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    char driver[512];
    uint32_t driver_id;           /* VkDriverId */
    uint32_t subgroup_size;
    bool fp16_arith, storage16, storage8, timestamps, uma;
    float timestamp_period_ns;
    uint64_t max_storage_range;   /* bytes one storage-buffer binding may cover */
    /* Texel-buffer reads (buffers viewed as RGBA32UI uniform texel
     * buffers): the texels one view may cover; 0 when the format lacks
     * uniform-texel-buffer support. */
    uint64_t max_texel_elements;
    /* mm_cm.comp can run: VK_NV_cooperative_matrix with a 16 x 16 x 16
     * f16 -> f32 shape, enabled at vkCreateDevice with the features
     * MKV_SPV_COOP_FEATURES names (devices mekivk creates; false on a host's) */
    bool coop_nv;
    /* Tests only (tests/test_prefill.c): where the tunables ask for
     * cooperative matrices on a device without them, run the products as
     * mm_cm_emu, the lanes doing the matrix steps, so that a whole model's
     * prefill rounds as one with them does (only the f32 sums' order
     * differs). Never set by the library. */
    bool coop_emulate;

    /* The kernel tunables every recording uses (tunables.h), and where
     * they come from (mkv_device_info): "table" with the row's name, or
     * "file" with its path (tuning.c). */
    mkv_tunables tune;
    const char *tuning_source, *tuning_row;
    char *tuning_path;           /* owned copy of the file's path */

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

/* What the tuning table keys on, for this device. */
mkv_tuning_key mkv_device_tuning_key(const mkv_device *d);

/* vkQueueSubmit on the device's queue under its lock (and the host's
 * queue lock, when it gave one). */
mkv_status mkv_device_submit(mkv_device *d, const VkSubmitInfo *si, VkFence fence, mkv_error *err);

/* Runs a one-off command buffer recorded by `record` and waits for it
 * (holding the device's lock throughout: safe from any thread). */
typedef void (*mkv_record_fn)(const mkv_device *d, VkCommandBuffer cb, void *user);
mkv_status mkv_device_submit_once(mkv_device *d, mkv_record_fn record, void *user, mkv_error *err);

#endif
