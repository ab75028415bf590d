/* The tokenizer (runtime/tokenizer.h): Qwen3's tokenizer.json, written
 * into a GGUF as synth --tokenizer writes it, encodes a corpus of 2242
 * hard strings exactly as Hugging Face's `tokenizers` does
 * (tests/tokenizer/qwen3_fixtures.jsonl, made by make_fixtures.js) and
 * decodes back to HF's decoding. The same tokenizer with its keys derived
 * in this file the way llama.cpp's converter derives them and written by
 * the independent writer (tests/indep_writer.c) has synth's vocabulary
 * token for token and encodes the corpus the same; that check notices a
 * swapped merge or a missing special token. Small hand-made vocabularies check merges
 * by rank, unknown bytes, special tokens matched whole and the streaming
 * decoder; bad keys give errors naming the file, key and value. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "convert.h"
#include "fileio.h"
#include "gguf_write.h"
#include "indep_writer.h"
#include "json.h"
#include "safetensors.h"
#include "synth.h"
#include "synth_ckpt.h"
#include "test_util.h"
#include "tok_keys.h"
#include "tokenizer.h"

#ifndef MKV_CLI
#error "MKV_CLI (the mekivk executable) must be defined"
#endif
#ifndef MKV_TOKENIZER_DATA
#error "MKV_TOKENIZER_DATA (folder of the Qwen3 tokenizer.json and fixtures) must be defined"
#endif

static const char *tmp_path(const char *name) { return tu_path_in("tokenizer", name); }

static mkv_status no_fill(void *user, uint32_t index, const char *name, void *dst, uint64_t nbytes, mkv_error *err)
{
    return MKV_OK;
}

/* ---- hand-made vocabularies ---------------------------------------------------- */

typedef struct vocab_spec {
    const char *model, *pre;          /* default "gpt2", "qwen2" */
    const char *const *extra;         /* tokens after the 256 byte-level characters */
    const int32_t *extra_types;       /* their types (NULL: normal) */
    uint32_t n_extra;
    const char *const *merges;
    uint32_t n_merges;
    bool no_bytes;                    /* leave the byte characters of 'x', 'y', 'z' out */
    uint32_t eos;                     /* written when != 0 */
    bool tokens_as_u32;               /* hostile: tokenizer.ggml.tokens of the wrong type */
    bool no_tokens;
    int32_t bad_type;                 /* when != 0: token 0's type */
} vocab_spec;

static char byte_tokens[256][4];

static void init_byte_tokens(void)
{
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = mkv_byte_to_cp((uint8_t)b);
        if (cp < 0x80) byte_tokens[b][0] = (char)cp;
        else { byte_tokens[b][0] = (char)(0xC0 | (cp >> 6)); byte_tokens[b][1] = (char)(0x80 | (cp & 0x3F)); }
    }
}

/* Writes a GGUF with only tokenizer keys; returns its path. */
static const char *write_vocab(const char *name, const vocab_spec *v)
{
    init_byte_tokens();
    uint32_t n = 256 + v->n_extra;
    const char **toks = calloc(n, sizeof *toks);
    int32_t *types = calloc(n, sizeof *types);
    for (unsigned b = 0; b < 256; b++) {
        toks[b] = byte_tokens[b];
        types[b] = MKV_TOKEN_NORMAL;
        if (v->no_bytes && (b == 'x' || b == 'y' || b == 'z')) toks[b] = b == 'x' ? "[X]" : b == 'y' ? "[Y]" : "[Z]";
    }
    for (uint32_t i = 0; i < v->n_extra; i++) {
        toks[256 + i] = v->extra[i];
        types[256 + i] = v->extra_types ? v->extra_types[i] : MKV_TOKEN_NORMAL;
    }
    if (v->bad_type) types[0] = v->bad_type;
    mkv_gguf_writer *w = NULL;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_gguf_writer_create(&w, &err), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_str(w, "general.architecture", "qwen3"), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_str(w, "tokenizer.ggml.model", v->model ? v->model : "gpt2"), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_str(w, "tokenizer.ggml.pre", v->pre ? v->pre : "qwen2"), MKV_OK);
    if (v->tokens_as_u32) ck_assert_int_eq(mkv_gguf_set_u32(w, "tokenizer.ggml.tokens", 7), MKV_OK);
    else if (!v->no_tokens) ck_assert_int_eq(mkv_gguf_set_str_array(w, "tokenizer.ggml.tokens", toks, n), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_array(w, "tokenizer.ggml.token_type", MKV_GGUF_I32, types, n), MKV_OK);
    ck_assert_int_eq(mkv_gguf_set_str_array(w, "tokenizer.ggml.merges", (const char *const *)v->merges, v->n_merges),
                     MKV_OK);
    if (v->eos) ck_assert_int_eq(mkv_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", v->eos), MKV_OK);
    const char *path = tmp_path(name);
    ck_assert_int_eq(mkv_gguf_writer_write(w, path, no_fill, NULL, &err), MKV_OK);
    mkv_gguf_writer_free(w);
    free(toks);
    free(types);
    return path;
}

