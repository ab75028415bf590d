/* convert: fold the bank (per vocabulary batch, every layer, then those
 * tokens' slabs), then write the model with the bank's fingerprint.
 *
 * The fingerprint is a digest of what was written to the bank (every
 * slab's encoded rows, its shape and dtype) and of the checkpoint's tensor
 * table (names, dtypes, shapes): a bank binds to the model converted with
 * it, and a re-conversion of the same checkpoint reproduces it. The bank is
 * written with a zero fingerprint first; its header is rewritten at the end. */
#include "convert.h"


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
#include "checkpoint.h"
#include "error.h"
#include "fold.h"
#include "gguf_write.h"
#include "half.h"
#include "progress.h"
#include "tok_keys.h"

void mkv_convert_opts_default(mkv_convert_opts *o, const char *checkpoint, const char *out_dir)
{
    memset(o, 0, sizeof *o);
    o->checkpoint = checkpoint;
    o->out_dir = out_dir;
    o->bank_dtype = MKV_BANK_F16;
    o->align = 4096;
    o->batch = 512;
    mkv_device_opts_default(&o->device_opts);
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

/* Digest of the checkpoint's tensor table. */
static uint64_t table_digest(const mkv_ckpt *c)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < c->st->n_tensors; i++) {
        const mkv_st_tensor *t = &c->st->tensors[i];
        h = hash_bytes(h, t->name, strlen(t->name) + 1);
        h = hash_bytes(h, &t->dtype, sizeof t->dtype);
        h = hash_bytes(h, t->shape, t->n_dims * sizeof t->shape[0]);
    }
    return h;
}

/* ---- the bank ------------------------------------------------------------ */

typedef struct bank_job {
    const mkv_convert_opts *o;
    const mkv_ckpt *c;
    mkv_fold *fold;
    const char *path;
    mkv_convert_report *rep;
    mkv_atomic_file *staged; /* the finished bank, published with its model */
    uint8_t fp[32];
} bank_job;

static mkv_status write_bank(bank_job *j, mkv_error *err)
{
    const mkv_ckpt *c = j->c;
    const uint32_t NL = c->n_layer, M = c->d_mem, B = j->fold->batch;
    static const uint8_t zero_fp[32];
    mkv_bank_header h;
    mkv_bank_writer *bw = NULL;
    float *vals = NULL, *dec = NULL;
    uint8_t *rows = NULL;
    mkv_status st = mkv_bank_header_init(&h, j->o->bank_dtype, NL, c->n_vocab, M, j->o->align, MKV_BANK_FLAG_SLAB_CRC,
                                         zero_fp, err);
    if (st) return st;
    vals = malloc((size_t)B * NL * M * sizeof *vals);
    dec = malloc((size_t)M * sizeof *dec);
    rows = malloc((size_t)NL * h.row_bytes);
    if (!vals || !dec || !rows) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory for a batch of %u tokens", j->path, B);
        goto out;
    }
    if ((st = mkv_bank_writer_open_staged(j->path, &h, j->staged, &bw, err)) != MKV_OK) goto out;
    mkv_progress prog;
    mkv_progress_start(&prog, j->o->progress, "fold -> bank.mkb", c->n_vocab);
    uint64_t digest = mix64(table_digest(c) ^ ((uint64_t)NL << 40 ^ (uint64_t)M << 20 ^ h.dtype));
    double emax = 0, esq = 0, vsq = 0;
    for (uint32_t t0 = 0; t0 < c->n_vocab && !st; t0 += B) {
        const uint32_t n = c->n_vocab - t0 < B ? c->n_vocab - t0 : B;
        if ((st = mkv_fold_run(j->fold, t0, n, vals, err)) != MKV_OK) break;
        for (uint32_t i = 0; i < n && !st; i++) {
            for (uint32_t l = 0; l < NL; l++) {
                const float *x = vals + ((size_t)i * NL + l) * M;
                uint8_t *row = rows + (size_t)l * h.row_bytes;
                mkv_bank_encode_row(h.dtype, M, x, row);
                mkv_bank_row_to_f32(&h, rows, l, dec);
                for (uint32_t k = 0; k < M; k++) {
                    double e = fabs((double)dec[k] - x[k]);
                    if (!(e <= emax)) emax = e; /* a NaN sticks */
                    esq += e * e;
                    vsq += (double)x[k] * x[k];
                }
            }
            digest = mix64(digest ^ mkv_crc32c(0, rows, (size_t)NL * h.row_bytes));
            st = mkv_bank_writer_put(bw, t0 + i, rows, err);
        }
        mkv_progress_add(&prog, n);
    }
    if (st) goto out;
    if (!isfinite(emax)) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: the fold produced non-finite values (check the checkpoint's scales)",
                      j->o->checkpoint);
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        uint64_t r = mix64(digest + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull);
        for (int b = 0; b < 8; b++) j->fp[8 * i + b] = (uint8_t)(r >> (8 * b));
    }
    mkv_bank_writer_set_fingerprint(bw, j->fp); /* the header gets it at close */
    st = mkv_bank_writer_close(bw, err);
    bw = NULL;
    if (st) goto out;
    const double nvals = (double)c->n_vocab * NL * M;
    j->rep->enc_max_err = emax;
    j->rep->enc_rms_err = sqrt(esq / nvals);
    j->rep->value_rms = sqrt(vsq / nvals);
    j->rep->bank_bytes = h.data_offset + (uint64_t)h.n_vocab * h.slab_bytes;
