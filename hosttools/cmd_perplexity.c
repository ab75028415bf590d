/* mekivk perplexity: the perplexity of a token stream, scored in windows
 * the way llama.cpp's perplexity tool does, so that weight types, KV types
 * and MeKi on/off can be compared by quality on the same text.
 *
 * The stream is cut into non-overlapping windows of --ctx tokens; each
 * window starts from an empty context (mkv_session_reset) and only the
 * predictions of its second half are scored, so that every scored token
 * has at least half a window of context. The first half goes through
 * mkv_session_prefill without logits, the second half with every
 * position's logits (MKV_PREFILL_ALL), in pieces that bound the logits
 * buffer. Log-softmax in double. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "fileio.h"
#include "json.h"

#define PPL_DEFAULT_CTX 512u
/* A token file holds at most 4 GiB (2^30 binary ids). */
#define PPL_MAX_FILE_BYTES (1ull << 32)
/* Logits asked of one mkv_session_prefill call: at most this many bytes
 * (a 151680-token vocabulary: 110 positions per call). */
#define PPL_LOGITS_BUDGET (64ull << 20)
#define PPL_MAX_PIECE 256u

static void help(void)
{
    printf("usage: mekivk perplexity --model F.gguf [--bank F.mkb] --tokens-file F [--ctx N] [--json]\n"
           "                         [--meki-off] [--kv-type f16|q8_0] [--device I|NAME]\n"
           "                         [--ignore-fingerprint] [--cold] [--cold-dontneed] [--cache-mb M]\n\n"
           "The perplexity of a token stream, as llama.cpp's perplexity tool scores it: the stream\n"
           "is cut into windows of --ctx tokens, each run from an empty context; in a window of\n"
           "n tokens t[0..n) only the second half is scored: -log softmax(logits(i))[t[i+1]] for\n"
           "i in n/2 .. n-2, so every scored token has at least n/2 tokens of context\n"
           "(log-softmax in double). Perplexity = exp(mean of those over every window).\n"
           "A last window shorter than --ctx is dropped, unless it is the only one (a stream\n"
           "shorter than --ctx): it is then scored alone if it has at least 2 tokens (a window of\n"
           "2 scores its second token). Fewer than 2 tokens is an error.\n"
           "  --tokens-file F    the token ids: a text file of decimal ids separated by commas\n"
           "                     and/or white space (what `mekivk tokenize --model M --file T`\n"
           "                     prints), or a binary stream of little-endian uint32 ids (a file\n"
           "                     that is not printable text; its size a multiple of 4). Every\n"
           "                     id < n_vocab.\n"
           "  --ctx N            window length (default %u; 2..%u)\n"
           "  --json             print {\"perplexity\", \"n_scored\", \"n_windows\", \"ctx\" (the\n"
           "                     window length used), \"nll_mean\", \"windows\": [each window's own\n"
           "                     perplexity], \"mode\": \"dense\"|\"meki\" (\"dense\" with\n"
           "                     --meki-off), \"model\", \"n_tokens\", \"kv_type\", \"device\"}\n"
           "                     instead of the summary line\n"
           "%s"
           "Progress goes to stderr, one line per window: `[window k/K] ppl = X` (the perplexity\n"
           "of the windows so far); then stdout gets `perplexity: X (N tokens scored, W windows\n"
           "of C)`.\n",
           PPL_DEFAULT_CTX, MKV_MAX_CTX, cli_engine_help);
}

/* ---- the token file ---------------------------------------------------- */

/* The whole file, NUL-terminated (opened with mkv_open_regular: a FIFO or
 * device is refused, never waited on). */
static mkv_status read_all(const char *path, uint8_t **out, uint64_t *len, mkv_error *err)
{
    int fd;
    uint64_t size;
    *out = NULL;
    *len = 0;
    mkv_status st = mkv_open_regular(path, 0, &fd, &size, err);
    if (st) return st;
    if (size > PPL_MAX_FILE_BYTES) {
        close(fd);
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: size = %" PRIu64 " bytes: a token file holds at most %llu", path,
                        size, PPL_MAX_FILE_BYTES);
    }
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory for %" PRIu64 " bytes", path, size);
    }
    uint64_t n = 0;
    while (n < size) {
        ssize_t r = read(fd, buf + n, (size_t)(size - n));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = mkv_fail(err, MKV_ERR_IO, "%s: read: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break; /* shrunk since the stat: what is there */
        n += (uint64_t)r;
    }
    close(fd);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return MKV_OK;
}

