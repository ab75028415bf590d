/* Synthetic models: named shapes, determinism, what the loader sees, file
 * sizes of every config, per-tensor weight types (llama-quantize's mixes
 * and fallbacks), weight statistics, progress output, and finite, O(1)
 * activations through the whole model (CPU reference). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"
#include "gguf.h"
#include "model_desc.h"
#include "ref.h"
#include "synth.h"
#include "test_util.h"

/* ---- local helpers ---- */

static const char *tmp_path(const char *name) { return tu_path_in("synth", name); }

static const char *in_dir(const char *dir, const char *file)
{
    static char ring[4][PATH_MAX];
    static unsigned next;
    char *p = ring[next++ % 4];
    ck_assert_int_lt(snprintf(p, PATH_MAX, "%s/%s", dir, file), PATH_MAX);
    return p;
}

static void remove_dir(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    ck_assert_msg(stat(path, &sb) == 0, "%s: %s", path, strerror(errno));
    return (uint64_t)sb.st_size;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Byte-compares two files (streamed: small is ~200 MB). */
static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    ck_assert(fa && fb);
    static uint8_t ba[1 << 16], bb[1 << 16];
    bool same = true;
    for (;;) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0) {
            same = false;
            break;
        }
        if (na == 0) break;
    }
    fclose(fa);
    fclose(fb);
    return same;
}

static void synth(const char *dir, const char *shape, uint64_t seed, bool dense, uint32_t wtype, uint32_t bank_dtype)
{
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape(shape), dir);
    o.seed = seed;
    o.dense = dense;
    o.wtype = wtype;
    o.bank_dtype = bank_dtype;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
}

/* ---- shapes ----------------------------------------------------------------- */

START_TEST(test_every_named_shape_resolves_to_its_table_row)
{
    static const struct {
        const char *name;
        uint32_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ffn, d_mem, n_vocab;
        float theta;
    } want[] = {
        {"tiny", 4, 256, 4, 2, 64, 768, 64, 4096, 10000.0f},
        {"small", 8, 512, 8, 4, 64, 1536, 64, 32000, 10000.0f},
        {"0.6b", 28, 1024, 16, 8, 128, 3072, 128, 151680, 500000.0f},
        {"1.7b", 28, 2048, 16, 8, 128, 6144, 256, 151680, 500000.0f},
        {"4b", 36, 2560, 32, 8, 128, 9728, 512, 151680, 500000.0f},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const mkv_synth_shape *s = mkv_synth_find_shape(want[i].name);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s->name, want[i].name);
        ck_assert(s->n_layer == want[i].n_layer && s->d_model == want[i].d_model && s->n_head == want[i].n_head);
        ck_assert(s->n_kv_head == want[i].n_kv_head && s->head_dim == want[i].head_dim && s->d_ffn == want[i].d_ffn);
        ck_assert(s->d_mem == want[i].d_mem && s->n_vocab == want[i].n_vocab);
        ck_assert_float_eq(s->rope_theta, want[i].theta);
        ck_assert_float_eq(s->norm_eps, 1e-6f);
    }
    /* paper bank sizes (DESIGN §2 table): 0.54 B, 1.09 B, 2.80 B elements */
    const mkv_synth_shape *s = mkv_synth_find_shape("4b");
    ck_assert_uint_eq((uint64_t)s->n_layer * s->n_vocab * s->d_mem / 10000000, 279);
    ck_assert_ptr_null(mkv_synth_find_shape("7b"));
    ck_assert_ptr_null(mkv_synth_find_shape(NULL));
}
END_TEST

START_TEST(test_invalid_options_are_refused)
{
    mkv_synth_opts o;
    mkv_error err;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), tmp_path("never"));
    o.wtype = MKV_GGML_Q2_K;
    ck_assert_int_eq(mkv_synth_write(&o, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "Q2_K"), "%s", err.msg);
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), tmp_path("never"));
    o.wtype = MKV_SYNTH_Q4_K_M; /* a mix cannot be pure */
    o.pure = true;
    ck_assert_int_eq(mkv_synth_write(&o, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "Q4_K_M") && strstr(err.msg, "pure"), "%s", err.msg);
    uint32_t nf;
    ck_assert_int_eq(mkv_synth_fallbacks(&o, &nf, &err), MKV_ERR_INVALID_ARG);
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), tmp_path("never"));
    o.arch = "gpt2";
    ck_assert_int_eq(mkv_synth_write(&o, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "arch = gpt2"), "%s", err.msg);
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), tmp_path("never"));
    o.shape.n_kv_head = 3;
    ck_assert_int_eq(mkv_synth_write(&o, &err), MKV_ERR_INVALID_ARG);
    ck_assert(!exists(in_dir(tmp_path("never"), "model.gguf")));
}
END_TEST

/* ---- tiny, written ----------------------------------------------------------- */

