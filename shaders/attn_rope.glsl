// attn_rope's part of attn.comp (included there under ROPE): rope_kv.comp's
// work -- q/k/v bias, q/k RMSNorm, RoPE -- for the lanes' chunks of a head,
// read from the raw [q | k | v] row (bindings 7-11). The includer defines
// HD, G, CW, NCH, CPL, P, NEOX, QK_NORM, HAS_BIAS, team_sum, pc and the
// buffers qkv, bias, qn, kn, rope and (written) kc, kc4, vc, vc4.

// Element e of [q | k | v], bias added.
float raw(uint e) { return qkv[e] + (HAS_BIAS != 0u ? bias[e] : 0.0); }

// This lane's share of the sum of squares of the head at e0 (its chunks).
float raw_squares(uint e0, uint lane)
{
    float ss = 0.0;
    [[unroll]] for (uint c = 0u; c < CPL; c++) {
        const uint ci = c * P + lane;
        [[unroll]] for (uint k = 0u; k < CW; k++)
            if (ci < NCH) ss += raw(e0 + ci * CW + k) * raw(e0 + ci * CW + k);
    }
    return ss;
}

// Chunk ci of the head at e0 of [q | k | v], normed (inv: its RMSNorm
// scale, w: q_norm or k_norm) and rotated for position pos, as 8 floats
// (the upper 6 zero for word chunks). A dimension's pair partner may sit in
// another lane's chunk: each lane reads both from memory.
void rope_chunk(uint e0, uint ci, bool is_q, float inv, uint pos, out vec4 lo, out vec4 hi)
{
    const uint half_hd = HD / 2u;
    float y[8];
    [[unroll]] for (uint k = 0u; k < 8u; k++) {
        y[k] = 0.0;
        const uint d = ci * CW + k;
        if (k < CW) {
            const bool second = NEOX != 0u ? d >= half_hd : (d & 1u) != 0u;
            const uint i = NEOX != 0u ? (second ? d - half_hd : d) : d >> 1;
            const uint dp = NEOX != 0u ? (second ? d - half_hd : d + half_hd) : d ^ 1u;
            float x = raw(e0 + d) * inv, xp = raw(e0 + dp) * inv;
            if (QK_NORM != 0u) {
                x *= is_q ? qn[d] : kn[d];
                xp *= is_q ? qn[dp] : kn[dp];
            }
            const vec2 cs = rope[pos * half_hd + i];
            y[k] = second ? x * cs.x + xp * cs.y : x * cs.x - xp * cs.y;
        }
    }
    lo = vec4(y[0], y[1], y[2], y[3]);
    hi = vec4(y[4], y[5], y[6], y[7]);
}

// Appends the new position's K (biased, normed, rotated) and V (biased)
// rows of KV head kvh to the caches as f16: subgroup 0 of the workgroup
// calls it (the norm's team sums), its first team writes.
void append_kv(uint kvh, uint pos, uint lane, uint team)
{
    const uint ke = (pc.n_kv_head * G + kvh) * HD, ve = ke + pc.n_kv_head * HD;
    const float inv = QK_NORM != 0u ? inversesqrt(team_sum(raw_squares(ke, lane), team) / float(HD) + pc.eps) : 1.0;
    const uint row = MKV_KV_ROW(pos, kvh, pc.n_ctx) * NCH;
    [[unroll]] for (uint c = 0u; c < CPL; c++) {
        const uint ci = c * P + lane;
        if (ci < NCH && team == 0u) {
            vec4 a, e;
            rope_chunk(ke, ci, false, inv, pos, a, e);
            if (CW == 8u) {
                kc4[row + ci] = uvec4(packHalf2x16(a.xy), packHalf2x16(a.zw), packHalf2x16(e.xy), packHalf2x16(e.zw));
                const uint v0 = ve + 8u * ci;
                vc4[row + ci] = uvec4(packHalf2x16(vec2(raw(v0), raw(v0 + 1u))), packHalf2x16(vec2(raw(v0 + 2u), raw(v0 + 3u))),
                                      packHalf2x16(vec2(raw(v0 + 4u), raw(v0 + 5u))), packHalf2x16(vec2(raw(v0 + 6u), raw(v0 + 7u))));
            } else {
                kc[row + ci] = packHalf2x16(a.xy);
                vc[row + ci] = packHalf2x16(vec2(raw(ve + 2u * ci), raw(ve + 2u * ci + 1u)));
            }
        }
    }
}
