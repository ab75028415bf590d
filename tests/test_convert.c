/* convert: training-form checkpoints (written by the tests' own safetensors
 * writer) folded into model.gguf + bank.mkb on the device and on the CPU.
 * Bank rows equal the fold's formula in float64 (tests/ref/ref_fold.c);
 * the converted model, run by the engine, equals a reference that applies
 * the training form directly (rows computed on the fly, no bank), also for
 * a checkpoint as the authors train them (no q/k norms, the MeKi gate on
 * the residual: "meki_gate_input": "residual"); a sharded
 * checkpoint converts to the same bytes; BF16 checkpoints; the q8 bank's
 * error bound; checkpoint errors; the CPU fallback without a device.
 *
 * Tolerances:
 *  - bank rows, FOLD_TOL = 2e-3 of the row's largest value: the bank stores
 *    f16 (2^-11 = 4.9e-4 relative per value), and the device folds with f16
 *    projector weights (each G(e) value errs ~2^-11 relative to its own
 *    size, which is below the row's largest value); the rest is f32 order.
 *  - logits, E2E_TOL_F32W = 3e-3 as test_e2e uses for F32-weight models,
 *    and for the same reason: the reference uses the exact float rows while
 *    the engine reads them rounded to f16 (2^-11 relative per value).
 *  - q8 bank: each value within 0.6 * scale (scale = row max / 127: half a
 *    step, plus the f16 rounding of the scale over up to 127 steps). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bank.h"
#include "convert.h"
#include "half.h"
#include "mekivk.h"
#include "model_desc.h"
#include "ref.h"
#include "st_writer.h"
#include "test_util.h"

#define FOLD_TOL 2e-3
#define E2E_TOL_F32W 3e-3

/* An odd-ish shape: d_mem 36 (not a multiple of 8), vocab 517, head_dim 40,
 * d_proj 80, GQA 4/2, untied head, q/k norm (left out by one variant). */
enum { NL = 2, D = 160, NH = 4, NKV = 2, HD = 40, F = 224, M = 36, V = 517, P = D / 2 };
static const float EPS = 1e-6f, THETA = 10000.0f;

typedef struct ttensor {
    char name[128];
    uint32_t n_dims;
    uint64_t shape[2];
    float *v;
} ttensor;

static char run_dir[64]; /* one folder per process: the three ctest runs go in parallel */

static const char *tp(const char *dir, const char *file)
{
    char sub[256];
    snprintf(sub, sizeof sub, "%s/%s", run_dir, dir);
    return tu_path_in(sub, file);
}

static ttensor tens[NL * 21 + 4];
static uint32_t n_tens;
static uint64_t rng = 777;

