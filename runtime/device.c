/* Vulkan instance and device: choice, features, validation messages. */
#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

const char *mkv_vk_result_name(VkResult r)
{
    switch (r) {
#define C(x) case x: return #x
        C(VK_SUCCESS); C(VK_NOT_READY); C(VK_TIMEOUT); C(VK_INCOMPLETE);
        C(VK_ERROR_OUT_OF_HOST_MEMORY); C(VK_ERROR_OUT_OF_DEVICE_MEMORY);
        C(VK_ERROR_INITIALIZATION_FAILED); C(VK_ERROR_DEVICE_LOST);
        C(VK_ERROR_MEMORY_MAP_FAILED); C(VK_ERROR_LAYER_NOT_PRESENT);
        C(VK_ERROR_EXTENSION_NOT_PRESENT); C(VK_ERROR_FEATURE_NOT_PRESENT);
        C(VK_ERROR_INCOMPATIBLE_DRIVER); C(VK_ERROR_TOO_MANY_OBJECTS);
        C(VK_ERROR_FORMAT_NOT_SUPPORTED); C(VK_ERROR_FRAGMENTED_POOL);
        C(VK_ERROR_OUT_OF_POOL_MEMORY); C(VK_ERROR_INVALID_SHADER_NV);
#undef C
    default: return "VK_ERROR_(unknown)";
    }
}

mkv_status mkv_vk_fail(mkv_error *err, VkResult r, const char *what)
{
    mkv_status st = (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
                        ? MKV_ERR_NO_MEMORY : MKV_ERR_VULKAN;
    return mkv_fail(err, st, "Vulkan: %s returned %s (%d)", what, mkv_vk_result_name(r), (int)r);
}

void mkv_device_opts_default(mkv_device_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->index = -1;
    const char *v = getenv("MKV_VALIDATION");
    opts->validation = v && strcmp(v, "1") == 0;
}

/* Every validation warning or error is counted; tests fail on any. */
static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                       VkDebugUtilsMessageTypeFlagsEXT type,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                       void *user)
{
    mkv_device *d = user;
    if (sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        atomic_fetch_add(&d->validation_count, 1);
        if (!d->quiet)
            fprintf(stderr, "mekivk: validation %s: %s\n",
                    (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning",
                    data->pMessage ? data->pMessage : "(no message)");
    }
    (void)type;
    return VK_FALSE;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(p[i].layerName, name) == 0) found = true;
    free(p);
    return found;
}

static mkv_status create_instance(mkv_device *d, bool validation, mkv_error *err)
{
    VkResult r = volkInitialize();
    if (r != VK_SUCCESS)
        return mkv_fail(err, MKV_ERR_NO_DEVICE, "Vulkan loader not found (libvulkan.so.1): %s",
                        mkv_vk_result_name(r));
    if (validation && !has_layer(VALIDATION_LAYER))
        return mkv_fail(err, MKV_ERR_NO_DEVICE,
                        "validation requested but layer %s is not installed "
                        "(Debian: vulkan-validationlayers)", VALIDATION_LAYER);
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "mekivk",
        .pEngineName = "mekivk",
        .apiVersion = VK_API_VERSION_1_2,
    };
    const char *layers[] = {VALIDATION_LAYER};
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
        .enabledLayerCount = validation ? 1u : 0u,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = validation ? 1u : 0u,
        .ppEnabledExtensionNames = exts,
    };
    MKV_VK(vkCreateInstance(&ci, NULL, &d->instance), err);
    volkLoadInstanceOnly(d->instance);
    if (validation) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_debug_message,
            .pUserData = d,
        };
        MKV_VK(vkCreateDebugUtilsMessengerEXT(d->instance, &mi, NULL, &d->messenger), err);
    }
    return MKV_OK;
}

/* Preference when nothing is named: a real GPU before a CPU driver. */
static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static bool find_compute_queue(VkPhysicalDevice pd, uint32_t *family, uint32_t *ts_bits)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties q[16];
    if (n > 16) n = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    for (uint32_t i = 0; i < n; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            *family = i;
            *ts_bits = q[i].timestampValidBits;
            return true;
        }
    return false;
}

