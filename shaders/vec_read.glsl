// Read-only float vectors of the small kernels (rope_kv, rmsnorm, ffn_act,
// attn_combine, argmax; ffn_out's norm weights), bound one of two ways as the typed kernels' weights
// are (wt_bind.glsl says why): READ_VEC(binding, name) declares vector
// `name`; LD4(name, i) reads its vec4 i (floats 4i .. 4i + 3), LD(name, i)
// its float i.
//   storage buffers          name[] and name4[] (aliases)
//   uniform texel buffers    (WT_TEXEL) name_t, the buffer's RGBA32UI view:
//                            one 16-byte texel per fetch
#if defined(WT_TEXEL)
#define READ_VEC(b, name) layout(binding = b) uniform usamplerBuffer name##_t;
#define LD4(name, i) uintBitsToFloat(texelFetch(name##_t, int(i)))
#define LD(name, i) uintBitsToFloat(texelFetch(name##_t, int((i) >> 2u))[(i) & 3u])
#else
#define READ_VEC(b, name)                                                      \
    layout(std430, binding = b) readonly buffer name##_b { float name[]; };   \
    layout(std430, binding = b) readonly buffer name##_b4 { vec4 name##4[]; };
#define LD4(name, i) name##4[i]
#define LD(name, i) name[i]
#endif
