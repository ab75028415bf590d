/* CPU reference of every kernel and of the whole model, in plain C with
 * float32 storage and float64 accumulation. It mirrors the engine's storage
 * precision where that is part of the model's numerics: matrix weights are
 * used exactly as stored (f16 -> float); BF16, Q8_0 and Q4_0 matrices are
 * dequantized exactly and rounded to f16, as the engine stores them (F32
 * matrices are used as they are); K/V are rounded to f16 when appended to
 * the cache (the engine's KV cache is f16). Nothing else is rounded, so the
 * reference is the "ideal" result the GPU must approach. */
#ifndef MKV_REF_H
#define MKV_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "bank.h"
#include "model_desc.h"

/* ---- kernels ---- */

/* y = x / sqrt(mean(x^2) + eps) * w   (w may be NULL: weight 1) */
void ref_rmsnorm(const float *x, const float *w, uint32_t n, float eps, float *y);
/* y[r] = sum_c W[r*n_cols + c] * x[c], W given as f16 bits. */
void ref_matvec_f16(const uint16_t *w, const float *x, uint32_t n_rows, uint32_t n_cols, float *y);
/* NeoX RoPE in place on one head: pairs (i, i + head_dim/2) rotated by
 * pos * theta^(-2i/head_dim). */
void ref_rope_neox(float *v, uint32_t head_dim, uint32_t pos, float theta);
/* "Normal" RoPE (llama.cpp's for llama): pairs (2i, 2i + 1), same angles. */
void ref_rope_norm(float *v, uint32_t head_dim, uint32_t pos, float theta);
/* One of the two by style. */
void ref_rope(float *v, uint32_t head_dim, uint32_t pos, float theta, mkv_rope_style style);
/* Decode attention for one position: q [n_head*head_dim], caches K/V laid
 * out [t][n_kv_head*head_dim] for t < n_kv (already f16-rounded floats).
 * out [n_head*head_dim]. Scale 1/sqrt(head_dim), stable softmax, GQA:
 * head h reads kv head h / (n_head/n_kv_head). */
void ref_attention(const float *q, const float *k_cache, const float *v_cache, uint32_t n_kv,
                   uint32_t n_head, uint32_t n_kv_head, uint32_t head_dim, float *out);
/* t[i] = silu(g[i]) * u[i] */
void ref_swiglu(const float *g, const float *u, uint32_t n, float *t);
/* MeKi branch: g = sigmoid(Wmg u); v = row + g; z = Wmo v; y = rmsnorm(z)*norm_w.
 * u: the gate's input (the FFN's normed input, or the residual a when the
 * model's meki.gate_input is "residual").
 * Wmg [d_mem x d_model], Wmo [d_model x d_mem] as f16 bits; y [d_model]. */
void ref_meki(const float *u, const float *row, const uint16_t *w_mg, const uint16_t *w_mo,
              const float *norm_w, uint32_t d_model, uint32_t d_mem, float eps, float *y);
/* Index of the largest value (lowest index on ties). */
uint32_t ref_argmax(const float *x, uint32_t n);

/* ---- whole model ---- */

typedef struct ref_model ref_model;

/* Builds a reference over a loaded description. bank may be NULL (dense
 * model, or meki_off); max_ctx
 * positions of KV cache. */
mkv_status ref_model_create(const mkv_model_desc *desc, mkv_bank *bank, bool meki_off,
                            uint32_t max_ctx, ref_model **out, mkv_error *err);
void ref_model_free(ref_model *m);
/* Processes token at the next position; logits has n_vocab floats. */
mkv_status ref_model_step(ref_model *m, uint32_t token, float *logits, mkv_error *err);
uint32_t ref_model_pos(const ref_model *m);
/* From now on K and V enter the cache as q8_0 blocks (shaders/kv_layout.h)
 * instead of f16-rounded; kv_dim must be whole blocks. */
void ref_model_set_kv_q8(ref_model *m, bool on);
/* One block of MKV_KV_Q8_BLOCK values through q8_0 and back: d = max|x| /
 * 127, out = d * round(x / d). */
void ref_kv_q8_block(const float *x, float *out);

/* A MeKi model whose rows (d_mem floats of token's row of layer) the
 * caller computes instead of a bank: e.g. the training-form formula. */
typedef mkv_status (*ref_row_fn)(void *user, uint32_t token, uint32_t layer, float *row, mkv_error *err);
mkv_status ref_model_create_rows(const mkv_model_desc *desc, ref_row_fn fn, void *user, uint32_t max_ctx,
                                 ref_model **out, mkv_error *err);

/* ---- the fold (training form -> inference table), float64 ---- */

/* One row of M̃_l: out = alpha * rmsnorm(m_row + beta * W_pd(silu(W_pg e) * (W_pu e))) * mix_w.
 * Weights in HF layout: w_pg, w_pu [d_proj][d_model], w_pd [d_mem][d_proj]. */
void ref_fold_row(const float *e, const float *m_row, const float *w_pg, const float *w_pu, const float *w_pd,
                  const float *mix_w, float alpha, float beta, uint32_t d_model, uint32_t d_proj, uint32_t d_mem,
                  float eps, float *out);

#endif
