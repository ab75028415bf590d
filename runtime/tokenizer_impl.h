/* Internal layout of mkv_tokenizer, shared by tokenizer_load.c (GGUF keys
 * -> tables) and tokenizer.c (encoding, decoding). Not public API. */
#ifndef MKV_TOKENIZER_IMPL_H
#define MKV_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "gguf.h"
#include "tokenizer.h"

/* The tokenizer keys of an open GGUF (the keys as mkv_tokenizer_open
 * says; g may be closed afterwards). Internal: the GGUF reader is. */
mkv_status mkv_tokenizer_from_gguf(const mkv_gguf *g, mkv_tokenizer **out, mkv_error *err);

/* A merge: the pair (left id, right id) -> its rank and the merged id. */
typedef struct mkv_merge_slot {
    uint64_t key;      /* (left << 32) | right; UINT64_MAX = empty */
    uint32_t rank, id;
} mkv_merge_slot;

struct mkv_tokenizer {
    char *path;                 /* the GGUF, for messages */
    uint32_t n_vocab;
    char *text;                 /* every token's vocabulary string, NUL-terminated, back to back */
    uint64_t *text_off;         /* n_vocab + 1 offsets into text (string i ends at text_off[i+1] - 1) */
    uint8_t *bytes;             /* every token's decoded bytes, back to back */
    uint64_t *bytes_off;        /* n_vocab + 1 offsets into bytes */
    uint8_t *type;              /* mkv_token_type per token */

    uint32_t *vocab_slots;      /* open addressing: token id or MKV_TOKEN_NONE */
    uint64_t vocab_mask;        /* slots - 1 (a power of two minus one) */

    mkv_merge_slot *merge_slots;
    uint64_t merge_mask;
    uint32_t n_merges;

    uint32_t byte_id[256];      /* token of each byte's byte-level character, or MKV_TOKEN_NONE */
    uint32_t unk;               /* first token of type unknown, or MKV_TOKEN_NONE */

    uint32_t *specials;         /* control + user-defined tokens, longest text first */
    uint32_t n_specials;
    bool special_first[256];    /* a special token starts with this byte */

    uint32_t bos, eos, pad;
    bool add_bos;
    char pre[32];
    bool nfc;                   /* normalize text between special tokens to NFC */
    char *chat_template;
    pcre2_code *re;             /* the pre-tokenizer's split regex */
};

/* Decodes one UTF-8 character at s[0..len): its length (1..4) and *cp, or
 * 0 if the bytes there are not a valid, complete character. */
int mkv_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

uint64_t mkv_tok_hash(const void *p, size_t len);
uint64_t mkv_tok_mix64(uint64_t z);

/* Merge of (a, b), or NULL. */
const mkv_merge_slot *mkv_merge_find(const mkv_tokenizer *t, uint32_t a, uint32_t b);

/* Compiles the pre-tokenizer regex of `pre` ("qwen2", "llama-bpe") into
 * t->re (JIT-compiled where PCRE2 can); MKV_ERR_UNSUPPORTED for another. */
mkv_status mkv_tokenizer_compile_pre(mkv_tokenizer *t, const char *pre, mkv_error *err);

#endif
