/* mekivk chat: a conversation with the model in its chat template. The
 * session's KV cache is kept across turns: a turn feeds only its own new
 * tokens (the end of the last reply, the user's message, the assistant's
 * header) at the position where the last reply stopped. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "textgen.h"

#define DEFAULT_CTX 4096u
#define DEFAULT_REPLY 512u
#define MAX_LINE (1u << 20)

/* A chat format: the text of each part around the messages. */
typedef struct chat_template {
    const char *name;
    const char *begin;        /* once, at the start of a conversation */
    const char *sys_open, *sys_close;   /* around the system message */
    const char *user_open, *user_close; /* around a user message; the close opens the reply */
    const char *end;          /* the end-of-turn token that closes a reply */
    const char *after_end;    /* what follows it */
    const char *needs[4];     /* tokens the vocabulary must have */
} chat_template;

static const chat_template templates[] = {
    {"chatml", "", "<|im_start|>system\n", "<|im_end|>\n", "<|im_start|>user\n",
     "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>", "\n", {"<|im_start|>", "<|im_end|>", NULL, NULL}},
    {"llama3", "<|begin_of_text|>", "<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>",
     "<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     "<|eot_id|>", "", {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}},
};

static void help(void)
{
    printf("usage: mekivk chat --model F.gguf [--bank F.mkb] [--system TEXT] [-n N]\n"
           "                   [--template chatml|llama3] [--ctx N] [--json] [--verbose]\n"
           "                   [--device I|NAME] [--meki-off] [--ignore-fingerprint] [--cache-mb M]\n"
           "                   [--cold] [--cold-dontneed]\n"
           "                   [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
           "                   [--repeat-last-n N] [--seed S] [--kv-type f16|q8_0]\n\n"
           "A conversation in the model's chat template. Each line typed is a user turn; the reply\n"
           "is printed as it is produced and ends at the end-of-turn token or after N tokens. The\n"
           "KV cache is kept across turns: a turn feeds only its own tokens.\n"
           "  /reset      forget the conversation (the system message is sent again)\n"
           "  /quit       leave (so does end of input, Ctrl-D)\n"
           "  Ctrl-C      stops the reply being written (not the program)\n"
           "From a pipe (stdin not a terminal) each input line is a user turn, each reply is printed\n"
           "on its own line, and the end of input ends the chat with exit status 0 (1 if a turn did\n"
           "not fit in the context).\n"
           "  --template T       chatml (Qwen: <|im_start|>role\\n...<|im_end|>) or llama3\n"
           "                     (<|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>);\n"
           "                     default: the one the GGUF's tokenizer.chat_template is written in\n"
           "  --system TEXT      the system message\n"
           "  -n N               at most N tokens per reply, 1..65536 (default %u)\n"
           "  --ctx N            context length in positions, 1..65536 (default %u): when it is\n"
           "                     full, /reset\n"
           "  --json             one JSON object per turn instead of the text: {\"turn\", \"pos\"\n"
           "                     (position before the turn), \"fed\" (the token ids the turn fed),\n"
           "                     \"tokens\" (the reply's), \"text\", \"stop\" (end, length, interrupt\n"
           "                     or context), \"pos_end\", \"prefill_tok_s\", \"decode_tok_s\", and\n"
           "                     when sampling \"seed\"}\n"
           "  --verbose          on stderr: the sampling settings and seed; per turn, the tokens\n"
           "                     fed, the position, speeds\n"
           "%s%s", DEFAULT_REPLY, DEFAULT_CTX, cli_engine_help, mkv_tg_sampling_help);
}

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* SIGINT sets the flag; `restart`: system calls resume after it (while
 * decoding), or not (reading a line: the read returns EINTR). */
static void set_sigint(bool restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGINT, &sa, NULL);
}

/* Which template the GGUF's Jinja chat template is written in. */
static const chat_template *recognise(const char *jinja)
{
    if (!jinja) return NULL;
    if (strstr(jinja, "<|im_start|>") && strstr(jinja, "<|im_end|>")) return &templates[0];
    if (strstr(jinja, "<|start_header_id|>") && strstr(jinja, "<|eot_id|>")) return &templates[1];
    return NULL;
}

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static bool sb_add(sbuf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
    return true;
}

static bool sb_str(sbuf *b, const char *s) { return sb_add(b, s, strlen(s)); }

/* Reads one line from f into *line (no newline, no trailing CR). 1: a
 * line; 0: end of input; -1: interrupted (SIGINT); -2: a line longer than
 * MAX_LINE (skipped). */
