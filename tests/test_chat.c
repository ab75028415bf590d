/* mekivk chat and generate --prompt, end to end through the program, on a
 * tiny synthetic model carrying Qwen3's real tokenizer:
 *   - two piped turns: two replies, exit 0, and the second turn feeds only
 *     its own tokens at the position where the first stopped; its greedy
 *     tokens equal `generate --tokens` over the whole transcript's ids
 *     (the KV cache kept across turns computes what one pass would);
 *   - /reset starts again at position 0; the template is recognised or
 *     refused by name;
 *   - generate --prompt equals generate --tokens on the tokenized prompt;
 *     the same seed gives the same text;
 *   - in a pseudo-terminal: Ctrl-C stops a reply and the chat goes on.
 * Uses the device the program picks (lavapipe in CI); skipped without one. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "test_util.h"

#ifndef MKV_EXE
#error "MKV_EXE (the mekivk executable) must be defined"
#endif
#ifndef MKV_TOKENIZER_DATA
#error "MKV_TOKENIZER_DATA (the unpacked Qwen3 tokenizer) must be defined"
#endif

static char g_out[1 << 20];

/* Runs `mekivk ARGS` through the shell (stderr into the output unless
 * ARGS redirects it); output in g_out, exit status returned. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char args[8192], cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", MKV_EXE, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool g_no_device;

/* tiny (dense), n_vocab 151936, Qwen3's tokenizer and chat template */
static const char *model(void)
{
    static char path[4096];
    if (path[0]) return path;
    const char *dir = tu_path_in("chat", "tiny");
    int rc = run("synth --config tiny --dense --n-vocab 151936 --tokenizer %s/tokenizer.json --out %s 2>&1",
                 MKV_TOKENIZER_DATA, dir);
    ck_assert_msg(rc == 0, "synth: %s", g_out);
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    rc = run("generate --model %s --tokens 1 -n 1 2>&1", path);
    g_no_device = rc != 0 && strstr(g_out, "MKV_ERR_NO_DEVICE");
    ck_assert_msg(rc == 0 || g_no_device, "%s", g_out);
    return path;
}

#define SKIP_WITHOUT_DEVICE()                                                        \
    do {                                                                             \
        if (g_no_device) {                                                           \
            fprintf(stderr, "%s: skipped (no Vulkan device)\n", __func__);           \
            return;                                                                  \
        }                                                                            \
    } while (0)

/* ids of a JSON array member */
static size_t get_ids(const mkv_json *j, uint32_t obj, const char *key, uint32_t *ids, size_t cap)
{
    uint32_t a = mkv_json_get(j, obj, key);
    ck_assert_msg(a != MKV_JSON_NONE && j->v[a].type == MKV_JSON_ARRAY, "no array %s", key);
    size_t n = 0;
    for (uint32_t c = j->v[a].first; c != MKV_JSON_NONE; c = j->v[c].next) {
        ck_assert(j->v[c].is_uint && n < cap);
        ids[n++] = (uint32_t)j->v[c].u;
    }
    return n;
}

static uint64_t get_u(const mkv_json *j, uint32_t obj, const char *key)
{
    uint32_t v = mkv_json_get(j, obj, key);
    ck_assert_msg(v != MKV_JSON_NONE && j->v[v].is_uint, "no number %s", key);
    return j->v[v].u;
}

static const char *get_s(const mkv_json *j, uint32_t obj, const char *key)
{
    uint32_t v = mkv_json_get(j, obj, key);
    ck_assert_msg(v != MKV_JSON_NONE && j->v[v].type == MKV_JSON_STRING, "no string %s", key);
    return j->v[v].str;
}

/* the turns of `chat --json` output: one JSON object per line */
typedef struct turn {
    uint32_t fed[256], tokens[256];
    size_t n_fed, n_tokens;
    uint64_t pos, pos_end;
    char stop[16];
    char text[2048];
} turn;

static int parse_turns(const char *out, turn *t, int cap)
{
    int n = 0;
    const char *p = out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len && *p == '{') {
            ck_assert_int_lt(n, cap);
            mkv_json j;
            mkv_error err = {0};
            ck_assert_msg(mkv_json_parse(p, len, "chat output", &j, &err) == MKV_OK, "%s: %.*s", err.msg, (int)len, p);
            turn *u = &t[n++];
            ck_assert_uint_eq(get_u(&j, 0, "turn"), (uint64_t)n);
            u->pos = get_u(&j, 0, "pos");
            u->pos_end = get_u(&j, 0, "pos_end");
            u->n_fed = get_ids(&j, 0, "fed", u->fed, 256);
            u->n_tokens = get_ids(&j, 0, "tokens", u->tokens, 256);
            snprintf(u->stop, sizeof u->stop, "%s", get_s(&j, 0, "stop"));
            snprintf(u->text, sizeof u->text, "%s", get_s(&j, 0, "text"));
            mkv_json_free(&j);
        }
        p += len + (nl != NULL);
    }
    return n;
}