static float *tensor(const char *name, uint32_t n_dims, uint64_t d0, uint64_t d1, float offset, float scale)
{
    ttensor *t = &tens[n_tens++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = d1;
    uint64_t n = n_dims == 0 ? 1 : n_dims == 1 ? d0 : d0 * d1;
    t->v = malloc(n * sizeof(float));
    for (uint64_t i = 0; i < n; i++) t->v[i] = offset + scale * tu_rand_f(&rng);
    return t->v;
}

static const ttensor *find(const char *name)
{
    for (uint32_t i = 0; i < n_tens; i++)
        if (!strcmp(tens[i].name, name)) return &tens[i];
    ck_abort_msg("test tensor %s missing", name);
    return NULL;
}

static const float *layer_t(uint32_t l, const char *suffix)
{
    char n[128];
    snprintf(n, sizeof n, "model.layers.%u.%s", l, suffix);
    return find(n)->v;
}

/* The checkpoint's values, scaled as synth_ckpt.c explains. */
static void make_values(void)
{
    const float s3 = sqrtf(3.0f), fd = s3 / sqrtf((float)D);
    char n[128];
    tensor("model.embed_tokens.weight", 2, V, D, 0, 3.0f * fd);
    for (uint32_t l = 0; l < NL; l++) {
#define L(x) (snprintf(n, sizeof n, "model.layers.%u.%s", l, x), n)
        tensor(L("input_layernorm.weight"), 1, D, 0, 1, 0.1f);
        tensor(L("self_attn.q_proj.weight"), 2, NH * HD, D, 0, fd);
        tensor(L("self_attn.k_proj.weight"), 2, NKV * HD, D, 0, fd);
        tensor(L("self_attn.v_proj.weight"), 2, NKV * HD, D, 0, fd);
        tensor(L("self_attn.o_proj.weight"), 2, D, NH * HD, 0, s3 / sqrtf((float)(NH * HD)));
        tensor(L("self_attn.q_norm.weight"), 1, HD, 0, 1, 0.1f);
        tensor(L("self_attn.k_norm.weight"), 1, HD, 0, 1, 0.1f);
        tensor(L("post_attention_layernorm.weight"), 1, D, 0, 1, 0.1f);
        tensor(L("mlp.gate_proj.weight"), 2, F, D, 0, fd);
        tensor(L("mlp.up_proj.weight"), 2, F, D, 0, fd);
        tensor(L("mlp.down_proj.weight"), 2, D, F, 0, s3 / sqrtf((float)F));
        tensor(L("meki_module.embeddings.weight"), 2, V, M, 0, s3);
        tensor(L("meki_module.word_emb_projection.gate_proj.weight"), 2, P, D, 0, s3 / 3);
        tensor(L("meki_module.word_emb_projection.up_proj.weight"), 2, P, D, 0, s3 / 3);
        tensor(L("meki_module.word_emb_projection.down_proj.weight"), 2, M, P, 0, s3 / sqrtf((float)P));
        tensor(L("meki_module.mix_norm.weight"), 1, M, 0, 1, 0.1f);
        tensor(L("meki_module.alpha_scale"), l == 0 ? 0 : 1, 1, 0, 1, 0.1f); /* [] and [1] */
        tensor(L("meki_module.beta_scale"), l == 0 ? 0 : 1, 1, 0, 1, 0.25f);
        tensor(L("meki_module.gate_proj.weight"), 2, M, D, 0, fd);
        tensor(L("meki_module.out_proj.weight"), 2, D, M, 0, s3 / sqrtf((float)M));
        tensor(L("meki_module.post_norm.weight"), 1, D, 0, 0.5f, 0.05f);
#undef L
    }
    tensor("model.norm.weight", 1, D, 0, 1, 0.1f);
    tensor("lm_head.weight", 2, V, D, 0, fd);
}

static uint64_t numel(const ttensor *t) { return t->n_dims == 0 ? 1 : t->n_dims == 1 ? t->shape[0] : t->shape[0] * t->shape[1]; }

/* Rounds every value through the dtype (so the reference uses exactly what is stored). */
static void round_values(const char *dtype)
{
    for (uint32_t i = 0; i < n_tens; i++) {
        uint64_t n = numel(&tens[i]);
        uint8_t *b = malloc(n * 2);
        if (!strcmp(dtype, "BF16")) {
            stw_to_bf16(tens[i].v, n, b);
            for (uint64_t k = 0; k < n; k++) {
                uint32_t bits = (uint32_t)(b[2 * k] | b[2 * k + 1] << 8) << 16;
                memcpy(&tens[i].v[k], &bits, 4);
            }
        }
        free(b);
    }
}

/* gate_input: "meki_gate_input"'s value (NULL: no key). */
static void write_config(const char *dir, const char *gate_input)
{
    char text[1024], gate[64] = "";
    if (gate_input) snprintf(gate, sizeof gate, ", \"meki_gate_input\": \"%s\"", gate_input);
    int n = snprintf(text, sizeof text,
                     "{\"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
                     "\"num_key_value_heads\": %d, \"head_dim\": %d, \"intermediate_size\": %d, \"vocab_size\": %d, "
                     "\"rope_theta\": %g, \"rms_norm_eps\": %g, \"tie_word_embeddings\": false, \"meki_dim\": %d%s}",
                     D, NL, NH, NKV, HD, F, V, (double)THETA, (double)EPS, M, gate);
    tu_write_file(tp(dir, "config.json"), text, (uint64_t)n);
}

/* How a checkpoint differs from the default one. */
typedef struct ck_variant {
    const char *skip;              /* a tensor name left out (or NULL) */
    const char *drop_qk_norm;      /* q/k norms left out of the layers whose name starts with this
                                    * ("model.layers." : all, as the authors' MeKi training writes) */
    const char *gate_input;        /* "meki_gate_input" in config.json (NULL: no key) */
} ck_variant;

static bool dropped(const ck_variant *v, const char *name)
{
    if (v->skip && !strcmp(name, v->skip)) return true;
    return v->drop_qk_norm && !strncmp(name, v->drop_qk_norm, strlen(v->drop_qk_norm)) &&
           (strstr(name, ".self_attn.q_norm.") || strstr(name, ".self_attn.k_norm."));
}

/* Writes the checkpoint to folder `dir`: one file, or `shards` files + index. */
static void write_ckpt_variant(const char *dir, const char *dtype, uint32_t shards, const ck_variant *v)
{
    write_config(dir, v->gate_input);
    stw_tensor *t = calloc(n_tens, sizeof *t);
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_tens; i++) {
        if (dropped(v, tens[i].name)) continue;
        uint64_t ne = numel(&tens[i]);
        uint32_t sz = !strcmp(dtype, "F32") ? 4 : 2;
        uint8_t *b = malloc(ne * sz);
        if (sz == 4) stw_to_f32(tens[i].v, ne, b);
        else if (!strcmp(dtype, "F16")) stw_to_f16(tens[i].v, ne, b);
        else stw_to_bf16(tens[i].v, ne, b);
        t[n++] = (stw_tensor){.name = tens[i].name, .dtype = dtype, .n_dims = tens[i].n_dims,
                              .shape = {tens[i].shape[0], tens[i].shape[1]}, .data = b, .nbytes = ne * sz};
    }
    if (shards <= 1) {
        ck_assert_int_eq(stw_write(tp(dir, "model.safetensors"), t, n, NULL), 0);
    } else {
        size_t cap = 64 + (size_t)n * 200, len = 0;
        char *idx = malloc(cap);
        len += (size_t)snprintf(idx, cap, "{\"metadata\": {}, \"weight_map\": {");
        for (uint32_t s = 0; s < shards; s++) {
            uint32_t a = n * s / shards, e = n * (s + 1) / shards;
            char name[64];
            snprintf(name, sizeof name, "part-%u.safetensors", s);
            ck_assert_int_eq(stw_write(tp(dir, name), t + a, e - a, NULL), 0);
            for (uint32_t i = a; i < e; i++)
                len += (size_t)snprintf(idx + len, cap - len, "%s\"%s\": \"%s\"", i ? ", " : "", t[i].name, name);
        }
        len += (size_t)snprintf(idx + len, cap - len, "}}");
        tu_write_file(tp(dir, "model.safetensors.index.json"), idx, len);
        free(idx);
    }
    for (uint32_t i = 0; i < n; i++) free((void *)t[i].data);
    free(t);
}

