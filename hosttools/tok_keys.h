/* The tokenizer keys a written GGUF carries (DESIGN §6, llama.cpp's names):
 * from a Hugging Face tokenizer.json (+ tokenizer_config.json), as `synth
 * --tokenizer` and `convert` write them, or a placeholder vocabulary so
 * that every synthetic file has a tokenizer llama.cpp loads. */
#ifndef MKV_TOK_KEYS_H
#define MKV_TOK_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf_write.h"

typedef struct mkv_tok_keys {
    uint32_t n_vocab;        /* tokens written (padded to the model's n_vocab) */
    char **tokens;           /* n_vocab strings */
    int32_t *types;          /* n_vocab mkv_token_type values */
    char **merges;           /* "a b", rank order */
    uint64_t n_merges;
    char pre[16];            /* "qwen2" or "llama-bpe" */
    uint32_t bos, eos, pad;  /* MKV_TOKEN_NONE (UINT32_MAX) if absent */
    bool add_bos;
    char *chat_template;     /* NULL if none */
} mkv_tok_keys;

/* Reads a Hugging Face tokenizer.json (a byte-level BPE with the Qwen2 or
 * Llama 3 pre-tokenizer, recognized by its regex) and, when config_path is
 * not NULL and the file exists, tokenizer_config.json (add_bos_token,
 * bos/eos/pad token, chat_template). The vocabulary plus the added tokens
 * (special ones, or those written <|...|>, become control tokens, the
 * others user-defined) is padded with "[PAD{i}]" (type unused) to n_vocab,
 * as llama.cpp's converter pads it. MKV_ERR_MISMATCH when the tokenizer
 * has more tokens than n_vocab; MKV_ERR_FORMAT / MKV_ERR_UNSUPPORTED name
 * the file, the field and the value. */
mkv_status mkv_tok_keys_from_hf(const char *tokenizer_json, const char *config_path, uint32_t n_vocab,
                                mkv_tok_keys *out, mkv_error *err);

/* A placeholder of n_vocab distinct tokens: the 256 byte-level characters
 * (so any text encodes, byte by byte, and decodes back), then
 * "<|endoftext|>" (control, the eos), then "[PAD{i}]" (unused); no merges;
 * model "gpt2", pre "qwen2". */
mkv_status mkv_tok_keys_placeholder(uint32_t n_vocab, mkv_tok_keys *out, mkv_error *err);

/* The tokenizer of a checkpoint folder `dir`: dir/tokenizer.json (with
 * dir/tokenizer_config.json) when it exists (*found = true), else the
 * placeholder. */
mkv_status mkv_tok_keys_from_dir(const char *dir, uint32_t n_vocab, mkv_tok_keys *out, bool *found, mkv_error *err);

/* Writes tokenizer.ggml.* and tokenizer.chat_template into w. */
mkv_status mkv_tok_keys_write(const mkv_tok_keys *k, mkv_gguf_writer *w, mkv_error *err);

void mkv_tok_keys_free(mkv_tok_keys *k);

#endif
