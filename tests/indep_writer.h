/* An independent writer of GGUF models and .mkb banks for the tests. It
 * shares no code with hosttools/ (gguf_write.c, synth.c) or bank/: it is
 * written from DESIGN §5-§6 and the GGUF spec alone, and deliberately makes
 * other legal choices (F32 norms and matrices mixed with F16, a non-default
 * general.alignment, untied output, tensors in another order, extra
 * metadata of every value type, a Q8 bank without slab CRCs, align 512), so
 * the engine is tested against files it did not write itself. */
#ifndef MKV_INDEP_WRITER_H
#define MKV_INDEP_WRITER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct iw_shape {
    uint32_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ffn, d_mem, n_vocab;
    float rope_theta, norm_eps;
} iw_shape;

/* A tokenizer's GGUF keys (DESIGN §6, llama.cpp's names), as the caller
 * derived them; iw_write_tokenizer and iw_write (iw_opts.tokenizer) write
 * them with this file's own encoder, not hosttools' tok_keys.c. */
typedef struct iw_tokenizer {
    const char *model;           /* tokenizer.ggml.model ("gpt2") */
    const char *pre;             /* tokenizer.ggml.pre ("qwen2", "llama-bpe") */
    uint32_t n_tokens;
    const char *const *tokens;   /* tokenizer.ggml.tokens: n_tokens strings */
    const int32_t *token_types;  /* tokenizer.ggml.token_type (i32): 1 normal .. 6 byte */
    uint64_t n_merges;
    const char *const *merges;   /* tokenizer.ggml.merges: "a b", rank order */
    int64_t bos, eos, pad;       /* *_token_id (u32); < 0: not written */
    int add_bos;                 /* tokenizer.ggml.add_bos_token (bool); < 0: not written */
    const char *chat_template;   /* tokenizer.chat_template; NULL: not written */
} iw_tokenizer;

typedef struct iw_opts {
    bool meki;            /* write meki tensors + bank */
    bool qk_norm;         /* write attn_q_norm / attn_k_norm */
    bool tied;            /* omit output.weight */
    bool f32_matrices;    /* matrices as F32 instead of F16 */
    uint32_t alignment;   /* general.alignment (power of two, e.g. 64) */
    uint32_t bank_dtype;  /* 1 = F16, 2 = Q8 */
    uint32_t bank_align;  /* e.g. 512 */
    bool bank_crc;        /* flags bit 0 */
    uint64_t seed;
    const iw_tokenizer *tokenizer; /* NULL: a stand-in vocabulary ("<tok%u>" tokens) */
} iw_opts;

/* Writes model_path (GGUF v3) and, if opts->meki, bank_path. Returns 0 on
 * success, -1 on I/O failure (message on stderr). */
int iw_write(const char *model_path, const char *bank_path, const iw_shape *shape,
             const iw_opts *opts);

/* Writes a GGUF v3 at path holding no tensors, only metadata: the
 * tokenizer's keys, general.architecture "qwen3" and a few unrelated keys
 * of other value types, in another order than hosttools' writer (the ids
 * and the chat template first, the merges before the tokens) and with a
 * general.alignment of 64. Returns 0, or -1 on failure (message on
 * stderr). */
int iw_write_tokenizer(const char *path, const iw_tokenizer *tok);

#endif