/* skip: a tensor name left out (or NULL). */
static void write_ckpt(const char *dir, const char *dtype, uint32_t shards, const char *skip)
{
    write_ckpt_variant(dir, dtype, shards, &(ck_variant){.skip = skip});
}

/* The fold's formula for one row, from the in-memory values. */
static void fold_row(uint32_t token, uint32_t l, float *out)
{
    const float *e = find("model.embed_tokens.weight")->v + (size_t)token * D;
    ref_fold_row(e, layer_t(l, "meki_module.embeddings.weight") + (size_t)token * M,
                 layer_t(l, "meki_module.word_emb_projection.gate_proj.weight"),
                 layer_t(l, "meki_module.word_emb_projection.up_proj.weight"),
                 layer_t(l, "meki_module.word_emb_projection.down_proj.weight"), layer_t(l, "meki_module.mix_norm.weight"),
                 layer_t(l, "meki_module.alpha_scale")[0], layer_t(l, "meki_module.beta_scale")[0], D, P, M, EPS, out);
}

static mkv_status row_fn(void *user, uint32_t token, uint32_t layer, float *row, mkv_error *err)
{
    (void)user;
    (void)err;
    fold_row(token, layer, row);
    return MKV_OK;
}

static mkv_convert_report convert(const char *ckpt_dir, const char *out_dir, bool gpu, uint32_t bank_dtype, uint32_t batch)
{
    mkv_convert_opts o;
    mkv_convert_opts_default(&o, tp(ckpt_dir, ""), tp(out_dir, ""));
    o.bank_dtype = bank_dtype;
    o.batch = batch;
    o.cpu = !gpu;
    o.align = 512;
    mkv_device *dev = gpu ? tu_device() : NULL;
    o.device = dev;
    mkv_convert_report r;
    mkv_error err = {0};
    mkv_status st = mkv_convert(&o, &r, &err);
    ck_assert_msg(st == MKV_OK, "convert %s: %s: %s", ckpt_dir, mkv_status_name(st), err.msg);
    ck_assert(r.used_device == gpu);
    if (dev) {
        tu_assert_no_validation(dev);
        mkv_device_destroy(dev);
    }
    printf("convert %s -> %s on %s: %.2f s; bank encoding max err %.3g, RMS %.3g (values RMS %.3g)\n", ckpt_dir, out_dir,
           r.device, r.seconds, r.enc_max_err, r.enc_rms_err, r.value_rms);
    return r;
}

