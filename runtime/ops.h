/* Recording of kernels into a command buffer: one function per kernel (its
 * call site), each filling the push constants and bindings its shader's
 * host description (shaders/<name>.h) declares and choosing the dispatch
 * size. Every dispatch is preceded by a compute->compute barrier. */
#ifndef MKV_OPS_H
#define MKV_OPS_H

#include "kv_layout.h"
#include "memory.h"
#include "tunables.h"

#define MKV_REC_MAX_POOLS 64
#define MKV_REC_MAX_MARKS 1024 /* timed dispatches per pass: 512 were too few for a 4b MeKi prefill (36 layers) */

/* Optional per-dispatch timing: a timestamp after every dispatch, tagged with
 * the kernel, read back by bench. */
typedef struct mkv_recorder {
    mkv_device *d;
    VkCommandBuffer cb;
    mkv_tunables tune;
    VkDescriptorPool pools[MKV_REC_MAX_POOLS];
    uint32_t n_pools, sets_left;
    uint32_t n_dispatch;
    VkQueryPool query_pool;     /* VK_NULL_HANDLE: no timing */
    uint32_t n_marks;
    mkv_kernel_id mark_kernel[MKV_REC_MAX_MARKS];
    uint64_t mark_bytes[MKV_REC_MAX_MARKS]; /* bytes the dispatch reads (for GB/s) */
} mkv_recorder;

/* Starts recording into cb (already begun by the caller). With timing,
 * creates a timestamp query pool. */
mkv_status mkv_recorder_init(mkv_recorder *r, mkv_device *d, VkCommandBuffer cb, bool timing, mkv_error *err);
/* Frees the descriptor pools and the query pool (after the last replay). */
void mkv_recorder_release(mkv_recorder *r);

/* Specialization constants of a dispatch: ids 0 .. n-1 (id 0 is the
 * workgroup width). */
typedef struct mkv_spec {
    uint32_t v[MKV_MAX_SPEC];
    uint32_t n;
} mkv_spec;
static inline mkv_spec mkv_spec1(uint32_t wg) { return (mkv_spec){{wg}, 1}; }
static inline mkv_spec mkv_spec2(uint32_t wg, uint32_t a) { return (mkv_spec){{wg, a}, 2}; }
static inline mkv_spec mkv_spec3(uint32_t wg, uint32_t a, uint32_t b) { return (mkv_spec){{wg, a, b}, 3}; }
static inline mkv_spec mkv_spec4(uint32_t wg, uint32_t a, uint32_t b, uint32_t c) { return (mkv_spec){{wg, a, b, c}, 4}; }
static inline mkv_spec mkv_spec5(uint32_t wg, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    return (mkv_spec){{wg, a, b, c, d}, 5};
}

/* Binds, pushes and dispatches one kernel; checks the binding count and the
 * push-constant size against the SPIR-V. A binding the shader declares as
 * a uniform texel buffer binds the buffer's texel view (which it must
 * have), any other the whole buffer as a storage buffer. */
mkv_status mkv_rec_dispatch(mkv_recorder *r, mkv_kernel_id k, mkv_spec spec,
                            const mkv_buffer *const *bufs, uint32_t n_bufs, const void *pc, uint32_t pc_size,
                            uint32_t gx, uint32_t gy, uint64_t bytes, mkv_error *err);

/* ---- kernels (shader names in brackets) ---- */

/* [embed] h[b] = table[step.tok[b]] for the pass's tokens (rows of ldh
 * floats; n_batch: the program's batch) */
mkv_status mkv_op_embed(mkv_recorder *r, const mkv_buffer *params, const mkv_matrix *table, const mkv_buffer *h,
                        uint32_t ldh, uint32_t n_batch, mkv_error *err);
/* [rmsnorm] y[v] = rmsnorm(x[v]) * w for n_vec vectors of n */
mkv_status mkv_op_rmsnorm(mkv_recorder *r, const mkv_buffer *x, const mkv_buffer *w, const mkv_buffer *y,
                          uint32_t n, uint32_t n_vec, float eps, mkv_error *err);
/* The same with row strides; [rmsnorm_add] (add) y[v] += rmsnorm(x[v]) * w */
mkv_status mkv_op_rmsnorm_rows(mkv_recorder *r, bool add, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *w,
                               const mkv_buffer *y, uint32_t ldy, uint32_t n, uint32_t n_vec, float eps, mkv_error *err);
