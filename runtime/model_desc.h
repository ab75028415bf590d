/* The model as the GGUF file describes it: hyper-parameters read from the
 * metadata and every tensor found and shape-checked. Host-only (no Vulkan):
 * the runtime uploads from it, the CPU reference computes from it. */
#ifndef MKV_MODEL_DESC_H
#define MKV_MODEL_DESC_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"

/* How RoPE pairs the elements of a head (both rotate pair i by
 * pos * theta^(-2i/head_dim)). */
typedef enum mkv_rope_style {
    MKV_ROPE_NEOX = 0,     /* pairs (i, i + head_dim/2): qwen2, qwen3 (llama.cpp's NEOX type) */
    MKV_ROPE_NORM = 1,     /* pairs (2i, 2i + 1): llama, whose Q/K rows llama.cpp's converter
                            * permutes so that this equals Hugging Face's rotate_half */
} mkv_rope_style;

typedef struct mkv_model_config {
    char arch[32];         /* general.architecture: "qwen3", "qwen2" or "llama" */
    uint32_t n_layer;      /* <arch>.block_count */
    uint32_t d_model;      /* <arch>.embedding_length */
    uint32_t n_head;       /* <arch>.attention.head_count */
    uint32_t n_kv_head;    /* <arch>.attention.head_count_kv (default n_head) */
    uint32_t head_dim;     /* <arch>.attention.key_length (default d_model/n_head) */
    uint32_t d_ffn;        /* <arch>.feed_forward_length */
    uint32_t n_vocab;      /* token_embd.weight ne[1] */
    uint32_t n_ctx_train;  /* <arch>.context_length (0 if absent) */
    uint32_t d_mem;        /* meki.dim; 0 = dense model */
    float rope_theta;      /* <arch>.rope.freq_base (default 10000) */
    float norm_eps;        /* <arch>.attention.layer_norm_rms_epsilon (default 1e-6) */
    mkv_rope_style rope_style; /* from the architecture */
    bool has_qk_norm;      /* blk.*.attn_q_norm / attn_k_norm present, in every layer (qwen3 only;
                            * optional there: all layers have both, or none has either) */
    bool has_qkv_bias;     /* some layer has attn_q/k/v.bias (qwen2) */
    bool tied_output;      /* no output.weight: LM head = token_embd */
    bool meki_gate_residual; /* meki.gate_input = "residual": g = sigmoid(W_mg a), a = the residual
                            * after attention; false ("norm" or key absent): g = sigmoid(W_mg u),
                            * u = RMSNorm_ffn(a) (DESIGN §2) */
    uint8_t bank_fingerprint[32]; /* meki.bank_fingerprint (zero if absent) */
} mkv_model_config;

/* Tensors of one layer; GGUF shapes (ne0, ne1) with ne0 = input dim:
 *   attn_norm [d_model]            wq [d_model, n_head*head_dim]
 *   wk, wv [d_model, n_kv_head*head_dim]   wo [n_head*head_dim, d_model]
 *   bq [n_head*head_dim], bk, bv [n_kv_head*head_dim] (optional, each;
 *   added to q, k, v after the product)
 *   q_norm, k_norm [head_dim] (optional, both or neither)
 *   ffn_norm [d_model]  w_gate, w_up [d_model, d_ffn]  w_down [d_ffn, d_model]
 *   meki_gate [d_model, d_mem]  meki_out [d_mem, d_model]  meki_norm [d_model]
 *   (meki_* NULL for a dense model) */
typedef struct mkv_layer_desc {
    const mkv_gguf_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    const mkv_gguf_tensor *ffn_norm, *w_gate, *w_up, *w_down;
    const mkv_gguf_tensor *meki_gate, *meki_out, *meki_norm;
} mkv_layer_desc;

typedef struct mkv_model_desc {
    mkv_model_config cfg;
    mkv_gguf *gguf;                    /* owned */
    const mkv_gguf_tensor *tok_embd;   /* [d_model, n_vocab] */
    const mkv_gguf_tensor *output_norm;/* [d_model] */
    const mkv_gguf_tensor *output;     /* [d_model, n_vocab], or == tok_embd when tied */
    mkv_layer_desc *layers;            /* n_layer entries */
} mkv_model_desc;

/* Types a tensor may have: matrices F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (the runtime reads them as stored; F32
 * becomes F16), rows whole blocks; vectors (norms, biases) F32, F16, BF16
 * (stored as f32). */
bool mkv_model_matrix_type_ok(uint32_t type);
bool mkv_model_vector_type_ok(uint32_t type);

/* Opens the GGUF and builds the description. Errors name the file and the
 * tensor/key: MKV_ERR_MISSING (tensor or key absent; one q/k norm of a pair,
 * or a layer's q/k norms when layer 0 has them), MKV_ERR_FORMAT (wrong
 * shape: "blk.3.attn_q.weight: shape = [256, 100], expected [256, 256]";
 * a key of the wrong type; byte size not that of the type; q/k norms in a
 * layer when layer 0 has none; meki.gate_input other than "norm" or
 * "residual", its value named), MKV_ERR_UNSUPPORTED (architecture not
 * qwen3/qwen2/llama, named; q/k norms in a qwen2/llama file; tensor
 * type outside the lists above, named: "tensor 'blk.0.attn_q.weight' type =
 * Q2_K is not supported (F32, F16, ...)"; RoPE scaling, partial
 * rotary or frequency factors; attn_output.bias), plus whatever
 * mkv_gguf_open reports. */
mkv_status mkv_model_desc_load(const char *path, mkv_model_desc **out, mkv_error *err);
void mkv_model_desc_free(mkv_model_desc *d);

#endif