/* Every row of out_dir/bank.mkb against the formula; returns the worst
 * error relative to the row's largest value; q8: checks the q8 bound. */
static double check_bank(const char *out_dir)
{
    mkv_bank *b;
    mkv_error err;
    ck_assert_msg(mkv_bank_open(tp(out_dir, "bank.mkb"), &b, &err) == MKV_OK, "%s", err.msg);
    const mkv_bank_header *h = mkv_bank_info(b);
    ck_assert_uint_eq(h->n_layer, NL);
    ck_assert_uint_eq(h->n_vocab, V);
    ck_assert_uint_eq(h->d_mem, M);
    void *slab = malloc(h->slab_bytes);
    float got[M], want[M];
    double worst = 0;
    for (uint32_t t = 0; t < V; t++) {
        ck_assert_msg(mkv_bank_read_slab(b, t, slab, &err) == MKV_OK, "%s", err.msg);
        for (uint32_t l = 0; l < NL; l++) {
            mkv_bank_row_to_f32(h, slab, l, got);
            fold_row(t, l, want);
            double e = tu_max_rel_err(got, want, M);
            if (h->dtype == MKV_BANK_Q8) {
                double mx = 0;
                for (int j = 0; j < M; j++) mx = fmax(mx, fabs(want[j]));
                for (int j = 0; j < M; j++)
                    ck_assert_msg(fabs(got[j] - want[j]) <= 0.6 * mx / 127 + 1e-5 * mx,
                                  "q8 token %u layer %u [%d]: %g vs %g", t, l, j, got[j], want[j]);
            } else {
                ck_assert_msg(e <= FOLD_TOL, "token %u layer %u: rel err %.3g > %.3g", t, l, e, FOLD_TOL);
            }
            worst = fmax(worst, e);
        }
    }
    free(slab);
    mkv_bank_close(b);
    return worst;
}

static bool files_equal(const char *a, const char *b)
{
    uint64_t na, nb;
    uint8_t *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    bool eq = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}

/* ---- tests ---- */

START_TEST(cpu_fold_bank_rows_equal_the_formula)
{
    convert("ck_f32", "out_cpu", false, MKV_BANK_F16, 64);
    printf("cpu fold: worst row error %.3g (tol %.0e)\n", check_bank("out_cpu"), FOLD_TOL);
}
END_TEST

START_TEST(device_fold_bank_rows_equal_the_formula)
{
    convert("ck_f32", "out_gpu", true, MKV_BANK_F16, 100); /* 517 = 5 x 100 + a partial batch */
    printf("device fold: worst row error %.3g (tol %.0e)\n", check_bank("out_gpu"), FOLD_TOL);
}
END_TEST

enum { E2E_POS = 24 };

/* The tokens of the decode checks: the last token id, then random ones. */
static void e2e_tokens(uint32_t *tok)
{
    uint64_t r = 99;
    for (uint32_t pos = 0; pos < E2E_POS; pos++) tok[pos] = pos == 0 ? V - 1 : (uint32_t)(tu_rand_u64(&r) % V);
}

