/* Loading the per-device Vulkan function table (vk_table.h). */
#include "vk_table.h"

#include <dlfcn.h>
#include <stddef.h>

#define LOADER_SONAME "libvulkan.so.1"

mkv_status mkv_vk_open_loader(void **handle, PFN_vkGetInstanceProcAddr *gipa, mkv_error *err)
{
    *gipa = NULL;
    *handle = dlopen(LOADER_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!*handle)
        return mkv_fail(err, MKV_ERR_NO_DEVICE, "Vulkan loader not found (%s; Debian: libvulkan1): %s",
                        LOADER_SONAME, dlerror());
    /* POSIX leaves function pointers from dlsym to this cast */
    *(void **)gipa = dlsym(*handle, "vkGetInstanceProcAddr");
    if (!*gipa) {
        dlclose(*handle);
        *handle = NULL;
        return mkv_fail(err, MKV_ERR_NO_DEVICE, "%s has no vkGetInstanceProcAddr", LOADER_SONAME);
    }
    return MKV_OK;
}

void mkv_vk_close_loader(void *handle)
{
    if (handle) dlclose(handle);
}

#define MISSING(what, name) \
    mkv_fail(err, MKV_ERR_NO_DEVICE, "Vulkan: %s does not give %s", what, name)

mkv_status mkv_vk_load_global(mkv_vk_table *t, PFN_vkGetInstanceProcAddr gipa, mkv_error *err)
{
    t->vkGetInstanceProcAddr = gipa;
#define LOAD(name) \
    if (!(t->name = (PFN_##name)gipa(NULL, #name))) return MISSING("vkGetInstanceProcAddr(NULL)", #name);
    MKV_VK_GLOBAL_FNS(LOAD)
#undef LOAD
    return MKV_OK;
}

mkv_status mkv_vk_load_instance(mkv_vk_table *t, VkInstance instance, bool debug_utils, mkv_error *err)
{
    PFN_vkGetInstanceProcAddr gipa = t->vkGetInstanceProcAddr;
#define LOAD(name) \
    if (!(t->name = (PFN_##name)gipa(instance, #name))) return MISSING("the instance", #name);
    MKV_VK_INSTANCE_FNS(LOAD)
    if (debug_utils) { MKV_VK_DEBUG_FNS(LOAD) }
#undef LOAD
#define LOAD_OPTIONAL(name) t->name = (PFN_##name)gipa(instance, #name);
    MKV_VK_OPTIONAL_INSTANCE_FNS(LOAD_OPTIONAL)
#undef LOAD_OPTIONAL
    return MKV_OK;
}

mkv_status mkv_vk_load_device(mkv_vk_table *t, VkDevice device, mkv_error *err)
{
    PFN_vkGetDeviceProcAddr gdpa = t->vkGetDeviceProcAddr;
#define LOAD(name) \
    if (!(t->name = (PFN_##name)gdpa(device, #name))) return MISSING("the device", #name);
    MKV_VK_DEVICE_FNS(LOAD)
#undef LOAD
    return MKV_OK;
}