static bool is_space(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Text when every byte is printable ASCII or white space. A binary stream
 * of ids below 0x09090909 (any real vocabulary) never is: each id has a
 * byte below 0x09 (its top byte, 0 for ids < 2^24). So a text file with a
 * typo is reported at the byte at fault, not as binary of an odd size. */
static bool is_text(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (!is_space(p[i]) && (p[i] < 0x20 || p[i] > 0x7e)) return false;
    return true;
}

/* Decimal ids separated by commas and/or white space, white space
 * anywhere between items; no empty item (",1", "1,,2", "1, ,2", "1,"). */
static mkv_status parse_text(const char *path, const uint8_t *p, uint64_t n, uint32_t **out, uint64_t *n_out,
                             mkv_error *err)
{
    uint32_t *t = malloc((size_t)(n / 2 + 1) * sizeof *t); /* an item and a separator: 2 bytes at least */
    if (!t) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory for %" PRIu64 " token ids", path, n / 2 + 1);
    uint64_t k = 0, i = 0, comma_at = 0;
    bool item = false, comma = false; /* an item seen; a comma seen since the last item */
    mkv_status st = MKV_OK;
    for (;;) {
        while (i < n && is_space(p[i])) i++;
        if (i == n) {
            if (comma)
                st = mkv_fail(err, MKV_ERR_FORMAT, "%s: byte offset %" PRIu64 ": empty item after the comma at byte offset %" PRIu64
                              " (token ids are separated by commas or white space)", path, i, comma_at);
            break;
        }
        uint8_t c = p[i];
        if (c == ',') {
            if (!item || comma) {
                st = mkv_fail(err, MKV_ERR_FORMAT, "%s: byte offset %" PRIu64 ": empty item before this comma", path, i);
                break;
            }
            comma = true;
            comma_at = i++;
            continue;
        }
        if (c < '0' || c > '9') {
            st = mkv_fail(err, MKV_ERR_FORMAT, "%s: byte offset %" PRIu64 ": '%c' (0x%02x): expected a decimal token id, "
                          "a comma or white space", path, i, c, c);
            break;
        }
        uint64_t v = 0, start = i;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
            v = v * 10 + (uint64_t)(p[i] - '0');
            if (v > UINT32_MAX) break;
        }
        if (v > UINT32_MAX) {
            uint64_t end = start;
            while (end < n && p[end] >= '0' && p[end] <= '9' && end - start < 24) end++;
            st = mkv_fail(err, MKV_ERR_FORMAT, "%s: byte offset %" PRIu64 ": token id %.*s%s: more than %u", path, start,
                          (int)(end - start), (const char *)p + start, end - start == 24 ? "..." : "", UINT32_MAX);
            break;
        }
        t[k++] = (uint32_t)v;
        item = true;
        comma = false;
    }
    if (st) {
        free(t);
        return st;
    }
    *out = t;
    *n_out = k;
    return MKV_OK;
}

/* Reads a token file in either form (see help). */
static mkv_status load_tokens(const char *path, uint32_t **out, uint64_t *n_out, bool *text_out, mkv_error *err)
{
    uint8_t *buf;
    uint64_t len;
    *out = NULL;
    *n_out = 0;
    mkv_status st = read_all(path, &buf, &len, err);
    if (st) return st;
    *text_out = is_text(buf, len);
    if (*text_out) {
        st = parse_text(path, buf, len, out, n_out, err);
    } else if (len % 4) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: size = %" PRIu64 " bytes: not text (decimal ids), and not a whole "
                      "number of little-endian uint32 ids (a multiple of 4 bytes)", path, len);
    } else {
        uint32_t *t = malloc((size_t)(len / 4 ? len / 4 : 1) * sizeof *t);
        if (!t) {
            st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory for %" PRIu64 " token ids", path, len / 4);
        } else {
            for (uint64_t i = 0; i < len / 4; i++) {
                const uint8_t *b = buf + 4 * i;
                t[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            }
            *out = t;
            *n_out = len / 4;
        }
    }
    free(buf);
    return st;
}

