/* Text <-> token ids with the tokenizer a GGUF carries under llama.cpp's
 * keys (DESIGN §6): byte-level BPE (tokenizer.ggml.model "gpt2") with the
 * pre-tokenizers "qwen2" (Qwen2/Qwen3) and "llama-bpe" (Llama 3). Encoding
 * equals Hugging Face's `tokenizers` on the same tokenizer.json:
 *   1. control and user-defined tokens are matched whole in the raw text
 *      (leftmost, then longest);
 *   2. each stretch of text between them is NFC-normalized (qwen2 only:
 *      Qwen's tokenizer.json has an NFC normalizer; llama.cpp skips it);
 *   3. split by the pre-tokenizer's regex (PCRE2, UTF + Unicode properties);
 *   4. each piece's bytes become byte-level characters and are merged by
 *      rank (lowest first, leftmost among equals).
 * Host-only: loading a tokenizer reads only the GGUF's metadata, never the
 * weights, and needs no GPU. */
#ifndef MKV_TOKENIZER_H
#define MKV_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mekivk.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MKV_TOKEN_NONE UINT32_MAX /* "no such token" (bos/eos/pad absent) */

/* tokenizer.ggml.token_type values (llama.cpp's). */
typedef enum mkv_token_type {
    MKV_TOKEN_UNDEFINED = 0,
    MKV_TOKEN_NORMAL = 1,
    MKV_TOKEN_UNKNOWN = 2,
    MKV_TOKEN_CONTROL = 3,
    MKV_TOKEN_USER_DEFINED = 4,
    MKV_TOKEN_UNUSED = 5,
    MKV_TOKEN_BYTE = 6,
} mkv_token_type;

typedef struct mkv_tokenizer mkv_tokenizer;

/* Opens the GGUF at path and reads its tokenizer keys (everything is
 * copied). Required: tokenizer.ggml.model ("gpt2"; others are
 * MKV_ERR_UNSUPPORTED), tokenizer.ggml.pre ("qwen2" or "llama-bpe"),
 * tokenizer.ggml.tokens (array of strings) and tokenizer.ggml.merges (array
 * of "a b" strings in rank order, may be empty; a and b and their
 * concatenation must be tokens). Optional: tokenizer.ggml.token_type (i32
 * array, one per token, values 0..6; default normal), bos/eos/padding
 * token ids (< n_vocab), add_bos_token (bool), tokenizer.chat_template.
 * MKV_ERR_MISSING / MKV_ERR_FORMAT / MKV_ERR_TOKEN_RANGE name the file,
 * the key, the element and its value. */
mkv_status mkv_tokenizer_open(const char *path, mkv_tokenizer **out, mkv_error *err);
void mkv_tokenizer_free(mkv_tokenizer *t);

uint32_t mkv_tokenizer_n_vocab(const mkv_tokenizer *t);
uint32_t mkv_tokenizer_bos(const mkv_tokenizer *t); /* MKV_TOKEN_NONE if absent */
uint32_t mkv_tokenizer_eos(const mkv_tokenizer *t);
uint32_t mkv_tokenizer_pad(const mkv_tokenizer *t);
bool mkv_tokenizer_add_bos(const mkv_tokenizer *t);
const char *mkv_tokenizer_pre(const mkv_tokenizer *t);           /* "qwen2", "llama-bpe" */
const char *mkv_tokenizer_chat_template(const mkv_tokenizer *t); /* NULL if the file has none */

/* The vocabulary string of token id (as in tokenizer.ggml.tokens, e.g.
 * "Ġthe"), its length in *len; NULL if id >= n_vocab. */
const char *mkv_token_text(const mkv_tokenizer *t, uint32_t id, size_t *len);
/* The bytes token id stands for (byte-level characters mapped back to
 * bytes; a token with a character outside that map stands for its own
 * UTF-8 text, as Hugging Face's ByteLevel decoder does); NULL if out of
 * range. May be part of a UTF-8 character. */
const uint8_t *mkv_token_bytes(const mkv_tokenizer *t, uint32_t id, size_t *len);
/* mkv_token_type of id (MKV_TOKEN_UNDEFINED if out of range). */
int mkv_token_type_of(const mkv_tokenizer *t, uint32_t id);
/* Id of the token whose vocabulary string is s[0..len), or MKV_TOKEN_NONE. */
uint32_t mkv_token_lookup(const mkv_tokenizer *t, const char *s, size_t len);

/* Encodes text[0..len) into a malloc'd array *ids of *n_ids tokens (the
 * caller frees it; NULL when there are none). add_bos: prepend the BOS
 * token when the file says add_bos_token. Text must be valid UTF-8:
 * otherwise MKV_ERR_INVALID_ARG naming the byte offset and value. */
mkv_status mkv_tokenize(const mkv_tokenizer *t, const char *text, size_t len, bool add_bos, uint32_t **ids,
                        size_t *n_ids, mkv_error *err);

/* The bytes of ids[0..n) concatenated, exactly, in a malloc'd buffer *text
 * (NUL-terminated, *len excludes the NUL). MKV_ERR_TOKEN_RANGE naming the
 * index and id for an id >= n_vocab. */
mkv_status mkv_detokenize(const mkv_tokenizer *t, const uint32_t *ids, size_t n, char **text, size_t *len,
                          mkv_error *err);

/* Streaming decoder: fed one token at a time, it returns only whole UTF-8
 * characters; the start of a character still missing bytes is held until
 * they come. Bytes that cannot be part of a valid UTF-8 character are
 * passed through as they are, never held. */
typedef struct mkv_detok_stream mkv_detok_stream;
mkv_status mkv_detok_stream_create(const mkv_tokenizer *t, mkv_detok_stream **out, mkv_error *err);
void mkv_detok_stream_free(mkv_detok_stream *s);
/* Appends token id; *text, *len: the bytes that are now complete (valid
 * until the next call on s). MKV_ERR_TOKEN_RANGE leaves s unchanged. */
mkv_status mkv_detok_stream_push(mkv_detok_stream *s, uint32_t id, const char **text, size_t *len, mkv_error *err);
/* Returns whatever is held (an incomplete character at the end of the
 * text) and empties the stream. */
void mkv_detok_stream_flush(mkv_detok_stream *s, const char **text, size_t *len);

/* The byte-level map (GPT-2's): byte b is the Unicode character
 * mkv_byte_to_cp(b); printable Latin-1 bytes map to themselves, the
 * others to U+0100.. in byte order. mkv_cp_to_byte: the inverse, -1 for a
 * character outside the map. */
uint32_t mkv_byte_to_cp(uint8_t b);
int mkv_cp_to_byte(uint32_t cp);

/* Length of the valid UTF-8 prefix of s[0..len) (== len if all valid). */
size_t mkv_utf8_valid_prefix(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* MKV_TOKENIZER_H */