static void write_text(const char *path, const char *s) { tu_write_file(path, s, strlen(s)); }

static void ids_arg(char *buf, size_t cap, const uint32_t *ids, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)snprintf(buf + k, cap - k, "%s%u", i ? "," : "", ids[i]);
}

START_TEST(test_two_turns_keep_the_kv_cache)
{
    const char *m = model();
    SKIP_WITHOUT_DEVICE();
    const char *in = tu_path_in("chat", "two_turns.txt");
    write_text(in, "Hello there\nHow are you?\n");
    int rc = run("chat --model %s -n 6 --json < %s 2>/dev/null", m, in);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, g_out);
    turn t[4];
    ck_assert_int_eq(parse_turns(g_out, t, 4), 2);
    /* turn 1: the ChatML prompt from position 0 */
    ck_assert_uint_eq(t[0].pos, 0);
    const uint32_t want1[] = {151644, 872, 198, 9707, 1052, 151645, 198, 151644, 77091, 198};
    ck_assert_uint_eq(t[0].n_fed, 10);
    ck_assert_mem_eq(t[0].fed, want1, sizeof want1);
    ck_assert_uint_ge(t[0].n_tokens, 1);
    /* turn 2 starts where turn 1 stopped and feeds only its own tokens: the
     * end of reply 1 (its last token, unfed, when cut by -n, or <|im_end|>),
     * then "<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n" */
    ck_assert_uint_eq(t[1].pos, t[0].pos_end);
    const uint32_t tail[] = {151645, 198, 151644, 872, 198, 4340, 525, 498, 30, 151645, 198, 151644, 77091, 198};
    size_t n_tail = sizeof tail / sizeof tail[0];
    if (!strcmp(t[0].stop, "length")) {
        ck_assert_uint_eq(t[0].pos_end, t[0].n_fed + t[0].n_tokens - 1);
        ck_assert_uint_eq(t[1].n_fed, 1 + n_tail);
        ck_assert_uint_eq(t[1].fed[0], t[0].tokens[t[0].n_tokens - 1]);
        ck_assert_mem_eq(t[1].fed + 1, tail, sizeof tail);
    } else {
        ck_assert_str_eq(t[0].stop, "end");
        ck_assert_uint_eq(t[0].pos_end, t[0].n_fed + t[0].n_tokens);
        ck_assert_uint_eq(t[1].n_fed, n_tail);
        ck_assert_mem_eq(t[1].fed, tail, sizeof tail);
    }
    ck_assert_uint_eq(t[1].pos_end, t[1].pos + t[1].n_fed + t[1].n_tokens - !strcmp(t[1].stop, "length"));
    /* the proof: one generate over the whole transcript's ids gives turn 2's tokens */
    uint32_t all[1024];
    size_t n = 0;
    memcpy(all + n, t[0].fed, t[0].n_fed * 4), n += t[0].n_fed;
    size_t reply1_fed = t[0].pos_end - t[0].n_fed;
    memcpy(all + n, t[0].tokens, reply1_fed * 4), n += reply1_fed;
    memcpy(all + n, t[1].fed, t[1].n_fed * 4), n += t[1].n_fed;
    ck_assert_uint_eq(n, t[1].pos + t[1].n_fed);
    static char ids[16384];
    ids_arg(ids, sizeof ids, all, n);
    rc = run("generate --model %s --tokens %s -n %zu --json 2>&1", m, ids, t[1].n_tokens);
    ck_assert_msg(rc == 0, "%s", g_out);
    mkv_json j;
    mkv_error err = {0};
    ck_assert_msg(mkv_json_parse(g_out, strlen(g_out) - 1, "generate", &j, &err) == MKV_OK, "%s: %s", err.msg, g_out);
    uint32_t gen[256];
    size_t n_gen = get_ids(&j, 0, "tokens", gen, 256);
    mkv_json_free(&j);
    ck_assert_uint_eq(n_gen, t[1].n_tokens);
    ck_assert_mem_eq(gen, t[1].tokens, n_gen * 4);
    /* and the text printed without --json is the two replies, one line each */
    rc = run("chat --model %s -n 6 < %s 2>/dev/null", m, in);
    ck_assert_int_eq(rc, 0);
    char want[4200];
    snprintf(want, sizeof want, "%s\n%s\n", t[0].text, t[1].text);
    ck_assert_str_eq(g_out, want);
}
END_TEST