/* ---- output ------------------------------------------------------------ */

/* -log softmax(row)[target] in double; false if a logit is not finite. */
static bool nll_of(const float *row, uint32_t nv, uint32_t target, double *out, uint32_t *bad)
{
    double mx = -INFINITY;
    for (uint32_t i = 0; i < nv; i++) {
        if (!isfinite(row[i])) {
            *bad = i;
            return false;
        }
        if (row[i] > mx) mx = row[i];
    }
    double sum = 0;
    for (uint32_t i = 0; i < nv; i++) sum += exp((double)row[i] - mx);
    *out = mx + log(sum) - (double)row[target];
    return true;
}

int mkv_cmd_perplexity(int argc, char **argv)
{
    const char *tok_path = NULL;
    bool json = false;
    cli_load_bar load_bar = {0};
    cli_engine e;
    if (!cli_engine_init(&e, &load_bar)) return 2;
    e.n_ctx = PPL_DEFAULT_CTX;
    e.ctx_min = 2; /* a window scores its second token on */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int r = cli_engine_flag(argc, argv, &i, &e);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--tokens-file")) { if (!(tok_path = cli_value(argc, argv, &i))) return 2; }
        else { fprintf(stderr, "mekivk perplexity: unknown option '%s' (see --help)\n", a); return 2; }
    }
    const char *model_path = e.model_path;
    const uint32_t ctx = e.n_ctx;
    if (!model_path || !tok_path) {
        fprintf(stderr, "mekivk perplexity: --model and --tokens-file are required (see --help)\n");
        return 2;
    }
    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    mkv_session *s = NULL;
    uint32_t *tokens = NULL;
    float *logits = NULL;
    double *win_ppl = NULL;
    uint64_t n_tok = 0;
    bool text = false;

    /* the stream first: a bad file is reported before any GPU work */
    if (load_tokens(tok_path, &tokens, &n_tok, &text, &err)) { rc = cli_fail("perplexity", &err); goto out; }
    if (n_tok < 2) {
        fprintf(stderr, "mekivk perplexity: %s: %" PRIu64 " token id(s): perplexity needs at least 2\n", tok_path, n_tok);
        goto out;
    }
    /* windows: whole ones of ctx; a stream shorter than ctx is one window */
    const uint32_t wlen = n_tok < ctx ? (uint32_t)n_tok : ctx;
    const uint64_t n_win64 = n_tok / wlen;
    if (n_win64 > UINT32_MAX) {
        fprintf(stderr, "mekivk perplexity: %s: %" PRIu64 " windows of %u: too many (raise --ctx)\n", tok_path,
                n_win64, wlen);
        goto out;
    }
    const uint32_t n_win = (uint32_t)n_win64;
    /* scored: predictions from positions first .. wlen-2 (a 2-token window: position 0) */
    const uint32_t first = wlen / 2 < wlen - 2 ? wlen / 2 : wlen - 2;
    const uint32_t per_win = wlen - 1 - first;

    e.sopts.n_ctx = wlen;
    e.mopts.bank_path = e.bank_path;
    if (mkv_device_create(&e.dopts, &dev, &err) || mkv_model_load(dev, model_path, &e.mopts, &model, &err)) {
        rc = cli_fail("perplexity", &err);
        goto out;
    }
    mkv_model_info info;
    mkv_model_get_info(model, &info);
    const uint32_t nv = info.n_vocab;
    /* only the windows' tokens are fed; but a bad id anywhere means a stream for another model */
    for (uint64_t i = 0; i < n_tok; i++)
        if (tokens[i] >= nv) {
            fprintf(stderr, "mekivk perplexity: %s: token %" PRIu64 " = %u: not below the model's n_vocab %u (%s)\n",
                    tok_path, i, tokens[i], nv, model_path);
            goto out;
        }
    if (mkv_session_create(model, &e.sopts, &s, &err)) { rc = cli_fail("perplexity", &err); goto out; }
    uint64_t piece64 = PPL_LOGITS_BUDGET / ((uint64_t)nv * sizeof(float));
    if (piece64 < 1) piece64 = 1;
    if (piece64 > PPL_MAX_PIECE) piece64 = PPL_MAX_PIECE;
    if (piece64 > per_win) piece64 = per_win;
    const uint32_t piece = (uint32_t)piece64;
    logits = malloc((size_t)piece * nv * sizeof *logits);
    win_ppl = malloc((size_t)n_win * sizeof *win_ppl);
    if (!logits || !win_ppl) {
        fprintf(stderr, "mekivk perplexity: out of memory (%u rows of %u logits, %u windows)\n", piece, nv, n_win);
        goto out;
    }
    const bool meki = info.has_bank && !e.sopts.meki_off;
    fprintf(stderr, "mekivk perplexity: %s (%s, %s) on %s: %" PRIu64 " tokens from %s (%s), %u window%s of %u, "
            "scoring positions %u..%u of each\n", model_path, info.arch, meki ? "MeKi" : "dense", mkv_device_name(dev),
            n_tok, tok_path, text ? "text" : "binary u32", n_win, n_win == 1 ? "" : "s", wlen, first, wlen - 2);
    if (n_tok > (uint64_t)n_win * wlen)
        fprintf(stderr, "mekivk perplexity: the last %" PRIu64 " tokens (less than a window) are not scored\n",
                n_tok - (uint64_t)n_win * wlen);

    double total = 0, t0 = mkv_now_s();
    uint64_t n_scored = 0;
    for (uint32_t w = 0; w < n_win; w++) {
        const uint32_t *t = tokens + (uint64_t)w * wlen;
        double win_nll = 0;
        mkv_session_reset(s);
        if (first && mkv_session_prefill(s, t, first, MKV_PREFILL_LAST, NULL, NULL, &err)) {
            rc = cli_fail("perplexity", &err);
            goto out;
        }
        for (uint32_t j = first; j < wlen - 1; j += piece) {
            const uint32_t m = wlen - 1 - j < piece ? wlen - 1 - j : piece;
            if (mkv_session_prefill(s, t + j, m, MKV_PREFILL_ALL, logits, NULL, &err)) {
                rc = cli_fail("perplexity", &err);
                goto out;
            }
            for (uint32_t k = 0; k < m; k++) {
                double nll;
                uint32_t bad;
                const float *row = logits + (size_t)k * nv;
                if (!nll_of(row, nv, t[j + k + 1], &nll, &bad)) {
                    fprintf(stderr, "mekivk perplexity: window %u, position %u: logit %u = %g: not finite\n", w + 1,
                            j + k, bad, row[bad]);
                    goto out;
                }
                win_nll += nll;
            }
        }
        total += win_nll;
        n_scored += per_win;
        win_ppl[w] = exp(win_nll / per_win);
        fprintf(stderr, "[window %u/%u] ppl = %.4f\n", w + 1, n_win, exp(total / (double)n_scored));
        fflush(stderr);
    }
    const double secs = mkv_now_s() - t0, nll_mean = total / (double)n_scored, ppl = exp(nll_mean);
    fprintf(stderr, "mekivk perplexity: %.2f s, %.1f tokens/s\n", secs,
            secs > 0 ? (double)n_win * (wlen - 1) / secs : 0.0);
    if (json) {
        printf("{\"perplexity\": %.17g, \"n_scored\": %" PRIu64 ", \"n_windows\": %u, \"ctx\": %u, \"nll_mean\": %.17g, "
               "\"windows\": [", ppl, n_scored, n_win, wlen, nll_mean);
        for (uint32_t w = 0; w < n_win; w++) printf("%s%.17g", w ? ", " : "", win_ppl[w]);
        printf("], \"mode\": \"%s\", \"model\": ", meki ? "meki" : "dense");
        mkv_json_print_str(stdout, model_path, strlen(model_path));
        printf(", \"n_tokens\": %" PRIu64 ", \"kv_type\": \"%s\", \"device\": ", n_tok, cli_kv_type_name(e.sopts.kv_type));
        mkv_json_print_str(stdout, mkv_device_name(dev), strlen(mkv_device_name(dev)));
        printf("}\n");
    } else {
        printf("perplexity: %.4f (%" PRIu64 " tokens scored, %u windows of %u)\n", ppl, n_scored, n_win, wlen);
    }
    fflush(stdout);
    rc = 0;
out:
    free(win_ppl);
    free(logits);
    free(tokens);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    return rc;
}