START_TEST(test_tiny_is_deterministic_by_seed)
{
    const char *a = tmp_path("det_a"), *b = tmp_path("det_b"), *c = tmp_path("det_c");
    synth(a, "tiny", 5, false, MKV_GGML_F16, MKV_BANK_F16);
    synth(b, "tiny", 5, false, MKV_GGML_F16, MKV_BANK_F16);
    synth(c, "tiny", 6, false, MKV_GGML_F16, MKV_BANK_F16);
    ck_assert(same_file(in_dir(a, "model.gguf"), in_dir(b, "model.gguf")));
    ck_assert(same_file(in_dir(a, "bank.mkb"), in_dir(b, "bank.mkb")));
    ck_assert(!same_file(in_dir(a, "model.gguf"), in_dir(c, "model.gguf")));
    ck_assert(!same_file(in_dir(a, "bank.mkb"), in_dir(c, "bank.mkb")));
    /* a different seed changes every tensor, not just one */
    mkv_gguf *ga, *gc;
    mkv_error err;
    ck_assert_int_eq(mkv_gguf_open(in_dir(a, "model.gguf"), &ga, &err), MKV_OK);
    ck_assert_int_eq(mkv_gguf_open(in_dir(c, "model.gguf"), &gc, &err), MKV_OK);
    for (uint64_t i = 0; i < ga->n_tensors; i++)
        ck_assert_msg(memcmp(ga->tensors[i].data, gc->tensors[i].data, ga->tensors[i].nbytes) != 0, "%s",
                      ga->tensors[i].name);
    mkv_gguf_close(ga);
    mkv_gguf_close(gc);
}
END_TEST

START_TEST(test_tiny_loads_with_its_shape_and_a_bound_bank)
{
    const char *d = tmp_path("tiny_load");
    synth(d, "tiny", 1, false, MKV_GGML_F16, MKV_BANK_Q8);
    mkv_model_desc *m;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(in_dir(d, "model.gguf"), &m, &err) == MKV_OK, "%s", err.msg);
    const mkv_model_config *c = &m->cfg;
    const mkv_synth_shape *s = mkv_synth_find_shape("tiny");
    ck_assert_str_eq(c->arch, "qwen3");
    ck_assert(c->n_layer == s->n_layer && c->d_model == s->d_model && c->n_head == s->n_head);
    ck_assert(c->n_kv_head == s->n_kv_head && c->head_dim == s->head_dim && c->d_ffn == s->d_ffn);
    ck_assert(c->d_mem == s->d_mem && c->n_vocab == s->n_vocab);
    ck_assert_float_eq(c->rope_theta, s->rope_theta);
    ck_assert_float_eq(c->norm_eps, s->norm_eps);
    ck_assert(c->has_qk_norm && c->tied_output);
    ck_assert(m->layers[3].meki_norm != NULL);

    mkv_bank *b;
    ck_assert_msg(mkv_bank_open(in_dir(d, "bank.mkb"), &b, &err) == MKV_OK, "%s", err.msg);
    const mkv_bank_header *h = mkv_bank_info(b);
    ck_assert(h->dtype == MKV_BANK_Q8 && h->n_layer == 4 && h->n_vocab == 4096 && h->d_mem == 64);
    ck_assert(h->align == 4096 && (h->flags & MKV_BANK_FLAG_SLAB_CRC));
    ck_assert_mem_eq(h->fingerprint, c->bank_fingerprint, 32);
    mkv_bank_close(b);
    mkv_model_desc_free(m);

    /* untied: output.weight present and distinct */
    mkv_synth_opts o;
    d = tmp_path("tiny_untied");
    mkv_synth_opts_default(&o, s, d);
    o.tied_output = false;
    o.dense = true;
    ck_assert_int_eq(mkv_synth_write(&o, &err), MKV_OK);
    ck_assert_msg(mkv_model_desc_load(in_dir(d, "model.gguf"), &m, &err) == MKV_OK, "%s", err.msg);
    ck_assert(!m->cfg.tied_output && m->output != m->tok_embd);
    mkv_model_desc_free(m);
}
END_TEST

START_TEST(test_dense_has_no_meki_tensors_and_no_bank)
{
    const char *d = tmp_path("tiny_dense");
    remove_dir(d);
    synth(d, "tiny", 1, true, MKV_GGML_F16, MKV_BANK_F16);
    ck_assert(!exists(in_dir(d, "bank.mkb")));
    mkv_model_desc *m;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(in_dir(d, "model.gguf"), &m, &err) == MKV_OK, "%s", err.msg);
    ck_assert_uint_eq(m->cfg.d_mem, 0);
    ck_assert_ptr_null(mkv_gguf_find_kv(m->gguf, "meki.dim"));
    ck_assert_ptr_null(mkv_gguf_find_kv(m->gguf, "meki.bank_fingerprint"));
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
        ck_assert_msg(strstr(m->gguf->tensors[i].name, "meki") == NULL, "%s", m->gguf->tensors[i].name);
    for (uint32_t l = 0; l < m->cfg.n_layer; l++) ck_assert_ptr_null(m->layers[l].meki_gate);
    mkv_model_desc_free(m);
}
END_TEST

/* Type of tensor `name` in an open file (fails the test if absent). */
static uint32_t type_of(const mkv_gguf *g, const char *name)
{
    const mkv_gguf_tensor *t = mkv_gguf_find_tensor(g, name);
    ck_assert_msg(t != NULL, "%s: missing", name);
    return t->type;
}

/* Layer of "blk.N.…" (0 for other names). */
static uint32_t layer_of(const char *name)
{
    unsigned l = 0;
    return sscanf(name, "blk.%u.", &l) == 1 ? l : 0;
}

/* Every wtype: matrices as mkv_synth_tensor_type says (checked by name in
 * the tests below), vectors F32, general.file_type llama.cpp's value, and
 * the predicted file size. */