static mkv_tokenizer *open_ok(const char *path)
{
    mkv_tokenizer *t = NULL;
    mkv_error err = {0};
    mkv_status st = mkv_tokenizer_open(path, &t, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
    return t;
}

/* Encodes s and checks the ids. */
static void expect_ids(const mkv_tokenizer *t, const char *s, const uint32_t *want, size_t n_want)
{
    uint32_t *ids = NULL;
    size_t n = 0;
    mkv_error err = {0};
    ck_assert_msg(mkv_tokenize(t, s, strlen(s), true, &ids, &n, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(n == n_want, "'%s': %zu ids, want %zu", s, n, n_want);
    for (size_t i = 0; i < n; i++) ck_assert_msg(ids[i] == want[i], "'%s' id %zu = %u, want %u", s, i, ids[i], want[i]);
    free(ids);
}

#define IDS(...) ((const uint32_t[]){__VA_ARGS__}), sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)

START_TEST(test_byte_level_map_is_gpt2s)
{
    ck_assert_uint_eq(mkv_byte_to_cp(' '), 0x120);  /* 'Ġ' */
    ck_assert_uint_eq(mkv_byte_to_cp('\n'), 0x10A); /* 'Ċ' */
    ck_assert_uint_eq(mkv_byte_to_cp(0xAD), 0x143);
    ck_assert_uint_eq(mkv_byte_to_cp('a'), 'a');
    ck_assert_uint_eq(mkv_byte_to_cp(0xE9), 0xE9);
    bool seen[324] = {0};
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = mkv_byte_to_cp((uint8_t)b);
        ck_assert_uint_lt(cp, 324);
        ck_assert(!seen[cp]);
        seen[cp] = true;
        ck_assert_int_eq(mkv_cp_to_byte(cp), (int)b);
    }
    for (uint32_t cp = 0; cp < 400; cp++)
        if (cp >= 324 || !seen[cp]) ck_assert_int_eq(mkv_cp_to_byte(cp), -1);
}
END_TEST

START_TEST(test_merges_apply_by_rank)
{
    static const char *extra[] = {"ab", "bc", "abc", "aa"};
    /* "b c" ranks first: a + bc, and "a bc" is no merge */
    static const char *m1[] = {"b c", "a b", "ab c"};
    mkv_tokenizer *t = open_ok(write_vocab("rank1.gguf", &(vocab_spec){.extra = extra, .n_extra = 4, .merges = m1,
                                                                        .n_merges = 3}));
    expect_ids(t, "abc", IDS('a', 257));
    mkv_tokenizer_free(t);
    /* "a b" first: ab + c -> abc */
    static const char *m2[] = {"a b", "b c", "ab c", "a a"};
    t = open_ok(write_vocab("rank2.gguf", &(vocab_spec){.extra = extra, .n_extra = 4, .merges = m2, .n_merges = 4}));
    expect_ids(t, "abc", IDS(258));
    expect_ids(t, "aaa", IDS(259, 'a')); /* equal ranks: the leftmost pair first */
    expect_ids(t, "ab abc", IDS(256, ' ', 258)); /* pieces "ab", " abc": the space starts the second */
    mkv_tokenizer_free(t);
}
END_TEST

START_TEST(test_unknown_bytes_become_unk_or_are_dropped)
{
    /* no token for the byte characters of x, y, z: dropped without an unknown token */
    mkv_tokenizer *t = open_ok(write_vocab("nobytes.gguf", &(vocab_spec){.no_bytes = true}));
    expect_ids(t, "axb", IDS('a', 'b'));
    mkv_tokenizer_free(t);
    static const char *extra[] = {"<unk>"};
    static const int32_t types[] = {MKV_TOKEN_UNKNOWN};
    t = open_ok(write_vocab("unk.gguf", &(vocab_spec){.no_bytes = true, .extra = extra, .extra_types = types,
                                                       .n_extra = 1}));
    expect_ids(t, "axyb", IDS('a', 256, 256, 'b'));
    mkv_tokenizer_free(t);
}
END_TEST

START_TEST(test_special_tokens_are_matched_whole)
{
    static const char *extra[] = {"<|x|>", "<|xy|>", "<me>", "ab"};
    static const int32_t types[] = {MKV_TOKEN_CONTROL, MKV_TOKEN_CONTROL, MKV_TOKEN_USER_DEFINED, MKV_TOKEN_NORMAL};
    static const char *merges[] = {"a b"};
    mkv_tokenizer *t = open_ok(write_vocab("special.gguf", &(vocab_spec){.extra = extra, .extra_types = types,
                                                                          .n_extra = 4, .merges = merges,
                                                                          .n_merges = 1}));
    expect_ids(t, "a<|xy|>b", IDS('a', 257, 'b'));   /* the longest at the leftmost position */
    expect_ids(t, "<|x|><|x|>", IDS(256, 256));
    expect_ids(t, "a<me>b", IDS('a', 258, 'b'));     /* user-defined too */
    expect_ids(t, "ab<|x|>ab", IDS(259, 256, 259));  /* BPE on each side, not across */
    expect_ids(t, "<|x", IDS('<', '|', 'x'));        /* a prefix is text */
    char *text = NULL;
    size_t len = 0;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_detokenize(t, (const uint32_t[]){'a', 257, 32}, 3, &text, &len, &err), MKV_OK);
    ck_assert_str_eq(text, "a<|xy|> "); /* token b < 256 is byte b's character here */
    free(text);
    mkv_tokenizer_free(t);
}
END_TEST

START_TEST(test_stream_holds_split_utf8)
{
    mkv_tokenizer *t = open_ok(write_vocab("stream.gguf", &(vocab_spec){0}));
    mkv_detok_stream *s = NULL;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_detok_stream_create(t, &s, &err), MKV_OK);
    const char *out;
    size_t len;
    /* token b is byte b in this vocabulary: feed "é😀" byte by byte */
    const uint8_t bytes[] = {'a', 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 'z'};
    const char *expect[] = {"a", "", "\xC3\xA9", "", "", "", "\xF0\x9F\x98\x80", "z"};
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(mkv_detok_stream_push(s, bytes[i], &out, &len, &err), MKV_OK);
        ck_assert_msg(len == strlen(expect[i]) && !memcmp(out, expect[i], len), "byte %d: %zu bytes out", i, len);
    }
    /* a byte that cannot start a character passes at once; an incomplete one at the end comes with flush */
    ck_assert_int_eq(mkv_detok_stream_push(s, 0xFF, &out, &len, &err), MKV_OK);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(mkv_detok_stream_push(s, 0xE2, &out, &len, &err), MKV_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(mkv_detok_stream_push(s, 0x82, &out, &len, &err), MKV_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(mkv_detok_stream_push(s, 99999, &out, &len, &err), MKV_ERR_TOKEN_RANGE);
    mkv_detok_stream_flush(s, &out, &len);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(memcmp(out, "\xE2\x82", 2), 0);
    /* a lead byte followed by a byte that cannot continue it is not held */
    ck_assert_int_eq(mkv_detok_stream_push(s, 0xE0, &out, &len, &err), MKV_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(mkv_detok_stream_push(s, 0x80, &out, &len, &err), MKV_OK); /* E0 80: overlong */
    ck_assert_uint_eq(len, 2);
    mkv_detok_stream_free(s);
    mkv_tokenizer_free(t);
}
END_TEST

/* Opening fails with status st and a message containing each of the words. */
static void expect_open_error(const char *path, mkv_status st, const char *w1, const char *w2)
{
    mkv_tokenizer *t = NULL;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_tokenizer_open(path, &t, &err), st);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, w1) && (!w2 || strstr(err.msg, w2)), "message: %s",
                  err.msg);
}

