// Shared declarations of every mekivk compute shader.
// Workgroup width is specialization constant 0 (local_size_x_id = 0): the
// host picks it per device (runtime/tunables.h), never baked for a vendor.
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
#define WG gl_WorkGroupSize.x

// Per-token values written by the host before each replay of the recorded
// step (the command buffer itself never changes). Layout: step_params.h.
#define STEP_PARAMS_BUFFER(b)                                  \
    layout(std430, binding = b) readonly buffer StepParams {   \
        uint token;  /* token id processed at this step */     \
        uint pos;    /* its position (0-based) */              \
        uint n_kv;   /* positions in the KV cache = pos + 1 */ \
        uint slab_offset; /* bank slab's byte offset in staging */ \
    } step;

// Two f16 values packed in a 32-bit word (element 2i in the low half).
vec2 unpack_f16x2(uint w) { return unpackHalf2x16(w); }

// One 16-byte chunk of an f16 weight row (8 weights) dotted with the 8
// floats a, b: the inner step of every matrix product.
float dot8(uvec4 q, vec4 a, vec4 b)
{
    return dot(vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)), a) + dot(vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)), b);
}
