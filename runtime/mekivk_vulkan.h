/* mekivk on the host's own Vulkan device.
 *
 * mekivk.h alone creates its own instance and device. A program that
 * already has a Vulkan device (a game engine, an app's renderer, another
 * inference framework) hands its handles over instead, and mekivk runs its
 * sessions on the host's queue beside the host's own work:
 *
 *     mkv_device_requirements req;
 *     mkv_device_requirements_get(&req);     // before creating the device:
 *     // instance and device at req.api_version or above, a queue whose
 *     // family has req.queue_flags, the extensions of req.extensions
 *     ...host creates VkInstance, picks VkPhysicalDevice, creates VkDevice...
 *     mkv_error err;
 *     if (mkv_device_check(vkGetInstanceProcAddr, inst, phys, family, &err))
 *         ...this device cannot run mekivk: err.msg says why...
 *     mkv_vulkan_context ctx = {
 *         .get_instance_proc_addr = vkGetInstanceProcAddr,
 *         .instance = inst, .physical_device = phys, .device = dev,
 *         .queue_family = family, .queue = queue,
 *         .lock_queue = my_lock, .unlock_queue = my_unlock, .lock_user = &my_mutex,
 *     };
 *     mkv_device *mdev;
 *     mkv_device_create_vulkan(&ctx, NULL, &mdev, &err);
 *     ...mkv_model_load(mdev, ...), mkv_session_create, mkv_session_step...
 *     ...the host submits its own work to `queue` between steps (under its lock)...
 *     mkv_device_destroy(mdev);   // the host's instance, device and queue live on
 *
 * What mekivk does with the host's handles:
 * - It loads its own table of Vulkan functions through the given
 *   vkGetInstanceProcAddr (and the device's vkGetDeviceProcAddr). It sets
 *   no global function pointer and exports no Vulkan symbol.
 * - It creates its own command pools, buffers, memory, pipelines, fences
 *   and query pools on the device, and destroys them all by
 *   mkv_device_destroy. It never destroys the instance, the device or the
 *   queue, and never calls vkDeviceWaitIdle or vkQueueWaitIdle: it waits
 *   only on its own fences.
 * - Vulkan queues are externally synchronized: mekivk calls lock_queue
 *   before and unlock_queue after each of its vkQueueSubmit calls on the
 *   queue (from the thread that steps a session, or that loads a model).
 *   The host takes the same lock around its own submissions to that queue.
 *   Without callbacks, the host must not submit to the queue while any
 *   mekivk call is running.
 * - The validation layer, when the host enabled it, reports to the host's
 *   messenger: mkv_device_validation_count stays 0 on such a device.
 */
#ifndef MEKIVK_VULKAN_H
#define MEKIVK_VULKAN_H

#include <vulkan/vulkan.h>

#include "mekivk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a device needs before mekivk can run on it. */
typedef struct mkv_device_requirements {
    uint32_t api_version;                       /* the instance's and the physical device's: VK_API_VERSION_1_2 */
    VkQueueFlags queue_flags;                   /* the queue's family has all of these: VK_QUEUE_COMPUTE_BIT */
    VkShaderStageFlags subgroup_stages;         /* VkPhysicalDeviceSubgroupProperties::supportedStages has these */
    VkSubgroupFeatureFlags subgroup_operations; /* ... and supportedOperations has these */
    /* Device extensions that must be enabled at vkCreateDevice (none today). */
    uint32_t n_extensions;
    const char *const *extensions;
    /* Device extensions used when enabled (none today). */
    uint32_t n_optional_extensions;
    const char *const *optional_extensions;
    /* Features: none to enable. The shaders read 32-bit storage buffers
     * and uniform texel buffers and use core subgroup operations only. */
    /* Used when present: timestamps on the queue's family (timestampValidBits
     * > 0), for the stall and per-kernel figures of mkv_session_stats and
     * `bench`. */
    bool uses_timestamps;
} mkv_device_requirements;

void mkv_device_requirements_get(mkv_device_requirements *req);

/* MKV_OK when phys with a queue of queue_family meets the requirements;
 * otherwise MKV_ERR_DEVICE_LIMIT or MKV_ERR_NO_DEVICE with err naming the
 * property that is missing. Creates nothing. */
mkv_status mkv_device_check(PFN_vkGetInstanceProcAddr get_instance_proc_addr, VkInstance instance,
                            VkPhysicalDevice physical_device, uint32_t queue_family, mkv_error *err);

/* The host's handles (all required except the lock callbacks). */
typedef struct mkv_vulkan_context {
    PFN_vkGetInstanceProcAddr get_instance_proc_addr;
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;           /* created from physical_device with the requirements met */
    uint32_t queue_family;
    VkQueue queue;             /* a queue of queue_family on device */
    /* Called around every vkQueueSubmit mekivk makes on queue; both or neither. */
    void (*lock_queue)(void *user);
    void (*unlock_queue)(void *user);
    void *lock_user;
} mkv_vulkan_context;

/* A mekivk device over the host's handles. opts may be NULL; of it only
 * `quiet` applies (index, name and validation are the host's choices). The
 * handles must outlive the returned device. */
mkv_status mkv_device_create_vulkan(const mkv_vulkan_context *ctx, const mkv_device_opts *opts, mkv_device **out,
                                    mkv_error *err);

#ifdef __cplusplus
}
#endif
#endif /* MEKIVK_VULKAN_H */
