/* bench's time breakdown: the GPU time of every dispatch of a profiled
 * pass (decode step or prefill pass), and which part of the model it
 * belongs to: attention, FFN, MeKi, LM head or the rest (the components of
 * the paper's time-breakdown figure). profile.c holds the one table that
 * maps kernels to components and says how kernels that do FFN and MeKi
 * work in one dispatch are split. */
#ifndef MKV_BENCH_PROFILE_H
#define MKV_BENCH_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "mekivk.h"

typedef enum mkv_component {
    MKV_COMP_ATTENTION,
    MKV_COMP_FFN,
    MKV_COMP_MEKI,
    MKV_COMP_LM_HEAD,
    MKV_COMP_OTHER,
    MKV_COMP_COUNT
} mkv_component;

/* "attention", "ffn", "meki", "lm_head", "other": the JSON keys (DESIGN §7). */
extern const char *const mkv_component_name[MKV_COMP_COUNT];

#define MKV_PROFILE_MAX_DISPATCHES 1024 /* runtime/ops.h: MKV_REC_MAX_MARKS */

typedef struct mkv_dispatch_time {
    const char *name; /* the kernel (matvec_tb_q4_0, attn, ...) */
    double ms;        /* GPU time, from the timestamp before it to the one after */
    uint64_t bytes;   /* what it reads, as the recorder declares it (attention: the whole cache capacity) */
} mkv_dispatch_time;

/* The last replay of a profiled pass, dispatch by dispatch in recording order. */
typedef struct mkv_pass_profile {
    uint32_t n;        /* dispatches timed */
    bool complete;     /* every dispatch of the pass timed (the recorder has a mark for each) */
    double wait_ms;    /* MeKi pass: the GPU idle between its two submissions (the bank slab's
                          wait and the host's submit), taken out of the dispatch after it */
    double span_ms;    /* first timestamp to last, less wait_ms: the pass's GPU time */
    mkv_dispatch_time d[MKV_PROFILE_MAX_DISPATCHES];
} mkv_pass_profile;

/* Reads the last replay of s's decode step (prefill false) or batched
 * prefill pass. false when there is none: a session made without
 * opts.profile, a device without timestamps, a pass not yet run. */
bool mkv_profile_read_pass(const mkv_session *s, bool prefill, mkv_pass_profile *out);

/* What the classifier needs to know of a layer beyond the kernels' names. */
typedef struct mkv_layer_shape {
    double gate_share;   /* w_ffn with the MeKi gate rows stacked in (gate_fused): their share of
                            its rows (the products read whole rows of one type: of its bytes too);
                            0 otherwise */
    uint32_t mg_parts;   /* dispatches of the separate W_mg product in the batched pass (MeKi on,
                            gate not fused); 0 otherwise */
    uint64_t meki_bytes; /* ffn_out_meki: the bytes of its MeKi part (W_mo, the bank row and gate,
                            the MeKi norm, as ops.c counts them) */
} mkv_layer_shape;

typedef struct mkv_pass_shape {
    uint32_t n_layer;
    mkv_layer_shape *layers;
    double kv_scale;     /* attention bytes: the recorder declares the cache's capacity
                            (n_ctx positions) per dispatch; the pass reads sum over its tokens of
                            their positions: bytes x kv_scale */
} mkv_pass_shape;

/* The shape of s's model as s runs it (MeKi on or off); layers malloc'd,
 * free with mkv_pass_shape_free. kv_scale is left 1. */
mkv_status mkv_pass_shape_of(const mkv_session *s, mkv_pass_shape *out, mkv_error *err);
void mkv_pass_shape_free(mkv_pass_shape *shape);
/* kv_scale for a pass of m tokens at positions [pos, pos + m) in a session of n_ctx positions. */
double mkv_profile_kv_scale(uint32_t pos, uint32_t m, uint32_t n_ctx);

/* The bytes a dispatch of kernel `name` reads, given what the recorder
 * declared: scaled by kv_scale for the attention kernels (their
 * declaration is the cache's capacity), as is elsewhere. */
double mkv_profile_kernel_bytes(const char *name, uint64_t bytes, double kv_scale);

/* Each dispatch's component; meki_share[i] of dispatch i goes to MeKi
 * instead (kernels that do FFN and MeKi work together), the rest to
 * comp[i]. Returns the number of dispatches of kernels outside the table
 * (counted as other). */
uint32_t mkv_profile_classify(const mkv_pass_profile *p, const mkv_pass_shape *shape, mkv_component *comp,
                              double *meki_share);

typedef struct mkv_breakdown {
    double ms[MKV_COMP_COUNT];
    double bytes[MKV_COMP_COUNT];
    double shared_ms;  /* time of the kernels split between FFN and MeKi */
    uint32_t unknown;  /* dispatches of kernels outside the table */
} mkv_breakdown;

/* Sums a pass's dispatches by component (adds to *out). */
void mkv_profile_breakdown(const mkv_pass_profile *p, const mkv_pass_shape *shape, mkv_breakdown *out);

#endif
