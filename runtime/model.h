/* A model on the device: weight matrices in their stored types (wtype.h;
 * F32 matrices become F16), q/k/v fused into one matrix and W_mg stacked
 * with W_gate/W_up where their types agree, f32 norm weights and biases,
 * and the attached bank. Internal. */
#ifndef MKV_MODEL_H
#define MKV_MODEL_H

#include "bank.h"
#include "memory.h"
#include "model_desc.h"

typedef struct mkv_layer_weights {
    mkv_buffer attn_norm, q_norm, k_norm, ffn_norm, meki_norm; /* f32 vectors */
    mkv_matrix w_qkv[3];  /* n_qkv = 1: [q; k; v] rows in one matrix (one type);
                           * n_qkv = 3: W_q, W_k, W_v (types differ) */
    uint32_t n_qkv;
    mkv_buffer qkv_bias;  /* f32 [q | k | v] biases, zero where a part has none; only when cfg.has_qkv_bias */
    mkv_matrix wo;        /* d_model x n_head head_dim */
    mkv_matrix w_ffn;     /* [W_gate; W_up], 2 d_ffn x d_model; with gate_fused
                           * [W_gate; W_mg rows [0, h); W_up; W_mg rows [h, d_mem)
                           * (+ a zero row for odd d_mem)], h = ceil(d_mem / 2):
                           * matvec.comp says why */
    bool gate_fused;      /* MeKi gate rows inside w_ffn */
    mkv_matrix w_mg;      /* d_mem x d_model, when MeKi and not gate_fused (types differ,
                           * or the gate reads the residual: cfg.meki_gate_residual) */
    mkv_matrix w_down;    /* d_model x d_ffn */
    mkv_matrix meki_out_t; /* W_mo transposed in bands, F16 (wmo_layout.h; ffn_out.comp says why) */
    mkv_matrix meki_out;   /* d_model x d_mem: W_mo as stored, for the batched pass (mm.comp) */
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

/* Progress of a model load: called on the loading thread once the file's
 * header, metadata and tensor table are read and checked and the bank (if
 * any) is opened (done = 0), then after each tensor is on the device; done
 * and total count tensor data bytes (total: every tensor of the file; the
 * last call has done = total). Meant for progress bars; a test truncates
 * the file from it. To become part of mkv_model_opts in mekivk.h. */
typedef void (*mkv_load_progress_fn)(void *user, uint64_t done, uint64_t total);

/* mkv_model_load with a progress callback (NULL: none). */
mkv_status mkv_model_load_ex(mkv_device *dev, const char *gguf_path, const mkv_model_opts *opts,
                             mkv_load_progress_fn progress, void *progress_user, mkv_model **out, mkv_error *err);

/* The LM head matrix (the embedding when tied). */
static inline const mkv_matrix *mkv_model_lm_head(const struct mkv_model *m)
{
    return m->cfg.tied_output ? &m->tok_embd : &m->output;
}

#endif