/* [rmsnorm_add_norm] y[v] += rmsnorm(x[v]) * w, then y2[v] = rmsnorm(y[v]) * w2
 * (y2's rows ldy apart too): a batch's MeKi branch into the residual and
 * the next layer's attention norm in one pass */
mkv_status mkv_op_rmsnorm_add_norm(mkv_recorder *r, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *w,
                                   const mkv_buffer *y, uint32_t ldy, const mkv_buffer *w2, const mkv_buffer *y2,
                                   uint32_t n, uint32_t n_vec, float eps, mkv_error *err);
/* [rmsnorm_last] y = rmsnorm(x[step.n_tok - 1]) * w: the pass's last token */
mkv_status mkv_op_rmsnorm_last(mkv_recorder *r, const mkv_buffer *params, const mkv_buffer *x, uint32_t ldx,
                               const mkv_buffer *w, const mkv_buffer *y, uint32_t n, float eps, mkv_error *err);
/* [matvec] y[y_offset + r] = act(W[r] . x), or y[..] += (x padded with
 * zeros to whole units of W's type) */
#define MKV_MATVEC_ACCUMULATE 1u /* add into y */
#define MKV_MATVEC_SIGMOID 2u    /* act = sigmoid (else identity) */
mkv_status mkv_op_matvec(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                         uint32_t y_offset, uint32_t flags, mkv_error *err);
/* [matvec_swiglu] y = silu(Wg x) * (Wu x) over the first n_rows rows of
 * each half of w = [Wg; Wu] (the up half starts at row w->rows / 2) */
mkv_status mkv_op_matvec_swiglu(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                                uint32_t n_rows, mkv_error *err);
/* [matvec_swiglu_meki] in one dispatch: y = silu(Wg x) * (Wu x) over the
 * first n_ffn rows, and the MeKi gate g = sigmoid(W_mg x) (n_mem values),
 * with w = [Wg; W_mg rows [0, h); Wu; W_mg rows [h, n_mem) (+ a zero row
 * for odd n_mem)], h = ceil(n_mem / 2) (model.c) */
mkv_status mkv_op_matvec_swiglu_meki(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                                     uint32_t n_ffn, uint32_t n_mem, const mkv_buffer *g, mkv_error *err);

/* [mm] the batched product of a forward pass (prefill), any weight type:
 * y[b*ldy + y_offset + r] = act(W[r] . x[b]) (or += with
 * MKV_MATVEC_ACCUMULATE; act: MKV_MATVEC_SIGMOID) for the pass's tokens
 * b < step.n_tok (params); x rows of ldx floats (zeros past W's columns),
 * allocated for n_batch rows rounded up to tune.nb_mm. */
mkv_status mkv_op_mm(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *y,
                     uint32_t ldy, uint32_t y_offset, uint32_t n_batch, const mkv_buffer *params, uint32_t flags,
                     mkv_error *err);
/* [mm_cm] the same on cooperative matrices (mm_cm.comp; mkv_op_mm takes it
 * where the tuning says mm.coop and the device has them); emulate: the
 * variant whose lanes do the matrix steps themselves (mm_cm_emu, any
 * device: the tests). */
mkv_status mkv_op_mm_cm(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, uint32_t ldx, const mkv_buffer *y,
                        uint32_t ldy, uint32_t y_offset, uint32_t n_batch, const mkv_buffer *params, uint32_t flags,
                        bool emulate, mkv_error *err);
/* [ffn_act] of a batch, after mm with w_ffn: t = silu(gate) * up for the
 * first n_ffn of n_rows rows per half (up half from up_row), the MeKi gate
 * g = sigmoid(..) from the rest (n_mem values; g may be NULL when none) */
mkv_status mkv_op_ffn_act(mkv_recorder *r, const mkv_buffer *gu, uint32_t ldgu, uint32_t n_rows, uint32_t n_ffn,
                          uint32_t up_row, const mkv_buffer *t, uint32_t ldt, uint32_t n_mem, const mkv_buffer *g,
                          uint32_t ldg, uint32_t n_batch, const mkv_buffer *params, mkv_error *err);
/* [meki_v] v[b] = bank row (byte row_byte_offset of token b's staged slab,
 * step.tok[b].y) + g[b], n_mem values */