START_TEST(test_reset_and_context)
{
    const char *m = model();
    SKIP_WITHOUT_DEVICE();
    const char *in = tu_path_in("chat", "reset.txt");
    write_text(in, "Hi\n/reset\nHi\n\n/quit\nnever read\n");
    int rc = run("chat --model %s -n 4 --json --system 'Be brief.' < %s 2>/dev/null", m, in);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, g_out);
    turn t[4];
    ck_assert_int_eq(parse_turns(g_out, t, 4), 2);
    ck_assert_uint_eq(t[1].pos, 0); /* forgotten: the same prompt, the same reply */
    ck_assert_uint_eq(t[0].n_fed, t[1].n_fed);
    ck_assert_mem_eq(t[0].fed, t[1].fed, t[0].n_fed * 4);
    ck_assert_uint_eq(t[0].fed[0], 151644);
    ck_assert_uint_eq(t[0].fed[1], 8948); /* "system" */
    ck_assert_mem_eq(t[0].tokens, t[1].tokens, t[0].n_tokens * 4);
    /* a context too small for the second turn: refused with a /reset hint, exit 1 */
    write_text(in, "Hello there\nHow are you today, my friend?\n");
    rc = run("chat --model %s -n 4 --ctx 24 --json < %s 2>&1", m, in);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(g_out, "context is full") && strstr(g_out, "/reset"), "%s", g_out);
    ck_assert_int_eq(parse_turns(g_out, t, 4), 1);
    /* the reply stops when the context fills */
    write_text(in, "Hello there\n");
    rc = run("chat --model %s -n 50 --ctx 14 --json < %s 2>&1", m, in);
    ck_assert_msg(rc == 0, "%s", g_out);
    ck_assert_int_eq(parse_turns(g_out, t, 4), 1);
    ck_assert_str_eq(t[0].stop, "context");
    ck_assert_uint_eq(t[0].pos_end, 14);
}
END_TEST

START_TEST(test_template_is_recognised_or_refused)
{
    const char *m = model();
    (void)m;
    /* a placeholder vocabulary and no chat template: refused by name, before any GPU work */
    const char *dir = tu_path_in("chat", "plain");
    int rc = run("synth --config tiny --dense --out %s 2>&1", dir);
    ck_assert_msg(rc == 0, "%s", g_out);
    rc = run("chat --model %s/model.gguf < /dev/null 2>&1", dir);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(g_out, "no tokenizer.chat_template") && strstr(g_out, "--template"), "%s", g_out);
    rc = run("chat --model %s/model.gguf --template chatml < /dev/null 2>&1", dir);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(g_out, "no <|im_start|> token"), "%s", g_out);
    rc = run("chat --model %s/model.gguf --template llama3 < /dev/null 2>&1", dir);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(g_out, "llama3") && strstr(g_out, "<|begin_of_text|>"), "%s", g_out);
    rc = run("chat --model %s/model.gguf --template vicuna 2>&1", dir);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(g_out, "--template = 'vicuna'"), "%s", g_out);
    /* generate --prompt needs a tokenizer that the file has; a bad flag value is named */
    rc = run("chat --model %s/model.gguf --temp -1 2>&1", dir);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(g_out, "--temp = '-1'"), "%s", g_out);
    const char *bad[][2] = {{"--temp", "nan"}, {"--temp", "0.5x"}, {"--temp", " 1"}, {"--temp", "101"},
                            {"--top-p", "0"}, {"--top-p", "1.01"}, {"--min-p", "2"}, {"--repeat-penalty", "0"},
                            {"--top-k", "-1"}, {"--seed", "18446744073709551616"}, {"--repeat-last-n", "1e3"},
                            {"--temp", "0x1p1"}, {"--temp", "inf"}, {"-n", "0"},
                            /* the engine's flags (mkv_tg_engine_flag) */
                            {"--ctx", "0"}, {"--ctx", "65537"}, {"--kv-type", "q4_0"}, {"--cache-mb", "-1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = run("chat --model %s/model.gguf %s '%s' 2>&1", dir, bad[i][0], bad[i][1]);
        ck_assert_msg(rc == 2, "%s %s: rc %d", bad[i][0], bad[i][1], rc);
        char want[128];
        snprintf(want, sizeof want, "%s = '%s'", bad[i][0], bad[i][1]);
        ck_assert_msg(strstr(g_out, want), "%s: %s", want, g_out);
        if (!strcmp(bad[i][0], "-n")) continue; /* generate takes -n 0 */
        rc = run("generate --model %s/model.gguf --prompt x -n 1 %s '%s' 2>&1", dir, bad[i][0], bad[i][1]);
        ck_assert_msg(rc == 2 && strstr(g_out, want), "generate %s: rc %d: %s", want, rc, g_out);
    }
    ck_assert_int_eq(run("chat --help"), 0);
    ck_assert_msg(strstr(g_out, "--template") && strstr(g_out, "/reset") && strstr(g_out, "--cold-dontneed") &&
                      strstr(g_out, "--seed"), "%s", g_out);
    ck_assert_int_eq(run("generate --help"), 0);
    ck_assert_msg(strstr(g_out, "--logits-out") && strstr(g_out, "--cache-mb") && strstr(g_out, "--seed"), "%s", g_out);
}
END_TEST

