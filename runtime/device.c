/* Vulkan instance and device: choice, features, validation messages. */
#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "mekivk_vulkan.h"
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

/* Whether the instance layer is installed: MKV_OK and *found, or
 * MKV_ERR_NO_MEMORY (not to be taken for "not installed"). */
static mkv_status has_layer(const mkv_vk_table *vk, const char *name, bool *found, mkv_error *err)
{
    uint32_t n = 0;
    *found = false;
    if (vk->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return MKV_OK;
    VkLayerProperties *p = mkv_calloc(n, sizeof *p);
    if (!p) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory listing %u instance layers", n);
    if (vk->vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(p[i].layerName, name) == 0) *found = true;
    free(p);
    return MKV_OK;
}

static mkv_status create_instance(mkv_device *d, bool validation, mkv_error *err)
{
    PFN_vkGetInstanceProcAddr gipa;
    mkv_status st = mkv_vk_open_loader(&d->loader, &gipa, err);
    if (!st) st = mkv_vk_load_global(&d->vk, gipa, err);
    if (st) return st;
    bool layer = false;
    if (validation && (st = has_layer(&d->vk, VALIDATION_LAYER, &layer, err))) return st;
    if (validation && !layer)
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
    MKV_VK(d->vk.vkCreateInstance(&ci, NULL, &d->instance), err);
    if ((st = mkv_vk_load_instance(&d->vk, d->instance, validation, err))) return st;
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
        MKV_VK(d->vk.vkCreateDebugUtilsMessengerEXT(d->instance, &mi, NULL, &d->messenger), err);
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

/* The queue families of pd (at most 16). */
static uint32_t queue_families(const mkv_vk_table *vk, VkPhysicalDevice pd, VkQueueFamilyProperties q[16])
{
    uint32_t n = 0;
    vk->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    if (n > 16) n = 16;
    vk->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    return n;
}

static bool find_compute_queue(const mkv_vk_table *vk, VkPhysicalDevice pd, uint32_t *family, uint32_t *ts_bits)
{
    VkQueueFamilyProperties q[16];
    uint32_t n = queue_families(vk, pd, q);
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
    uint32_t driver_id;
    uint32_t subgroup_size;
    bool fp16_arith, storage16, storage8, timestamps, uma;
    bool subgroup_arith;  /* subgroupAdd in compute shaders (norms, attention) */
    bool subgroup_shuffle; /* subgroupShuffleXor in compute shaders (the products' sums: sg_sums.glsl) */
    uint64_t max_storage_range;
    uint64_t max_texel_elements;
    bool coop_nv; /* mm_cm.comp can run: has_coop_matrix */
} device_caps;

static bool has_extension(const mkv_vk_table *vk, VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (vk->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    if (!e) return false;
    VkResult r = vk->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e);
    bool found = false;
    for (uint32_t i = 0; (r == VK_SUCCESS || r == VK_INCOMPLETE) && i < n && !found; i++)
        found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

/* Cooperative matrices for mm_cm.comp: VK_NV_cooperative_matrix in compute
 * shaders with a subgroup-scope 16 x 16 x 16 shape of f16 A and B and f32
 * C and result, f16 arithmetic (its tiles in shared memory are float16_t)
 * and the Vulkan memory model (glslang declares the VulkanMemoryModel
 * capability for the GL_KHR_memory_scope_semantics that the NV extension
 * needs), with device scope (once the model is on, every shader's
 * device-scope atomics need it: the probe's, ffn_out's). Both seen by the
 * validation layer on an NVIDIA H200.
 * (VK_KHR_cooperative_matrix needs a glslang newer than Debian 12's:
 * mm_cm.comp says why.) */
static bool has_coop_matrix(const mkv_vk_table *vk, VkPhysicalDevice pd, bool fp16_arith, bool memory_model)
{
    if (!fp16_arith || !memory_model || !vk->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV ||
        !has_extension(vk, pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME))
        return false;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cf = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &cf};
    vk->vkGetPhysicalDeviceFeatures2(pd, &f2);
    VkPhysicalDeviceCooperativeMatrixPropertiesNV cp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &cp};
    vk->vkGetPhysicalDeviceProperties2(pd, &p2);
    if (!cf.cooperativeMatrix || !(cp.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT)) return false;
    VkCooperativeMatrixPropertiesNV m[64];
    uint32_t n = sizeof m / sizeof m[0];
    for (uint32_t i = 0; i < n; i++) m[i] = (VkCooperativeMatrixPropertiesNV){.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkResult r = vk->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, m);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return false;
    for (uint32_t i = 0; i < n; i++)
        if (m[i].MSize == 16 && m[i].NSize == 16 && m[i].KSize == 16 && m[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
            m[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV && m[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
            m[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV && m[i].scope == VK_SCOPE_SUBGROUP_NV)
            return true;
    return false;
}

static void query_caps(const mkv_vk_table *vk, VkPhysicalDevice pd, device_caps *c)
{
    memset(c, 0, sizeof *c);
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
    vk->vkGetPhysicalDeviceProperties2(pd, &p2);
    c->props = p2.properties;
    snprintf(c->driver, sizeof c->driver, "%.200s %.200s", drv.driverName, drv.driverInfo);
    c->driver_id = (uint32_t)drv.driverID;
    c->subgroup_size = sg.subgroupSize;
    c->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    c->subgroup_shuffle = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    c->max_storage_range = p2.properties.limits.maxStorageBufferRange;
    /* Texel reads need RGBA32UI uniform texel buffers (mandatory in the
     * spec; checked all the same). */
    VkFormatProperties fu;
    vk->vkGetPhysicalDeviceFormatProperties(pd, VK_FORMAT_R32G32B32A32_UINT, &fu);
    if (fu.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT)
        c->max_texel_elements = p2.properties.limits.maxTexelBufferElements;

    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    vk->vkGetPhysicalDeviceFeatures2(pd, &f2);
    c->fp16_arith = f12.shaderFloat16;
    c->storage16 = f11.storageBuffer16BitAccess;
    c->storage8 = f12.storageBuffer8BitAccess;

    c->coop_nv = has_coop_matrix(vk, pd, c->fp16_arith, f12.vulkanMemoryModel && f12.vulkanMemoryModelDeviceScope);

    uint32_t fam, ts_bits = 0;
    c->timestamps = find_compute_queue(vk, pd, &fam, &ts_bits) && ts_bits > 0 &&
                    p2.properties.limits.timestampComputeAndGraphics;

    /* Unified memory: every device-local heap type is also host-visible. */
    VkPhysicalDeviceMemoryProperties mp;
    vk->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
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
static mkv_status enum_devices(const mkv_device *d, VkPhysicalDevice *pds, uint32_t cap, uint32_t *n,
                               mkv_error *err)
{
    *n = cap;
    VkResult r = d->vk.vkEnumeratePhysicalDevices(d->instance, n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return mkv_vk_fail(err, r, "vkEnumeratePhysicalDevices");
    if (*n == 0) return mkv_fail(err, MKV_ERR_NO_DEVICE, "no Vulkan device found (is a driver installed? lavapipe: mesa-vulkan-drivers)");
    return MKV_OK;
}

static mkv_status check_physical(const mkv_vk_table *vk, VkPhysicalDevice pd, uint32_t family, device_caps *c,
                                 mkv_error *err);

/* What the tuning table keys on (mkv_device_tuning_key for a created
 * device; `mekivk devices` from a device's capabilities alone). */
static mkv_tuning_key tuning_key(const VkPhysicalDeviceProperties *p, uint32_t driver_id, uint32_t subgroup_size,
                                 uint64_t max_texel_elements, bool coop)
{
    const VkPhysicalDeviceLimits *l = &p->limits;
    uint32_t max_wg = l->maxComputeWorkGroupSize[0];
    if (l->maxComputeWorkGroupInvocations < max_wg) max_wg = l->maxComputeWorkGroupInvocations;
    return (mkv_tuning_key){.vendor_id = p->vendorID, .device_name = p->deviceName, .driver_id = driver_id,
                            .subgroup_size = subgroup_size ? subgroup_size : 1,
                            .cpu = p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU, .texel_ok = max_texel_elements > 0,
                            .max_wg = max_wg, .coop_ok = coop};
}

mkv_status mkv_devices_print(void *out_file, mkv_error *err)
{
    FILE *out = out_file;
    mkv_device tmp = {0};
    mkv_status st = create_instance(&tmp, false, err);
    VkPhysicalDevice pds[16];
    uint32_t n;
    if (!st) st = enum_devices(&tmp, pds, 16, &n, err);
    for (uint32_t i = 0; st == MKV_OK && i < n; i++) {
        device_caps c;
        query_caps(&tmp.vk, pds[i], &c);
        VkPhysicalDeviceMemoryProperties mp;
        tmp.vk.vkGetPhysicalDeviceMemoryProperties(pds[i], &mp);
        fprintf(out, "[%u] %s (%s), Vulkan %u.%u.%u\n", i, c.props.deviceName, type_name(c.props.deviceType),
                VK_API_VERSION_MAJOR(c.props.apiVersion), VK_API_VERSION_MINOR(c.props.apiVersion),
                VK_API_VERSION_PATCH(c.props.apiVersion));
        fprintf(out, "    driver: %s\n", c.driver);
        fprintf(out, "    fp16 arithmetic: %s, 16-bit storage: %s, 8-bit storage: %s\n",
                c.fp16_arith ? "yes" : "no", c.storage16 ? "yes" : "no", c.storage8 ? "yes" : "no");
        fprintf(out, "    subgroup size: %u (arithmetic: %s, shuffle: %s), timestamps: %s, unified memory: %s\n",
                c.subgroup_size, c.subgroup_arith ? "yes" : "no", c.subgroup_shuffle ? "yes" : "no",
                c.timestamps ? "yes" : "no", c.uma ? "yes" : "no");
        fprintf(out, "    max storage buffer range: %llu MiB, shared memory: %u KiB\n",
                (unsigned long long)(c.max_storage_range >> 20),
                c.props.limits.maxComputeSharedMemorySize / 1024);
        fprintf(out, "    cooperative matrices (VK_NV_cooperative_matrix, 16x16x16 f16 -> f32): %s\n",
                c.coop_nv ? "yes" : "no");
        for (uint32_t t = 0; t < mp.memoryTypeCount; t++) {
            VkMemoryPropertyFlags f = mp.memoryTypes[t].propertyFlags;
            fprintf(out, "    memory type %u: heap %u (%llu MiB)%s%s%s%s\n", t, mp.memoryTypes[t].heapIndex,
                    (unsigned long long)(mp.memoryHeaps[mp.memoryTypes[t].heapIndex].size >> 20),
                    (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) ? " device-local" : "",
                    (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) ? " host-visible" : "",
                    (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) ? " coherent" : "",
                    (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? " cached" : "");
        }
        /* whether mkv_device_create would take it, and the tuning table's row for it */
        uint32_t family, ts_bits;
        device_caps chk;
        mkv_error why = {0};
        if (!find_compute_queue(&tmp.vk, pds[i], &family, &ts_bits)) {
            fprintf(out, "    mekivk: cannot use it: no compute queue\n");
        } else if (check_physical(&tmp.vk, pds[i], family, &chk, &why)) {
            fprintf(out, "    mekivk: cannot use it: %s\n", why.msg);
        } else {
            const mkv_tuning_key key =
                tuning_key(&chk.props, chk.driver_id, chk.subgroup_size, chk.max_texel_elements, chk.coop_nv);
            mkv_tunables t;
            const mkv_tuning_row *row = mkv_tuning_pick(&key, &t);
            fprintf(out, "    mekivk: usable; tuning table row \"%s\" (%s; MKV_TUNING=file overrides it)\n",
                    row->name, row->why ? row->why : "");
        }
    }
    if (tmp.instance) tmp.vk.vkDestroyInstance(tmp.instance, NULL);
    mkv_vk_close_loader(tmp.loader);
    return st;
}

/* Index from opts, else name from opts, else the best-ranked type. */
static mkv_status choose_device(const mkv_device *d, const mkv_device_opts *opts, VkPhysicalDevice *pds, uint32_t n,
                                uint32_t *chosen, mkv_error *err)
{
    int index = opts->index;
    const char *name = opts->name;
    if (index >= 0) {
        if ((uint32_t)index >= n)
            return mkv_fail(err, MKV_ERR_NO_DEVICE, "device index = %d: only %u Vulkan device(s) (see `mekivk devices`)", index, n);
        *chosen = (uint32_t)index;
        return MKV_OK;
    }
    int best = -1, best_rank = 99;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        d->vk.vkGetPhysicalDeviceProperties(pds[i], &p);
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

void mkv_device_requirements_get(mkv_device_requirements *req)
{
    memset(req, 0, sizeof *req);
    req->api_version = VK_API_VERSION_1_2;
    req->queue_flags = VK_QUEUE_COMPUTE_BIT;
    req->subgroup_stages = VK_SHADER_STAGE_COMPUTE_BIT;
    req->subgroup_operations =
        VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    req->uses_timestamps = true;
}

/* Checks pd and its queue family against the requirements. */
static mkv_status check_physical(const mkv_vk_table *vk, VkPhysicalDevice pd, uint32_t family, device_caps *c,
                                 mkv_error *err)
{
    mkv_device_requirements req;
    mkv_device_requirements_get(&req);
    vk->vkGetPhysicalDeviceProperties(pd, &c->props);
    /* vkGetPhysicalDeviceProperties2 is Vulkan 1.1: check the version first */
    uint32_t v = c->props.apiVersion;
    if (VK_API_VERSION_MAJOR(v) < 1 || (VK_API_VERSION_MAJOR(v) == 1 && VK_API_VERSION_MINOR(v) < 2))
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: Vulkan %u.%u: mekivk needs Vulkan 1.2", c->props.deviceName,
                        VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v));
    query_caps(vk, pd, c);
    if (!c->subgroup_arith || !c->subgroup_shuffle)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT,
                        "%s: subgroup %s in compute shaders is not supported (mekivk needs it)", c->props.deviceName,
                        !c->subgroup_arith ? "arithmetic" : "shuffles");
    VkQueueFamilyProperties q[16];
    uint32_t n = queue_families(vk, pd, q);
    if (family >= n)
        return mkv_fail(err, MKV_ERR_NO_DEVICE, "%s: queue family = %u: the device has %u", c->props.deviceName,
                        family, n);
    if ((q[family].queueFlags & req.queue_flags) != req.queue_flags)
        return mkv_fail(err, MKV_ERR_DEVICE_LIMIT, "%s: queue family %u has no compute (flags 0x%x)",
                        c->props.deviceName, family, (unsigned)q[family].queueFlags);
    /* stall and kernel timings need timestamps on this very family */
    c->timestamps = q[family].timestampValidBits > 0 && c->props.limits.timestampComputeAndGraphics;
    return MKV_OK;
}

mkv_status mkv_device_check(PFN_vkGetInstanceProcAddr gipa, VkInstance instance, VkPhysicalDevice pd,
                            uint32_t family, mkv_error *err)
{
    if (!gipa || !instance || !pd)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "mkv_device_check: get_instance_proc_addr, instance and "
                        "physical_device are required");
    mkv_vk_table vk = {0};
    mkv_status st = mkv_vk_load_global(&vk, gipa, err);
    if (!st) st = mkv_vk_load_instance(&vk, instance, false, err);
    device_caps c;
    if (!st) st = check_physical(&vk, pd, family, &c, err);
    return st;
}

/* A device struct with its lock; the rest is filled by the callers. */
static mkv_status device_alloc(const mkv_device_opts *opts, mkv_device **out, mkv_error *err)
{
    mkv_device *d = mkv_calloc(1, sizeof *d);
    if (!d) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    d->quiet = opts && opts->quiet;
    atomic_init(&d->validation_count, 0);
    pthread_mutexattr_t ma;
    if (pthread_mutexattr_init(&ma) || pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE) ||
        pthread_mutex_init(&d->lock, &ma)) {
        free(d);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "device: cannot create its lock");
    }
    pthread_mutexattr_destroy(&ma);
    d->lock_ok = true;
    *out = d;
    return MKV_OK;
}

/* Everything after the VkDevice exists: the device's functions, what the
 * engine keeps of the physical device, the one-off command pool. */
static mkv_status device_finish(mkv_device *d, const device_caps *c, mkv_error *err)
{
    mkv_status st = mkv_vk_load_device(&d->vk, d->dev, err);
    if (st) return st;
    d->props = c->props;
    memcpy(d->driver, c->driver, sizeof d->driver);
    d->driver_id = c->driver_id;
    d->subgroup_size = c->subgroup_size ? c->subgroup_size : 1;
    d->fp16_arith = c->fp16_arith;
    d->storage16 = c->storage16;
    d->storage8 = c->storage8;
    d->timestamps = c->timestamps;
    d->uma = c->uma;
    d->max_storage_range = c->max_storage_range;
    d->max_texel_elements = c->max_texel_elements;
    d->coop_nv = c->coop_nv && !d->external; /* a host's device: its features are the host's to enable */
    d->timestamp_period_ns = c->props.limits.timestampPeriod;
    d->vk.vkGetPhysicalDeviceMemoryProperties(d->phys, &d->mem_props);
    if (!d->queue) d->vk.vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = d->queue_family,
    };
    MKV_VK(d->vk.vkCreateCommandPool(d->dev, &pi, NULL, &d->cmd_pool), err);
    return MKV_OK;
}

/* The device's kernel tunables: the table's row, then the tuning file
 * (mkv_tuning_load: only values of the sweep space, which the kernel tests
 * cover at every subgroup size; anything else is refused naming it). */
static mkv_status device_tune(mkv_device *d, const mkv_device_opts *opts, mkv_error *err)
{
    const mkv_tuning_key key = mkv_device_tuning_key(d);
    const mkv_tuning_row *row = mkv_tuning_pick(&key, &d->tune);
    d->tuning_source = "table";
    d->tuning_row = row->name;
    if (opts && opts->tuning_file) {
        if (!(d->tuning_path = mkv_strdup(opts->tuning_file)))
            return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", opts->tuning_file);
        mkv_status st = mkv_tuning_load(d->tuning_path, &key, &d->tune, err);
        if (st) return st;
        d->tuning_source = "file";
        d->tuning_row = d->tuning_path;
    }
    return MKV_OK;
}

mkv_tuning_key mkv_device_tuning_key(const mkv_device *d)
{
    return tuning_key(&d->props, d->driver_id, d->subgroup_size, d->max_texel_elements, d->coop_nv);
}

mkv_status mkv_device_create(const mkv_device_opts *opts, mkv_device **out, mkv_error *err)
{
    *out = NULL;
    mkv_device_opts def;
    if (!opts) { mkv_device_opts_default(&def); opts = &def; }
    mkv_device *d;
    mkv_status st = device_alloc(opts, &d, err);
    if (st) return st;

    st = create_instance(d, opts->validation, err);
    VkPhysicalDevice pds[16];
    uint32_t n = 0, idx = 0, ts_bits;
    if (!st) st = enum_devices(d, pds, 16, &n, err);
    if (!st) st = choose_device(d, opts, pds, n, &idx, err);
    if (st) goto fail;
    d->phys = pds[idx];
    if (!find_compute_queue(&d->vk, d->phys, &d->queue_family, &ts_bits)) {
        VkPhysicalDeviceProperties p;
        d->vk.vkGetPhysicalDeviceProperties(d->phys, &p);
        st = mkv_fail(err, MKV_ERR_NO_DEVICE, "%s: no compute queue", p.deviceName);
        goto fail;
    }
    device_caps c;
    if ((st = check_physical(&d->vk, d->phys, d->queue_family, &c, err))) goto fail;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    /* no features, no extensions (mkv_device_requirements_get), but for
     * cooperative matrices where the device has them (mm_cm.comp): the
     * features follow the bits, which pipeline.c holds kernels to */
    const uint32_t en = mkv_spv_features(c.coop_nv);
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cf = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
                                                      .cooperativeMatrix = (en & MKV_SPV_NEED_COOP_NV) != 0};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .pNext = (en & MKV_SPV_NEED_COOP_NV) ? &cf : NULL,
                                            .shaderFloat16 = (en & MKV_SPV_NEED_FLOAT16) != 0,
                                            .vulkanMemoryModel = (en & MKV_SPV_NEED_MEMORY_MODEL) != 0,
                                            .vulkanMemoryModelDeviceScope = (en & MKV_SPV_NEED_MEMORY_MODEL) != 0};
    const char *coop_ext = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    VkDeviceCreateInfo di = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = en ? &f12 : NULL,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qi,
        .enabledExtensionCount = (en & MKV_SPV_NEED_COOP_NV) ? 1u : 0u,
        .ppEnabledExtensionNames = (en & MKV_SPV_NEED_COOP_NV) ? &coop_ext : NULL,
    };
    VkResult r = d->vk.vkCreateDevice(d->phys, &di, NULL, &d->dev);
    if (r != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkCreateDevice"); goto fail; }
    if ((st = device_finish(d, &c, err)) || (st = device_tune(d, opts, err))) goto fail;
    *out = d;
    return MKV_OK;
fail:
    mkv_device_destroy(d);
    return st;
}