static int read_line(FILE *f, char **line, size_t *cap)
{
    /* A terminal: wait for the line in steps of 100 ms, so that a Ctrl-C
     * landing between the flag's check and getline's read (which it would
     * then not interrupt) is still seen (a CI run once sat at the prompt
     * after a Ctrl-C typed right as it appeared). In canonical mode a read
     * returns at most one line, so nothing waits in f's buffer. */
    if (isatty(fileno(f)))
        for (;;) {
            if (g_interrupted) return -1;
            struct pollfd p = {.fd = fileno(f), .events = POLLIN};
            const int n = poll(&p, 1, 100);
            if (n > 0 || (n < 0 && errno != EINTR)) break;
        }
    if (g_interrupted) return -1;
    errno = 0;
    ssize_t n = getline(line, cap, f);
    if (n < 0) {
        if (errno == EINTR || g_interrupted) {
            clearerr(f);
            return -1;
        }
        return 0;
    }
    if ((size_t)n > MAX_LINE) return -2;
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) (*line)[--n] = '\0';
    return 1;
}

static void json_ids(const char *key, const uint32_t *ids, size_t n)
{
    printf("\"%s\": [", key);
    for (size_t i = 0; i < n; i++) printf("%s%u", i ? ", " : "", ids[i]);
    printf("]");
}

