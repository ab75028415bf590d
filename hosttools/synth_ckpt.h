/* Synthetic training-form checkpoints (the input of `mekivk convert`): the
 * Hugging Face Qwen3 tensors plus, per layer, the MeKi training module
 * (DESIGN §6), with random weights of a named shape, and a config.json.
 *
 * config.json keys (Hugging Face's Qwen3 names): hidden_size,
 * num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
 * intermediate_size, vocab_size, rope_theta, rms_norm_eps,
 * tie_word_embeddings; "meki_dim": d_mem, the width of every layer's
 * memory table (this engine's key; the convert command requires it); and,
 * when opts->gate_input is set, "meki_gate_input" (DESIGN §2). */
#ifndef MKV_SYNTH_CKPT_H
#define MKV_SYNTH_CKPT_H

#include "synth.h"

/* Writes opts->out_dir/config.json and either model.safetensors (n_shards
 * 1) or model-0000k-of-0000N.safetensors + model.safetensors.index.json.
 * dtype: mkv_st_dtype of every tensor. Uses opts->shape, seed, tied_output,
 * gate_input, no_qk_norm, progress (dense, arch, wtype, bank_dtype are
 * ignored). Deterministic by seed;
 * streams: one chunk of values in memory at a time. */
mkv_status mkv_synth_write_checkpoint(const mkv_synth_opts *opts, uint32_t dtype, uint32_t n_shards, mkv_error *err);

#endif