/* out_dir's model.gguf + bank.mkb decoded by the engine: logits [E2E_POS][V]. */
static void engine_logits(const char *out_dir, const uint32_t *tok, float *logits)
{
    mkv_device *dev = tu_device();
    mkv_model_opts mo = {.bank_path = tp(out_dir, "bank.mkb")};
    mkv_model *model;
    mkv_error err;
    ck_assert_msg(mkv_model_load(dev, tp(out_dir, "model.gguf"), &mo, &model, &err) == MKV_OK, "%s", err.msg);
    mkv_session_opts so = {.n_ctx = 32};
    mkv_session *s;
    ck_assert_msg(mkv_session_create(model, &so, &s, &err) == MKV_OK, "%s", err.msg);
    for (uint32_t pos = 0; pos < E2E_POS; pos++)
        ck_assert_msg(mkv_session_step(s, tok[pos], logits + (size_t)pos * V, NULL, &err) == MKV_OK, "%s", err.msg);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
}

/* The training-form reference over the converted model's description: its
 * weights, with every MeKi row computed by the fold's formula from the
 * checkpoint's values (no bank), the gate's input as desc->cfg says. */
static void reference_logits(const mkv_model_desc *desc, const uint32_t *tok, float *logits)
{
    ref_model *ref;
    mkv_error err;
    ck_assert_msg(ref_model_create_rows(desc, row_fn, NULL, 32, &ref, &err) == MKV_OK, "%s", err.msg);
    for (uint32_t pos = 0; pos < E2E_POS; pos++)
        ck_assert_msg(ref_model_step(ref, tok[pos], logits + (size_t)pos * V, &err) == MKV_OK, "%s", err.msg);
    ref_model_free(ref);
}

START_TEST(converted_model_logits_equal_the_training_form_reference)
{
    convert("ck_f32", "out_e2e", true, MKV_BANK_F16, 128);
    mkv_model_desc *desc;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(tp("out_e2e", "model.gguf"), &desc, &err) == MKV_OK, "%s", err.msg);
    ck_assert(!desc->cfg.tied_output && desc->cfg.has_qk_norm && desc->cfg.d_mem == M);
    ck_assert(!desc->cfg.meki_gate_residual);
    uint32_t tok[E2E_POS];
    e2e_tokens(tok);
    float *gl = malloc((size_t)E2E_POS * V * sizeof *gl), *rl = malloc((size_t)E2E_POS * V * sizeof *rl);
    reference_logits(desc, tok, rl);
    engine_logits("out_e2e", tok, gl);
    double worst = 0;
    for (uint32_t pos = 0; pos < E2E_POS; pos++) {
        double e = tu_max_rel_err(gl + (size_t)pos * V, rl + (size_t)pos * V, V);
        ck_assert_msg(e <= E2E_TOL_F32W, "pos %u token %u: logits rel err %.3g > %.3g", pos, tok[pos], e, E2E_TOL_F32W);
        worst = fmax(worst, e);
    }
    printf("converted model vs training-form reference: worst logits rel err %.3g (tol %.0e)\n", worst, E2E_TOL_F32W);
    free(gl);
    free(rl);
    mkv_model_desc_free(desc);
}
END_TEST

/* The authors' MeKi checkpoints: no q/k norms, and (trained with
 * Transformer Engine) the gate on the residual a (DESIGN §2). The
 * converted model says so and decodes to the training-form reference that
 * gates on a -- which is far from the one that gates on u, so the check
 * tells the two apart. */
START_TEST(converted_residual_gate_model_without_qk_norm_equals_the_training_form_reference)
{
    convert("ck_resid", "out_resid", false, MKV_BANK_F16, 128);
    mkv_model_desc *desc;
    mkv_error err;
    ck_assert_msg(mkv_model_desc_load(tp("out_resid", "model.gguf"), &desc, &err) == MKV_OK, "%s", err.msg);
    ck_assert(!desc->cfg.has_qk_norm && desc->cfg.meki_gate_residual && desc->cfg.d_mem == M);
    for (uint32_t l = 0; l < NL; l++) ck_assert(!desc->layers[l].q_norm && !desc->layers[l].k_norm);
    uint32_t tok[E2E_POS];
    e2e_tokens(tok);
    const size_t n = (size_t)E2E_POS * V;
    float *gl = malloc(n * sizeof *gl), *rl = malloc(n * sizeof *rl), *ul = malloc(n * sizeof *ul);
    reference_logits(desc, tok, rl);
    desc->cfg.meki_gate_residual = false; /* the same model gating on u */
    reference_logits(desc, tok, ul);
    desc->cfg.meki_gate_residual = true;
    double apart = tu_max_rel_err(ul, rl, n);
    ck_assert_msg(apart > 10 * E2E_TOL_F32W, "gate on a vs on u: logits differ by only %.3g", apart);
    engine_logits("out_resid", tok, gl);
    double worst = 0;
    for (uint32_t pos = 0; pos < E2E_POS; pos++) {
        double e = tu_max_rel_err(gl + (size_t)pos * V, rl + (size_t)pos * V, V);
        double e_u = tu_max_rel_err(gl + (size_t)pos * V, ul + (size_t)pos * V, V);
        ck_assert_msg(e <= E2E_TOL_F32W, "pos %u token %u: logits rel err %.3g > %.3g (against the gate on u: %.3g)",
                      pos, tok[pos], e, E2E_TOL_F32W, e_u);
        worst = fmax(worst, e);
    }
    printf("converted residual-gate model without q/k norm vs training-form reference: worst logits rel err %.3g "
           "(tol %.0e; gate on a vs on u differ by %.3g)\n", worst, E2E_TOL_F32W, apart);
    free(gl);
    free(rl);
    free(ul);
    mkv_model_desc_free(desc);
}
END_TEST

