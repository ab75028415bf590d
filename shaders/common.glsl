// Shared declarations of every mekivk compute shader.
// Workgroup width is specialization constant 0 (local_size_x_id = 0): the
// host picks it per device (runtime/tunables.h), never baked for a vendor.
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
#define WG gl_WorkGroupSize.x
// The least power of two >= n, for n <= 1024 (a constant expression of
// specialization constants: the padded register arrays of sg_sums.glsl).
#define POW2_CEIL(n) ((n) <= 1u ? 1u : (n) <= 2u ? 2u : (n) <= 4u ? 4u : (n) <= 8u ? 8u : (n) <= 16u ? 16u : \
                      (n) <= 32u ? 32u : (n) <= 64u ? 64u : (n) <= 128u ? 128u : (n) <= 256u ? 256u : \
                      (n) <= 512u ? 512u : 1024u)

// Loops that test at their end (END_TESTED). lavapipe runs a shader's lanes
// as one SIMD program: a loop runs until no lane is left in it, and a
// `for` or `while` loop, whose test sits at its top, then runs its body one
// more time with no lane active, at the full cost of an iteration (and a
// loop inside a branch no lane takes runs once so). A product's lane walks
// a 0.6b row in 2 to 12 steps: that idle pass cost 10-30 % (bench, q4_0
// decode: SwiGLU 20.2 -> 17.7 ms per token). The hot loops are therefore
// written `do { if (i < n) { .. } i += step; } while (i - first < n);` (a
// test all lanes share) behind one `if` of the first test; on a GPU the
// two forms cost the same.
//
// Per-pass values written by the host before each replay of a recorded
// forward pass (the command buffer itself never changes): token b of the
// pass (b < n_tok) is tok[b].x, at position pos + b, its bank slab at byte
// tok[b].y of the staging ring. A decode step has n_tok = 1. Layout:
// step_params.h.
#define STEP_PARAMS_BUFFER(b)                                  \
    layout(std430, binding = b) readonly buffer StepParams {   \
        uint pos;    /* position of token 0 */                 \
        uint n_tok;  /* tokens in this pass */                 \
        uint pad0, pad1;                                       \
        uvec2 tok[]; /* (token id, slab byte offset) */        \
    } step;
// Two f16 values packed in a 32-bit word (element 2i in the low half).
vec2 unpack_f16x2(uint w) { return unpackHalf2x16(w); }

// One 16-byte chunk of an f16 weight row (8 weights) dotted with the 8
// floats a, b: the inner step of every matrix product.
float dot8(uvec4 q, vec4 a, vec4 b)
{
    return dot(vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)), a) + dot(vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)), b);
}