mkv_status mkv_device_create_vulkan(const mkv_vulkan_context *ctx, const mkv_device_opts *opts, mkv_device **out,
                                    mkv_error *err)
{
    *out = NULL;
    if (!ctx || !ctx->get_instance_proc_addr || !ctx->instance || !ctx->physical_device || !ctx->device ||
        !ctx->queue)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "mkv_device_create_vulkan: get_instance_proc_addr, instance, "
                        "physical_device, device and queue are required");
    if (!ctx->lock_queue != !ctx->unlock_queue)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "mkv_device_create_vulkan: lock_queue and unlock_queue go "
                        "together (one is NULL)");
    mkv_device *d;
    mkv_status st = device_alloc(opts, &d, err);
    if (st) return st;
    d->external = true;
    d->instance = ctx->instance;
    d->phys = ctx->physical_device;
    d->dev = ctx->device;
    d->queue = ctx->queue;
    d->queue_family = ctx->queue_family;
    d->lock_queue = ctx->lock_queue;
    d->unlock_queue = ctx->unlock_queue;
    d->lock_user = ctx->lock_user;
    device_caps c;
    st = mkv_vk_load_global(&d->vk, ctx->get_instance_proc_addr, err);
    if (!st) st = mkv_vk_load_instance(&d->vk, d->instance, false, err);
    if (!st) st = check_physical(&d->vk, d->phys, d->queue_family, &c, err);
    if (!st) st = device_finish(d, &c, err);
    if (!st) st = device_tune(d, opts, err);
    if (st) {
        mkv_device_destroy(d);
        return st;
    }
    *out = d;
    return MKV_OK;
}