START_TEST(test_every_wtype_stores_matrices_as_chosen_and_vectors_f32)
{
    static const struct { const char *name; uint32_t wtype, ftype; } w[] = {
        {"f32", MKV_GGML_F32, 0},   {"f16", MKV_GGML_F16, 1},   {"bf16", MKV_GGML_BF16, 32},
        {"q8_0", MKV_GGML_Q8_0, 7}, {"q4_0", MKV_GGML_Q4_0, 2}, {"q4_1", MKV_GGML_Q4_1, 3},
        {"q5_0", MKV_GGML_Q5_0, 8}, {"q5_1", MKV_GGML_Q5_1, 9}, {"q4_k", MKV_GGML_Q4_K, 14},
        {"q5_k", MKV_GGML_Q5_K, 16}, {"q6_k", MKV_GGML_Q6_K, 18}, {"q4_k_m", MKV_SYNTH_Q4_K_M, 15},
        {"q5_k_m", MKV_SYNTH_Q5_K_M, 17},
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        uint32_t parsed = 0;
        ck_assert(mkv_synth_parse_wtype(w[i].name, &parsed) && parsed == w[i].wtype);
        const char *d = tmp_path("tiny_wtype");
        synth(d, "tiny", 2, false, w[i].wtype, MKV_BANK_F16);
        mkv_synth_opts o;
        mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), d);
        o.wtype = w[i].wtype;
        mkv_gguf *g;
        mkv_error err;
        ck_assert_msg(mkv_gguf_open(in_dir(d, "model.gguf"), &g, &err) == MKV_OK, "%s", err.msg);
        for (uint64_t t = 0; t < g->n_tensors; t++) {
            const mkv_gguf_tensor *x = &g->tensors[t];
            uint32_t want = x->n_dims == 2 ? mkv_synth_tensor_type(&o, x->name, x->ne[0], layer_of(x->name))
                                           : MKV_GGML_F32;
            ck_assert_msg(x->type == want, "%s %s: %s, want %s", w[i].name, x->name, mkv_ggml_type_name(x->type),
                          mkv_ggml_type_name(want));
        }
        uint32_t ft;
        ck_assert_int_eq(mkv_gguf_get_u32(g, "general.file_type", &ft, &err), MKV_OK);
        ck_assert_msg(ft == w[i].ftype, "%s: file_type %u", w[i].name, ft);
        mkv_gguf_close(g);
        uint64_t mb, bb;
        ck_assert_int_eq(mkv_synth_file_sizes(&o, &mb, &bb, &err), MKV_OK);
        ck_assert_uint_eq(file_size(in_dir(d, "model.gguf")), mb);
    }
    uint32_t x;
    ck_assert(!mkv_synth_parse_wtype("q4_k_s", &x) && !mkv_synth_parse_wtype("Q4_0", &x));
    ck_assert_str_eq(mkv_synth_wtype_name(MKV_SYNTH_Q5_K_M), "Q5_K_M");
    ck_assert_str_eq(mkv_synth_wtype_name(MKV_GGML_Q6_K), "Q6_K");
}
END_TEST

/* Every block of tensor `name` decodes to within rel * (block max |x|) +
 * 1e-6 of the float stream synth drew it from (test_quant's bounds). */
static void expect_near_stream(const mkv_gguf *g, uint64_t seed, const char *name, bool embed, double rel)
{
    const mkv_gguf_tensor *t = mkv_gguf_find_tensor(g, name);
    ck_assert_ptr_nonnull(t);
    const uint64_t n = t->ne[0] * t->ne[1];
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    float scale = embed ? sqrtf(3.0f) * 3.0f / sqrtf((float)t->ne[0]) : sqrtf(3.0f / (float)t->ne[0]);
    mkv_synth_uniform(seed, name, 0.0f, scale, 0, n, x);
    mkv_error err;
    ck_assert_int_eq(mkv_gguf_tensor_to_f32(g, t, y, &err), MKV_OK);
    const uint64_t bl = t->type == MKV_GGML_Q4_K || t->type == MKV_GGML_Q5_K || t->type == MKV_GGML_Q6_K ? 256 : 32;
    for (uint64_t b = 0; b < n / bl; b++) {
        float amax = 0, e = 0;
        for (uint64_t j = b * bl; j < (b + 1) * bl; j++) {
            amax = fmaxf(amax, fabsf(x[j]));
            e = fmaxf(e, fabsf(y[j] - x[j]));
        }
        ck_assert_msg(e <= rel * amax + 1e-6, "%s block %" PRIu64 ": error %g, max |x| %g", name, b, e, amax);
    }
    free(x);
    free(y);
}

/* llama.cpp's Q4_K_M on tiny (4 layers): use_more_bits(i, 4) holds for
 * i = 2 ((i - 0) % 3 == 2) and i = 3 (>= 7*4/8): attn_v and ffn_down
 * there Q6_K; the tied LM head Q6_K; meki_out (rows of d_mem = 64) falls
 * back Q4_K -> Q5_0; everything else Q4_K; norms F32. */
