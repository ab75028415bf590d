/* A training-form MeKi checkpoint (DESIGN §6): Hugging Face Qwen3 tensors
 * plus every layer's meki_module, in safetensors, with a config.json.
 * Opening checks that every tensor the fold and the converted model need is
 * present with the shape config.json implies (HF layout: weights [out, in]). */
#ifndef MKV_CHECKPOINT_H
#define MKV_CHECKPOINT_H

#include <stdbool.h>

#include "safetensors.h"

typedef struct mkv_ckpt_layer {
    const mkv_st_tensor *attn_norm, *wq, *wk, *wv, *wo, *q_norm, *k_norm; /* q/k norm: both or neither */
    const mkv_st_tensor *ffn_norm, *w_gate, *w_up, *w_down;
    /* meki_module: */
    const mkv_st_tensor *mem;        /* embeddings.weight          [n_vocab, d_mem]  M_l */
    const mkv_st_tensor *proj_gate;  /* word_emb_projection.gate   [d_proj, d_model] W_pg */
    const mkv_st_tensor *proj_up;    /* word_emb_projection.up     [d_proj, d_model] W_pu */
    const mkv_st_tensor *proj_down;  /* word_emb_projection.down   [d_mem, d_proj]   W_pd */
    const mkv_st_tensor *mix_norm;   /* [d_mem] */
    const mkv_st_tensor *alpha, *beta; /* scalars ([] or [1]) */
    const mkv_st_tensor *meki_gate;  /* gate_proj [d_mem, d_model] */
    const mkv_st_tensor *meki_out;   /* out_proj  [d_model, d_mem] */
    const mkv_st_tensor *meki_norm;  /* post_norm [d_model] */
} mkv_ckpt_layer;

typedef struct mkv_ckpt {
    mkv_safetensors *st;
    char config_path[4096];
    uint32_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ffn, n_vocab, d_mem;
    uint32_t d_proj;                 /* projector hidden width (d_model/2 in the paper), from the tensors */
    float rope_theta, norm_eps;
    bool tied, has_qk_norm;
    bool gate_residual;              /* "meki_gate_input": "residual" (gate on the residual a);
                                      * false: "norm" or absent (gate on u = RMSNorm_ffn(a)), DESIGN §2 */
    const mkv_st_tensor *embed;      /* model.embed_tokens.weight [n_vocab, d_model] */
    const mkv_st_tensor *norm;       /* model.norm.weight [d_model] */
    const mkv_st_tensor *lm_head;    /* lm_head.weight [n_vocab, d_model]; NULL when tied */
    mkv_ckpt_layer *layers;
} mkv_ckpt;

/* path: the checkpoint folder (config.json + model.safetensors or an index),
 * or a .safetensors / index file whose folder holds config.json. Errors name
 * the file, key or tensor: MKV_ERR_MISSING (key or tensor absent),
 * MKV_ERR_FORMAT (bad value or shape; "meki_gate_input" other than "norm"
 * or "residual"), plus the reader's. */
mkv_status mkv_ckpt_open(const char *path, mkv_ckpt **out, mkv_error *err);
void mkv_ckpt_close(mkv_ckpt *c);

/* A scalar tensor's value (alpha, beta). */
float mkv_ckpt_scalar(const mkv_st_tensor *t);

#endif
