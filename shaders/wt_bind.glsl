// The weight matrix and the input vector of the typed kernels, and the
// accessors the decoders read them through (wt_common.glsl): WT_W(i) word
// i of the weights, WT_W4(i) their 16-byte chunk i, WT_X(i) vec4 i of x.
// The including shader defines WT_BINDING_W and WT_BINDING_X first.
//
// Two ways to bind them, one variant each (kernels.cmake, TEXEL):
//   storage buffers          W as uint[] and uvec4[] (aliases), x as vec4[]
//   uniform texel buffers    (WT_TEXEL) W and x through their buffers'
//                            RGBA32UI views (runtime/memory.h): one 16-byte
//                            texel per fetch; a word is a component of its
//                            texel, x's floats are its bits.
// Which one a device gets is a tunable (runtime/tunables.h): on lavapipe a
// storage-buffer load runs lane by lane, 32 bits at a time, while a texel
// fetch gathers a whole 16-byte texel per lane (bench --probe on the 2-core
// VM: 1.2 GB/s against 23 GB/s); GPUs read both through their caches.
#if defined(WT_TEXEL)
layout(binding = WT_BINDING_W) uniform usamplerBuffer wt_wtex;
layout(binding = WT_BINDING_X) uniform usamplerBuffer wt_xtex;
#define WT_W4(i) texelFetch(wt_wtex, int(i))
#define WT_W(i) (texelFetch(wt_wtex, int((i) >> 2u))[(i) & 3u])
#define WT_X(i) uintBitsToFloat(texelFetch(wt_xtex, int(i)))
#else
layout(std430, binding = WT_BINDING_W) readonly buffer Weights { uint w[]; };    // rows of ldw words (wtype_layout.h)
layout(std430, binding = WT_BINDING_W) readonly buffer Weights4 { uvec4 w4[]; }; // the same, 16 bytes at a time
layout(std430, binding = WT_BINDING_X) readonly buffer Input { vec4 x[]; };      // padded with zeros to whole units
#define WT_W(i) w[i]
#define WT_W4(i) w4[i]
#define WT_X(i) x[i]
#endif