START_TEST(test_q4_k_m_tiny_mixes_types_as_llama_quantize)
{
    const char *d = tmp_path("tiny_q4_k_m");
    synth(d, "tiny", 4, false, MKV_SYNTH_Q4_K_M, MKV_BANK_F16);
    mkv_gguf *g;
    mkv_error err;
    ck_assert_msg(mkv_gguf_open(in_dir(d, "model.gguf"), &g, &err) == MKV_OK, "%s", err.msg);
    ck_assert_uint_eq(type_of(g, "token_embd.weight"), MKV_GGML_Q6_K);
    ck_assert_uint_eq(type_of(g, "output_norm.weight"), MKV_GGML_F32);
    char n[64];
    for (uint32_t l = 0; l < 4; l++) {
        const uint32_t more = l >= 2 ? MKV_GGML_Q6_K : MKV_GGML_Q4_K;
        static const char *const plain[] = {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up", "meki_gate"};
        for (int i = 0; i < 6; i++) {
            snprintf(n, sizeof n, "blk.%u.%s.weight", l, plain[i]);
            ck_assert_msg(type_of(g, n) == MKV_GGML_Q4_K, "%s", n);
        }
        snprintf(n, sizeof n, "blk.%u.attn_v.weight", l);
        ck_assert_msg(type_of(g, n) == more, "%s", n);
        snprintf(n, sizeof n, "blk.%u.ffn_down.weight", l);
        ck_assert_msg(type_of(g, n) == more, "%s", n);
        snprintf(n, sizeof n, "blk.%u.meki_out.weight", l);
        ck_assert_msg(type_of(g, n) == MKV_GGML_Q5_0, "%s", n);
        snprintf(n, sizeof n, "blk.%u.ffn_norm.weight", l);
        ck_assert_msg(type_of(g, n) == MKV_GGML_F32, "%s", n);
    }
    /* the stored blocks decode near the floats drawn (chunking and block
     * offsets right in every type of the mix) */
    expect_near_stream(g, 4, "token_embd.weight", true, 0.039);
    expect_near_stream(g, 4, "blk.1.attn_q.weight", false, 0.068);
    expect_near_stream(g, 4, "blk.3.ffn_down.weight", false, 0.039);
    expect_near_stream(g, 4, "blk.0.meki_out.weight", false, 0.0632);
    mkv_gguf_close(g);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), d);
    o.wtype = MKV_SYNTH_Q4_K_M;
    uint32_t nf;
    ck_assert_int_eq(mkv_synth_fallbacks(&o, &nf, &err), MKV_OK);
    ck_assert_uint_eq(nf, 4); /* one meki_out per layer */
    o.dense = true;
    ck_assert_int_eq(mkv_synth_fallbacks(&o, &nf, &err), MKV_OK);
    ck_assert_uint_eq(nf, 0);
}
END_TEST

/* use_more_bits(i, n): i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2; the
 * layers listed here were worked out by hand from that rule. */
START_TEST(test_k_m_presets_give_q6_k_to_attn_v_and_ffn_down_of_llama_cpps_layers)
{
    static const struct { uint32_t n_layer; uint32_t n_more; uint32_t more[20]; } cases[] = {
        {4, 2, {2, 3}},
        {8, 4, {0, 3, 6, 7}},
        {28, 14, {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27}},
        {36, 18, {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31, 32, 33, 34, 35}},
    };
    const uint32_t presets[2] = {MKV_SYNTH_Q4_K_M, MKV_SYNTH_Q5_K_M}, base[2] = {MKV_GGML_Q4_K, MKV_GGML_Q5_K};
    for (int p = 0; p < 2; p++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            mkv_synth_opts o;
            mkv_synth_opts_default(&o, mkv_synth_find_shape("4b"), tmp_path("never"));
            o.shape.n_layer = cases[c].n_layer;
            o.wtype = presets[p];
            for (uint32_t l = 0; l < cases[c].n_layer; l++) {
                bool more = false;
                for (uint32_t k = 0; k < cases[c].n_more; k++) more |= cases[c].more[k] == l;
                const uint32_t want = more ? MKV_GGML_Q6_K : base[p];
                char n[64];
                snprintf(n, sizeof n, "blk.%u.attn_v.weight", l);
                ck_assert_msg(mkv_synth_tensor_type(&o, n, 2560, l) == want, "%u layers: %s", cases[c].n_layer, n);
                snprintf(n, sizeof n, "blk.%u.ffn_down.weight", l);
                ck_assert_msg(mkv_synth_tensor_type(&o, n, 9728, l) == want, "%u layers: %s", cases[c].n_layer, n);
                snprintf(n, sizeof n, "blk.%u.attn_k.weight", l);
                ck_assert_uint_eq(mkv_synth_tensor_type(&o, n, 2560, l), base[p]);
                snprintf(n, sizeof n, "blk.%u.meki_out.weight", l); /* d_mem 512: whole K blocks */
                ck_assert_uint_eq(mkv_synth_tensor_type(&o, n, 512, l), base[p]);
            }
        }
}
END_TEST