START_TEST(test_bad_keys_are_named)
{
    expect_open_error(write_vocab("e1.gguf", &(vocab_spec){.no_tokens = true}), MKV_ERR_MISSING,
                      "tokenizer.ggml.tokens", NULL);
    expect_open_error(write_vocab("e2.gguf", &(vocab_spec){.tokens_as_u32 = true}), MKV_ERR_FORMAT,
                      "tokenizer.ggml.tokens", "u32");
    expect_open_error(write_vocab("e3.gguf", &(vocab_spec){.eos = 256}), MKV_ERR_TOKEN_RANGE,
                      "tokenizer.ggml.eos_token_id", "256");
    static const char *m1[] = {"a q"};
    static const char *extra[] = {"aq"};
    static const char *m2[] = {"a zz"};
    static const char *m3[] = {"ab"};
    expect_open_error(write_vocab("e4.gguf", &(vocab_spec){.merges = m1, .n_merges = 1}), MKV_ERR_FORMAT,
                      "tokenizer.ggml.merges[0]", "merged token");
    expect_open_error(write_vocab("e5.gguf", &(vocab_spec){.extra = extra, .n_extra = 1, .merges = m2, .n_merges = 1}),
                      MKV_ERR_FORMAT, "'a zz'", "second part");
    expect_open_error(write_vocab("e6.gguf", &(vocab_spec){.merges = m3, .n_merges = 1}), MKV_ERR_FORMAT,
                      "'ab'", "space");
    expect_open_error(write_vocab("e7.gguf", &(vocab_spec){.model = "llama"}), MKV_ERR_UNSUPPORTED,
                      "tokenizer.ggml.model", "llama");
    expect_open_error(write_vocab("e8.gguf", &(vocab_spec){.pre = "gpt-4o"}), MKV_ERR_UNSUPPORTED,
                      "tokenizer.ggml.pre", "gpt-4o");
    expect_open_error(write_vocab("e9.gguf", &(vocab_spec){.bad_type = 9}), MKV_ERR_FORMAT,
                      "tokenizer.ggml.token_type[0]", "9");
}
END_TEST

START_TEST(test_bad_input_is_an_error)
{
    mkv_tokenizer *t = open_ok(write_vocab("input.gguf", &(vocab_spec){0}));
    uint32_t *ids = NULL;
    size_t n = 0;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_tokenize(t, "ab\xC3(", 4, true, &ids, &n, &err), MKV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "byte 2") && strstr(err.msg, "0xc3"), "%s", err.msg);
    ck_assert_int_eq(mkv_tokenize(t, "\xED\xA0\x80", 3, true, &ids, &n, &err), MKV_ERR_INVALID_ARG); /* surrogate */
    ck_assert_ptr_null(ids);
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(mkv_detokenize(t, (const uint32_t[]){1, 256}, 2, &text, &len, &err), MKV_ERR_TOKEN_RANGE);
    ck_assert_msg(strstr(err.msg, "ids[1] = 256"), "%s", err.msg);
    /* empty text: no ids */
    ck_assert_int_eq(mkv_tokenize(t, "", 0, true, &ids, &n, &err), MKV_OK);
    ck_assert_uint_eq(n, 0);
    mkv_tokenizer_free(t);
}
END_TEST

/* ---- Qwen3's tokenizer vs Hugging Face ---------------------------------------- */

static const char *qwen3_gguf(void)
{
    static char path[4096];
    if (path[0]) return path;
    mkv_tok_keys k;
    mkv_error err = {0};
    mkv_status st = mkv_tok_keys_from_hf(MKV_TOKENIZER_DATA "/tokenizer.json", MKV_TOKENIZER_DATA "/tokenizer_config.json",
                                         151936, &k, &err);
    ck_assert_msg(st == MKV_OK, "%s", err.msg);
    ck_assert_str_eq(k.pre, "qwen2");
    mkv_gguf_writer *w = NULL;
    ck_assert_int_eq(mkv_gguf_writer_create(&w, &err), MKV_OK);
    ck_assert_int_eq(mkv_tok_keys_write(&k, w, &err), MKV_OK);
    snprintf(path, sizeof path, "%s", tmp_path("qwen3_tok.gguf"));
    ck_assert_int_eq(mkv_gguf_writer_write(w, path, no_fill, NULL, &err), MKV_OK);
    mkv_gguf_writer_free(w);
    mkv_tok_keys_free(&k);
    return path;
}