out:
    mkv_bank_writer_abort(bw); /* after a failure: nothing written stays */
    free(vals);
    free(dec);
    free(rows);
    return st;
}

/* ---- the model ----------------------------------------------------------- */

typedef struct mtensor {
    char name[64];
    const mkv_st_tensor *src;
    bool matrix;
} mtensor;

typedef struct model_job {
    mtensor *t;
    uint32_t n;
    float *chunk;
    mkv_progress prog;
} model_job;

#define MCHUNK (1u << 20)

static mkv_status fill_tensor(void *user, uint32_t index, const char *name, void *dst, uint64_t nbytes, mkv_error *err)
{
    model_job *m = user;
    const mkv_st_tensor *s = m->t[index].src;
    uint8_t *o = dst;
    for (uint64_t k = 0; k < s->numel; k += MCHUNK) {
        uint64_t n = s->numel - k < MCHUNK ? s->numel - k : MCHUNK;
        if (!m->t[index].matrix) {
            mkv_st_to_f32(s, k, n, (float *)(o + 4 * k)); /* dst is malloc'd: aligned */
        } else {
            mkv_st_to_f32(s, k, n, m->chunk);
            for (uint64_t i = 0; i < n; i++) {
                uint16_t h = mkv_float_to_half(m->chunk[i]);
                o[2 * (k + i)] = (uint8_t)h;
                o[2 * (k + i) + 1] = (uint8_t)(h >> 8);
            }
        }
        mkv_progress_add(&m->prog, n * (m->t[index].matrix ? 2 : 4));
    }
    (void)name;
    (void)nbytes;
    (void)err;
    return MKV_OK;
}

/* The tokenizer keys: tokenizer.json (+ tokenizer_config.json: eos, chat
 * template) from the checkpoint's folder (config.json's), or the
 * placeholder vocabulary when there is none. */
static mkv_status write_tokenizer(const mkv_ckpt *c, mkv_gguf_writer *w, bool progress, mkv_error *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", c->config_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    mkv_tok_keys k;
    bool found = false;
    mkv_status st = mkv_tok_keys_from_dir(dir, c->n_vocab, &k, &found, err);
    if (st != MKV_OK) return st;
    if (progress && found) fprintf(stderr, "tokenizer: %s/tokenizer.json (pre-tokenizer %s)\n", dir, k.pre);
    else if (progress) fprintf(stderr, "tokenizer: no tokenizer.json in %s: a placeholder vocabulary\n", dir);
    st = mkv_tok_keys_write(&k, w, err);
    mkv_tok_keys_free(&k);
    return st;
}