/* The LM head and the rows-not-whole-blocks fallbacks, asked by name. */
START_TEST(test_lm_head_and_fallback_types_follow_llama_quantize)
{
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), tmp_path("never"));
#define TT(name, ne0) mkv_synth_tensor_type(&o, name, ne0, 1)
    o.wtype = MKV_GGML_Q4_0; /* tied: token_embd is the head */
    ck_assert_uint_eq(TT("token_embd.weight", 256), MKV_GGML_Q6_K);
    ck_assert_uint_eq(TT("blk.1.attn_q.weight", 256), MKV_GGML_Q4_0);
    ck_assert_uint_eq(TT("token_embd.weight", 320), MKV_GGML_Q8_0); /* Q6_K does not fit: -> Q8_0 */
    ck_assert_uint_eq(TT("blk.1.attn_q_norm.weight", 64), MKV_GGML_F32);
    ck_assert_uint_eq(TT("blk.1.attn_q.bias", 256), MKV_GGML_F32);
    o.tied_output = false; /* output.weight is the head, token_embd an input */
    ck_assert_uint_eq(TT("token_embd.weight", 256), MKV_GGML_Q4_0);
    ck_assert_uint_eq(TT("output.weight", 256), MKV_GGML_Q6_K);
    o.wtype = MKV_GGML_Q4_K;
    ck_assert_uint_eq(TT("output.weight", 320), MKV_GGML_Q8_0); /* ne0 not whole Q4_K blocks: Q8_0 */
    ck_assert_uint_eq(TT("blk.1.meki_out.weight", 64), MKV_GGML_Q5_0);
    ck_assert_uint_eq(TT("blk.1.meki_out.weight", 48), MKV_GGML_F16); /* Q5_0 does not fit either */
    o.wtype = MKV_GGML_Q5_K;
    ck_assert_uint_eq(TT("blk.1.meki_out.weight", 64), MKV_GGML_Q5_1);
    o.wtype = MKV_GGML_Q6_K;
    ck_assert_uint_eq(TT("output.weight", 256), MKV_GGML_Q6_K);
    ck_assert_uint_eq(TT("blk.1.meki_out.weight", 64), MKV_GGML_Q8_0);
    o.wtype = MKV_GGML_Q8_0;
    ck_assert_uint_eq(TT("output.weight", 256), MKV_GGML_Q8_0); /* Q8_0 keeps its head */
    ck_assert_uint_eq(TT("blk.1.attn_q.weight", 200), MKV_GGML_F16);
    o.wtype = MKV_GGML_F16;
    ck_assert_uint_eq(TT("output.weight", 200), MKV_GGML_F16);
    ck_assert_uint_eq(TT("blk.1.meki_out.weight", 48), MKV_GGML_F16);
    o.wtype = MKV_GGML_BF16;
    ck_assert_uint_eq(TT("blk.1.ffn_down.weight", 768), MKV_GGML_BF16);
    /* pure: no head rule, the fallbacks stay (llama.cpp applies them to --pure too) */
    o.pure = true;
    o.tied_output = true;
    o.wtype = MKV_GGML_Q4_K;
    ck_assert_uint_eq(TT("token_embd.weight", 256), MKV_GGML_Q4_K);
    ck_assert_uint_eq(TT("blk.1.meki_out.weight", 64), MKV_GGML_Q5_0);
    o.wtype = MKV_GGML_Q4_0;
    ck_assert_uint_eq(TT("token_embd.weight", 256), MKV_GGML_Q4_0);
#undef TT
}
END_TEST

/* d_model = 200 is not whole Q8_0 blocks: every matrix reading the
 * residual stream (and the tied head) falls back to F16, counted; the
 * others stay Q8_0; the file is written and reads back. */
START_TEST(test_rows_not_whole_blocks_fall_back_to_f16_and_are_counted)
{
    const char *d = tmp_path("tiny_d200");
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), d);
    o.shape.d_model = 200;
    o.wtype = MKV_GGML_Q8_0;
    mkv_error err;
    uint32_t nf;
    ck_assert_int_eq(mkv_synth_fallbacks(&o, &nf, &err), MKV_OK);
    ck_assert_uint_eq(nf, 4 * 6 + 1); /* attn_q/k/v, ffn_gate/up, meki_gate per layer + token_embd */
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    mkv_gguf *g;
    ck_assert_int_eq(mkv_gguf_open(in_dir(d, "model.gguf"), &g, &err), MKV_OK);
    ck_assert_uint_eq(type_of(g, "token_embd.weight"), MKV_GGML_F16);
    ck_assert_uint_eq(type_of(g, "blk.2.attn_v.weight"), MKV_GGML_F16);
    ck_assert_uint_eq(type_of(g, "blk.2.meki_gate.weight"), MKV_GGML_F16);
    ck_assert_uint_eq(type_of(g, "blk.2.attn_output.weight"), MKV_GGML_Q8_0); /* ne0 = 256 */
    ck_assert_uint_eq(type_of(g, "blk.2.ffn_down.weight"), MKV_GGML_Q8_0);    /* ne0 = 768 */
    ck_assert_uint_eq(type_of(g, "blk.2.meki_out.weight"), MKV_GGML_Q8_0);    /* ne0 = 64 */
    mkv_gguf_close(g);
    uint64_t mb, bb;
    ck_assert_int_eq(mkv_synth_file_sizes(&o, &mb, &bb, &err), MKV_OK);
    ck_assert_uint_eq(file_size(in_dir(d, "model.gguf")), mb);
}
END_TEST

/* --pure: every matrix exactly the type, the head included. */
START_TEST(test_pure_q4_0_stores_every_matrix_as_q4_0)
{
    const char *d = tmp_path("tiny_q4_0_pure");
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), d);
    o.wtype = MKV_GGML_Q4_0;
    o.pure = true;
    mkv_error err;
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    mkv_gguf *g;
    ck_assert_int_eq(mkv_gguf_open(in_dir(d, "model.gguf"), &g, &err), MKV_OK);
    for (uint64_t t = 0; t < g->n_tensors; t++)
        ck_assert_uint_eq(g->tensors[t].type, g->tensors[t].n_dims == 2 ? MKV_GGML_Q4_0 : MKV_GGML_F32);
    mkv_gguf_close(g);
}
END_TEST