START_TEST(test_qwen3_equals_hugging_face)
{
    mkv_tokenizer *t = open_ok(qwen3_gguf());
    ck_assert_uint_eq(mkv_tokenizer_n_vocab(t), 151936);
    ck_assert_uint_eq(mkv_tokenizer_eos(t), 151645); /* <|im_end|>, from tokenizer_config.json */
    ck_assert_ptr_nonnull(mkv_tokenizer_chat_template(t));
    ck_assert_int_eq(mkv_token_type_of(t, 151644), MKV_TOKEN_CONTROL);
    ck_assert_int_eq(mkv_token_type_of(t, 151667), MKV_TOKEN_USER_DEFINED); /* <think> */
    ck_assert_int_eq(mkv_token_type_of(t, 151935), MKV_TOKEN_UNUSED);       /* [PAD151935] */
    char *text = NULL;
    uint64_t size = 0;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_read_small_file(MKV_TOKENIZER_DATA "/qwen3_fixtures.jsonl", 1 << 28, &text, &size, &err), MKV_OK);
    size_t pos = 0, line = 0, n_bad = 0, n_cases = 0;
    mkv_detok_stream *s = NULL;
    ck_assert_int_eq(mkv_detok_stream_create(t, &s, &err), MKV_OK);
    while (pos < size) {
        const char *nl = memchr(text + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - text) : size;
        line++;
        mkv_json j;
        ck_assert_msg(mkv_json_parse(text + pos, end - pos, "fixture", &j, &err) == MKV_OK, "%s", err.msg);
        const mkv_json_value *in = &j.v[mkv_json_get(&j, 0, "text")];
        const mkv_json_value *want = &j.v[mkv_json_get(&j, 0, "ids")];
        const mkv_json_value *dec = &j.v[mkv_json_get(&j, 0, "decoded")];
        uint32_t *ids = NULL;
        size_t n = 0;
        ck_assert_msg(mkv_tokenize(t, in->str, in->len, true, &ids, &n, &err) == MKV_OK, "line %zu: %s", line, err.msg);
        bool same = n == want->n;
        uint32_t c = want->first;
        for (size_t i = 0; same && i < n; i++, c = j.v[c].next) same = j.v[c].u == ids[i];
        if (!same && n_bad++ < 10) fprintf(stderr, "fixture line %zu differs (%zu ids, want %u)\n", line, n, want->n);
        /* decoding gives HF's decoding (NFC of the text), whole and streamed */
        char *back = NULL;
        size_t blen = 0;
        ck_assert_int_eq(mkv_detokenize(t, ids, n, &back, &blen, &err), MKV_OK);
        ck_assert_msg(blen == dec->len && !memcmp(back, dec->str, blen), "line %zu: decoding differs", line);
        size_t got = 0;
        for (size_t i = 0; i < n; i++) {
            const char *o;
            size_t ol;
            ck_assert_int_eq(mkv_detok_stream_push(s, ids[i], &o, &ol, &err), MKV_OK);
            ck_assert_msg(mkv_utf8_valid_prefix(o, ol) == ol, "line %zu: stream gave part of a character", line);
            ck_assert_msg(got + ol <= blen && !memcmp(back + got, o, ol), "line %zu: stream differs", line);
            got += ol;
        }
        const char *o;
        size_t ol;
        mkv_detok_stream_flush(s, &o, &ol);
        ck_assert_msg(ol == 0 && got == blen, "line %zu: stream held %zu bytes at the end", line, ol);
        free(back);
        free(ids);
        mkv_json_free(&j);
        n_cases++;
        pos = end + 1;
    }
    mkv_detok_stream_free(s);
    free(text);
    mkv_tokenizer_free(t);
    ck_assert_uint_ge(n_cases, 2000);
    ck_assert_msg(n_bad == 0, "%zu of %zu fixture lines differ from Hugging Face", n_bad, n_cases);
}
END_TEST

/* ---- Qwen3's tokenizer written by the independent writer --------------------------
 * The keys are derived here from tokenizer.json and tokenizer_config.json
 * the way llama.cpp's convert_hf_to_gguf.py derives them (its
 * get_vocab_base and SpecialVocab), not by hosttools' tok_keys.c, and
 * written by tests/indep_writer.c, not by hosttools' GGUF writer. Only
 * the JSON parser is the project's. */

#define QWEN3_N_VOCAB 151936 /* Qwen3's config.json vocab_size: the vocabulary padded */

typedef struct indep_tok {
    iw_tokenizer t;
    const char **tokens;
    int32_t *types;
    char (*pad)[16];       /* "[PAD{i}]" texts */
    char **merges;
    char *tj_text, *cfg_text;
    mkv_json tj, cfg;
} indep_tok;

static uint32_t jget(const mkv_json *j, uint32_t obj, const char *key) { return mkv_json_get(j, obj, key); }

/* llama.cpp's does_token_look_special. */
static bool looks_special_llama(const char *s)
{
    size_t n = strlen(s);
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") || !strcmp(s, "[@BOS@]")) return true;
    if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>")) return true;
    if (n >= 8 && !strncmp(s, "<\xEF\xBD\x9C", 4) && !strcmp(s + n - 4, "\xEF\xBD\x9C>")) return true; /* <｜...｜> */
    return n > 10 && !strncmp(s, "<start_of_", 10) && s[n - 1] == '>';
}

/* The id of the added token whose content is the config's `key` (a string
 * or {"content": ...}), or -1 when the config has none. */
static int64_t special_id(const indep_tok *x, const char *key)
{
    uint32_t v = jget(&x->cfg, 0, key);
    if (v == MKV_JSON_NONE || x->cfg.v[v].type == MKV_JSON_NULL) return -1;
    if (x->cfg.v[v].type == MKV_JSON_OBJECT) v = jget(&x->cfg, v, "content");
    ck_assert_msg(v != MKV_JSON_NONE && x->cfg.v[v].type == MKV_JSON_STRING, "tokenizer_config.json: %s", key);
    const mkv_json_value *added = &x->tj.v[jget(&x->tj, 0, "added_tokens")];
    for (uint32_t c = added->first; c != MKV_JSON_NONE; c = x->tj.v[c].next)
        if (!strcmp(x->tj.v[jget(&x->tj, c, "content")].str, x->cfg.v[v].str)) return (int64_t)x->tj.v[jget(&x->tj, c, "id")].u;
    ck_abort_msg("tokenizer_config.json: %s = %s: not an added token", key, x->cfg.v[v].str);
    return -1;
}