static mkv_status write_model(const mkv_ckpt *c, const uint8_t fp[32], const char *path, bool progress,
                              mkv_atomic_file *staged, uint64_t *bytes, mkv_error *err)
{
    model_job m = {0};
    mkv_gguf_writer *w = NULL;
    mkv_status st;
    m.t = calloc((size_t)c->n_layer * 14 + 3, sizeof *m.t);
    m.chunk = malloc(MCHUNK * sizeof *m.chunk);
    if (!m.t || !m.chunk) {
        st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        goto out;
    }
#define ADD(nm, source, is_matrix)                                                        \
    do {                                                                                  \
        snprintf(m.t[m.n].name, sizeof m.t[m.n].name, "%s", nm);                          \
        m.t[m.n].src = (source);                                                          \
        m.t[m.n].matrix = (is_matrix);                                                    \
        m.n++;                                                                            \
    } while (0)
    char n[64];
    ADD("token_embd.weight", c->embed, true);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const mkv_ckpt_layer *L = &c->layers[l];
        const struct {
            const char *suffix;
            const mkv_st_tensor *t;
        } map[] = {
            {"attn_norm", L->attn_norm}, {"attn_q", L->wq}, {"attn_k", L->wk}, {"attn_v", L->wv},
            {"attn_output", L->wo}, {"attn_q_norm", L->q_norm}, {"attn_k_norm", L->k_norm},
            {"ffn_norm", L->ffn_norm}, {"ffn_gate", L->w_gate}, {"ffn_up", L->w_up}, {"ffn_down", L->w_down},
            {"meki_gate", L->meki_gate}, {"meki_out", L->meki_out}, {"meki_norm", L->meki_norm},
        };
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
            if (!map[i].t) continue; /* no q/k norm */
            snprintf(n, sizeof n, "blk.%u.%s.weight", l, map[i].suffix);
            ADD(n, map[i].t, map[i].t->n_dims == 2);
        }
    }
    ADD("output_norm.weight", c->norm, false);
    if (c->lm_head) ADD("output.weight", c->lm_head, true);
#undef ADD
    if ((st = mkv_gguf_writer_create(&w, err))) goto out;
    st = mkv_gguf_set_str(w, "general.architecture", "qwen3");
    if (!st) st = mkv_gguf_set_str(w, "general.name", "mekivk convert");
    if (!st) st = mkv_gguf_set_u32(w, "general.file_type", 1); /* mostly F16 */
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.block_count", c->n_layer);
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.context_length", 32768);
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.embedding_length", c->d_model);
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.feed_forward_length", c->d_ffn);
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.attention.head_count", c->n_head);
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.attention.head_count_kv", c->n_kv_head);
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.attention.key_length", c->head_dim);
    if (!st) st = mkv_gguf_set_u32(w, "qwen3.attention.value_length", c->head_dim);
    if (!st) st = mkv_gguf_set_f32(w, "qwen3.rope.freq_base", c->rope_theta);
    if (!st) st = mkv_gguf_set_f32(w, "qwen3.attention.layer_norm_rms_epsilon", c->norm_eps);
    if (!st) st = mkv_gguf_set_u32(w, "meki.dim", c->d_mem);
    if (!st) st = mkv_gguf_set_u8_array(w, "meki.bank_fingerprint", fp, 32);
    if (!st) st = mkv_gguf_set_str(w, "meki.gate_input", c->gate_residual ? "residual" : "norm");
    if (st) {
        st = mkv_fail(err, st, "%s: metadata: %s", path, mkv_status_desc(st));
        goto out;
    }
    if ((st = write_tokenizer(c, w, progress, err)) != MKV_OK) goto out;
    uint64_t total = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        const mkv_st_tensor *s = m.t[i].src;
        uint64_t ne[4] = {s->n_dims == 2 ? s->shape[1] : s->shape[0], s->n_dims == 2 ? s->shape[0] : 1, 1, 1};
        uint32_t type = m.t[i].matrix ? MKV_GGML_F16 : MKV_GGML_F32;
        total += s->numel * (m.t[i].matrix ? 2 : 4);
        if ((st = mkv_gguf_add_tensor(w, m.t[i].name, s->n_dims == 2 ? 2 : 1, ne, type)) != MKV_OK) {
            st = mkv_fail(err, st, "%s: tensor '%s': %s", path, m.t[i].name, mkv_status_desc(st));
            goto out;
        }
    }
    mkv_progress_start(&m.prog, progress, "model.gguf", total);
    st = mkv_gguf_writer_write_staged(w, path, fill_tensor, &m, staged, err);
    if (!st) *bytes = mkv_gguf_writer_size(w);
out:
    mkv_gguf_writer_free(w);
    free(m.t);
    free(m.chunk);
    return st;
}

/* ---- the whole conversion ------------------------------------------------- */

