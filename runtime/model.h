/* A model on the device: f16 matrices (q/k/v fused into one; F32, BF16,
 * Q8_0 and Q4_0 in the file are converted to f16 at load), f32 norm
 * weights and biases, and the attached bank. Internal. */
#ifndef MKV_MODEL_H
#define MKV_MODEL_H

#include "bank.h"
#include "memory.h"
#include "model_desc.h"

typedef struct mkv_layer_weights {
    mkv_buffer attn_norm, q_norm, k_norm, ffn_norm, meki_norm; /* f32 vectors */
    mkv_matrix wqkv;      /* [(n_head + 2 n_kv_head) head_dim] x d_model: rows of q, then k, then v */
    mkv_buffer qkv_bias;  /* f32 [q | k | v] biases, zero where a part has none; only when cfg.has_qkv_bias */
    mkv_matrix wo;        /* d_model x n_head head_dim */
    mkv_matrix w_gate, w_up; /* d_ffn x d_model; with MeKi, W_mg's first ceil(d_mem/2) rows
                              * stacked under W_gate's and the rest under W_up's (a
                              * zero row for odd d_mem): matvec.comp says why */
    mkv_matrix w_down;    /* d_model x d_ffn */
    mkv_matrix meki_out_t; /* d_mem x d_model: W_mo transposed (ffn_out.comp says why) */
} mkv_layer_weights;

struct mkv_model {
    mkv_device *d;
    mkv_model_config cfg;
    char path[512];
    mkv_bank *bank;           /* NULL: no MeKi */
    mkv_matrix tok_embd;      /* n_vocab x d_model */
    mkv_matrix output;        /* n_vocab x d_model (unused when tied) */
    mkv_buffer output_norm;
    mkv_layer_weights *layers;
    uint64_t bytes_dense, bytes_meki; /* weight bytes one decode step reads */
};

/* The LM head matrix (the embedding when tied). */
static inline const mkv_matrix *mkv_model_lm_head(const struct mkv_model *m)
{
    return m->cfg.tied_output ? &m->tok_embd : &m->output;
}

#endif