mkv_status mkv_op_meki_v(mkv_recorder *r, const mkv_buffer *ring, uint32_t row_byte_offset, uint32_t bank_dtype,
                         const mkv_buffer *g, uint32_t ldg, const mkv_buffer *v, uint32_t ldv, uint32_t n_mem,
                         uint32_t n_batch, const mkv_buffer *params, mkv_error *err);

/* [matmul] (F16 weights only: the offline fold)
 * y[b*ldy + r] = (accumulate ? y : 0) + scale * W[r] . x[b] for b < n_batch
 * (x rows of W's ld floats, padded with zeros, allocated to a multiple of
 * tune.tb_matmul rows) */
mkv_status mkv_op_matmul(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *y,
                         uint32_t n_batch, uint32_t ldy, bool accumulate, float scale, mkv_error *err);
/* [matmul_swiglu] y[b*ldy + r] = silu(Wg[r] . x[b]) * (Wu[r] . x[b]) */
mkv_status mkv_op_matmul_swiglu(mkv_recorder *r, const mkv_matrix *wg, const mkv_matrix *wu, const mkv_buffer *x,
                                const mkv_buffer *y, uint32_t n_batch, uint32_t ldy, mkv_error *err);

typedef struct mkv_attn_dims {
    uint32_t n_head, n_kv_head, head_dim, n_ctx, n_split;
    bool qk_norm;
    bool rope_norm;  /* RoPE pairs (2i, 2i+1) (llama); else (i, i + head_dim/2) */
    bool kv_q8;      /* the caches hold q8_0 blocks, not f16 (shaders/kv_layout.h) */
    float eps;
    /* The pass: n_batch tokens (0 = 1), token b at position step.pos + b,
     * its q/k/v at row b of qkv (ld_qkv floats apart), q and the attention
     * output at row b of ld_q (a multiple of 4 when head_dim is one of 8;
     * 0: packed). Partials: n_batch * n_head *
     * n_split * (head_dim + MKV_ATTN_PART_HEAD) floats (kv_layout.h). */
    uint32_t n_batch, ld_qkv, ld_q;
} mkv_attn_dims;

/* The splits of decode attention over a cache of n_ctx positions for
 * splits of about `chunk` positions: 1 .. MKV_ATTN_MAX_SPLIT. Sessions,
 * bench and the sweep size them alike. */
static inline uint32_t mkv_attn_splits(uint32_t n_ctx, uint32_t chunk)
{
    const uint32_t s = chunk ? (uint32_t)(((uint64_t)n_ctx + chunk - 1) / chunk) : 1;
    return s < 1 ? 1 : s > MKV_ATTN_MAX_SPLIT ? MKV_ATTN_MAX_SPLIT : s;
}

/* Floats of attention's partials for n_split chunks of n_batch tokens
 * (kv_layout.h: a head of MKV_ATTN_PART_HEAD, then head_dim). */
static inline uint64_t mkv_attn_partials_floats(uint32_t n_head, uint32_t n_split, uint32_t head_dim, uint32_t n_batch)
{
    return (uint64_t)n_head * n_split * (head_dim + MKV_ATTN_PART_HEAD) * (n_batch ? n_batch : 1);
}

/* Bytes of one layer's K (or V) cache of n_ctx positions (kv_layout.h). */
static inline uint64_t mkv_kv_cache_bytes(uint32_t n_ctx, uint32_t kv_dim, bool q8)
{
    const uint64_t n = (uint64_t)n_ctx * kv_dim;
    return q8 ? n + n / MKV_KV_Q8_BLOCK * 4 : 2 * n;
}

/* [rope_kv] q/k/v bias (when qkv_bias is not NULL), q/k norm, RoPE, q out,
 * k/v appended to the cache at step.pos */
mkv_status mkv_op_rope_kv(mkv_recorder *r, const mkv_attn_dims *a, const mkv_buffer *params, const mkv_buffer *qkv,
                          const mkv_buffer *qkv_bias, const mkv_buffer *q_norm, const mkv_buffer *k_norm,
                          const mkv_buffer *rope, const mkv_buffer *q, const mkv_buffer *k_cache,
                          const mkv_buffer *v_cache, mkv_error *err);
/* [attn] + [attn_combine] out = softmax(q K^T / sqrt(hd)) V over step.n_kv positions
 * (one split: attn alone, writing out; with the device's attn.merge and
 * `done`, attn alone too: the last split of each KV head merges the
 * splits). done: n_batch * n_kv_head uints, zero before the first use
 * (each dispatch leaves them zero), or NULL: attn_combine merges. */
