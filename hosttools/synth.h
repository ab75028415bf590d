/* Synthetic models: random weights of a named shape (DESIGN §2), written as
 * model.gguf (+ bank.mkb for MeKi). Deterministic by seed. Weights are
 * scaled so activations stay finite and O(1) through every layer. */
#ifndef MKV_SYNTH_H
#define MKV_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "mekivk.h"

typedef struct mkv_synth_shape {
    const char *name;
    uint32_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ffn, d_mem, n_vocab;
    float rope_theta, norm_eps;
} mkv_synth_shape;

/* Looks up "tiny", "small", "0.6b", "1.7b", "4b"; NULL if unknown. */
const mkv_synth_shape *mkv_synth_find_shape(const char *name);

typedef struct mkv_synth_opts {
    mkv_synth_shape shape;     /* copy of a named shape, or custom (tests) */
    const char *out_dir;       /* created if missing */
    bool dense;                /* no MeKi tensors, no bank */
    const char *arch;          /* "qwen3" (default: q/k norms), "qwen2" (q/k/v biases, no q/k
                                * norms) or "llama" (neither; the engine pairs RoPE (2i, 2i+1)) */
    uint32_t wtype;            /* mkv_ggml_type of matrices: F16 (default), F32, BF16, Q8_0, Q4_0 */
    uint32_t bank_dtype;       /* MKV_BANK_F16 (default) or MKV_BANK_Q8 */
    bool tied_output;          /* no output.weight (default true) */
    uint64_t seed;
    bool progress;             /* progress lines on stderr */
} mkv_synth_opts;

/* Fills opts with defaults for `shape` (qwen3, f16, f16 bank, tied, seed 1). */
void mkv_synth_opts_default(mkv_synth_opts *opts, const mkv_synth_shape *shape, const char *out_dir);

/* Writes out_dir/model.gguf and, unless dense, out_dir/bank.mkb (slab CRCs
 * on, align 4096, fingerprint derived from the seed in both files). */
mkv_status mkv_synth_write(const mkv_synth_opts *opts, mkv_error *err);

/* Sizes of the files mkv_synth_write would write (bank_bytes 0 if dense),
 * computed without writing anything. */
mkv_status mkv_synth_file_sizes(const mkv_synth_opts *opts, uint64_t *model_bytes, uint64_t *bank_bytes,
                                mkv_error *err);

/* Elements [k0, k0 + n) of the random stream `name` for `seed`:
 * offset + scale * u, u uniform in [-1, 1) on a 2^16 grid; element k is a
 * pure function of (seed, name, k). The generator synth uses for every
 * tensor (and synth_ckpt.c for training checkpoints). */
void mkv_synth_uniform(uint64_t seed, const char *name, float offset, float scale, uint64_t k0, uint64_t n,
                       float *out);

#endif
