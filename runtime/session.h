/* The session's state, shared by session.c (buffers and the recorded step)
 * and step.c (running a step: bank reads, submissions, stall). Internal. */
#ifndef MKV_SESSION_H
#define MKV_SESSION_H

#include "clock.h"
#include "error.h"
#include "model.h"
#include "ops.h"
#include "stream.h"

enum { TS_PRE_START, TS_PRE_END, TS_POST_START, TS_COUNT }; /* stall timestamps */

struct mkv_session {
    mkv_model *m;
    mkv_device *d;
    uint32_t n_ctx, pos, n_split;
    bool kv_q8;                 /* the caches hold q8_0 blocks (opts.kv_type) */
    VkCommandPool cmd_pool;     /* this session's: cb_pre, cb_post */
    bool meki;                  /* MeKi branch recorded */
    bool profile;               /* timestamps after every dispatch */

    /* Activations (f32, padded to multiples of 8 with zeros). */
    mkv_buffer h;               /* residual stream [d_model] */
    mkv_buffer xn;              /* normed input of the next product [d_model] */
    mkv_buffer qkv;             /* [q | k | v] of this position */
    mkv_buffer q, att;          /* [n_head * head_dim] */
    mkv_buffer u;               /* FFN / MeKi input [d_model] */
    mkv_buffer t;               /* SwiGLU output [d_ffn] */
    mkv_buffer z;               /* MeKi projection W_mo v [d_model] */
    mkv_buffer g;               /* MeKi gate sigmoid(W_mg u) [d_mem] (v = bank row + g) */
    mkv_buffer counter;         /* ffn_out's finished-workgroup count (one uint, kept zero between dispatches) */
    mkv_buffer partials;       /* attention: each split's m, l and o per head */
    mkv_buffer rope;            /* (cos, sin) table [n_ctx][head_dim/2] */
    mkv_buffer *k_cache, *v_cache; /* per layer, [n_ctx][n_kv_head][head_dim] f16 or q8_0 (kv_layout.h) */
    mkv_buffer argmax_slots;
    /* Host-visible. */
    mkv_buffer params;          /* mkv_step_params */
    mkv_buffer ring;            /* staging ring: n_slots bank slabs */
    mkv_buffer logits;          /* [n_vocab] */
    mkv_buffer result;          /* argmax (value, index bits) */

    VkCommandBuffer cb_pre;     /* the whole step, or (MeKi) up to layer 0's SwiGLU and gate */
    VkCommandBuffer cb_post;    /* MeKi: from layer 0's down projection (the first bank read) on */
    VkQueryPool stall_pool;     /* TS_* timestamps (MeKi on a device with timestamps) */
    VkFence pre_fence;          /* signalled when the first part has run (MeKi) */
    VkFence fence;
    mkv_recorder rec;

    /* Bank streaming (MeKi). */
    bool sync;                  /* reference path: read, then submit */
    uint32_t n_slots, n_threads;
    uint64_t cache_bytes;
    mkv_bank_stream *stream;
    uint32_t *pf_token, *pf_slot; /* prefetch list (ring of n_ctx): tokens and their slots */
    uint32_t pf_head, pf_len, pf_issued; /* issued: entries from head that hold a slot */
    mkv_session_stats stats;
};

#endif