START_TEST(test_generate_prompt_equals_tokens)
{
    const char *m = model();
    SKIP_WITHOUT_DEVICE();
    int rc = run("tokenize --model %s --text 'The capital of France is' 2>&1", m);
    ck_assert_int_eq(rc, 0);
    char ids[1024];
    snprintf(ids, sizeof ids, "%.1000s", g_out);
    ids[strcspn(ids, "\n")] = '\0';
    ck_assert_str_eq(ids, "785,6722,315,9625,374");
    rc = run("generate --model %s --tokens %s -n 8 --json 2>&1", m, ids);
    ck_assert_msg(rc == 0, "%s", g_out);
    char by_ids[4096];
    snprintf(by_ids, sizeof by_ids, "%.4000s", g_out);
    rc = run("generate --model %s --prompt 'The capital of France is' -n 8 --json 2>&1", m);
    ck_assert_msg(rc == 0, "%s", g_out);
    mkv_json a, b;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_json_parse(by_ids, strlen(by_ids) - 1, "ids", &a, &err), MKV_OK);
    ck_assert_msg(mkv_json_parse(g_out, strlen(g_out) - 1, "prompt", &b, &err) == MKV_OK, "%s", g_out);
    uint32_t ta[16], tb[16];
    size_t na = get_ids(&a, 0, "tokens", ta, 16), nb = get_ids(&b, 0, "tokens", tb, 16);
    ck_assert_uint_eq(na, 8);
    ck_assert_uint_le(nb, na); /* --prompt may stop at an end token */
    ck_assert_uint_ge(nb, 1);
    ck_assert_mem_eq(ta, tb, nb * 4);
    ck_assert_uint_eq(get_u(&b, 0, "n_prompt"), 5);
    /* "text" is the tokens' text */
    char text[2048];
    snprintf(text, sizeof text, "%.2000s", get_s(&b, 0, "text"));
    mkv_json_free(&a);
    mkv_json_free(&b);
    static char idl[4096];
    ids_arg(idl, sizeof idl, tb, nb);
    ck_assert_int_eq(run("detokenize --model %s --ids %s", m, idl), 0);
    ck_assert_str_eq(g_out, text);
    /* streamed: stdout is exactly the text and a newline */
    rc = run("generate --model %s --prompt 'The capital of France is' -n 8 2>/dev/null", m);
    ck_assert_int_eq(rc, 0);
    char want[2100];
    snprintf(want, sizeof want, "%s\n", text);
    ck_assert_str_eq(g_out, want);
    /* sampled: the same seed, the same text; the seed is reported */
    rc = run("generate --model %s --prompt 'Once upon a time' -n 12 --temp 0.8 --top-p 0.95 --seed 7 2>/dev/null", m);
    ck_assert_int_eq(rc, 0);
    char first[4096];
    snprintf(first, sizeof first, "%.4000s", g_out);
    rc = run("generate --model %s --prompt 'Once upon a time' -n 12 --temp 0.8 --top-p 0.95 --seed 7 2>/dev/null", m);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(g_out, first);
    rc = run("generate --model %s --prompt 'Once upon a time' -n 12 --temp 0.8 --top-p 0.95 --seed 7 --json 2>&1", m);
    ck_assert_msg(rc == 0 && strstr(g_out, "\"seed\": 7"), "%s", g_out);
    /* invalid UTF-8 in the prompt is named */
    rc = run("generate --model %s --prompt \"$(printf '\\377')\" -n 1 2>&1", m);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(g_out, "UTF-8") || strstr(g_out, "byte"), "%s", g_out);
}
END_TEST

