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
    uint32_t wtype;            /* matrix type: an mkv_ggml_type (F16 default, F32, BF16, Q8_0, Q4_0,
                                * Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) or a preset MKV_SYNTH_Q4_K_M /
                                * MKV_SYNTH_Q5_K_M; per tensor as mkv_synth_tensor_type says */
    bool pure;                 /* every matrix exactly wtype: no Q6_K LM head (presets refused) */
    uint32_t bank_dtype;       /* MKV_BANK_F16 (default) or MKV_BANK_Q8 */
    bool tied_output;          /* no output.weight (default true) */
    const char *gate_input;    /* meki.gate_input to write (DESIGN §2): "norm" or "residual"; NULL
                                * (default): no key, which means "norm". Written as given (tests
                                * write bad values); the CLI checks it */
    bool no_qk_norm;           /* checkpoint only: no self_attn.q_norm/k_norm, as the authors' MeKi
                                * training writes (the GGUF's q/k norms follow `arch`) */
    uint64_t seed;
    bool progress;             /* progress lines on stderr */
    const char *tokenizer;     /* a Hugging Face tokenizer.json (tokenizer_config.json beside it is
                                * read too) whose tokenizer goes into the GGUF (vocab padded to
                                * n_vocab); NULL (default): a placeholder vocabulary (tok_keys.h) */
} mkv_synth_opts;

/* Presets for mkv_synth_opts.wtype, beside the ggml types: llama.cpp's
 * Q4_K_M and Q5_K_M mixes (values outside the ggml type numbers). */
enum { MKV_SYNTH_Q4_K_M = 0x10000 + 15, MKV_SYNTH_Q5_K_M = 0x10000 + 17 };

/* --wtype names: "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
 * "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m". False if unknown. */
bool mkv_synth_parse_wtype(const char *s, uint32_t *wtype);
/* "Q4_K_M", "Q5_K_M", or the ggml type's name. */
const char *mkv_synth_wtype_name(uint32_t wtype);

/* The type synth stores tensor `name` in (row length ne0; layer: its
 * blk.N index, ignored for others), llama-quantize's choice
 * (llama_tensor_get_type in llama.cpp's src/llama-quant.cpp):
 * - norms and biases (names not ending in "weight", or "_norm.weight") F32;
 * - F32, F16, BF16: every matrix that type;
 * - quantized types, unless pure: the LM head (output.weight, or
 *   token_embd.weight when tied) Q6_K (Q8_0 if wtype is Q8_0 or ne0 is
 *   not a whole number of wtype's blocks); Q4_K_M / Q5_K_M: attn_v and
 *   ffn_down Q6_K in the layers i where use_more_bits(i, n_layer): i <
 *   n/8, i >= 7n/8, or (i - n/8) % 3 == 2; Q4_K / Q5_K elsewhere;
 * - then, pure or not, a type whose block does not divide ne0 falls back:
 *   Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16 if that does not
 *   divide it either or the type was already a 32-block one (llama.cpp
 *   has no fallback there and stops).
 * The MeKi matrices (meki_gate, meki_out) follow the general rules.
 * wtype must be valid (as mkv_synth_write checks). */
uint32_t mkv_synth_tensor_type(const mkv_synth_opts *o, const char *name, uint64_t ne0, uint32_t layer);

/* Number of matrices of the model `opts` describes that fell back (above).
 * Errors as mkv_synth_write's option checks. */
mkv_status mkv_synth_fallbacks(const mkv_synth_opts *opts, uint32_t *n, mkv_error *err);

/* Fills opts with defaults for `shape` (qwen3, f16, not pure, f16 bank, tied, seed 1). */
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
