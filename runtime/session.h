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

/* Activations of a forward pass of n_batch tokens: one row per token, rows
 * ld_* floats apart (f32, zero past each row's length: the products read
 * whole units of their weight type). A decode step is a pass of 1. */
typedef struct mkv_acts {
    uint32_t n_batch, rows;     /* tokens; rows allocated (n_batch rounded up to mm's token tile) */
    uint32_t ld_model, ld_qkv, ld_q, ld_ffn, ld_gu, ld_mem;
    mkv_buffer h;               /* residual stream [d_model] */
    mkv_buffer xn;              /* normed input of the next product [d_model] */
    mkv_buffer qkv;             /* [q | k | v] */
    mkv_buffer q, att;          /* [n_head * head_dim] */
    mkv_buffer u;               /* FFN / MeKi input [d_model] */
    mkv_buffer t;               /* SwiGLU output [d_ffn] */
    mkv_buffer z;               /* MeKi projection W_mo v [d_model] */
    mkv_buffer g;               /* MeKi gate sigmoid(W_mg u) [d_mem] (v = bank row + g) */
    mkv_buffer partials;        /* attention: each split's m, l and o per head */
    /* batches only */
    mkv_buffer gu;              /* w_ffn u: gate and up rows [w_ffn rows] */
    mkv_buffer v;               /* MeKi memory vectors bank row + g [d_mem] */
    mkv_buffer xlast;           /* the final norm of the last token [d_model] */
} mkv_acts;

/* A recorded forward pass: its activations, its params buffer (the tokens
 * the host writes before each replay) and its command buffers, split
 * where the GPU first needs the bank slabs (MeKi). */
typedef struct mkv_pass {
    mkv_acts a;
    mkv_buffer params;          /* host-visible mkv_step_params for n_batch tokens */
    VkCommandBuffer cb_pre;     /* the whole pass, or (MeKi) up to the first dispatch reading a slab */
    VkCommandBuffer cb_post;    /* MeKi: from that dispatch on */
    VkCommandBuffer cb_all;     /* batches: the LM head over every token (MKV_PREFILL_ALL) */
    VkQueryPool stall_pool;     /* TS_* timestamps (MeKi on a device with timestamps) */
    mkv_recorder rec, rec_all;
} mkv_pass;

struct mkv_session {
    mkv_model *m;
    mkv_device *d;
    uint32_t n_ctx, pos, n_split;
    bool kv_q8;                 /* the caches hold q8_0 blocks (opts.kv_type) */
    VkCommandPool cmd_pool;     /* this session's: the passes' command buffers */
    bool meki;                  /* MeKi branch recorded */
    bool profile;               /* timestamps after every dispatch */

    mkv_pass dec;               /* the decode step: a pass of one token */
    mkv_pass pre;               /* prefill: a pass of prefill_chunk tokens (recorded at the first prefill) */
    bool pre_ready;
    uint32_t chunk;             /* tokens per prefill pass */
    mkv_buffer counter;         /* ffn_out's finished-workgroup count (one uint, kept zero between dispatches) */
    mkv_buffer attn_done;       /* attention's finished splits per KV head (attn.merge; kept zero between dispatches) */
    mkv_buffer rope;            /* (cos, sin) table [n_ctx][head_dim/2] */
    mkv_buffer *k_cache, *v_cache; /* per layer, [n_kv_head][n_ctx][head_dim] f16 or q8_0 (kv_layout.h) */
    mkv_buffer argmax_slots;
    /* Host-visible. */
    mkv_buffer ring;            /* staging ring: n_slots bank slabs */
    mkv_buffer logits;          /* [n_vocab] */
    mkv_buffer logits_all;      /* [chunk][n_vocab]: MKV_PREFILL_ALL (allocated at its first use) */
    mkv_buffer result;          /* argmax (value, index bits) */

    VkFence pre_fence;          /* signalled when the first part has run (MeKi) */
    bool pre_unsubmitted;       /* pre_fence was reset and its submission failed: never
                                 * signalled, nothing to wait for */
    VkFence fence;

    /* Bank streaming (MeKi). */
    bool sync;                  /* reference path: read, then submit */
    uint32_t n_slots, n_threads;
    uint64_t cache_bytes;
    mkv_bank_stream *stream;
    uint32_t *pf_token, *pf_slot; /* prefetch list (ring of n_ctx): tokens and their slots */
    uint32_t pf_head, pf_len, pf_issued; /* issued: entries from head that hold a slot */
    mkv_session_stats stats;
};

/* Records the prefill pass (session.c), at the first prefill. */
mkv_status mkv_session_record_prefill(mkv_session *s, mkv_error *err);
/* Records the prefill pass's LM head over every token (MKV_PREFILL_ALL), at its first use. */
mkv_status mkv_session_record_all_logits(mkv_session *s, mkv_error *err);
/* Empties the prefetch list, releasing the staging slots it holds (step.c;
 * truncate and restore, session_state.c). */
void mkv_session_drop_prefetch(mkv_session *s);

#endif