static void indep_tok_load(indep_tok *x, uint32_t n_vocab)
{
    memset(x, 0, sizeof *x);
    mkv_error err = {0};
    uint64_t len;
    ck_assert_int_eq(mkv_read_small_file(MKV_TOKENIZER_DATA "/tokenizer.json", 1 << 28, &x->tj_text, &len, &err), MKV_OK);
    ck_assert_msg(mkv_json_parse(x->tj_text, len, "tokenizer.json", &x->tj, &err) == MKV_OK, "%s", err.msg);
    ck_assert_int_eq(mkv_read_small_file(MKV_TOKENIZER_DATA "/tokenizer_config.json", 1 << 24, &x->cfg_text, &len, &err),
                     MKV_OK);
    ck_assert_msg(mkv_json_parse(x->cfg_text, len, "tokenizer_config.json", &x->cfg, &err) == MKV_OK, "%s", err.msg);
    x->tokens = calloc(n_vocab, sizeof *x->tokens);
    x->types = calloc(n_vocab, sizeof *x->types);
    x->pad = calloc(n_vocab, sizeof *x->pad);
    ck_assert(x->tokens && x->types && x->pad);
    /* the BPE vocabulary: normal tokens */
    const uint32_t model = jget(&x->tj, 0, "model");
    const mkv_json_value *vocab = &x->tj.v[jget(&x->tj, model, "vocab")];
    ck_assert_int_eq(vocab->type, MKV_JSON_OBJECT);
    for (uint32_t c = vocab->first; c != MKV_JSON_NONE; c = x->tj.v[c].next) {
        const mkv_json_value *v = &x->tj.v[c];
        ck_assert(v->is_uint && v->u < n_vocab && !x->tokens[v->u]);
        x->tokens[v->u] = v->key;
        x->types[v->u] = MKV_TOKEN_NORMAL;
    }
    /* added tokens: control when transformers calls them special (the
     * config's added_tokens_decoder) or they look special, else user-defined */
    const uint32_t decoder = jget(&x->cfg, 0, "added_tokens_decoder");
    const mkv_json_value *added = &x->tj.v[jget(&x->tj, 0, "added_tokens")];
    for (uint32_t c = added->first; c != MKV_JSON_NONE; c = x->tj.v[c].next) {
        const mkv_json_value *id = &x->tj.v[jget(&x->tj, c, "id")], *content = &x->tj.v[jget(&x->tj, c, "content")];
        ck_assert(id->is_uint && id->u < n_vocab);
        char key[24];
        snprintf(key, sizeof key, "%" PRIu64, id->u);
        uint32_t dec = jget(&x->cfg, decoder, key);
        uint32_t sp = dec != MKV_JSON_NONE ? jget(&x->cfg, dec, "special") : MKV_JSON_NONE;
        bool special = sp != MKV_JSON_NONE ? x->cfg.v[sp].type == MKV_JSON_TRUE
                                           : x->tj.v[jget(&x->tj, c, "special")].type == MKV_JSON_TRUE;
        x->tokens[id->u] = content->str;
        x->types[id->u] = special || looks_special_llama(content->str) ? MKV_TOKEN_CONTROL : MKV_TOKEN_USER_DEFINED;
    }
    for (uint32_t i = 0; i < n_vocab; i++)
        if (!x->tokens[i]) {
            snprintf(x->pad[i], sizeof x->pad[i], "[PAD%u]", i);
            x->tokens[i] = x->pad[i];
            x->types[i] = MKV_TOKEN_UNUSED;
        }
    /* merges: ["a", "b"] pairs (or "a b" strings) in rank order */
    const mkv_json_value *merges = &x->tj.v[jget(&x->tj, model, "merges")];
    ck_assert_int_eq(merges->type, MKV_JSON_ARRAY);
    x->merges = calloc(merges->n, sizeof *x->merges);
    uint64_t k = 0;
    for (uint32_t c = merges->first; c != MKV_JSON_NONE; c = x->tj.v[c].next, k++) {
        const mkv_json_value *m = &x->tj.v[c];
        if (m->type == MKV_JSON_STRING) {
            x->merges[k] = strdup(m->str);
            continue;
        }
        ck_assert(m->type == MKV_JSON_ARRAY && m->n == 2);
        const char *a = x->tj.v[m->first].str, *b = x->tj.v[x->tj.v[m->first].next].str;
        size_t n = strlen(a) + strlen(b) + 2;
        x->merges[k] = malloc(n);
        snprintf(x->merges[k], n, "%s %s", a, b);
    }
    /* special ids, add_bos_token and the chat template from tokenizer_config.json */
    const uint32_t add_bos = jget(&x->cfg, 0, "add_bos_token"), tmpl = jget(&x->cfg, 0, "chat_template");
    x->t = (iw_tokenizer){
        .model = "gpt2",
        .pre = "qwen2", /* what llama.cpp's converter names Qwen2/Qwen3's pre-tokenizer */
        .n_tokens = n_vocab,
        .tokens = x->tokens,
        .token_types = x->types,
        .n_merges = k,
        .merges = (const char *const *)x->merges,
        .bos = special_id(x, "bos_token"),
        .eos = special_id(x, "eos_token"),
        .pad = special_id(x, "pad_token"),
        .add_bos = add_bos == MKV_JSON_NONE ? -1 : x->cfg.v[add_bos].type == MKV_JSON_TRUE,
        .chat_template = tmpl == MKV_JSON_NONE ? NULL : x->cfg.v[tmpl].str,
    };
}

static void indep_tok_free(indep_tok *x)
{
    for (uint64_t i = 0; i < x->t.n_merges; i++) free(x->merges[i]);
    free(x->merges);
    free(x->tokens);
    free(x->types);
    free(x->pad);
    mkv_json_free(&x->tj);
    mkv_json_free(&x->cfg);
    free(x->tj_text);
    free(x->cfg_text);
}

static const char *write_indep(const indep_tok *x, const char *name)
{
    const char *path = tmp_path(name);
    ck_assert_int_eq(iw_write_tokenizer(path, &x->t), 0);
    return path;
}

/* Encodes every fixture line with t; returns how many lines differ from
 * Hugging Face's ids. When `same` is not NULL, every line's ids must also
 * equal same's. */
static size_t fixture_mismatches(const mkv_tokenizer *t, const mkv_tokenizer *same, size_t *n_lines)
{
    char *text = NULL;
    uint64_t size = 0;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_read_small_file(MKV_TOKENIZER_DATA "/qwen3_fixtures.jsonl", 1 << 28, &text, &size, &err), MKV_OK);
    size_t pos = 0, line = 0, bad = 0;
    while (pos < size) {
        const char *nl = memchr(text + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - text) : size;
        line++;
        mkv_json j;
        ck_assert_msg(mkv_json_parse(text + pos, end - pos, "fixture", &j, &err) == MKV_OK, "%s", err.msg);
        const mkv_json_value *in = &j.v[mkv_json_get(&j, 0, "text")], *want = &j.v[mkv_json_get(&j, 0, "ids")];
        uint32_t *ids = NULL, *ids2 = NULL;
        size_t n = 0, n2 = 0;
        ck_assert_msg(mkv_tokenize(t, in->str, in->len, true, &ids, &n, &err) == MKV_OK, "line %zu: %s", line, err.msg);
        bool eq = n == want->n;
        uint32_t c = want->first;
        for (size_t i = 0; eq && i < n; i++, c = j.v[c].next) eq = j.v[c].u == ids[i];
        bad += !eq;
        if (same) {
            ck_assert_int_eq(mkv_tokenize(same, in->str, in->len, true, &ids2, &n2, &err), MKV_OK);
            ck_assert_msg(n == n2 && (n == 0 || !memcmp(ids, ids2, n * sizeof *ids)),
                          "line %zu: the two files' tokenizers give different ids", line);
        }
        free(ids);
        free(ids2);
        mkv_json_free(&j);
        pos = end + 1;
    }
    free(text);
    *n_lines = line;
    return bad;
}

