/* mekivk generate: a prompt (token ids or text) teacher-forced, then N
 * tokens, greedy on the GPU or sampled (textgen.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "fileio.h"
#include "textgen.h"

static void help(void)
{
    printf("usage: mekivk generate --model F.gguf [--bank F.mkb] (--tokens 1,2,3 | --prompt TEXT) -n N\n"
           "                       [--logits-out FILE] [--json] [--ctx N] [--device I|NAME]\n"
           "                       [--meki-off] [--ignore-fingerprint] [--cold] [--cold-dontneed]\n"
           "                       [--cache-mb M] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
           "                       [--repeat-penalty R] [--repeat-last-n N] [--seed S]\n"
           "                       [--kv-type f16|q8_0]\n\n"
           "Processes the prompt in batches (mkv_session_prefill: forward passes of 128 tokens),\n"
           "then N tokens one by one (each fed back but the last).\n"
           "  --tokens IDS       the prompt as token ids; prints the generated ids, and exactly N\n"
           "  --prompt TEXT      the prompt as text, tokenized with the model's tokenizer (DESIGN §6;\n"
           "                     BOS prepended when the file says add_bos_token); prints the\n"
           "                     generated text as it is produced, and stops early at an\n"
           "                     end-of-text/end-of-turn token (eos, <|im_end|>, <|eot_id|>, ...;\n"
           "                     not printed). The speed goes to stderr.\n"
           "  --logits-out FILE  float32 little-endian logits, one row of n_vocab per position\n"
           "                     processed: the prompt's, then each generated token fed back\n"
           "                     (n_prompt + N - 1 rows)\n"
           "  --json             print {\"tokens\": [...], \"n_prompt\": P, \"decode_tok_s\": X,\n"
           "                     \"prefill_tok_s\": Y} (decode over the fed-back tokens, or the\n"
           "                     prompt's when none; with\n"
           "                     --prompt also \"text\" and \"stop\": \"length\" or \"end\"; when\n"
           "                     sampling, \"seed\")\n"
           "  --ctx N            context length (default: prompt + N, at least 16)\n"
           "%s%s", cli_engine_help, mkv_tg_sampling_help);
}

int mkv_cmd_generate(int argc, char **argv)
{
    const char *logits_path = NULL, *tok_arg = NULL, *text = NULL;
    uint32_t n_gen = 0;
    bool json = false, have_n = false, seed_given = false;
    cli_load_bar load_bar = {0};
    cli_engine e;
    if (!cli_engine_init(&e, &load_bar)) return 2;
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
        else if (!strcmp(a, "--logits-out")) { if (!(logits_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--tokens")) { if (!(tok_arg = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--prompt")) { if (!(text = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "-n")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, MKV_MAX_CTX, &n_gen)) return 2; have_n = true; }
        else { fprintf(stderr, "mekivk generate: unknown option '%s' (see --help)\n", a); return 2; }
    }
    const char *model_path = e.model_path;
    uint32_t n_ctx = e.n_ctx;
    if (!model_path || !tok_arg == !text || !have_n) {
        fprintf(stderr, "mekivk generate: --model, -n and one of --tokens or --prompt are required (see --help)\n");
        return 2;
    }
    if (!seed_given) sp.seed = mkv_tg_random_seed();
    int rc = 1;
    mkv_error err = {0};
    mkv_tokenizer *tok = NULL;
    mkv_detok_stream *ds = NULL;
    mkv_sampler *smp = NULL;
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    mkv_session *s = NULL;
    mkv_atomic_file lf = MKV_ATOMIC_FILE_INIT; /* --logits-out appears only once complete */
    float *logits = NULL;
    uint32_t *prompt = NULL, *gen = NULL, n_prompt = 0;
    mkv_model_info info;
    if (tok_arg) {
        if (!cli_tokens("--tokens", tok_arg, &prompt, &n_prompt)) return 2;
    } else {
        /* the tokenizer reads the GGUF's metadata only: before any GPU work */
        if (mkv_tokenizer_open(model_path, &tok, &err)) {
            fprintf(stderr, "mekivk generate: --prompt needs the model's tokenizer: %s (%s)\n", err.msg,
                    mkv_status_name(err.status));
            return 1;
        }
        size_t n = 0;
        if (mkv_tokenize(tok, text, strlen(text), true, &prompt, &n, &err)) {
            rc = cli_fail("generate", &err);
            goto out;
        }
        if (n == 0 || n > MKV_MAX_CTX) {
            fprintf(stderr, "mekivk generate: --prompt = '%s': %zu tokens (expected 1..%u)\n", text, n, MKV_MAX_CTX);
            rc = 2;
            goto out;
        }
        n_prompt = (uint32_t)n;
        if (mkv_detok_stream_create(tok, &ds, &err)) { rc = cli_fail("generate", &err); goto out; }
    }
    uint32_t need = n_prompt + (n_gen ? n_gen - 1 : 0);
    if (!n_ctx) n_ctx = need < 16 ? 16 : need;
    if (need > n_ctx) {
        fprintf(stderr, "mekivk generate: prompt (%u) + -n (%u) - 1 = %u positions exceed --ctx = %u\n", n_prompt, n_gen, need, n_ctx);
        rc = 2;
        goto out;
    }
    e.sopts.n_ctx = n_ctx;
    e.mopts.bank_path = e.bank_path;
    if (!(gen = calloc(n_gen ? n_gen : 1, sizeof *gen))) {
        fprintf(stderr, "mekivk generate: out of memory (%u generated tokens)\n", n_gen);
        goto out;
    }
    if (mkv_device_create(&e.dopts, &dev, &err) || mkv_model_load(dev, model_path, &e.mopts, &model, &err)) {
        rc = cli_fail("generate", &err);
        goto out;
    }
    mkv_model_get_info(model, &info);
    if (tok && mkv_tokenizer_n_vocab(tok) != info.n_vocab) {
        fprintf(stderr, "mekivk generate: %s: the tokenizer has %u tokens, the model's n_vocab is %u\n", model_path,
                mkv_tokenizer_n_vocab(tok), info.n_vocab);
        goto out;
    }
    if (mkv_sampler_create(&sp, info.n_vocab, &smp, &err) || mkv_session_create(model, &e.sopts, &s, &err)) {
        rc = cli_fail("generate", &err);
        goto out;
    }
    logits = malloc((size_t)info.n_vocab * sizeof(float));
    if (!logits) {
        fprintf(stderr, "mekivk generate: out of memory (a row of %u logits)\n", info.n_vocab);
        goto out;
    }
    if (logits_path && mkv_atomic_begin(&lf, logits_path, &err)) { rc = cli_fail("generate", &err); goto out; }
    mkv_tg g = {.s = s, .smp = smp, .n_vocab = info.n_vocab, .n_ctx = n_ctx, .logits = logits,
                .logits_fd = logits_path ? lf.fd : -1, .logits_path = logits_path};
    uint32_t first = 0, n_out = 0, pending;
    mkv_tg_stop why = MKV_TG_LENGTH;
    mkv_tg_eog eog;
    if (tok) mkv_tg_eog_init(&eog, tok);
    if (mkv_tg_feed(&g, prompt, n_prompt, &first, &err) ||
        (n_gen && mkv_tg_generate(&g, first, n_gen, tok ? &eog : NULL, ds, json ? NULL : stdout, gen, &n_out, &pending,
                                  &why, &err))) {
        if (tok && !json) fputc('\n', stdout);
        rc = cli_fail("generate", &err);
        goto out;
    }
    if (logits_path && mkv_atomic_commit(&lf, &err)) { rc = cli_fail("generate", &err); goto out; }
    /* Decode speed over the fed-back steps; with none, over the prompt. */
    double tok_s = g.n_gen_fed ? g.n_gen_fed / g.gen_s : n_prompt / g.feed_s;
    if (json) {
        printf("{\"tokens\": [");
        for (uint32_t i = 0; i < n_out; i++) printf("%s%u", i ? ", " : "", gen[i]);
        printf("], \"n_prompt\": %u, \"decode_tok_s\": %.3f, \"prefill_tok_s\": %.3f", n_prompt, tok_s,
               g.feed_s > 0 ? n_prompt / g.feed_s : 0.0);
        if (mkv_sampler_needs_logits(smp)) printf(", \"seed\": %llu", (unsigned long long)sp.seed);
        if (tok) {
            char *out_text = NULL;
            size_t len = 0;
            if (mkv_detokenize(tok, gen, n_out, &out_text, &len, &err)) { rc = cli_fail("generate", &err); goto out; }
            printf(", \"text\": ");
            mkv_json_print_str(stdout, out_text, len);
            printf(", \"stop\": \"%s\"", mkv_tg_stop_name(why));
            free(out_text);
        }
        printf("}\n");
    } else if (tok) {
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "[%u prompt tokens (%.2f tok/s), %u generated (%s), %.2f tok/s]\n", n_prompt,
                g.feed_s > 0 ? n_prompt / g.feed_s : 0.0, n_out, mkv_tg_stop_name(why), tok_s);
    } else {
        printf("device: %s\nmodel: %s (%s, %u layers, d_model %u, %s)\n", mkv_device_name(dev), model_path, info.arch,
               info.n_layer, info.d_model, info.has_bank && !e.sopts.meki_off ? "MeKi" : "dense");
        printf("generated:");
        for (uint32_t i = 0; i < n_out; i++) printf(" %u", gen[i]);
        printf("\nprefill: %.2f tok/s (%u tokens)\ndecode: %.2f tok/s\n", g.feed_s > 0 ? n_prompt / g.feed_s : 0.0, n_prompt,
               tok_s);
    }
    rc = 0;
out:
    mkv_atomic_abort(&lf); /* after a failure: the temporary goes, an earlier file stays */
    free(logits);
    free(gen);
    free(prompt);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    mkv_sampler_free(smp);
    mkv_detok_stream_free(ds);
    mkv_tokenizer_free(tok);
    return rc;
}