/* ---- a pseudo-terminal ---------------------------------------------------- */

/* Reads from fd into buf (appending) until `want` appears after *from or
 * the deadline passes; true if it appeared (then *from moves past it). */
static bool expect(int fd, char *buf, size_t cap, size_t *len, size_t *from, const char *want, double seconds)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        buf[*len] = '\0';
        char *hit = strstr(buf + *from, want);
        if (hit) {
            *from = (size_t)(hit - buf) + strlen(want);
            return true;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        double left = seconds - ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9);
        if (left <= 0) return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0) continue;
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n <= 0) return false; /* EIO: the child is gone */
        *len += (size_t)n;
    }
}

static void type(int fd, const char *s) { ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s)); }

START_TEST(test_ctrl_c_in_a_terminal_stops_the_reply)
{
    const char *m = model();
    SKIP_WITHOUT_DEVICE();
    int fd;
    pid_t pid = forkpty(&fd, NULL, NULL, NULL);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl(MKV_EXE, "mekivk", "chat", "--model", m, "-n", "20000", "--ctx", "20100", "--verbose", (char *)NULL);
        _exit(127);
    }
    static char buf[1 << 20];
    size_t len = 0, from = 0;
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "> ", 60), "no prompt: %s", buf);
    /* Ctrl-C at the prompt: a hint, and the prompt again */
    type(fd, "\x03");
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "/quit or Ctrl-D", 10), "%s", buf);
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "> ", 10), "%s", buf);
    /* a reply of up to 20000 tokens, stopped by Ctrl-C once it has begun */
    type(fd, "Hello there\n");
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "Hello there\r\n", 10), "%s", buf);
    size_t reply_at = from;
    struct timespec pause = {0, 300 * 1000000};
    for (int i = 0; i < 100 && len == reply_at; i++) { /* wait for the reply's first bytes */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n > 0) len += (size_t)n;
        }
    }
    nanosleep(&pause, NULL);
    type(fd, "\x03");
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "[stopped]", 30), "not stopped: %s", buf + reply_at);
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "stop: interrupt, position now ", 10), "%s", buf + reply_at);
    unsigned pos1 = (unsigned)strtoul(buf + from, NULL, 10);
    ck_assert_uint_gt(pos1, 10);
    ck_assert_uint_lt(pos1, 20000);
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "> ", 10), "%s", buf + reply_at);
    /* the program goes on: a second turn at the position the first stopped at */
    type(fd, "Again\n");
    char want[128];
    snprintf(want, sizeof want, " tokens at position %u ", pos1);
    nanosleep(&pause, NULL);
    type(fd, "\x03");
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "[turn 2: fed ", 30), "%s", buf + reply_at);
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, want, 1), "want '%s' in %s", want, buf + reply_at);
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "stop: interrupt", 1), "%s", buf + reply_at);
    ck_assert_msg(expect(fd, buf, sizeof buf, &len, &from, "> ", 10), "%s", buf);
    type(fd, "/quit\n");
    int ws = 0;
    pid_t done = 0;
    for (int i = 0; i < 300 && !(done = waitpid(pid, &ws, WNOHANG)); i++) { /* drain the terminal meanwhile */
        char junk[4096];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0 && read(fd, junk, sizeof junk) < 0) nanosleep(&pause, NULL);
    }
    if (done != pid) kill(pid, SIGKILL), waitpid(pid, &ws, 0);
    ck_assert_msg(done == pid, "mekivk chat did not leave at /quit");
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "status 0x%x", ws);
    close(fd);
}
END_TEST

static Suite *chat_suite(void)
{
    Suite *s = suite_create("chat");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_template_is_recognised_or_refused);
    tcase_add_test(tc, test_two_turns_keep_the_kv_cache);
    tcase_add_test(tc, test_reset_and_context);
    tcase_add_test(tc, test_generate_prompt_equals_tokens);
    tcase_add_test(tc, test_ctrl_c_in_a_terminal_stops_the_reply);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(chat_suite());
}