mkv_status mkv_op_attention(mkv_recorder *r, const mkv_attn_dims *a, const mkv_buffer *params, const mkv_buffer *q,
                            const mkv_buffer *k_cache, const mkv_buffer *v_cache, const mkv_buffer *partials,
                            const mkv_buffer *done, const mkv_buffer *out, mkv_error *err);
/* Whether mkv_op_rope_attention may replace mkv_op_rope_kv + mkv_op_attention
 * here: the device's attn.rope, one token, f16 caches. */
bool mkv_attn_rope_fits(const mkv_recorder *r, const mkv_attn_dims *a);
/* [attn_rope] mkv_op_rope_kv's work and mkv_op_attention's in one dispatch
 * (one token, f16 caches): q and k from qkv (bias, q/k norm, RoPE), k and v
 * appended at step.pos, attention over positions 0..step.pos into out;
 * partials and done as mkv_op_attention's. */
mkv_status mkv_op_rope_attention(mkv_recorder *r, const mkv_attn_dims *a, const mkv_buffer *params, const mkv_buffer *qkv,
                                 const mkv_buffer *qkv_bias, const mkv_buffer *q_norm, const mkv_buffer *k_norm,
                                 const mkv_buffer *rope, const mkv_buffer *k_cache, const mkv_buffer *v_cache,
                                 const mkv_buffer *partials, const mkv_buffer *done, const mkv_buffer *out, mkv_error *err);
/* The MeKi branch's part of ffn_out_meki. */
typedef struct mkv_ffn_out_meki {
    const mkv_matrix *w_mo_t;   /* W_mo transposed in bands (wmo_layout.h): ceil(d_model / (8 MKV_WMO_BAND)) rows of d_mem x 8 MKV_WMO_BAND, F16 */
    const mkv_buffer *g;        /* d_mem gate values sigmoid(W_mg u) (matvec_swiglu_meki) */
    const mkv_buffer *z;        /* scratch: d_model floats, then one per workgroup (d_model more suffice) */
    const mkv_buffer *w_norm;   /* meki_norm weight */
    const mkv_buffer *ring;     /* staging ring of bank slabs */
    const mkv_buffer *params;   /* step params: step.slab_offset is this token's slab */
    uint32_t row_byte_offset;   /* this layer's row in a slab */
    uint32_t bank_dtype;        /* 1 = F16, 2 = Q8 */
} mkv_ffn_out_meki;
/* [ffn_out] h += W_down t; xn = rmsnorm(h) * w_next.
 * [ffn_out_meki] (meki not NULL) h += W_down t + rmsnorm(W_mo v) * w_norm with
 * v = bank_row + g, the bank row at byte step.slab_offset + row_byte_offset
 * of the staging ring; xn as above.
 * counter: one uint, zero before the first use (each dispatch leaves it zero). */
mkv_status mkv_op_ffn_out(mkv_recorder *r, const mkv_matrix *w_down, const mkv_buffer *t, const mkv_buffer *h,
                          const mkv_buffer *w_next, const mkv_buffer *xn, const mkv_buffer *counter, float eps,
                          const mkv_ffn_out_meki *meki, mkv_error *err);
/* [ffn_out] used for the attention's output projection of a decode step:
 * h += W_o att; u = rmsnorm(h) * ffn_norm, one dispatch where a product and
 * a norm were two (W_o in one storage binding; counter as above). */
mkv_status mkv_op_matvec_norm(mkv_recorder *r, const mkv_matrix *w, const mkv_buffer *x, const mkv_buffer *h,
                              const mkv_buffer *w_norm, const mkv_buffer *xn, const mkv_buffer *counter, float eps,
                              mkv_error *err);
/* [argmax] + [argmax_final] result = (max value, index bits) of x[0..n) */
mkv_status mkv_op_argmax(mkv_recorder *r, const mkv_buffer *x, uint32_t n, const mkv_buffer *slots,
                         const mkv_buffer *result, mkv_error *err);
/* Slots the argmax needs for n values. */
uint32_t mkv_argmax_slots(const mkv_recorder *r, uint32_t n);

/* Ends the step: makes the last dispatches' writes visible to the host. */
void mkv_rec_finish(mkv_recorder *r);

#endif