typedef struct device_caps {
    VkPhysicalDeviceProperties props;
    char driver[512];
    uint32_t subgroup_size;
    bool fp16_arith, storage16, storage8, timestamps, uma;
    bool subgroup_arith;  /* subgroupAdd in compute shaders (matvec needs it) */
    uint64_t max_storage_range;
    uint64_t max_texel_elements;
} device_caps;

static void query_caps(VkPhysicalDevice pd, device_caps *c)
{
    memset(c, 0, sizeof *c);
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    c->props = p2.properties;
    snprintf(c->driver, sizeof c->driver, "%.200s %.200s", drv.driverName, drv.driverInfo);
    c->subgroup_size = sg.subgroupSize;
    c->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    c->max_storage_range = p2.properties.limits.maxStorageBufferRange;
    /* Texel reads need RGBA32UI uniform texel buffers (mandatory in the
     * spec; checked all the same). */
    VkFormatProperties fu;
    vkGetPhysicalDeviceFormatProperties(pd, VK_FORMAT_R32G32B32A32_UINT, &fu);
    if (fu.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT)
        c->max_texel_elements = p2.properties.limits.maxTexelBufferElements;

    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    c->fp16_arith = f12.shaderFloat16;
    c->storage16 = f11.storageBuffer16BitAccess;
    c->storage8 = f12.storageBuffer8BitAccess;

    uint32_t fam, ts_bits = 0;
    c->timestamps = find_compute_queue(pd, &fam, &ts_bits) && ts_bits > 0 &&
                    p2.properties.limits.timestampComputeAndGraphics;

    /* Unified memory: every device-local heap type is also host-visible. */
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    c->uma = true;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && !(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) c->uma = false;
    }
}

static const char *type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