START_TEST(test_bf16_weights_are_the_f32_weights_rounded)
{
    const char *a = tmp_path("tiny_f32w"), *b = tmp_path("tiny_bf16w");
    synth(a, "tiny", 3, true, MKV_GGML_F32, MKV_BANK_F16);
    synth(b, "tiny", 3, true, MKV_GGML_BF16, MKV_BANK_F16);
    mkv_gguf *ga, *gb;
    mkv_error err;
    ck_assert_int_eq(mkv_gguf_open(in_dir(a, "model.gguf"), &ga, &err), MKV_OK);
    ck_assert_int_eq(mkv_gguf_open(in_dir(b, "model.gguf"), &gb, &err), MKV_OK);
    const mkv_gguf_tensor *ta = mkv_gguf_find_tensor(ga, "blk.1.ffn_down.weight");
    const mkv_gguf_tensor *tb = mkv_gguf_find_tensor(gb, "blk.1.ffn_down.weight");
    ck_assert_uint_eq(tb->type, MKV_GGML_BF16);
    uint64_t n = ta->ne[0] * ta->ne[1];
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    ck_assert_int_eq(mkv_gguf_tensor_to_f32(ga, ta, x, &err), MKV_OK);
    ck_assert_int_eq(mkv_gguf_tensor_to_f32(gb, tb, y, &err), MKV_OK);
    for (uint64_t i = 0; i < n; i++) {
        /* nearest bf16: within half a unit of the 8-bit mantissa */
        ck_assert_msg(fabsf(y[i] - x[i]) <= fabsf(x[i]) * (1.0f / 256), "%" PRIu64 ": %g vs %g", i, y[i], x[i]);
        uint32_t bits;
        memcpy(&bits, &y[i], 4);
        ck_assert_uint_eq(bits & 0xffff, 0);
    }
    free(x);
    free(y);
    mkv_gguf_close(ga);
    mkv_gguf_close(gb);
}
END_TEST

/* --arch: key prefix, tensors, and what the loader makes of them. */
START_TEST(test_arch_option_writes_prefixed_keys_and_its_tensors)
{
    const char *archs[3] = {"qwen3", "qwen2", "llama"};
    for (int i = 0; i < 3; i++) {
        const char *d = tmp_path(archs[i]);
        mkv_synth_opts o;
        mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), d);
        o.arch = archs[i];
        mkv_error err;
        ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
        mkv_model_desc *m;
        ck_assert_msg(mkv_model_desc_load(in_dir(d, "model.gguf"), &m, &err) == MKV_OK, "%s", err.msg);
        const mkv_model_config *c = &m->cfg;
        char key[64];
        snprintf(key, sizeof key, "%s.block_count", archs[i]);
        ck_assert_ptr_nonnull(mkv_gguf_find_kv(m->gguf, key));
        ck_assert_str_eq(c->arch, archs[i]);
        ck_assert_int_eq(c->rope_style, i == 2 ? MKV_ROPE_NORM : MKV_ROPE_NEOX);
        ck_assert(c->has_qk_norm == (i == 0));
        ck_assert(c->has_qkv_bias == (i == 1));
        ck_assert((m->layers[2].q_norm != NULL) == (i == 0));
        ck_assert((m->layers[2].bk != NULL) == (i == 1));
        if (i == 1) ck_assert_uint_eq(m->layers[2].bk->ne[0], 128); /* n_kv_head * head_dim */
        ck_assert(c->n_layer == 4 && c->d_mem == 64 && c->n_vocab == 4096);
        uint64_t mb, bb;
        ck_assert_int_eq(mkv_synth_file_sizes(&o, &mb, &bb, &err), MKV_OK);
        ck_assert_uint_eq(file_size(in_dir(d, "model.gguf")), mb);
        mkv_model_desc_free(m);
    }
}
END_TEST

/* Mean and standard deviation of a tensor's values. */
static void tensor_stats(const mkv_model_desc *m, const mkv_gguf_tensor *t, double *mean, double *sd)
{
    uint64_t n = t->ne[0] * t->ne[1];
    float *x = malloc(n * sizeof *x);
    mkv_error err;
    ck_assert_int_eq(mkv_gguf_tensor_to_f32(m->gguf, t, x, &err), MKV_OK);
    double s = 0, s2 = 0;
    for (uint64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
    free(x);
}

START_TEST(test_weight_statistics_follow_the_documented_scaling)
{
    const char *d = tmp_path("tiny_stats");
    synth(d, "tiny", 9, false, MKV_GGML_F16, MKV_BANK_F16);
    mkv_model_desc *m;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(in_dir(d, "model.gguf"), &m, &err) == MKV_OK, "%s", err.msg);
    double mean, sd;
    tensor_stats(m, m->tok_embd, &mean, &sd);
    /* std 3/sqrt(d_model) = 3/16 for tiny */
    ck_assert_msg(fabs(mean) < 0.002 && fabs(sd * 16.0 / 3.0 - 1.0) < 0.02, "embedding %g %g", mean, sd);
    tensor_stats(m, m->layers[1].wq, &mean, &sd); /* fan_in 256 */
    ck_assert_msg(fabs(sd * 16.0 - 1.0) < 0.02, "wq sd %g", sd);
    tensor_stats(m, m->layers[1].w_down, &mean, &sd); /* fan_in 768 */
    ck_assert_msg(fabs(sd * sqrt(768.0) - 1.0) < 0.02, "w_down sd %g", sd);
    tensor_stats(m, m->layers[1].meki_out, &mean, &sd); /* fan_in 64 */
    ck_assert_msg(fabs(sd * 8.0 - 1.0) < 0.03, "meki_out sd %g", sd);
    tensor_stats(m, m->layers[2].ffn_norm, &mean, &sd);
    ck_assert_msg(fabs(mean - 1.0) < 0.02 && sd < 0.1, "ffn_norm %g %g", mean, sd);
    tensor_stats(m, m->layers[2].meki_norm, &mean, &sd);
    ck_assert_msg(fabs(mean - 0.5) < 0.01 && sd < 0.05, "meki_norm %g %g", mean, sd);
    mkv_model_desc_free(m);

    mkv_bank *b;
    ck_assert_int_eq(mkv_bank_open(in_dir(d, "bank.mkb"), &b, &err), MKV_OK);
    const mkv_bank_header *h = mkv_bank_info(b);
    uint8_t *slab = malloc(h->slab_bytes);
    float row[64];
    double s = 0, s2 = 0;
    uint64_t n = 0;
    for (uint32_t t = 0; t < h->n_vocab; t += 37) {
        ck_assert_int_eq(mkv_bank_read_slab(b, t, slab, &err), MKV_OK);
        for (uint32_t l = 0; l < h->n_layer; l++) {
            mkv_bank_row_to_f32(h, slab, l, row);
            for (int j = 0; j < 64; j++, n++) {
                s += row[j];
                s2 += (double)row[j] * row[j];
            }
        }
    }
    mean = s / (double)n;
    sd = sqrt(s2 / (double)n - mean * mean);
    ck_assert_msg(fabs(mean) < 0.05 && fabs(sd - 1.0) < 0.05, "bank %g %g", mean, sd);
    free(slab);
    mkv_bank_close(b);
}
END_TEST