START_TEST(sharded_checkpoint_converts_to_identical_files)
{
    convert("ck_f32", "out_single", false, MKV_BANK_F16, 256);
    convert("ck_f32_sharded", "out_sharded", false, MKV_BANK_F16, 256);
    ck_assert(files_equal(tp("out_single", "bank.mkb"), tp("out_sharded", "bank.mkb")));
    ck_assert(files_equal(tp("out_single", "model.gguf"), tp("out_sharded", "model.gguf")));
}
END_TEST

START_TEST(bf16_checkpoint_folds_to_the_formula)
{
    /* the in-memory values are rounded to bf16 for this test only: restore after */
    float **saved = malloc(n_tens * sizeof *saved);
    for (uint32_t i = 0; i < n_tens; i++) {
        saved[i] = malloc(numel(&tens[i]) * sizeof(float));
        memcpy(saved[i], tens[i].v, numel(&tens[i]) * sizeof(float));
    }
    round_values("BF16");
    write_ckpt("ck_bf16", "BF16", 1, NULL);
    convert("ck_bf16", "out_bf16", false, MKV_BANK_F16, 512);
    check_bank("out_bf16");
    for (uint32_t i = 0; i < n_tens; i++) {
        memcpy(tens[i].v, saved[i], numel(&tens[i]) * sizeof(float));
        free(saved[i]);
    }
    free(saved);
}
END_TEST

START_TEST(q8_bank_stays_within_half_a_quantization_step)
{
    mkv_convert_report r = convert("ck_f32", "out_q8", false, MKV_BANK_Q8, 200);
    check_bank("out_q8");
    ck_assert(r.enc_max_err > 0 && r.enc_rms_err > 0 && r.enc_rms_err < r.enc_max_err);
    ck_assert_msg(r.enc_rms_err / r.value_rms < 0.01, "q8 RMS error %.3g of values RMS %.3g", r.enc_rms_err, r.value_rms);
}
END_TEST

START_TEST(no_device_falls_back_to_the_cpu_and_says_so)
{
    mkv_convert_opts o;
    mkv_convert_opts_default(&o, tp("ck_f32", ""), tp("out_fallback", ""));
    o.align = 512; /* as convert() above, so the files can be compared */
    o.batch = 64;
    o.device_opts.name = "no such vulkan device";
    mkv_convert_report r;
    mkv_error err;
    ck_assert_msg(mkv_convert(&o, &r, &err) == MKV_OK, "%s", err.msg);
    ck_assert(!r.used_device);
    ck_assert_msg(strstr(r.device, "CPU (no Vulkan device used"), "device = %s", r.device);
    ck_assert(files_equal(tp("out_cpu", "bank.mkb"), tp("out_fallback", "bank.mkb")) ||
              access(tp("out_cpu", "bank.mkb"), F_OK) != 0);
}
END_TEST