/* Lists physical devices into a caller array (at most cap). */
static mkv_status enum_devices(VkInstance inst, VkPhysicalDevice *pds, uint32_t cap, uint32_t *n,
                               mkv_error *err)
{
    *n = cap;
    VkResult r = vkEnumeratePhysicalDevices(inst, n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return mkv_vk_fail(err, r, "vkEnumeratePhysicalDevices");
    if (*n == 0) return mkv_fail(err, MKV_ERR_NO_DEVICE, "no Vulkan device found (is a driver installed? lavapipe: mesa-vulkan-drivers)");
    return MKV_OK;
}

mkv_status mkv_devices_print(void *out_file, mkv_error *err)
{
    FILE *out = out_file;
    mkv_device tmp = {0};
    mkv_status st = create_instance(&tmp, false, err);
    if (st) return st;
    VkPhysicalDevice pds[16];
    uint32_t n;
    st = enum_devices(tmp.instance, pds, 16, &n, err);
    for (uint32_t i = 0; st == MKV_OK && i < n; i++) {
        device_caps c;
        query_caps(pds[i], &c);
        VkPhysicalDeviceMemoryProperties mp;
        vkGetPhysicalDeviceMemoryProperties(pds[i], &mp);
        fprintf(out, "[%u] %s (%s), Vulkan %u.%u.%u\n", i, c.props.deviceName, type_name(c.props.deviceType),
                VK_API_VERSION_MAJOR(c.props.apiVersion), VK_API_VERSION_MINOR(c.props.apiVersion),
                VK_API_VERSION_PATCH(c.props.apiVersion));
        fprintf(out, "    driver: %s\n", c.driver);
        fprintf(out, "    fp16 arithmetic: %s, 16-bit storage: %s, 8-bit storage: %s\n",
                c.fp16_arith ? "yes" : "no", c.storage16 ? "yes" : "no", c.storage8 ? "yes" : "no");
        fprintf(out, "    subgroup size: %u (arithmetic: %s), timestamps: %s, unified memory: %s\n", c.subgroup_size,
                c.subgroup_arith ? "yes" : "no", c.timestamps ? "yes" : "no", c.uma ? "yes" : "no");
        fprintf(out, "    max storage buffer range: %llu MiB, shared memory: %u KiB\n",
                (unsigned long long)(c.max_storage_range >> 20),
                c.props.limits.maxComputeSharedMemorySize / 1024);
        for (uint32_t t = 0; t < mp.memoryTypeCount; t++) {
            VkMemoryPropertyFlags f = mp.memoryTypes[t].propertyFlags;
            fprintf(out, "    memory type %u: heap %u (%llu MiB)%s%s%s%s\n", t, mp.memoryTypes[t].heapIndex,
                    (unsigned long long)(mp.memoryHeaps[mp.memoryTypes[t].heapIndex].size >> 20),
                    (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) ? " device-local" : "",
                    (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) ? " host-visible" : "",
                    (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) ? " coherent" : "",
                    (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? " cached" : "");
        }
    }
    vkDestroyInstance(tmp.instance, NULL);
    return st;
}

/* Index from opts, else name from opts, else MKV_DEVICE (index or name),
 * else the best-ranked type. */
static mkv_status choose_device(const mkv_device_opts *opts, VkPhysicalDevice *pds, uint32_t n,
                                uint32_t *chosen, mkv_error *err)
{
    int index = opts->index;
    const char *name = opts->name;
    const char *env = getenv("MKV_DEVICE");
    if (index < 0 && !name && env && *env) {
        /* digits only: an index (in range, or refused); anything else: a name */
        bool digits = true;
        long long v = 0;
        for (const char *p = env; *p; p++) {
            if (*p < '0' || *p > '9') digits = false;
            else if (v <= INT32_MAX) v = v * 10 + (*p - '0');
        }
        if (digits && v > INT32_MAX)
            return mkv_fail(err, MKV_ERR_NO_DEVICE, "MKV_DEVICE = %s: not a device index (0..%d) nor a name", env, INT32_MAX);
        if (digits) index = (int)v;
        else name = env;
    }
    if (index >= 0) {
        if ((uint32_t)index >= n)
            return mkv_fail(err, MKV_ERR_NO_DEVICE, "device index = %d: only %u Vulkan device(s) (see `mekivk devices`)", index, n);
        *chosen = (uint32_t)index;
        return MKV_OK;
    }
    int best = -1, best_rank = 99;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (name) {
            if (strstr(p.deviceName, name)) { best = (int)i; break; }
            continue;
        }
        if (type_rank(p.deviceType) < best_rank) { best_rank = type_rank(p.deviceType); best = (int)i; }
    }
    if (best < 0)
        return mkv_fail(err, MKV_ERR_NO_DEVICE, "device name = \"%s\": no Vulkan device matches (see `mekivk devices`)", name ? name : "");
    *chosen = (uint32_t)best;
    return MKV_OK;
}

mkv_status mkv_device_create(const mkv_device_opts *opts, mkv_device **out, mkv_error *err)
{
    *out = NULL;
    mkv_device_opts def;
    if (!opts) { mkv_device_opts_default(&def); opts = &def; }
    mkv_device *d = calloc(1, sizeof *d);
    if (!d) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    d->quiet = opts->quiet;
    atomic_init(&d->validation_count, 0);
    pthread_mutexattr_t ma;
    if (pthread_mutexattr_init(&ma) || pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE) ||
        pthread_mutex_init(&d->lock, &ma)) {
        free(d);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "device: cannot create its lock");
    }
    pthread_mutexattr_destroy(&ma);
    d->lock_ok = true;

    mkv_status st = create_instance(d, opts->validation, err);
    VkPhysicalDevice pds[16];
    uint32_t n = 0, idx = 0;
    if (!st) st = enum_devices(d->instance, pds, 16, &n, err);
    if (!st) st = choose_device(opts, pds, n, &idx, err);
    if (st) goto fail;
    d->phys = pds[idx];

    device_caps c;
    query_caps(d->phys, &c);
    d->props = c.props;
    memcpy(d->driver, c.driver, sizeof d->driver);
    d->subgroup_size = c.subgroup_size ? c.subgroup_size : 1;
    d->fp16_arith = c.fp16_arith;
    d->storage16 = c.storage16;
    d->storage8 = c.storage8;
    d->timestamps = c.timestamps;
    d->uma = c.uma;
    d->max_storage_range = c.max_storage_range;
    d->max_texel_elements = c.max_texel_elements;
    d->timestamp_period_ns = c.props.limits.timestampPeriod;
    vkGetPhysicalDeviceMemoryProperties(d->phys, &d->mem_props);
    if (VK_API_VERSION_MINOR(c.props.apiVersion) < 2 && VK_API_VERSION_MAJOR(c.props.apiVersion) == 1) {
        st = mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: Vulkan %u.%u: mekivk needs Vulkan 1.2", c.props.deviceName,
                      VK_API_VERSION_MAJOR(c.props.apiVersion), VK_API_VERSION_MINOR(c.props.apiVersion));
        goto fail;
    }

    if (!c.subgroup_arith) {
        st = mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: subgroup arithmetic in compute shaders is not supported (mekivk needs it)",
                      c.props.deviceName);
        goto fail;
    }
    uint32_t ts_bits;
    if (!find_compute_queue(d->phys, &d->queue_family, &ts_bits)) {
        st = mkv_fail(err, MKV_ERR_NO_DEVICE, "%s: no compute queue", c.props.deviceName);
        goto fail;
    }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    };
    VkDeviceCreateInfo di = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &f12,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qi,
    };
    VkResult r = vkCreateDevice(d->phys, &di, NULL, &d->dev);
    if (r != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkCreateDevice"); goto fail; }
    volkLoadDevice(d->dev);
    vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = d->queue_family,
    };
    r = vkCreateCommandPool(d->dev, &pi, NULL, &d->cmd_pool);
    if (r != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkCreateCommandPool"); goto fail; }
    *out = d;
    return MKV_OK;
fail:
    mkv_device_destroy(d);
    return st;
}