START_TEST(test_progress_prints_a_line_every_ten_percent_off_a_terminal)
{
    const char *d = tmp_path("tiny_progress"), *log = tmp_path("progress.log");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), d);
    o.progress = true;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
    FILE *f = fopen(log, "r");
    char line[256];
    int model_lines = 0, bank_lines = 0;
    bool model_done = false, bank_done = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model.gguf: ", 12) == 0) model_lines++;
        if (strncmp(line, "bank.mkb: ", 10) == 0) bank_lines++;
        /* "<file>: 100% (<elapsed>, eta 0s)" */
        model_done |= strncmp(line, "model.gguf: 100% (", 18) == 0;
        bank_done |= strncmp(line, "bank.mkb: 100% (", 16) == 0;
    }
    fclose(f);
    ck_assert(model_done && bank_done);
    ck_assert_int_le(model_lines, 11);
    ck_assert_int_eq(bank_lines, 11); /* 0%, 10%, ..., 100% */
}
END_TEST

/* ---- sizes of every config ------------------------------------------------------ */

/* Tensor bytes of a config computed here from the shape alone. */
static uint64_t expected_tensor_bytes(const mkv_synth_shape *s, bool dense)
{
    uint64_t dm = s->d_model, q = (uint64_t)s->n_head * s->head_dim, kv = (uint64_t)s->n_kv_head * s->head_dim;
    uint64_t mat = dm * q * 2 + dm * kv * 2 + 3 * dm * s->d_ffn + (dense ? 0 : 2 * dm * s->d_mem);
    uint64_t vec = 2 * dm + 2 * s->head_dim + (dense ? 0 : dm);
    return 2 * ((uint64_t)s->n_vocab * dm + s->n_layer * mat) + 4 * (s->n_layer * vec + dm);
}

START_TEST(test_every_config_predicts_its_file_sizes)
{
    const char *names[] = {"tiny", "small", "0.6b", "1.7b", "4b"};
    for (int i = 0; i < 5; i++) {
        const mkv_synth_shape *s = mkv_synth_find_shape(names[i]);
        for (int dense = 0; dense < 2; dense++) {
            mkv_synth_opts o;
            mkv_synth_opts_default(&o, s, tmp_path("sizes"));
            o.dense = dense;
            uint64_t mb, bb;
            mkv_error err;
            ck_assert_msg(mkv_synth_file_sizes(&o, &mb, &bb, &err) == MKV_OK, "%s", err.msg);
            uint64_t tb = expected_tensor_bytes(s, dense);
            uint64_t n_tensors = 1 + 1 + s->n_layer * (dense ? 11u : 14u);
            /* metadata: tensor infos, keys, and the placeholder tokenizer (a string of at most
             * 8 + 16 bytes and an i32 type per token) */
            uint64_t meta = 32 * n_tensors + 65536 + 28 * (uint64_t)s->n_vocab;
            ck_assert_msg(mb >= tb && mb <= tb + meta, "%s: model %" PRIu64 " vs tensors %" PRIu64,
                          names[i], mb, tb);
            /* bank: header + one 4096-aligned slab per token */
            uint64_t slab = ((uint64_t)s->n_layer * 2 * s->d_mem + 4 + 4095) / 4096 * 4096;
            ck_assert_uint_eq(bb, dense ? 0 : 4096 + (uint64_t)s->n_vocab * slab);
            if (strcmp(names[i], "0.6b") == 0 && !dense) { /* the brief's figures: ~1.2 GB each */
                ck_assert_uint_eq(slab, 8192);
                ck_assert(mb > 1100000000ull && mb < 1300000000ull);
                ck_assert(bb > 1200000000ull && bb < 1300000000ull);
            }
        }
    }
}
END_TEST