void mkv_device_destroy(mkv_device *d)
{
    if (!d) return;
    /* (a table that failed to load part-way has NULL entries: each call is checked) */
    if (d->dev) {
        /* Sessions, models and one-off submissions have waited on their
         * own fences; an engine-made device is idle but for misuse, and is
         * waited on before it goes. The host's device is never waited on. */
        if (!d->external && d->vk.vkDeviceWaitIdle) d->vk.vkDeviceWaitIdle(d->dev);
        mkv_pipelines_destroy(d);
        if (d->cmd_pool) d->vk.vkDestroyCommandPool(d->dev, d->cmd_pool, NULL);
        if (!d->external && d->vk.vkDestroyDevice) d->vk.vkDestroyDevice(d->dev, NULL);
    }
    if (d->messenger) d->vk.vkDestroyDebugUtilsMessengerEXT(d->instance, d->messenger, NULL);
    if (d->instance && !d->external && d->vk.vkDestroyInstance) d->vk.vkDestroyInstance(d->instance, NULL);
    mkv_vk_close_loader(d->loader);
    if (d->lock_ok) pthread_mutex_destroy(&d->lock);
    free(d->tuning_path);
    free(d);
}

bool mkv_device_is_cpu(const mkv_device *d) { return d->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }

const char *mkv_device_name(const mkv_device *d) { return d->props.deviceName; }
const char *mkv_device_driver(const mkv_device *d) { return d->driver; }
uint32_t mkv_device_validation_count(const mkv_device *d) { return atomic_load(&d->validation_count); }