void mkv_device_destroy(mkv_device *d)
{
    if (!d) return;
    if (d->dev) {
        vkDeviceWaitIdle(d->dev);
        mkv_pipelines_destroy(d);
        if (d->cmd_pool) vkDestroyCommandPool(d->dev, d->cmd_pool, NULL);
        vkDestroyDevice(d->dev, NULL);
    }
    if (d->messenger) vkDestroyDebugUtilsMessengerEXT(d->instance, d->messenger, NULL);
    if (d->instance) vkDestroyInstance(d->instance, NULL);
    if (d->lock_ok) pthread_mutex_destroy(&d->lock);
    free(d);
}

bool mkv_device_is_cpu(const mkv_device *d) { return d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }

const char *mkv_device_name(const mkv_device *d) { return d->props.deviceName; }
const char *mkv_device_driver(const mkv_device *d) { return d->driver; }
uint32_t mkv_device_validation_count(const mkv_device *d) { return atomic_load(&d->validation_count); }

mkv_status mkv_device_submit(mkv_device *d, const VkSubmitInfo *si, VkFence fence, mkv_error *err)
{
    pthread_mutex_lock(&d->lock);
    VkResult r = vkQueueSubmit(d->queue, 1, si, fence);
    pthread_mutex_unlock(&d->lock);
    return r == VK_SUCCESS ? MKV_OK : mkv_vk_fail(err, r, "vkQueueSubmit");
}

static mkv_status submit_once_locked(mkv_device *d, mkv_record_fn record, void *user, mkv_error *err);

mkv_status mkv_device_submit_once(mkv_device *d, mkv_record_fn record, void *user, mkv_error *err)
{
    pthread_mutex_lock(&d->lock);
    mkv_status st = submit_once_locked(d, record, user, err);
    pthread_mutex_unlock(&d->lock);
    return st;
}

static mkv_status submit_once_locked(mkv_device *d, mkv_record_fn record, void *user, mkv_error *err)
{
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    mkv_status st = MKV_OK;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = d->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkResult r = vkAllocateCommandBuffers(d->dev, &ai, &cb);
    if (r != VK_SUCCESS) return mkv_vk_fail(err, r, "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkBeginCommandBuffer(cb, &bi)) != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkBeginCommandBuffer"); goto out; }
    record(cb, user);
    if ((r = vkEndCommandBuffer(cb)) != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkEndCommandBuffer"); goto out; }
    if ((r = vkCreateFence(d->dev, &fi, NULL, &fence)) != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkCreateFence"); goto out; }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    if ((st = mkv_device_submit(d, &si, fence, err))) goto out;
    if ((r = vkWaitForFences(d->dev, 1, &fence, VK_TRUE, UINT64_MAX)) != VK_SUCCESS) st = mkv_vk_fail(err, r, "vkWaitForFences");
out:
    if (fence) vkDestroyFence(d->dev, fence, NULL);
    vkFreeCommandBuffers(d->dev, d->cmd_pool, 1, &cb);
    return st;
}