START_TEST(test_written_tiny_and_small_have_the_predicted_sizes)
{
    const char *names[] = {"tiny", "small"};
    for (int i = 0; i < 2; i++) {
        const char *d = tmp_path(names[i]);
        mkv_synth_opts o;
        mkv_synth_opts_default(&o, mkv_synth_find_shape(names[i]), d);
        uint64_t mb, bb;
        mkv_error err;
        ck_assert_int_eq(mkv_synth_file_sizes(&o, &mb, &bb, &err), MKV_OK);
        ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
        ck_assert_uint_eq(file_size(in_dir(d, "model.gguf")), mb);
        ck_assert_uint_eq(file_size(in_dir(d, "bank.mkb")), bb);
    }
}
END_TEST

/* ---- whole model through the CPU reference ----------------------------------- */

static void logits_stats(const float *x, uint32_t n, bool *finite, double *rms)
{
    double s2 = 0;
    *finite = true;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) *finite = false;
        s2 += (double)x[i] * x[i];
    }
    *rms = sqrt(s2 / n);
}

/* Runs 32 positions with MeKi on and off: logits must be finite, of the
 * scale a unit-RMS final state gives through the tied head (embedding std
 * 3/sqrt(d_model): logit rms ~3), and changed but not swamped by the MeKi branch. */
static void run_finite(const char *shape)
{
    const char *d = tmp_path(shape);
    synth(d, shape, 3, false, MKV_GGML_F16, MKV_BANK_F16);
    mkv_model_desc *m;
    mkv_bank *b;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(in_dir(d, "model.gguf"), &m, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(mkv_bank_open(in_dir(d, "bank.mkb"), &b, &err) == MKV_OK, "%s", err.msg);
    ref_model *on, *off;
    ck_assert_msg(ref_model_create(m, b, false, 32, &on, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(ref_model_create(m, NULL, true, 32, &off, &err) == MKV_OK, "%s", err.msg);
    const uint32_t nv = m->cfg.n_vocab;
    float *lo = malloc(nv * sizeof *lo), *lf = malloc(nv * sizeof *lf);
    /* Tied head, embedding std 3/sqrt(d_model), final norm ~1: logit rms ~3. */
    double expect = 3.0;
    for (uint32_t pos = 0; pos < 32; pos++) {
        uint32_t tok = (pos * 7919u + 13u) % nv;
        ck_assert_msg(ref_model_step(on, tok, lo, &err) == MKV_OK, "%s", err.msg);
        ck_assert_msg(ref_model_step(off, tok, lf, &err) == MKV_OK, "%s", err.msg);
        bool fin_on, fin_off;
        double rms_on, rms_off, diff = 0;
        logits_stats(lo, nv, &fin_on, &rms_on);
        logits_stats(lf, nv, &fin_off, &rms_off);
        ck_assert_msg(fin_on && fin_off, "%s pos %u: non-finite logits", shape, pos);
        ck_assert_msg(rms_on > 0.5 * expect && rms_on < 2.0 * expect, "%s pos %u: logit rms %g", shape, pos, rms_on);
        for (uint32_t i = 0; i < nv; i++) diff += (double)(lo[i] - lf[i]) * (lo[i] - lf[i]);
        diff = sqrt(diff / nv) / rms_off;
        if (getenv("MKV_TEST_VERBOSE") && pos % 8 == 0)
            printf("%s pos %u: logit rms %.2f (expected ~%.1f), meki/dense rel diff %.3f\n", shape, pos, rms_on,
                   expect, diff);
        ck_assert_msg(diff > 0.01 && diff < 1.5, "%s pos %u: MeKi changes logits by %g (relative)", shape, pos, diff);
    }
    free(lo);
    free(lf);
    ref_model_free(on);
    ref_model_free(off);
    mkv_bank_close(b);
    mkv_model_desc_free(m);
}

START_TEST(test_tiny_and_small_activations_stay_finite_and_o1_for_32_positions)
{
    run_finite("tiny");
    run_finite("small");
}
END_TEST

static Suite *synth_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("shapes");
    tcase_add_test(tc, test_every_named_shape_resolves_to_its_table_row);
    tcase_add_test(tc, test_invalid_options_are_refused);
    tcase_add_test(tc, test_every_config_predicts_its_file_sizes);
    tcase_add_test(tc, test_k_m_presets_give_q6_k_to_attn_v_and_ffn_down_of_llama_cpps_layers);
    tcase_add_test(tc, test_lm_head_and_fallback_types_follow_llama_quantize);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_tiny_is_deterministic_by_seed);
    tcase_add_test(tc, test_tiny_loads_with_its_shape_and_a_bound_bank);
    tcase_add_test(tc, test_dense_has_no_meki_tensors_and_no_bank);
    tcase_add_test(tc, test_every_wtype_stores_matrices_as_chosen_and_vectors_f32);
    tcase_add_test(tc, test_q4_k_m_tiny_mixes_types_as_llama_quantize);
    tcase_add_test(tc, test_rows_not_whole_blocks_fall_back_to_f16_and_are_counted);
    tcase_add_test(tc, test_pure_q4_0_stores_every_matrix_as_q4_0);
    tcase_add_test(tc, test_bf16_weights_are_the_f32_weights_rounded);
    tcase_add_test(tc, test_arch_option_writes_prefixed_keys_and_its_tensors);
    tcase_add_test(tc, test_weight_statistics_follow_the_documented_scaling);
    tcase_add_test(tc, test_progress_prints_a_line_every_ten_percent_off_a_terminal);
    tcase_add_test(tc, test_written_tiny_and_small_have_the_predicted_sizes);
    tcase_add_test(tc, test_tiny_and_small_activations_stay_finite_and_o1_for_32_positions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(synth_suite());
}