START_TEST(test_qwen3_written_independently_equals_hugging_face)
{
    indep_tok x;
    indep_tok_load(&x, QWEN3_N_VOCAB);
    mkv_tokenizer *t = open_ok(write_indep(&x, "qwen3_indep.gguf"));
    mkv_tokenizer *k = open_ok(qwen3_gguf()); /* tok_keys.c through hosttools' writer */
    /* the same tokenizer as the tok_keys-written file, key by key and token by token */
    ck_assert_uint_eq(mkv_tokenizer_n_vocab(t), QWEN3_N_VOCAB);
    ck_assert_uint_eq(mkv_tokenizer_n_vocab(k), QWEN3_N_VOCAB);
    ck_assert_uint_eq(mkv_tokenizer_eos(t), 151645); /* <|im_end|> */
    ck_assert_uint_eq(mkv_tokenizer_eos(t), mkv_tokenizer_eos(k));
    ck_assert_uint_eq(mkv_tokenizer_bos(t), MKV_TOKEN_NONE);
    ck_assert_uint_eq(mkv_tokenizer_bos(t), mkv_tokenizer_bos(k));
    ck_assert_uint_eq(mkv_tokenizer_pad(t), 151643); /* <|endoftext|> */
    ck_assert_uint_eq(mkv_tokenizer_pad(t), mkv_tokenizer_pad(k));
    ck_assert(!mkv_tokenizer_add_bos(t) && !mkv_tokenizer_add_bos(k));
    ck_assert_str_eq(mkv_tokenizer_pre(t), mkv_tokenizer_pre(k));
    ck_assert_ptr_nonnull(mkv_tokenizer_chat_template(t));
    ck_assert_str_eq(mkv_tokenizer_chat_template(t), mkv_tokenizer_chat_template(k));
    size_t n_control = 0, n_user = 0, n_unused = 0;
    for (uint32_t id = 0; id < QWEN3_N_VOCAB; id++) {
        size_t la, lb;
        const char *a = mkv_token_text(t, id, &la), *b = mkv_token_text(k, id, &lb);
        ck_assert_msg(a && b && la == lb && !memcmp(a, b, la), "token %u: '%.*s' vs '%.*s'", id, (int)la, a, (int)lb, b);
        ck_assert_msg(mkv_token_type_of(t, id) == mkv_token_type_of(k, id), "token %u ('%.*s'): type %d vs %d", id,
                      (int)la, a, mkv_token_type_of(t, id), mkv_token_type_of(k, id));
        n_control += mkv_token_type_of(t, id) == MKV_TOKEN_CONTROL;
        n_user += mkv_token_type_of(t, id) == MKV_TOKEN_USER_DEFINED;
        n_unused += mkv_token_type_of(t, id) == MKV_TOKEN_UNUSED;
    }
    /* Qwen3: 14 special added tokens + the <|fim_*|>, <|repo_name|>, <|file_sep|> that look special; <think>,
     * <tool_call>, ... user-defined; 151936 - 151669 padding */
    ck_assert_uint_eq(n_control, 20);
    ck_assert_uint_eq(n_user, 6);
    ck_assert_uint_eq(n_unused, QWEN3_N_VOCAB - 151669);
    /* and the whole corpus: Hugging Face's ids, the same as the other file's */
    size_t n_lines = 0;
    size_t bad = fixture_mismatches(t, k, &n_lines);
    ck_assert_uint_ge(n_lines, 2000);
    ck_assert_msg(bad == 0, "%zu of %zu fixture lines differ from Hugging Face", bad, n_lines);
    mkv_tokenizer_free(k);
    mkv_tokenizer_free(t);
    indep_tok_free(&x);
}
END_TEST

/* The comparison above can fail: the same keys with two merges' ranks
 * swapped, or with a special token left out, give other ids. */
START_TEST(test_qwen3_written_independently_negative_checks)
{
    indep_tok x;
    indep_tok_load(&x, QWEN3_N_VOCAB);
    size_t n_lines = 0;
    /* "i n" (rank 2) and "n g" (rank 712) swapped */
    uint64_t in = UINT64_MAX, ng = UINT64_MAX;
    for (uint64_t i = 0; i < x.t.n_merges; i++) {
        if (!strcmp(x.merges[i], "i n")) in = i;
        if (!strcmp(x.merges[i], "n g")) ng = i;
    }
    ck_assert(in == 2 && ng == 712);
    char *tmp = x.merges[in];
    x.merges[in] = x.merges[ng];
    x.merges[ng] = tmp;
    mkv_tokenizer *t = open_ok(write_indep(&x, "qwen3_swapped.gguf"));
    size_t bad = fixture_mismatches(t, NULL, &n_lines);
    fprintf(stderr, "merges 'i n' and 'n g' swapped: %zu of %zu fixture lines differ\n", bad, n_lines);
    ck_assert_uint_gt(bad, 0);
    mkv_tokenizer *good = open_ok(qwen3_gguf());
    uint32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_tokenize(t, "singing", 7, true, &a, &na, &err), MKV_OK);
    ck_assert_int_eq(mkv_tokenize(good, "singing", 7, true, &b, &nb, &err), MKV_OK);
    ck_assert_msg(na != nb || memcmp(a, b, na * sizeof *a), "'singing': the same ids with the merges swapped");
    free(a);
    free(b);
    mkv_tokenizer_free(good);
    mkv_tokenizer_free(t);
    x.merges[ng] = x.merges[in];
    x.merges[in] = tmp;
    /* <|im_end|> missing from the vocabulary (a [PAD] in its place) */
    const char *saved = x.tokens[151645];
    x.tokens[151645] = "[PAD151645]";
    x.types[151645] = MKV_TOKEN_UNUSED;
    t = open_ok(write_indep(&x, "qwen3_no_im_end.gguf"));
    bad = fixture_mismatches(t, NULL, &n_lines);
    fprintf(stderr, "<|im_end|> left out: %zu of %zu fixture lines differ\n", bad, n_lines);
    ck_assert_uint_gt(bad, 0);
    mkv_tokenizer_free(t);
    /* or written as a normal token: then it is no longer matched whole */
    x.tokens[151645] = saved;
    x.types[151645] = MKV_TOKEN_NORMAL;
    t = open_ok(write_indep(&x, "qwen3_im_end_normal.gguf"));
    bad = fixture_mismatches(t, NULL, &n_lines);
    fprintf(stderr, "<|im_end|> typed normal: %zu of %zu fixture lines differ\n", bad, n_lines);
    ck_assert_uint_gt(bad, 0);
    mkv_tokenizer_free(t);
    x.types[151645] = MKV_TOKEN_CONTROL;
    /* restored: equal again (the file itself is not the problem) */
    t = open_ok(write_indep(&x, "qwen3_restored.gguf"));
    ck_assert_uint_eq(fixture_mismatches(t, NULL, &n_lines), 0);
    mkv_tokenizer_free(t);
    indep_tok_free(&x);
}
END_TEST