mkv_status mkv_convert(const mkv_convert_opts *o, mkv_convert_report *report, mkv_error *err)
{
    mkv_convert_report local;
    mkv_convert_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    const double t0 = mkv_now_s();
    if (!o->checkpoint || !o->out_dir || o->batch == 0)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "convert: checkpoint, out_dir and batch > 0 are required");
    mkv_ckpt *c = NULL;
    mkv_fold *fold = NULL;
    mkv_device *own = NULL, *dev = o->device;
    char path[PATH_MAX];
    /* both files complete under temporary names, then bank and model renamed into place */
    mkv_atomic_file bank_f = MKV_ATOMIC_FILE_INIT, model_f = MKV_ATOMIC_FILE_INIT;
    mkv_status st = mkv_ckpt_open(o->checkpoint, &c, err);
    if (st) return st;
    if (mkdir(o->out_dir, 0755) != 0 && errno != EEXIST) {
        st = mkv_fail(err, MKV_ERR_IO, "%s: mkdir: %s", o->out_dir, strerror(errno));
        goto out;
    }
    /* the fold engine: the device unless told otherwise or there is none */
    if (!o->cpu) {
        mkv_error derr = {0};
        mkv_status ds = dev ? MKV_OK : mkv_device_create(&o->device_opts, &own, &derr);
        /* A CPU-emulated device (lavapipe) chosen by default folds slower
         * than the CPU engine (measured ~5x on 0.6b): use the CPU then. */
        bool named = o->device_opts.index >= 0 || o->device_opts.name;
        if (ds == MKV_OK && !dev && mkv_device_is_cpu(own) && !named) {
            ds = mkv_fail(&derr, MKV_ERR_NO_DEVICE, "%s is a CPU device; name it with --device to fold on it anyway",
                          mkv_device_name(own));
            mkv_device_destroy(own);
            own = NULL;
        }
        if (ds == MKV_OK) {
            if (!dev) dev = own;
            ds = mkv_fold_gpu_create(c, dev, o->batch, &fold, &derr);
        }
        if (ds == MKV_OK) {
            rep->used_device = true;
            snprintf(rep->device, sizeof rep->device, "%s", mkv_device_name(dev));
        } else if (ds == MKV_ERR_NO_DEVICE || ds == MKV_ERR_DEVICE_LIMIT || ds == MKV_ERR_UNSUPPORTED) {
            snprintf(rep->device, sizeof rep->device, "CPU (no Vulkan device used: %s)", derr.msg);
            if (o->progress) fprintf(stderr, "mekivk convert: folding on the CPU (no Vulkan device used: %s)\n", derr.msg);
        } else {
            st = mkv_fail(err, ds, "%s", derr.msg);
            goto out;
        }
    } else {
        snprintf(rep->device, sizeof rep->device, "CPU (--cpu)");
    }
    if (!fold && (st = mkv_fold_cpu_create(c, o->batch, &fold, err)) != MKV_OK) goto out;

    double t1 = mkv_now_s();
    if ((size_t)snprintf(path, sizeof path, "%s/bank.mkb", o->out_dir) >= sizeof path) {
        st = mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: path too long", o->out_dir);
        goto out;
    }
    bank_job bj = {.o = o, .c = c, .fold = fold, .path = path, .rep = rep, .staged = &bank_f};
    if ((st = write_bank(&bj, err)) != MKV_OK) goto out;
    memcpy(rep->fingerprint, bj.fp, 32);
    double t2 = mkv_now_s();
    rep->fold_seconds = t2 - t1;
    snprintf(path, sizeof path, "%s/model.gguf", o->out_dir);
    if ((st = write_model(c, bj.fp, path, o->progress, &model_f, &rep->model_bytes, err)) != MKV_OK) goto out;
    if ((st = mkv_atomic_publish_all((mkv_atomic_file *[]){&bank_f, &model_f}, 2, err)) != MKV_OK) goto out;
    rep->model_seconds = mkv_now_s() - t2;
out:
    mkv_atomic_abort(&bank_f); /* after a failure: neither file changes */
    mkv_atomic_abort(&model_f);
    mkv_fold_destroy(fold);
    mkv_device_destroy(own);
    mkv_ckpt_close(c);
    rep->seconds = mkv_now_s() - t0;
    return st;
}
