/* mekivk tokenize / mekivk detokenize: the model's tokenizer alone (read
 * from the GGUF's metadata: no weights are read, no GPU is needed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "fileio.h"
#include "json.h"
#include "textgen.h"
#include "tokenizer.h"

#define MAX_INPUT_BYTES (1ull << 30)

static void tokenize_help(void)
{
    printf("usage: mekivk tokenize --model F (--text S | --file F | --jsonl F) [--json] [--no-bos]\n\n"
           "Text -> token ids with the tokenizer in the GGUF F (DESIGN §6; byte-level BPE with the\n"
           "qwen2 or llama-bpe pre-tokenizer). Only the file's metadata is read: no weights, no GPU.\n"
           "  --text S   the text itself (UTF-8)\n"
           "  --file F   the whole content of file F (UTF-8)\n"
           "  --jsonl F  one JSON string per line of F; prints one JSON array of ids per line\n"
           "  --json     prints {\"ids\": [...], \"pieces\": [...]} (pieces: the tokens' vocabulary\n"
           "             strings); with --jsonl, one such object per line\n"
           "  --no-bos   never prepend BOS (by default it is prepended when the file's\n"
           "             tokenizer.ggml.add_bos_token says so)\n"
           "Without --json the ids are printed comma-separated, as `generate --tokens` takes them.\n"
           "Invalid UTF-8 in the input is an error naming the byte offset.\n");
}

static void detokenize_help(void)
{
    printf("usage: mekivk detokenize --model F --ids 1,2,3\n\n"
           "Token ids -> text with the tokenizer in the GGUF F: writes exactly the bytes the tokens\n"
           "stand for to stdout (no newline added). Only the file's metadata is read.\n");
}

static void print_ids(const mkv_tokenizer *t, const uint32_t *ids, size_t n, bool json, bool array_only)
{
    if (json) fputs("{\"ids\": ", stdout);
    if (json || array_only) fputc('[', stdout);
    for (size_t i = 0; i < n; i++) printf(i ? (json || array_only ? ", %u" : ",%u") : "%u", ids[i]);
    if (json || array_only) fputc(']', stdout);
    if (json) {
        fputs(", \"pieces\": [", stdout);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *s = mkv_token_text(t, ids[i], &len);
            if (i) fputs(", ", stdout);
            mkv_json_print_str(stdout, s, len); /* invalid UTF-8 becomes U+FFFD */
        }
        fputs("]}", stdout);
    }
    fputc('\n', stdout);
}

static int tokenize_one(const mkv_tokenizer *t, const char *text, size_t len, bool bos, bool json, bool array_only)
{
    uint32_t *ids = NULL;
    size_t n = 0;
    mkv_error err = {0};
    if (mkv_tokenize(t, text, len, bos, &ids, &n, &err)) return cli_fail("tokenize", &err);
    print_ids(t, ids, n, json, array_only);
    free(ids);
    return 0;
}

/* --jsonl: each non-empty line is a JSON string. */
static int tokenize_jsonl(const mkv_tokenizer *t, const char *path, const char *text, size_t len, bool bos, bool json)
{
    size_t line = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        if (end > pos) {
            char what[512];
            snprintf(what, sizeof what, "%s line %zu", path, line);
            mkv_json j;
            mkv_error err = {0};
            if (mkv_json_parse(text + pos, end - pos, what, &j, &err)) return cli_fail("tokenize", &err);
            int rc = 1;
            if (j.v[0].type != MKV_JSON_STRING)
                fprintf(stderr, "mekivk tokenize: %s: expected one JSON string per line\n", what);
            else
                rc = tokenize_one(t, j.v[0].str, j.v[0].len, bos, json, true);
            mkv_json_free(&j);
            if (rc) return rc;
        }
        pos = end + 1;
    }
    return 0;
}

int mkv_cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *file = NULL, *jsonl = NULL;
    bool json = false, bos = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { tokenize_help(); return 0; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--no-bos")) bos = false;
        else if (!strcmp(a, "--model")) { if (!(model = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--text")) { if (!(text = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--file")) { if (!(file = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--jsonl")) { if (!(jsonl = cli_value(argc, argv, &i))) return 2; }
        else {
            fprintf(stderr, "mekivk tokenize: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!model || (!!text + !!file + !!jsonl) != 1) {
        fprintf(stderr, "mekivk tokenize: --model and exactly one of --text, --file, --jsonl are required "
                        "(see --help)\n");
        return 2;
    }
    mkv_error err = {0};
    mkv_tokenizer *t = NULL;
    if (mkv_tokenizer_open(model, &t, &err)) return cli_fail("tokenize", &err);
    int rc;
    if (text) {
        rc = tokenize_one(t, text, strlen(text), bos, json, false);
    } else {
        char *buf = NULL;
        uint64_t len = 0;
        const char *path = file ? file : jsonl;
        if (mkv_read_small_file(path, MAX_INPUT_BYTES, &buf, &len, &err)) rc = cli_fail("tokenize", &err);
        else if (file) rc = tokenize_one(t, buf, (size_t)len, bos, json, false);
        else rc = tokenize_jsonl(t, path, buf, (size_t)len, bos, json);
        free(buf);
    }
    mkv_tokenizer_free(t);
    return rc;
}

int mkv_cmd_detokenize(int argc, char **argv)
{
    const char *model = NULL, *ids_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { detokenize_help(); return 0; }
        else if (!strcmp(a, "--model")) { if (!(model = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--ids")) { if (!(ids_arg = cli_value(argc, argv, &i))) return 2; }
        else {
            fprintf(stderr, "mekivk detokenize: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!model || !ids_arg) {
        fprintf(stderr, "mekivk detokenize: --model and --ids are required (see --help)\n");
        return 2;
    }
    uint32_t *ids = NULL, n = 0;
    if (!cli_tokens("--ids", ids_arg, &ids, &n)) return 2;
    mkv_error err = {0};
    mkv_tokenizer *t = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (mkv_tokenizer_open(model, &t, &err) || mkv_detokenize(t, ids, n, &text, &len, &err))
        rc = cli_fail("detokenize", &err);
    else if (fwrite(text, 1, len, stdout) != len || fflush(stdout)) {
        perror("mekivk detokenize: stdout");
        rc = 1;
    }
    free(text);
    free(ids);
    mkv_tokenizer_free(t);
    return rc;
}