START_TEST(test_hf_tokenizer_larger_than_n_vocab_is_refused)
{
    mkv_tok_keys k;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_tok_keys_from_hf(MKV_TOKENIZER_DATA "/tokenizer.json", NULL, 4096, &k, &err), MKV_ERR_MISMATCH);
    ck_assert_msg(strstr(err.msg, "tokenizer.json") && strstr(err.msg, "4096"), "%s", err.msg);
}
END_TEST

START_TEST(test_synth_writes_a_placeholder_tokenizer)
{
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), tu_path_in("tokenizer", "synth"));
    o.dense = true;
    mkv_error err = {0};
    ck_assert_msg(mkv_synth_write(&o, &err) == MKV_OK, "%s", err.msg);
    mkv_tokenizer *t = open_ok(tu_path_in("tokenizer", "synth/model.gguf"));
    ck_assert_uint_eq(mkv_tokenizer_n_vocab(t), 4096);
    ck_assert_uint_eq(mkv_tokenizer_eos(t), 256);
    const char *s = "h\xC3\xA9 <|endoftext|>\n";
    expect_ids(t, s, IDS('h', 0xC3, 0xA9, ' ', 256, '\n'));
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(mkv_detokenize(t, (const uint32_t[]){'h', 0xC3, 0xA9, ' ', 256, '\n'}, 6, &text, &len, &err),
                     MKV_OK);
    ck_assert_str_eq(text, s);
    free(text);
    mkv_tokenizer_free(t);
}
END_TEST


START_TEST(test_pre_tokenizers_differ_as_they_should)
{
    static const char *extra[] = {"12", "123", "45"};
    static const char *merges[] = {"1 2", "12 3", "4 5"};
    vocab_spec v = {.extra = extra, .n_extra = 3, .merges = merges, .n_merges = 3};
    mkv_tokenizer *t = open_ok(write_vocab("qwen2.gguf", &v)); /* one digit per piece, NFC */
    expect_ids(t, "12345", IDS('1', '2', '3', '4', '5'));
    expect_ids(t, "e\xCC\x81", IDS(0xC3, 0xA9)); /* e + U+0301 -> U+00E9 */
    mkv_tokenizer_free(t);
    v.pre = "llama-bpe";                         /* digits in threes, no normalizer */
    t = open_ok(write_vocab("llama.gguf", &v));
    expect_ids(t, "12345", IDS(257, 258));
    expect_ids(t, "e\xCC\x81", IDS('e', 0xCC, 0x81));
    mkv_tokenizer_free(t);
}
END_TEST

/* Random bytes of a valid tokenizer GGUF changed: opening either works or
 * fails with a message, never crashes; a tokenizer that opens encodes. */
START_TEST(test_mutated_files_never_crash)
{
    static const char *extra[] = {"<|x|>", "ab"};
    static const int32_t types[] = {MKV_TOKEN_CONTROL, MKV_TOKEN_NORMAL};
    static const char *merges[] = {"a b"};
    const char *path = write_vocab("fuzz.gguf", &(vocab_spec){.extra = extra, .extra_types = types, .n_extra = 2,
                                                                .merges = merges, .n_merges = 1, .eos = 256});
    uint64_t size = 0;
    uint8_t *orig = tu_read_file(path, &size);
    uint8_t *buf = malloc(size);
    uint64_t rng = 12345;
    const char *mut = tmp_path("fuzz_mut.gguf");
    int opened = 0;
    for (int iter = 0; iter < 400; iter++) {
        memcpy(buf, orig, size);
        int n = 1 + (int)(tu_rand_u64(&rng) % 4);
        for (int k = 0; k < n; k++) {
            uint64_t at = tu_rand_u64(&rng) % size;
            buf[at] = (uint8_t)(iter % 3 == 0 ? 0xFF : tu_rand_u64(&rng));
        }
        tu_write_file(mut, buf, size);
        mkv_tokenizer *t = NULL;
        mkv_error err = {0};
        if (mkv_tokenizer_open(mut, &t, &err) != MKV_OK) {
            ck_assert_msg(err.msg[0] != '\0', "iteration %d: an error without a message", iter);
            continue;
        }
        opened++;
        uint32_t *ids = NULL;
        size_t nid = 0;
        const char *s = "ab <|x|> h\xC3\xA9llo 123";
        if (mkv_tokenize(t, s, strlen(s), true, &ids, &nid, &err) == MKV_OK) {
            char *back = NULL;
            size_t blen = 0;
            ck_assert_int_eq(mkv_detokenize(t, ids, nid, &back, &blen, &err), MKV_OK);
            free(back);
        }
        free(ids);
        mkv_tokenizer_free(t);
    }
    ck_assert_int_gt(opened, 0);
    free(buf);
    free(orig);
}
END_TEST

/* convert carries the checkpoint folder's tokenizer.json and
 * tokenizer_config.json into the GGUF (CPU fold: no GPU needed). */