void mkv_device_get_info(const mkv_device *d, mkv_device_info *info)
{
    *info = (mkv_device_info){
        .name = d->props.deviceName,
        .driver = d->driver,
        .vendor_id = d->props.vendorID,
        .device_id = d->props.deviceID,
        .driver_id = d->driver_id,
        .driver_version = d->props.driverVersion,
        .api_version = d->props.apiVersion,
        .subgroup_size = d->subgroup_size,
        .cpu = mkv_device_is_cpu(d),
        .uma = d->uma,
        .timestamps = d->timestamps,
        .tuning_source = d->tuning_source ? d->tuning_source : "default",
        .tuning_row = d->tuning_row ? d->tuning_row : "default",
    };
}

mkv_status mkv_device_submit(mkv_device *d, const VkSubmitInfo *si, VkFence fence, mkv_error *err)
{
    pthread_mutex_lock(&d->lock);
    if (d->lock_queue) d->lock_queue(d->lock_user);
    VkResult r = d->vk.vkQueueSubmit(d->queue, 1, si, fence);
    if (d->unlock_queue) d->unlock_queue(d->lock_user);
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
    VkResult r = d->vk.vkAllocateCommandBuffers(d->dev, &ai, &cb);
    if (r != VK_SUCCESS) return mkv_vk_fail(err, r, "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = d->vk.vkBeginCommandBuffer(cb, &bi)) != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkBeginCommandBuffer"); goto out; }
    record(d, cb, user);
    if ((r = d->vk.vkEndCommandBuffer(cb)) != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkEndCommandBuffer"); goto out; }
    if ((r = d->vk.vkCreateFence(d->dev, &fi, NULL, &fence)) != VK_SUCCESS) { st = mkv_vk_fail(err, r, "vkCreateFence"); goto out; }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    if ((st = mkv_device_submit(d, &si, fence, err))) goto out;
    if ((r = d->vk.vkWaitForFences(d->dev, 1, &fence, VK_TRUE, UINT64_MAX)) != VK_SUCCESS) st = mkv_vk_fail(err, r, "vkWaitForFences");
out:
    if (fence) d->vk.vkDestroyFence(d->dev, fence, NULL);
    d->vk.vkFreeCommandBuffers(d->dev, d->cmd_pool, 1, &cb);
    return st;
}
