/* bench's time breakdown (profile.h). The timestamps are the recorder's
 * (runtime/ops.c: one after every dispatch of a profile session's pass);
 * this file reads them per dispatch, which the public
 * mkv_session_profile (summed per kernel name, decode only) cannot give,
 * through the session's internal state. It is the only place in bench
 * that does. */
#include "profile.h"

#include <stdlib.h>
#include <string.h>

#include "kernel_table.h"
#include "session.h"

_Static_assert(MKV_PROFILE_MAX_DISPATCHES >= MKV_REC_MAX_MARKS, "profile.h: a pass has up to MKV_REC_MAX_MARKS timed dispatches");

const char *const mkv_component_name[MKV_COMP_COUNT] = {"attention", "ffn", "meki", "lm_head", "other"};

/* ---- reading a pass ---- */

bool mkv_profile_read_pass(const mkv_session *s, bool prefill, mkv_pass_profile *out)
{
    const mkv_pass *p = prefill ? &s->pre : &s->dec;
    const mkv_recorder *r = &p->rec;
    out->n = 0;
    out->complete = false;
    out->wait_ms = out->span_ms = 0;
    if (!r->query_pool || r->n_marks == 0 || (prefill ? !s->pre_ready || s->stats.prefill_tokens == 0 : s->stats.steps == 0))
        return false;
    uint64_t ts[MKV_REC_MAX_MARKS + 1];
    if (s->d->vk.vkGetQueryPoolResults(s->d->dev, r->query_pool, 0, r->n_marks + 1, sizeof ts, ts, sizeof ts[0],
                                       VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
        return false;
    /* MeKi: the pass is two submissions, the second after the bank slabs are
     * staged; the GPU's idle time between them is no dispatch's */
    uint64_t gap_lo = 0, gap_hi = 0;
    if (p->stall_pool) {
        uint64_t st[TS_COUNT];
        if (s->d->vk.vkGetQueryPoolResults(s->d->dev, p->stall_pool, 0, TS_COUNT, sizeof st, st, sizeof st[0],
                                           VK_QUERY_RESULT_64_BIT) == VK_SUCCESS &&
            st[TS_POST_START] > st[TS_PRE_END]) {
            gap_lo = st[TS_PRE_END];
            gap_hi = st[TS_POST_START];
        }
    }
    const double to_ms = s->d->timestamp_period_ns * 1e-6;
    uint64_t total = 0;
    for (uint32_t i = 0; i < r->n_marks; i++) {
        uint64_t dt = ts[i + 1] > ts[i] ? ts[i + 1] - ts[i] : 0;
        if (gap_hi && ts[i] <= gap_lo && ts[i + 1] >= gap_hi) {
            dt -= gap_hi - gap_lo;
            out->wait_ms = (double)(gap_hi - gap_lo) * to_ms;
        }
        total += dt;
        out->d[i] = (mkv_dispatch_time){.name = mkv_kernel_spirv_table[r->mark_kernel[i]].name, .ms = (double)dt * to_ms,
                                        .bytes = r->mark_bytes[i]};
    }
    out->n = r->n_marks;
    out->span_ms = (double)total * to_ms;
    out->complete = r->n_marks == r->n_dispatch;
    return true;
}

mkv_status mkv_pass_shape_of(const mkv_session *s, mkv_pass_shape *out, mkv_error *err)
{
    const mkv_model_config *c = &s->m->cfg;
    memset(out, 0, sizeof *out);
    out->layers = calloc(c->n_layer ? c->n_layer : 1, sizeof *out->layers);
    if (!out->layers) return mkv_fail(err, MKV_ERR_NO_MEMORY, "out of memory");
    out->n_layer = c->n_layer;
    out->kv_scale = 1;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_layer_weights *w = &s->m->layers[l];
        mkv_layer_shape *ls = &out->layers[l];
        /* w_ffn with the gate rows stacked: 2 (d_ffn + h) rows (+ a zero row), h = ceil(d_mem / 2) */
        if (w->gate_fused && w->w_ffn.rows / 2 > c->d_ffn)
            ls->gate_share = (double)(w->w_ffn.rows / 2 - c->d_ffn) / (double)(w->w_ffn.rows / 2);
        ls->mg_parts = s->meki && !w->gate_fused ? w->w_mg.n_parts : 0;
        if (s->meki) ls->meki_bytes = mkv_matrix_bytes(&w->meki_out_t) + 4ull * c->d_mem + 12ull * c->d_model;
    }
    return MKV_OK;
}

void mkv_pass_shape_free(mkv_pass_shape *shape)
{
    free(shape->layers);
    shape->layers = NULL;
}

double mkv_profile_kv_scale(uint32_t pos, uint32_t m, uint32_t n_ctx)
{
    /* token i of the pass attends over pos + i + 1 positions */
    return n_ctx ? ((double)m * pos + 0.5 * (double)m * (m + 1)) / n_ctx : 0;
}

/* ---- the component table ---- */

typedef enum kind {
    K_PRODUCT,       /* a plain product (matvec, mm): its place in the pass says which */
    K_FIXED,         /* always the table's component */
    K_NORM,          /* rmsnorm: other; moves the walk from the attention block to the FFN block */
    K_NORM_MEKI,     /* rmsnorm_add_norm: half meki, half other; the next layer's attention norm */
    K_ATTN,          /* rope_kv, attn, attn_combine: attention; products after it are W_o */
    K_ROPE,          /* rope_kv, attn_rope: the start of a layer's attention (counts layers) */
    K_SWIGLU,        /* decode SwiGLU: ffn; a product after it is W_mg */
    K_SWIGLU_MEKI,   /* decode SwiGLU with the MeKi gate rows: split by rows */
    K_FFN_ACT,       /* batch SwiGLU/gate activation: split by rows when the gate is stacked */
    K_FFN_OUT,       /* decode down projection (+ next norm): ffn; ends the layer */
    K_FFN_OUT_MEKI,  /* the same with W_mo v: split by bytes */
    K_MEKI_V,        /* bank row + gate: meki; a product after it is W_mo */
    K_NORM_LAST,     /* the last token's final norm before the LM head (batch) */
} kind;

/* Every kernel of the forward pass (runtime/session.c, record_forward) and
 * its component. A name matches an entry when it equals it or continues
 * with "_" (the weight-type and texel variants: matvec_tb_q4_0); the first
 * match wins, so the longer names come first.
 *
 *   kernel               component   what it does
 *   embed_*              other       the token's embedding row
 *   rmsnorm              other       attention/FFN input norms (the decode
 *                                    step fuses the next layer's into ffn_out)
 *   rmsnorm_last         other       final norm of the last token (prefill)
 *   rmsnorm_add          meki        h += RMSNorm_meki(W_mo v) (prefill, last layer)
 *   rmsnorm_add_norm     meki +      the same and the next layer's attention
 *                        other       norm in one pass (prefill): split half and
 *                                    half (the bytes the two kernels declare)
 *   rope_kv*             attention   q/k/v bias, q/k norms, RoPE, K/V appended
 *   attn*, attn_combine  attention   attention over the cache, its splits joined
 *   attn_rope            attention   decode (attn.rope): rope_kv's work and
 *                                    attention in one dispatch (starts a layer)
 *   matvec_swiglu_*      ffn         decode: silu(W_gate u) * (W_up u)
 *   matvec_swiglu_meki_* ffn + meki  the same and the MeKi gate sigmoid(W_mg u)
 *                                    from W_mg's rows stacked into w_ffn: split
 *                                    by rows (= bytes: one type)
 *   ffn_act              ffn (+meki) prefill: the SwiGLU (and, stacked, the gate)
 *                                    activations: split by the stacked rows
 *   ffn_out_*            ffn         decode: h += W_down t, the next norm;
 *                        attention   right after attention: h += W_o att, the
 *                                    FFN norm (the norm's bytes are a few KiB)
 *   ffn_out_meki_*       ffn + meki  the same and h += RMSNorm_meki(W_mo v): split
 *                                    by the bytes each part reads (W_down against
 *                                    W_mo, the bank row, gate and MeKi norm)
 *   meki_v               meki        prefill: v = bank row + gate
 *   argmax*              lm_head     greedy pick over the logits
 *   matvec_*, mm_*       by place:   before rope_kv: attention (W_q, W_k, W_v);
 *                                    after attention: attention (W_o); after
 *                                    the FFN norm: ffn (W_gate; W_up, in prefill
 *                                    with W_mg's stacked rows: split by rows);
 *                                    a separate W_mg: meki; W_down: ffn; after
 *                                    meki_v: meki (W_mo); after the last layer:
 *                                    lm_head (the LM head product)
 *   anything else        other       (counted: bench warns)
 */
static const struct {
    const char *name;
    kind k;
    mkv_component comp;
    bool reads_cache; /* declares the cache's capacity as its bytes (attention) */
} table[] = {
    {"embed", K_FIXED, MKV_COMP_OTHER, false},
    {"rmsnorm_last", K_NORM_LAST, MKV_COMP_OTHER, false},
    {"rmsnorm_add_norm", K_NORM_MEKI, MKV_COMP_OTHER, false},
    {"rmsnorm_add", K_FIXED, MKV_COMP_MEKI, false},
    {"rmsnorm", K_NORM, MKV_COMP_OTHER, false},
    {"rope_kv", K_ROPE, MKV_COMP_ATTENTION, false},
    {"attn_combine", K_ATTN, MKV_COMP_ATTENTION, false},
    {"attn_rope", K_ROPE, MKV_COMP_ATTENTION, true},
    {"attn", K_ATTN, MKV_COMP_ATTENTION, true},
    {"matvec_swiglu_meki", K_SWIGLU_MEKI, MKV_COMP_FFN, false},
    {"matvec_swiglu", K_SWIGLU, MKV_COMP_FFN, false},
    {"matmul_swiglu", K_SWIGLU, MKV_COMP_FFN, false},
    {"ffn_act", K_FFN_ACT, MKV_COMP_FFN, false},
    {"ffn_out_meki", K_FFN_OUT_MEKI, MKV_COMP_FFN, false},
    {"ffn_out", K_FFN_OUT, MKV_COMP_FFN, false},
    {"meki_v", K_MEKI_V, MKV_COMP_MEKI, false},
    {"argmax", K_FIXED, MKV_COMP_LM_HEAD, false},
    {"matvec", K_PRODUCT, MKV_COMP_OTHER, false},
    {"matmul", K_PRODUCT, MKV_COMP_OTHER, false},
    {"mm", K_PRODUCT, MKV_COMP_OTHER, false},
};

static int lookup(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const size_t len = strlen(table[i].name);
        if (!strncmp(name, table[i].name, len) && (name[len] == 0 || name[len] == '_')) return (int)i;
    }
    return -1;
}

