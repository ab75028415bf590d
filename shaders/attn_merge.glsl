// The merge of one query head's split partials (kv_layout.h: per split a
// head of m, l, then the unnormalised o) into its attention output:
// with M = max_s m_s, out = sum_s e^(m_s-M) o_s / sum_s e^(m_s-M) l_s.
// Empty splits have l = 0 and o = 0 and drop out. Used by attn_combine.comp
// (a dispatch of its own, a workgroup per head) and by attn.comp's merge
// (attn.merge: the last split of each KV head to finish merges its query
// heads in the same dispatch).
// The splits are spread over the workgroup twice: first a split per
// invocation for M and the weights e^(m_s-M) (into shared memory), then,
// where the workgroup has more invocations than the output has groups of
// MERGE_P values, J groups of invocations each sum every J-th split and
// meet in shared memory. A GPU then walks n_split / J splits one after
// another, not n_split three times (an NVIDIA H200 with 64 splits, KV
// 10240: the serial walks took 0.56 ms of a token, a third of attention's
// kernels; now 0.34 ms); a workgroup of one subgroup (lavapipe's) has J = 1
// and sums every split itself.
// The includer includes wg_sum.glsl and defines
//   MERGE_P            output values an invocation takes at once: 1 or 4
//                      (4: head_dim and the output's rows multiples of 4)
//   MERGE_LD(i)        float i of the partials
//   MERGE_LD4(i)       vec4 i of the partials (floats 4i .. 4i + 3)
//   MERGE_ST(i, v)     float i of the output = v
//   MERGE_ST4(i, v)    vec4 i of the output = v
// Every invocation of the workgroup calls merge_head (it holds barriers).

// The groups' sums take at most 256 invocations (4 KB: attn.comp's
// workgroups of 1024 hold 32 KB of their own merge of teams, and a device
// may have no more than 48 KB; one of 64 splits' sums is then 4 to 16 deep).
const uint MG_N = WG < 256u ? WG : 256u;
shared float mg_w[MKV_ATTN_MAX_SPLIT]; // each split's weight e^(m_s-M) (0: empty)
shared vec4 mg_o[MG_N];

vec2 merge_ml(uint at) { return MERGE_P == 4u ? MERGE_LD4(at / 4u).xy : vec2(MERGE_LD(at), MERGE_LD(at + 1u)); }
vec4 merge_o(uint at) { return MERGE_P == 4u ? MERGE_LD4(at / 4u) : vec4(MERGE_LD(at), 0.0, 0.0, 0.0); }

// The head whose partials start at float `base` (n_split of head_dim + 2
// floats each) into output floats ob .. ob + hd - 1.
void merge_head(uint base, uint n_split, uint hd, uint ob)
{
    const uint tid = gl_LocalInvocationID.x, stride = hd + MKV_ATTN_PART_HEAD;
    // M, then the weights and L = sum_s w_s l_s: a split per invocation
    // (the loops test at their end: common.glsl, END_TESTED)
    float mx = -3.0e38;
    uint s = tid;
    if (s < n_split) do {
        const vec2 ml = merge_ml(base + s * stride);
        if (ml.y > 0.0) mx = max(mx, ml.x);
        s += WG;
    } while (s < n_split);
    const float M = workgroup_max(mx);
    float l = 0.0;
    s = tid;
    if (s < n_split) do {
        const vec2 ml = merge_ml(base + s * stride);
        const float w = ml.y > 0.0 ? exp(ml.x - M) : 0.0;
        mg_w[s] = w;
        l += w * ml.y;
        s += WG;
    } while (s < n_split);
    const float L = workgroup_sum(l); // (its barriers also publish mg_w)
    const float inv_l = L > 0.0 ? 1.0 / L : 0.0; // L = 0: a row past the pass's tokens
    // o: ND groups of MERGE_P values; J groups of invocations (J = 1: each
    // invocation takes groups tid, tid + WG, .. over every split; J > 1:
    // invocations past J * ND have none)
    const uint nd = (hd + MERGE_P - 1u) / MERGE_P, J = max(MG_N / nd, 1u);
    const uint c0 = J > 1u ? tid % nd : tid, j = J > 1u ? tid / nd : 0u;
    uint c = c0;
    do {
        vec4 o = vec4(0.0);
        if (c < nd && j < J) {
            s = j;
            if (s < n_split) do {
                o += mg_w[s] * merge_o(base + s * stride + MKV_ATTN_PART_HEAD + MERGE_P * c);
                s += J;
            } while (s < n_split);
        }
        if (J > 1u) {
            if (tid < J * nd) mg_o[tid] = o;
            barrier();
            if (tid < nd) {
                o = vec4(0.0);
                for (uint k = 0u; k < J; k++) o += mg_o[tid + k * nd];
            }
        }
        if (c < nd && j == 0u) {
            if (MERGE_P == 4u) MERGE_ST4((ob + MERGE_P * c) / 4u, o * inv_l); else MERGE_ST(ob + c, o.x * inv_l);
        }
        c += WG;
    } while (J == 1u && c - c0 < nd);
    barrier(); // mg_w and mg_o free for the next head
}