int mkv_cmd_chat(int argc, char **argv)
{
    const char *system_msg = NULL, *tmpl_name = NULL;
    uint32_t n_reply = DEFAULT_REPLY;
    bool json = false, verbose = false, seed_given = false;
    cli_load_bar load_bar = {0};
    cli_engine e;
    if (!cli_engine_init(&e, &load_bar)) return 2;
    e.n_ctx = DEFAULT_CTX;
    mkv_sampler_params sp;
    mkv_sampler_params_default(&sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = mkv_tg_sampling_flag(argc, argv, &i, &sp, &seed_given);
        if (!r) r = cli_engine_flag(argc, argv, &i, &e);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--verbose")) verbose = true;
        else if (!strcmp(a, "--system")) { if (!(system_msg = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--template")) {
            if (!(tmpl_name = cli_value(argc, argv, &i))) return 2;
            if (strcmp(tmpl_name, "chatml") && strcmp(tmpl_name, "llama3")) {
                fprintf(stderr, "mekivk chat: --template = '%s': expected chatml or llama3\n", tmpl_name);
                return 2;
            }
        }
        else if (!strcmp(a, "-n")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MKV_MAX_CTX, &n_reply)) return 2; }
        else { fprintf(stderr, "mekivk chat: unknown option '%s' (see --help)\n", a); return 2; }
    }
    const char *model_path = e.model_path;
    const uint32_t n_ctx = e.n_ctx;
    if (!model_path) {
        fprintf(stderr, "mekivk chat: --model is required (see --help)\n");
        return 2;
    }
    if (!seed_given) sp.seed = mkv_tg_random_seed();
    const bool tty = isatty(STDIN_FILENO);

    int rc = 1;
    mkv_error err = {0};
    mkv_tokenizer *tok = NULL;
    mkv_detok_stream *ds = NULL;
    mkv_sampler *smp = NULL;
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    mkv_session *s = NULL;
    float *logits = NULL;
    uint32_t *reply = NULL, *ids = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    sbuf text = {0};
    mkv_model_info info;

    /* the template: named, or recognised in the file's chat template */
    if (mkv_tokenizer_open(model_path, &tok, &err)) {
        fprintf(stderr, "mekivk chat: the model's tokenizer: %s (%s)\n", err.msg, mkv_status_name(err.status));
        return 1;
    }
    const chat_template *ct = NULL;
    if (tmpl_name) {
        ct = !strcmp(tmpl_name, "chatml") ? &templates[0] : &templates[1];
    } else if (!(ct = recognise(mkv_tokenizer_chat_template(tok)))) {
        fprintf(stderr,
                "mekivk chat: %s: cannot tell the chat format: %s; name it with --template chatml or "
                "--template llama3\n",
                model_path,
                mkv_tokenizer_chat_template(tok) ? "tokenizer.chat_template is neither ChatML nor Llama 3's"
                                                 : "the file has no tokenizer.chat_template");
        rc = 2;
        goto out;
    }
    for (int i = 0; i < 4 && ct->needs[i]; i++)
        if (mkv_token_lookup(tok, ct->needs[i], strlen(ct->needs[i])) == MKV_TOKEN_NONE) {
            fprintf(stderr, "mekivk chat: %s: template %s: the vocabulary has no %s token\n", model_path, ct->name,
                    ct->needs[i]);
            rc = 2;
            goto out;
        }
    const uint32_t end_id = mkv_token_lookup(tok, ct->end, strlen(ct->end));
    mkv_tg_eog eog;
    mkv_tg_eog_init(&eog, tok);
    if (!mkv_tg_is_eog(&eog, end_id) && eog.n < 8) eog.ids[eog.n++] = end_id;

    /* The engine's threads (bank readers, the driver's) are made with
     * SIGINT blocked: Ctrl-C then reaches this thread alone. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    e.sopts.n_ctx = n_ctx;
    e.mopts.bank_path = e.bank_path;
    mkv_status st = mkv_device_create(&e.dopts, &dev, &err);
    if (!st) st = mkv_model_load(dev, model_path, &e.mopts, &model, &err);
    if (!st) {
        mkv_model_get_info(model, &info);
        st = mkv_session_create(model, &e.sopts, &s, &err);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (st) {
        rc = cli_fail("chat", &err);
        goto out;
    }
    if (mkv_tokenizer_n_vocab(tok) != info.n_vocab) {
        fprintf(stderr, "mekivk chat: %s: the tokenizer has %u tokens, the model's n_vocab is %u\n", model_path,
                mkv_tokenizer_n_vocab(tok), info.n_vocab);
        goto out;
    }
    if (mkv_sampler_create(&sp, info.n_vocab, &smp, &err) || mkv_detok_stream_create(tok, &ds, &err)) {
        rc = cli_fail("chat", &err);
        goto out;
    }
    logits = malloc((size_t)info.n_vocab * sizeof(float));
    reply = malloc((size_t)n_reply * sizeof *reply);
    if (!logits || !reply) {
        fprintf(stderr, "mekivk chat: out of memory\n");
        goto out;
    }
    mkv_tg g = {.s = s, .smp = smp, .n_vocab = info.n_vocab, .n_ctx = n_ctx, .logits = logits, .logits_fd = -1,
                .stop = &g_interrupted};
    if (verbose && mkv_sampler_needs_logits(smp))
        fprintf(stderr, "[sampling: temp %g, top-k %u, top-p %g, min-p %g, repeat penalty %g over %u, seed %llu]\n",
                (double)sp.temperature, sp.top_k, (double)sp.top_p, (double)sp.min_p, (double)sp.repeat_penalty,
                sp.repeat_last_n, (unsigned long long)sp.seed);
    if (tty && !json)
        fprintf(stderr,
                "mekivk chat: %s (%s, %s template), %u positions of context, at most %u tokens a reply.\n"
                "/reset forgets the conversation, /quit or Ctrl-D leaves, Ctrl-C stops a reply.\n",
                model_path, info.has_bank && !e.sopts.meki_off ? "MeKi" : "dense", ct->name, n_ctx, n_reply);

    /* from here on Ctrl-C stops a reply or clears the line, never the program
     * (while loading, it still ends it) */
    bool fresh = true, refused = false;
    uint32_t pending = MKV_TOKEN_NONE, turn = 0;
    for (;;) {
        g_interrupted = 0;
        set_sigint(false);
        if (tty && !json) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        int r = read_line(stdin, &line, &line_cap);
        set_sigint(true);
        if (r == 0) {
            if (tty && !json) fputc('\n', stdout);
            break;
        }
        if (r == -1) {
            if (tty && !json) fputs("\n(/quit or Ctrl-D leaves)\n", stdout);
            continue;
        }
        if (r == -2) {
            fprintf(stderr, "mekivk chat: a line of more than %u bytes: skipped\n", MAX_LINE);
            continue;
        }
        if (!strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            mkv_session_reset(s);
            mkv_sampler_clear_history(smp);
            pending = MKV_TOKEN_NONE;
            fresh = true;
            if (!json) fprintf(tty ? stdout : stderr, "[the conversation is forgotten]\n");
            continue;
        }
        if (!line[0]) continue;

        /* this turn's text: the end of the last reply, (the start,) the message, the reply's header */
        text.n = 0;
        bool ok = true;
        uint32_t first_id = MKV_TOKEN_NONE;
        if (pending != MKV_TOKEN_NONE) {
            if (pending == end_id) first_id = pending;                  /* the reply's own end */
            else if (!mkv_tg_is_eog(&eog, pending)) first_id = pending; /* a cut reply: its last token */
            if (first_id != end_id) ok = ok && sb_str(&text, ct->end);
            ok = ok && sb_str(&text, ct->after_end);
        }
        if (fresh) {
            ok = ok && sb_str(&text, ct->begin);
            if (system_msg) ok = ok && sb_str(&text, ct->sys_open) && sb_str(&text, system_msg) && sb_str(&text, ct->sys_close);
        }
        ok = ok && sb_str(&text, ct->user_open) && sb_str(&text, line) && sb_str(&text, ct->user_close);
        if (!ok) {
            fprintf(stderr, "mekivk chat: out of memory\n");
            goto out;
        }
        size_t n_text = 0;
        free(ids);
        ids = NULL;
        uint32_t *tids = NULL;
        if (mkv_tokenize(tok, text.p, text.n, false, &tids, &n_text, &err)) {
            cli_fail("chat", &err); /* invalid UTF-8: this line only */
            continue;
        }
        size_t n_fed = n_text + (first_id != MKV_TOKEN_NONE);
        ids = malloc((n_fed ? n_fed : 1) * sizeof *ids);
        if (!ids) {
            free(tids);
            fprintf(stderr, "mekivk chat: out of memory\n");
            goto out;
        }
        size_t k = 0;
        if (first_id != MKV_TOKEN_NONE) ids[k++] = first_id;
        if (n_text) memcpy(ids + k, tids, n_text * sizeof *ids);
        free(tids);

        uint32_t pos = mkv_session_pos(s);
        if (n_fed > (size_t)(n_ctx - pos)) {
            fprintf(stderr,
                    "mekivk chat: the context is full: this turn needs %zu positions, %u of %u are left; /reset "
                    "starts a new conversation (or a larger --ctx)\n",
                    n_fed, n_ctx - pos, n_ctx);
            refused = true;
            continue;
        }
        turn++;
        double feed0 = g.feed_s, gen0 = g.gen_s;
        uint64_t genfed0 = g.n_gen_fed;
        uint32_t next = 0, n_out = 0;
        mkv_tg_stop why = MKV_TG_LENGTH;
        if (mkv_tg_feed(&g, ids, (uint32_t)n_fed, &next, &err) ||
            mkv_tg_generate(&g, next, n_reply, &eog, ds, json ? NULL : stdout, reply, &n_out, &pending, &why, &err)) {
            if (!json) fputc('\n', stdout);
            rc = cli_fail("chat", &err);
            goto out;
        }
        fresh = false;
        double pre_tok_s = n_fed / (g.feed_s - feed0);
        double dec_tok_s = g.n_gen_fed > genfed0 ? (g.n_gen_fed - genfed0) / (g.gen_s - gen0) : 0;
        if (json) {
            printf("{\"turn\": %u, \"pos\": %u, ", turn, pos);
            json_ids("fed", ids, n_fed);
            printf(", ");
            json_ids("tokens", reply, n_out);
            char *rt = NULL;
            size_t rlen = 0;
            if (mkv_detokenize(tok, reply, n_out, &rt, &rlen, &err)) { rc = cli_fail("chat", &err); goto out; }
            printf(", \"text\": ");
            mkv_json_print_str(stdout, rt, rlen);
            free(rt);
            printf(", \"stop\": \"%s\", \"pos_end\": %u, \"prefill_tok_s\": %.3f, \"decode_tok_s\": %.3f",
                   mkv_tg_stop_name(why), mkv_session_pos(s), pre_tok_s, dec_tok_s);
            if (mkv_sampler_needs_logits(smp)) printf(", \"seed\": %llu", (unsigned long long)sp.seed);
            printf("}\n");
        } else {
            fputc('\n', stdout);
            if (why == MKV_TG_INTERRUPT) fprintf(tty ? stdout : stderr, "[stopped]\n");
        }
        fflush(stdout);
        if (why == MKV_TG_CONTEXT)
            fprintf(stderr, "mekivk chat: the context is full (%u positions): /reset starts a new conversation\n",
                    n_ctx);
        if (verbose)
            fprintf(stderr, "[turn %u: fed %zu tokens at position %u (%.1f tok/s), replied %u tokens (%.2f tok/s), "
                            "stop: %s, position now %u]\n",
                    turn, n_fed, pos, pre_tok_s, n_out, dec_tok_s, mkv_tg_stop_name(why), mkv_session_pos(s));
    }
    rc = refused && !tty ? 1 : 0;
out:
    free(text.p);
    free(line);
    free(ids);
    free(reply);
    free(logits);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    mkv_sampler_free(smp);
    mkv_detok_stream_free(ds);
    mkv_tokenizer_free(tok);
    return rc;
}