/* Where the walk through a layer stands: what a plain product there is. */
typedef enum phase {
    P_ATTN_IN,  /* W_q, W_k, W_v */
    P_ATTN_OUT, /* W_o */
    P_FFN_IN,   /* w_ffn (prefill) */
    P_FFN_ACT,  /* after ffn_act: W_mg's parts (if separate), then W_down */
    P_GATE,     /* decode, after the SwiGLU: W_mg */
    P_MEKI,     /* after meki_v: W_mo */
    P_HEAD,     /* the LM head */
} phase;

uint32_t mkv_profile_classify(const mkv_pass_profile *p, const mkv_pass_shape *shape, mkv_component *comp,
                              double *meki_share)
{
    /* the LM head: the products after the last layer (before the argmax) */
    uint32_t head = p->n;
    while (head > 0) {
        const int t = lookup(p->d[head - 1].name);
        if (t < 0 || table[t].k != K_FIXED || table[t].comp != MKV_COMP_LM_HEAD) break;
        head--;
    }
    while (head > 0) {
        const int t = lookup(p->d[head - 1].name);
        if (t < 0 || table[t].k != K_PRODUCT) break;
        head--;
    }
    uint32_t unknown = 0, mg_left = 0;
    int layer = -1;
    phase ph = P_ATTN_IN;
    for (uint32_t i = 0; i < p->n; i++) {
        const int t = lookup(p->d[i].name);
        const mkv_layer_shape *ls = layer >= 0 && (uint32_t)layer < shape->n_layer ? &shape->layers[layer] : NULL;
        meki_share[i] = 0;
        if (t < 0) {
            comp[i] = MKV_COMP_OTHER;
            unknown++;
            continue;
        }
        comp[i] = table[t].comp;
        switch (table[t].k) {
        case K_FIXED:
            break;
        case K_NORM:
            /* after W_o: the FFN norm; elsewhere an attention norm (the first, or the next layer's) */
            ph = ph == P_ATTN_OUT ? P_FFN_IN : P_ATTN_IN;
            break;
        case K_NORM_MEKI:
            meki_share[i] = 0.5;
            ph = P_ATTN_IN;
            break;
        case K_NORM_LAST:
            ph = P_HEAD;
            break;
        case K_ROPE:
            layer++;
            ph = P_ATTN_OUT;
            break;
        case K_ATTN:
            ph = P_ATTN_OUT;
            break;
        case K_SWIGLU:
            ph = P_GATE;
            break;
        case K_SWIGLU_MEKI:
            meki_share[i] = ls ? ls->gate_share : 0;
            ph = P_GATE;
            break;
        case K_FFN_ACT:
            meki_share[i] = ls ? ls->gate_share : 0;
            ph = P_FFN_ACT;
            mg_left = ls ? ls->mg_parts : 0;
            break;
        case K_FFN_OUT:
            /* right after attention: W_o with the FFN norm (decode), else W_down with the next norm */
            if (ph == P_ATTN_OUT) {
                comp[i] = MKV_COMP_ATTENTION;
                ph = P_FFN_IN;
            } else {
                ph = P_ATTN_IN;
            }
            break;
        case K_FFN_OUT_MEKI:
            if (ls && p->d[i].bytes > 0) {
                const double f = (double)ls->meki_bytes / (double)p->d[i].bytes;
                meki_share[i] = f > 1 ? 1 : f;
            }
            ph = P_ATTN_IN;
            break;
        case K_MEKI_V:
            ph = P_MEKI;
            break;
        case K_PRODUCT:
            if (i >= head) {
                comp[i] = MKV_COMP_LM_HEAD;
                break;
            }
            switch (ph) {
            case P_ATTN_IN:
            case P_ATTN_OUT:
                comp[i] = MKV_COMP_ATTENTION;
                break;
            case P_FFN_IN:
                comp[i] = MKV_COMP_FFN;
                meki_share[i] = ls ? ls->gate_share : 0;
                break;
            case P_FFN_ACT:
                if (mg_left) {
                    mg_left--;
                    comp[i] = MKV_COMP_MEKI;
                } else {
                    comp[i] = MKV_COMP_FFN;
                }
                break;
            case P_GATE:
            case P_MEKI:
                comp[i] = MKV_COMP_MEKI;
                break;
            case P_HEAD:
                comp[i] = MKV_COMP_LM_HEAD;
                break;
            }
            break;
        }
    }
    return unknown;
}

double mkv_profile_kernel_bytes(const char *name, uint64_t bytes, double kv_scale)
{
    const int t = lookup(name);
    return t >= 0 && table[t].reads_cache ? (double)bytes * kv_scale : (double)bytes;
}

void mkv_profile_breakdown(const mkv_pass_profile *p, const mkv_pass_shape *shape, mkv_breakdown *out)
{
    mkv_component comp[MKV_PROFILE_MAX_DISPATCHES];
    double share[MKV_PROFILE_MAX_DISPATCHES];
    out->unknown += mkv_profile_classify(p, shape, comp, share);
    for (uint32_t i = 0; i < p->n; i++) {
        const double bytes = mkv_profile_kernel_bytes(p->d[i].name, p->d[i].bytes, shape->kv_scale);
        const double ms = p->d[i].ms;
        out->ms[comp[i]] += ms * (1 - share[i]);
        out->bytes[comp[i]] += bytes * (1 - share[i]);
        if (share[i] > 0) {
            out->ms[MKV_COMP_MEKI] += ms * share[i];
            out->bytes[MKV_COMP_MEKI] += bytes * share[i];
            out->shared_ms += ms;
        }
    }
}
