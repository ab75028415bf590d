/* The Vulkan functions the engine calls, held per device.
 *
 * Every Vulkan call in the engine goes through a table in its mkv_device
 * (`d->vk.vkCmdDispatch(...)`), loaded from the vkGetInstanceProcAddr it
 * was given: the host's when it hands over its own device
 * (mekivk_vulkan.h), else the loader's (libvulkan.so.1, opened here).
 * Nothing is a process global, so a host that links the Vulkan loader or
 * its own volk sees none of its symbols replaced. (volk, which the engine
 * used before, keeps its pointers in globals; Debian 12's volk 1.3.239 has
 * no option to rename them.)
 *
 * To call a new function: add it to one of the lists below. */
#ifndef MKV_VK_TABLE_H
#define MKV_VK_TABLE_H

#include <stdbool.h>

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include "error.h"

/* Loaded with vkGetInstanceProcAddr(NULL, ...): before an instance exists. */
#define MKV_VK_GLOBAL_FNS(X) \
    X(vkCreateInstance) \
    X(vkEnumerateInstanceLayerProperties)

/* Loaded with vkGetInstanceProcAddr(instance, ...). */
#define MKV_VK_INSTANCE_FNS(X) \
    X(vkDestroyInstance) \
    X(vkEnumeratePhysicalDevices) \
    X(vkGetPhysicalDeviceProperties) \
    X(vkGetPhysicalDeviceProperties2) \
    X(vkGetPhysicalDeviceFeatures2) \
    X(vkGetPhysicalDeviceFormatProperties) \
    X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkGetPhysicalDeviceQueueFamilyProperties) \
    X(vkCreateDevice) \
    X(vkGetDeviceProcAddr) \
    X(vkEnumerateDeviceExtensionProperties)

/* Optional instance functions of device extensions: NULL where the
 * instance lacks them (query_caps checks before use). */
#define MKV_VK_OPTIONAL_INSTANCE_FNS(X) \
    X(vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)

/* VK_EXT_debug_utils: loaded only when the engine made the instance with
 * the validation layer (NULL otherwise). */
#define MKV_VK_DEBUG_FNS(X) \
    X(vkCreateDebugUtilsMessengerEXT) \
    X(vkDestroyDebugUtilsMessengerEXT)

/* Loaded with vkGetDeviceProcAddr(device, ...). */
#define MKV_VK_DEVICE_FNS(X) \
    X(vkDestroyDevice) X(vkDeviceWaitIdle) X(vkGetDeviceQueue) X(vkQueueSubmit) \
    X(vkCreateCommandPool) X(vkDestroyCommandPool) \
    X(vkAllocateCommandBuffers) X(vkFreeCommandBuffers) \
    X(vkBeginCommandBuffer) X(vkEndCommandBuffer) \
    X(vkCreateFence) X(vkDestroyFence) X(vkResetFences) X(vkWaitForFences) X(vkGetFenceStatus) \
    X(vkCreateBuffer) X(vkDestroyBuffer) X(vkCreateBufferView) X(vkDestroyBufferView) \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) \
    X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory) \
    X(vkCreateShaderModule) X(vkDestroyShaderModule) \
    X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) \
    X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) \
    X(vkCreateComputePipelines) X(vkDestroyPipeline) \
    X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) \
    X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) \
    X(vkCreateQueryPool) X(vkDestroyQueryPool) X(vkGetQueryPoolResults) \
    X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch) \
    X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdFillBuffer) \
    X(vkCmdResetQueryPool) X(vkCmdWriteTimestamp)

#define MKV_VK_FIELD_(name) PFN_##name name;
typedef struct mkv_vk_table {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    MKV_VK_GLOBAL_FNS(MKV_VK_FIELD_)
    MKV_VK_INSTANCE_FNS(MKV_VK_FIELD_)
    MKV_VK_OPTIONAL_INSTANCE_FNS(MKV_VK_FIELD_)
    MKV_VK_DEBUG_FNS(MKV_VK_FIELD_)
    MKV_VK_DEVICE_FNS(MKV_VK_FIELD_)
} mkv_vk_table;
#undef MKV_VK_FIELD_

/* Opens the Vulkan loader (libvulkan.so.1) and returns its
 * vkGetInstanceProcAddr; *handle is for mkv_vk_close_loader. */
mkv_status mkv_vk_open_loader(void **handle, PFN_vkGetInstanceProcAddr *gipa, mkv_error *err);
void mkv_vk_close_loader(void *handle);

/* Each fills its part of t; a missing function is MKV_ERR_NO_DEVICE naming it. */
mkv_status mkv_vk_load_global(mkv_vk_table *t, PFN_vkGetInstanceProcAddr gipa, mkv_error *err);
mkv_status mkv_vk_load_instance(mkv_vk_table *t, VkInstance instance, bool debug_utils, mkv_error *err);
mkv_status mkv_vk_load_device(mkv_vk_table *t, VkDevice device, mkv_error *err);

#endif