static void expect_convert_error(const char *ckpt_dir, mkv_status want, const char *needle)
{
    mkv_convert_opts o;
    mkv_convert_opts_default(&o, tp(ckpt_dir, ""), tp("out_bad", ""));
    o.cpu = true;
    mkv_error err = {0};
    mkv_status st = mkv_convert(&o, NULL, &err);
    ck_assert_msg(st == want, "%s: got %s (%s)", ckpt_dir, mkv_status_name(st), err.msg);
    ck_assert_msg(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
    printf("convert rejected as expected: %s\n", err.msg);
}

START_TEST(checkpoint_with_qk_norm_in_some_layers_or_a_bad_gate_input_is_rejected)
{
    write_ckpt("ck_qk_half", "F16", 1, "model.layers.1.self_attn.q_norm.weight");
    expect_convert_error("ck_qk_half", MKV_ERR_MISSING, "'model.layers.1.self_attn.q_norm.weight' is missing");
    write_ckpt_variant("ck_qk_late", "F16", 1, &(ck_variant){.drop_qk_norm = "model.layers.0."});
    expect_convert_error("ck_qk_late", MKV_ERR_FORMAT,
                         "'model.layers.1.self_attn.q_norm.weight': present, but layer 0 has no q/k norms");
    write_ckpt_variant("ck_gate_bad", "F16", 1, &(ck_variant){.gate_input = "bogus"});
    expect_convert_error("ck_gate_bad", MKV_ERR_FORMAT, "meki_gate_input = \"bogus\"");
}
END_TEST

START_TEST(checkpoint_missing_a_tensor_a_key_or_with_a_wrong_shape_is_rejected)
{
    write_ckpt("ck_missing", "F16", 1, "model.layers.1.meki_module.beta_scale");
    expect_convert_error("ck_missing", MKV_ERR_MISSING, "'model.layers.1.meki_module.beta_scale' is missing");
    write_ckpt("ck_nokey", "F16", 1, NULL);
    const char *cfg = "{\"hidden_size\": 160, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                      "\"intermediate_size\": 224, \"vocab_size\": 517}";
    tu_write_file(tp("ck_nokey", "config.json"), cfg, strlen(cfg));
    expect_convert_error("ck_nokey", MKV_ERR_MISSING, "key 'meki_dim' is missing");
    write_ckpt("ck_shape", "F16", 1, NULL);
    const char *cfg2 = "{\"hidden_size\": 160, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                       "\"num_key_value_heads\": 2, \"head_dim\": 40, \"intermediate_size\": 224, \"vocab_size\": 517, "
                       "\"tie_word_embeddings\": false, \"meki_dim\": 40}";
    tu_write_file(tp("ck_shape", "config.json"), cfg2, strlen(cfg2));
    expect_convert_error("ck_shape", MKV_ERR_FORMAT, "'model.layers.0.meki_module.embeddings.weight': shape = [517, 36], expected [517, 40]");
}
END_TEST

/* Writes the shared checkpoints once, in the runner (files outlive forks). */
static void write_checkpoints(void)
{
    write_ckpt("ck_f32", "F32", 1, NULL);
    write_ckpt("ck_f32_sharded", "F32", 3, NULL);
    write_ckpt_variant("ck_resid", "F32", 1, &(ck_variant){.drop_qk_norm = "model.layers.", .gate_input = "residual"});
}

static Suite *suite(void)
{
    Suite *s = suite_create("convert");
    TCase *tc = tcase_create("convert");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, write_checkpoints, NULL);
    tcase_add_test(tc, cpu_fold_bank_rows_equal_the_formula);
    tcase_add_test(tc, device_fold_bank_rows_equal_the_formula);
    tcase_add_test(tc, converted_model_logits_equal_the_training_form_reference);
    tcase_add_test(tc, converted_residual_gate_model_without_qk_norm_equals_the_training_form_reference);
    tcase_add_test(tc, sharded_checkpoint_converts_to_identical_files);
    tcase_add_test(tc, bf16_checkpoint_folds_to_the_formula);
    tcase_add_test(tc, q8_bank_stays_within_half_a_quantization_step);
    tcase_add_test(tc, no_device_falls_back_to_the_cpu_and_says_so);
    tcase_add_test(tc, checkpoint_missing_a_tensor_a_key_or_with_a_wrong_shape_is_rejected);
    tcase_add_test(tc, checkpoint_with_qk_norm_in_some_layers_or_a_bad_gate_input_is_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    make_values();
    snprintf(run_dir, sizeof run_dir, "convert_%ld", (long)getpid());
    return tu_run_suite(suite());
}
