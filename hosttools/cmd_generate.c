/* mekivk generate: teacher-forced prompt, then greedy decoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(void)
{
    printf("usage: mekivk generate --model F.gguf [--bank F.mkb] --tokens 1,2,3 -n N\n"
           "                       [--logits-out FILE] [--json] [--ctx N] [--device I|NAME]\n"
           "                       [--meki-off] [--ignore-fingerprint] [--cold] [--cold-dontneed]\n"
           "                       [--cache-mb M]\n\n"
           "Feeds the prompt token by token, then N greedy tokens (each fed back).\n"
           "  --logits-out FILE  float32 little-endian logits, one row of n_vocab per position\n"
           "                     processed: the prompt's, then each generated token fed back\n"
           "                     (n_prompt + N - 1 rows)\n"
           "  --json             print {\"tokens\": [...], \"n_prompt\": P, \"decode_tok_s\": X}\n"
           "  --ctx N            context length (default: prompt + N, at least 16)\n"
           "  --meki-off         run a MeKi model with its MeKi branch off\n"
           "  --ignore-fingerprint  accept a bank made for another model\n"
           "  --cold             read the bank from storage, not RAM (O_DIRECT; where the\n"
           "                     file system refuses it, as --cold-dontneed)\n"
           "  --cold-dontneed    the same by plain reads, each slab's pages dropped after\n"
           "                     its read (fadvise DONTNEED, no readahead)\n"
           "  --cache-mb M       keep the bank rows of frequent tokens in M MiB of RAM\n"
           "  --device           device index or name substring (see `mekivk devices`)\n");
}

int mkv_cmd_generate(int argc, char **argv)
{
    const char *model_path = NULL, *bank_path = NULL, *logits_path = NULL, *tok_arg = NULL;
    uint32_t n_gen = 0, n_ctx = 0;
    bool json = false, have_n = false;
    mkv_device_opts dopts;
    mkv_device_opts_default(&dopts);
    mkv_model_opts mopts = {0};
    mkv_session_opts sopts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--meki-off")) sopts.meki_off = true;
        else if (!strcmp(a, "--ignore-fingerprint")) mopts.ignore_fingerprint = true;
        else if (!strcmp(a, "--cold")) mopts.bank_cold = true;
        else if (!strcmp(a, "--cold-dontneed")) mopts.bank_cold = mopts.bank_cold_dontneed = true;
        else if (!strcmp(a, "--cache-mb")) {
            uint32_t mb;
            if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, 1u << 20, &mb)) return 2;
            sopts.bank_cache_bytes = (uint64_t)mb << 20;
        }
        else if (!strcmp(a, "--model")) { if (!(model_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--bank")) { if (!(bank_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--logits-out")) { if (!(logits_path = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--tokens")) { if (!(tok_arg = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i))) return 2; cli_device_arg(v, &dopts); }
        else if (!strcmp(a, "-n")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 0, MKV_MAX_CTX, &n_gen)) return 2; have_n = true; }
        else if (!strcmp(a, "--ctx")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, MKV_MAX_CTX, &n_ctx)) return 2; }
        else { fprintf(stderr, "mekivk generate: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!model_path || !tok_arg || !have_n) {
        fprintf(stderr, "mekivk generate: --model, --tokens and -n are required (see --help)\n");
        return 2;
    }
    uint32_t *prompt = NULL, n_prompt = 0;
    if (!cli_tokens("--tokens", tok_arg, &prompt, &n_prompt)) return 2;
    uint32_t need = n_prompt + (n_gen ? n_gen - 1 : 0);
    if (!n_ctx) n_ctx = need < 16 ? 16 : need;
    if (need > n_ctx) {
        fprintf(stderr, "mekivk generate: prompt (%u) + -n (%u) - 1 = %u positions exceed --ctx = %u\n", n_prompt, n_gen, need, n_ctx);
        free(prompt);
        return 2;
    }
    sopts.n_ctx = n_ctx;
    mopts.bank_path = bank_path;

    int rc = 1;
    mkv_error err = {0};
    mkv_device *dev = NULL;
    mkv_model *model = NULL;
    mkv_session *s = NULL;
    FILE *lf = NULL;
    float *logits = NULL;
    uint32_t *gen = calloc(n_gen ? n_gen : 1, sizeof *gen);
    mkv_model_info info;
    if (!gen) goto out;
    if (mkv_device_create(&dopts, &dev, &err) || mkv_model_load(dev, model_path, &mopts, &model, &err)) {
        rc = cli_fail("generate", &err);
        goto out;
    }
    mkv_model_get_info(model, &info);
    if (mkv_session_create(model, &sopts, &s, &err)) { rc = cli_fail("generate", &err); goto out; }
    logits = malloc((size_t)info.n_vocab * sizeof(float));
    if (!logits) goto out;
    if (logits_path && !(lf = fopen(logits_path, "wb"))) {
        fprintf(stderr, "mekivk generate: %s: cannot open for writing\n", logits_path);
        goto out;
    }
    uint32_t next = 0;
    double t_prompt = mkv_now_s(), t_decode = 0;
    /* every prompt token's bank slab is read at once, concurrently */
    if (mkv_session_prefetch(s, prompt, n_prompt, &err)) { rc = cli_fail("generate", &err); goto out; }
    /* Prompt positions, then each generated token fed back (not the last). */
    for (uint32_t i = 0; i < need; i++) {
        if (i == n_prompt) t_decode = mkv_now_s();
        uint32_t tok = i < n_prompt ? prompt[i] : gen[i - n_prompt];
        if (mkv_session_step(s, tok, lf ? logits : NULL, &next, &err)) { rc = cli_fail("generate", &err); goto out; }
        if (lf && fwrite(logits, sizeof(float), info.n_vocab, lf) != info.n_vocab) {
            fprintf(stderr, "mekivk generate: %s: write failed\n", logits_path);
            goto out;
        }
        if (i + 1 >= n_prompt && i + 1 - n_prompt < n_gen) gen[i + 1 - n_prompt] = next;
    }
    double t_end = mkv_now_s();
    /* Decode speed over the fed-back steps; with none, over the prompt. */
    uint32_t n_dec = need > n_prompt ? need - n_prompt : 0;
    double tok_s = n_dec ? n_dec / (t_end - t_decode) : n_prompt / (t_end - t_prompt);
    if (json) {
        printf("{\"tokens\": [");
        for (uint32_t i = 0; i < n_gen; i++) printf("%s%u", i ? ", " : "", gen[i]);
        printf("], \"n_prompt\": %u, \"decode_tok_s\": %.3f}\n", n_prompt, tok_s);
    } else {
        printf("device: %s\nmodel: %s (%s, %u layers, d_model %u, %s)\n", mkv_device_name(dev), model_path, info.arch,
               info.n_layer, info.d_model, info.has_bank && !sopts.meki_off ? "MeKi" : "dense");
        printf("generated:");
        for (uint32_t i = 0; i < n_gen; i++) printf(" %u", gen[i]);
        printf("\ndecode: %.2f tok/s\n", tok_s);
    }
    rc = 0;
out:
    if (lf && fclose(lf) != 0 && rc == 0) {
        fprintf(stderr, "mekivk generate: %s: write failed\n", logits_path);
        rc = 1;
    }
    free(logits);
    free(gen);
    free(prompt);
    mkv_session_destroy(s);
    mkv_model_destroy(model);
    mkv_device_destroy(dev);
    return rc;
}