START_TEST(test_convert_carries_the_tokenizer)
{
    mkv_synth_shape sh = *mkv_synth_find_shape("tiny");
    sh.n_layer = 1;
    sh.n_vocab = 300;
    mkv_synth_opts o;
    const char *ck = tu_path_in("tokenizer", "ckpt");
    char ckdir[4096];
    snprintf(ckdir, sizeof ckdir, "%s", ck);
    mkv_synth_opts_default(&o, &sh, ckdir);
    mkv_error err = {0};
    ck_assert_msg(mkv_synth_write_checkpoint(&o, MKV_ST_F32, 1, &err) == MKV_OK, "%s", err.msg);
    /* a byte-level BPE with Qwen2's pre-tokenizer: 256 byte characters, "ab", two added tokens */
    FILE *f = fopen(tu_path_in("tokenizer", "ckpt/tokenizer.json"), "w");
    ck_assert_ptr_nonnull(f);
    init_byte_tokens();
    fprintf(f, "{\"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": "
               "[{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}"
               "\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|"
               "\\\\s+\"}}, {\"type\": \"ByteLevel\"}]}, \"added_tokens\": [{\"id\": 257, \"content\": \"<|end|>\", "
               "\"special\": true}, {\"id\": 258, \"content\": \"<tool>\", \"special\": false}], "
               "\"model\": {\"type\": \"BPE\", \"merges\": [[\"a\", \"b\"]], \"vocab\": {");
    for (unsigned b = 0; b < 256; b++) {
        fputc('"', f);
        if (byte_tokens[b][0] == '"' || byte_tokens[b][0] == '\\') fputc('\\', f);
        fprintf(f, "%s\": %u, ", byte_tokens[b], b);
    }
    fprintf(f, "\"ab\": 256}}}");
    fclose(f);
    f = fopen(tu_path_in("tokenizer", "ckpt/tokenizer_config.json"), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"eos_token\": \"<|end|>\", \"chat_template\": \"{{ messages }}\", \"bos_token\": null}");
    fclose(f);
    mkv_convert_opts co;
    mkv_convert_opts_default(&co, ckdir, tu_path_in("tokenizer", "converted"));
    co.cpu = true;
    ck_assert_msg(mkv_convert(&co, NULL, &err) == MKV_OK, "%s", err.msg);
    mkv_tokenizer *t = open_ok(tu_path_in("tokenizer", "converted/model.gguf"));
    ck_assert_uint_eq(mkv_tokenizer_n_vocab(t), 300);
    ck_assert_uint_eq(mkv_tokenizer_eos(t), 257);
    ck_assert_str_eq(mkv_tokenizer_chat_template(t), "{{ messages }}");
    ck_assert_str_eq(mkv_tokenizer_pre(t), "qwen2");
    ck_assert_int_eq(mkv_token_type_of(t, 258), MKV_TOKEN_USER_DEFINED);
    ck_assert_int_eq(mkv_token_type_of(t, 299), MKV_TOKEN_UNUSED);
    size_t len;
    ck_assert_str_eq(mkv_token_text(t, 299, &len), "[PAD299]");
    expect_ids(t, "ab<|end|>x<tool>", IDS(256, 257, 'x', 258));
    mkv_tokenizer_free(t);
}
END_TEST

/* Runs the mekivk program; its stdout in out (NUL-terminated), exit status returned. */
static int run_cli(const char *args, char *out, size_t cap)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", MKV_CLI, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(test_cli_tokenize_and_detokenize)
{
    const char *g = qwen3_gguf();
    char args[8192], out[16384];
    snprintf(args, sizeof args, "tokenize --model %s --text 'Hello world'", g);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 0);
    ck_assert_str_eq(out, "9707,1879\n");
    snprintf(args, sizeof args, "tokenize --model %s --text 'Hi<|im_end|>' --json", g);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 0);
    ck_assert_str_eq(out, "{\"ids\": [13048, 151645], \"pieces\": [\"Hi\", \"<|im_end|>\"]}\n");
    const char *jl = tmp_path("in.jsonl");
    const char *lines = "\"Hello world\"\n\"caf\\u00e9\"\n";
    tu_write_file(jl, lines, strlen(lines));
    snprintf(args, sizeof args, "tokenize --model %s --jsonl %s", g, jl);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 0);
    ck_assert_str_eq(out, "[9707, 1879]\n[924, 58858]\n");
    snprintf(args, sizeof args, "detokenize --model %s --ids 9707,1879,151644", g);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 0);
    ck_assert_str_eq(out, "Hello world<|im_start|>");
    snprintf(args, sizeof args, "detokenize --model %s --ids 9707,999999", g);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "ids[1] = 999999"), "%s", out);
    snprintf(args, sizeof args, "tokenize --model %s", g);
    ck_assert_int_eq(run_cli(args, out, sizeof out), 2);
    ck_assert_int_eq(run_cli("tokenize --help", out, sizeof out), 0);
    ck_assert_int_eq(run_cli("detokenize --help", out, sizeof out), 0);
    ck_assert_int_eq(run_cli("tokenize --model /nonexistent.gguf --text x", out, sizeof out), 1);
    ck_assert_msg(strstr(out, "/nonexistent.gguf"), "%s", out);
}
END_TEST

static Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_byte_level_map_is_gpt2s);
    tcase_add_test(tc, test_merges_apply_by_rank);
    tcase_add_test(tc, test_unknown_bytes_become_unk_or_are_dropped);
    tcase_add_test(tc, test_special_tokens_are_matched_whole);
    tcase_add_test(tc, test_stream_holds_split_utf8);
    tcase_add_test(tc, test_bad_keys_are_named);
    tcase_add_test(tc, test_bad_input_is_an_error);
    tcase_add_test(tc, test_qwen3_equals_hugging_face);
    tcase_add_test(tc, test_qwen3_written_independently_equals_hugging_face);
    tcase_add_test(tc, test_qwen3_written_independently_negative_checks);
    tcase_add_test(tc, test_hf_tokenizer_larger_than_n_vocab_is_refused);
    tcase_add_test(tc, test_synth_writes_a_placeholder_tokenizer);
    tcase_add_test(tc, test_pre_tokenizers_differ_as_they_should);
    tcase_add_test(tc, test_mutated_files_never_crash);
    tcase_add_test(tc, test_convert_carries_the_tokenizer);
    tcase_add_test(tc, test_cli_tokenize_and_detokenize);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(tokenizer_suite());
}
