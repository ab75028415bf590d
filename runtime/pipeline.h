/* Compute pipelines from the embedded SPIR-V (shaders/kernels.cmake). The
 * number of bindings and the push-constant size are reflected from the
 * SPIR-V, never restated by hand; callers' push-constant structs are checked
 * against them at every dispatch. */
#ifndef MKV_PIPELINE_H
#define MKV_PIPELINE_H

#include "device.h"

/* What reflection finds in a module. */
typedef struct mkv_spirv_info {
    uint32_t n_bindings; /* highest binding + 1 (set 0) */
    uint32_t texel_bindings; /* bit i: binding i is a uniform texel buffer, else a storage buffer */
    uint32_t push_size;  /* bytes of the push-constant block (0 if none) */
    uint32_t needs;      /* MKV_SPV_NEED_* bits of its capabilities (device.h) */
} mkv_spirv_info;

/* MKV_ERR_FORMAT for a module that is not SPIR-V, is cut short, or
 * declares a capability mekivk does not know (device.h says which it does). */
mkv_status mkv_spirv_reflect(const uint32_t *code, size_t bytes, const char *name, mkv_spirv_info *info, mkv_error *err);

/* *out = the bytes of shared memory the module declares once specialised
 * with spec[0..n_spec) (ids 0..n_spec-1; the others keep their defaults):
 * its Workgroup variables, counted as the validation layer counts them
 * (runtime/spirv_shared.c). MKV_ERR_FORMAT where an array's length is an
 * expression it cannot evaluate. */
mkv_status mkv_spirv_shared_bytes(const uint32_t *code, size_t bytes, const char *name, const uint32_t *spec,
                                  uint32_t n_spec, uint64_t *out, mkv_error *err);

/* The feature a MKV_SPV_NEED_* bit stands for ("shaderFloat16", ..). */
const char *mkv_spv_need_name(uint32_t bit);

/* Returns the pipeline of `kernel` specialised with spec[0..n_spec) (ids
 * 0..n_spec-1; id 0 is the workgroup width), creating it on first use. */
mkv_status mkv_pipeline_get(mkv_device *d, mkv_kernel_id kernel, const uint32_t *spec, uint32_t n_spec,
                            const mkv_pipeline **out, mkv_error *err);
void mkv_pipelines_destroy(mkv_device *d);

static inline VkDescriptorType mkv_binding_type(const mkv_pipeline *p, uint32_t i)
{
    return (p->texel_bindings >> i) & 1u ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
}

#endif
