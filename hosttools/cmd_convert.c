/* mekivk convert */
#include <stdio.h>
#include <string.h>

#include "bank.h"
#include "cli.h"
#include "convert.h"

static void help(void)
{
    printf("usage: mekivk convert --checkpoint PATH --out DIR [--bank-type f16|q8] [--align N]\n"
           "                      [--batch N] [--cpu] [--device N|NAME]\n\n"
           "Folds a training-form MeKi checkpoint (safetensors + config.json, DESIGN §6) into\n"
           "DIR/model.gguf (RAM part, matrices f16) and DIR/bank.mkb (the tables, one slab per\n"
           "token), bound by one fingerprint. For every layer l and token x:\n"
           "    M~_l[x] = alpha_l * RMSNorm_mix(M_l[x] + beta_l * G_l(E[x]))\n"
           "    G_l(e)  = W_pd (silu(W_pg e) * (W_pu e))\n"
           "computed on the Vulkan device in batches of tokens (on the CPU with --cpu, or when\n"
           "there is no usable device; a CPU-emulated device such as lavapipe is used only when\n"
           "named with --device or MKV_DEVICE, as the CPU engine is faster there). The vocabulary\n"
           "is streamed: memory stays bounded. A tokenizer.json in the checkpoint's folder (with\n"
           "tokenizer_config.json: eos, chat template) goes into the GGUF under llama.cpp's keys,\n"
           "padded to n_vocab; without one, a placeholder vocabulary (see synth --help).\n"
           "  --checkpoint PATH  folder with config.json and model.safetensors or\n"
           "                     model.safetensors.index.json (or one of those files)\n"
           "  --bank-type        bank row type (default f16); q8 reports its quantization error\n"
           "  --align N          bank slab alignment, power of two 512..65536 (default 4096)\n"
           "  --batch N          tokens per fold batch (default 512)\n"
           "  --cpu              fold on the CPU\n"
           "  --device N|NAME    Vulkan device index or name substring (default: MKV_DEVICE, else\n"
           "                     the first GPU)\n");
}

int mkv_cmd_convert(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL, *v;
    mkv_convert_opts o;
    mkv_convert_opts_default(&o, NULL, NULL);
    if (!cli_device_defaults(&o.device_opts)) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--cpu")) o.cpu = true;
        else if (!strcmp(a, "--checkpoint")) { if (!(ckpt = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--align")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 512, 65536, &o.align)) return 2; }
        else if (!strcmp(a, "--batch")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 65536, &o.batch)) return 2; }
        else if (!strcmp(a, "--device")) { if (!(v = cli_value(argc, argv, &i)) || !cli_device(a, v, &o.device_opts)) return 2; }
        else if (!strcmp(a, "--bank-type")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if (!strcmp(v, "f16")) o.bank_dtype = MKV_BANK_F16;
            else if (!strcmp(v, "q8")) o.bank_dtype = MKV_BANK_Q8;
            else { fprintf(stderr, "mekivk convert: --bank-type = '%s': expected f16 or q8\n", v); return 2; }
        } else {
            fprintf(stderr, "mekivk convert: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!ckpt || !out) {
        fprintf(stderr, "mekivk convert: --checkpoint and --out are required (see --help)\n");
        return 2;
    }
    if (o.align & (o.align - 1)) {
        fprintf(stderr, "mekivk convert: --align = %u: not a power of two\n", o.align);
        return 2;
    }
    o.checkpoint = ckpt;
    o.out_dir = out;
    o.progress = true;
    mkv_convert_report r;
    mkv_error err = {0};
    if (mkv_convert(&o, &r, &err)) return cli_fail("convert", &err);
    fprintf(stderr, "mekivk convert: fold on %s: %.1f s; model.gguf: %.1f s\n", r.device, r.fold_seconds, r.model_seconds);
    fprintf(stderr, "mekivk convert: bank %s: max |error| %.3g, RMS error %.3g (values RMS %.3g, relative %.2g)\n",
            o.bank_dtype == MKV_BANK_Q8 ? "q8 quantization" : "f16 rounding", r.enc_max_err, r.enc_rms_err, r.value_rms,
            r.value_rms > 0 ? r.enc_rms_err / r.value_rms : 0.0);
    fprintf(stderr, "mekivk convert: wrote %s/model.gguf (%.1f MB) and bank.mkb (%.1f MB) in %.1f s total\n", out,
            r.model_bytes / 1e6, r.bank_bytes / 1e6, r.seconds);
    return 0;
}
