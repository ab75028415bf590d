/* mekivk synth */
#include <stdio.h>
#include <string.h>

#include "bank.h"
#include "cli.h"
#include "gguf.h"
#include "safetensors.h"
#include "synth.h"
#include "synth_ckpt.h"

static void help(void)
{
    printf("usage: mekivk synth --config tiny|small|0.6b|1.7b|4b --out DIR [--dense]\n"
           "                    [--arch qwen3|qwen2|llama] [--wtype TYPE] [--pure]\n"
           "                    [--bank-type f16|q8] [--seed N] [--untied] [--gate-input norm|residual]\n"
           "                    [--tokenizer tokenizer.json] [--n-vocab N]\n\n"
           "Writes DIR/model.gguf and (unless --dense) DIR/bank.mkb with random weights of the\n"
           "named shape (DESIGN §2), scaled so activations stay finite. Deterministic by seed.\n"
           "  --dense      no MeKi tensors and no bank\n"
           "  --arch       architecture and key prefix (default qwen3, with q/k norms);\n"
           "               qwen2: q/k/v biases, no q/k norms; llama: neither, and the engine\n"
           "               rotates adjacent RoPE pairs as llama.cpp does for llama\n"
           "  --wtype      matrix type, chosen per tensor as llama.cpp's llama-quantize does\n"
           "               (default f16; norms and biases always stay f32):\n"
           "                 f32 f16 bf16 q8_0 q6_k   every matrix that type\n"
           "                 q4_0 q4_1 q5_0 q5_1      that type, the LM head (output.weight, or\n"
           "                 q4_k q5_k                token_embd.weight when tied) q6_k\n"
           "                 q4_k_m q5_k_m            presets: q4_k / q5_k, the LM head q6_k, and\n"
           "                                          attn_v and ffn_down q6_k in the first and\n"
           "                                          last eighth of the layers and every third\n"
           "                                          layer between\n"
           "               The quantized types are ggml's blocks: 32 values for q8_0, q4_0, q4_1,\n"
           "               q5_0, q5_1; 256 for q4_k, q5_k, q6_k. A matrix whose rows are not whole\n"
           "               blocks (e.g. meki_out, rows of d_mem = 64 or 128, under a 256 type)\n"
           "               falls back as llama-quantize does: q4_k -> q5_0, q5_k -> q5_1,\n"
           "               q6_k -> q8_0, and to f16 when rows are not whole 32-blocks either;\n"
           "               the count is reported.\n"
           "               general.file_type is llama.cpp's value for the choice (Q4_K_S,\n"
           "               Q5_K_S for q4_k, q5_k)\n"
           "  --pure       every matrix exactly --wtype: no q6_k LM head (not with a preset;\n"
           "               fallbacks still apply)\n"
           "  --bank-type  bank row type (default f16)\n"
           "  --seed N     random seed (default 1)\n"
           "  --untied     write a separate output.weight (default: tied to token_embd)\n"
           "  --gate-input what the MeKi gate reads (key meki.gate_input, DESIGN §2): norm, the\n"
           "               FFN's normed input (default), or residual, the residual after attention\n"
           "  --tokenizer  a Hugging Face tokenizer.json (byte-level BPE, Qwen2/Qwen3 or Llama 3\n"
           "               pre-tokenizer) to put into the GGUF, with tokenizer_config.json from the\n"
           "               same folder (eos, chat template) when present; the vocabulary is padded\n"
           "               with [PAD{i}] to the shape's n_vocab, as llama.cpp pads it. Without it,\n"
           "               a placeholder vocabulary: the 256 byte-level characters, <|endoftext|>,\n"
           "               then [PAD{i}] (text encodes byte by byte)\n"
           "  --n-vocab N  the vocabulary size instead of the shape's (e.g. the tiny shape with\n"
           "               Qwen3's 151669-token tokenizer: --n-vocab 151936)\n\n"
           "usage: mekivk synth --checkpoint --config NAME --out DIR [--shards N] [--dtype f32|f16|bf16]\n"
           "                    [--seed N] [--untied] [--no-qk-norm] [--gate-input norm|residual]\n\n"
           "Writes a training-form checkpoint instead (the input of `mekivk convert`): DIR/config.json\n"
           "(Hugging Face Qwen3 keys plus \"meki_dim\") and the Qwen3 tensors with every layer's MeKi\n"
           "training module (model.layers.N.meki_module.*) as safetensors, streamed.\n"
           "  --shards N   split into N files + model.safetensors.index.json (default 1)\n"
           "  --dtype      tensor dtype (default bf16)\n"
           "  --no-qk-norm no q_norm/k_norm (the authors' MeKi training has none)\n"
           "  --gate-input \"meki_gate_input\" in config.json (default norm)\n");
}

int mkv_cmd_synth(int argc, char **argv)
{
    const char *config = NULL, *out = NULL;
    bool dense = false, untied = false, checkpoint = false, no_qk_norm = false, pure = false;
    const char *gate_input = NULL, *tokenizer = NULL;
    uint32_t shards = 1, ck_dtype = MKV_ST_BF16;
    uint32_t wtype = MKV_GGML_F16, bank_type = MKV_BANK_F16;
    const char *arch = "qwen3";
    uint64_t seed = 1;
    uint32_t n_vocab = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        else if (!strcmp(a, "--dense")) dense = true;
        else if (!strcmp(a, "--untied")) untied = true;
        else if (!strcmp(a, "--pure")) pure = true;
        else if (!strcmp(a, "--checkpoint")) checkpoint = true;
        else if (!strcmp(a, "--no-qk-norm")) no_qk_norm = true;
        else if (!strcmp(a, "--gate-input")) {
            if (!(gate_input = cli_value(argc, argv, &i))) return 2;
            if (strcmp(gate_input, "norm") && strcmp(gate_input, "residual")) {
                fprintf(stderr, "mekivk synth: --gate-input = '%s': expected norm or residual\n", gate_input);
                return 2;
            }
        }
        else if (!strcmp(a, "--shards")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 99999, &shards)) return 2; }
        else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if (!strcmp(v, "f32")) ck_dtype = MKV_ST_F32;
            else if (!strcmp(v, "f16")) ck_dtype = MKV_ST_F16;
            else if (!strcmp(v, "bf16")) ck_dtype = MKV_ST_BF16;
            else { fprintf(stderr, "mekivk synth: --dtype = '%s': expected f32, f16 or bf16\n", v); return 2; }
        }
        else if (!strcmp(a, "--config")) { if (!(config = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--n-vocab")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u32(a, v, 1, 1u << 22, &n_vocab)) return 2; }
        else if (!strcmp(a, "--tokenizer")) { if (!(tokenizer = cli_value(argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--arch")) {
            if (!(arch = cli_value(argc, argv, &i))) return 2;
            if (strcmp(arch, "qwen3") && strcmp(arch, "qwen2") && strcmp(arch, "llama")) {
                fprintf(stderr, "mekivk synth: --arch = '%s': expected qwen3, qwen2 or llama\n", arch);
                return 2;
            }
        }
        else if (!strcmp(a, "--seed")) { if (!(v = cli_value(argc, argv, &i)) || !cli_u64(a, v, &seed)) return 2; }
        else if (!strcmp(a, "--wtype")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if (!mkv_synth_parse_wtype(v, &wtype)) {
                fprintf(stderr, "mekivk synth: --wtype = '%s': expected f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                                "q4_k, q5_k, q6_k, q4_k_m or q5_k_m\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--bank-type")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if (!strcmp(v, "f16")) bank_type = MKV_BANK_F16;
            else if (!strcmp(v, "q8")) bank_type = MKV_BANK_Q8;
            else { fprintf(stderr, "mekivk synth: --bank-type = '%s': expected f16 or q8\n", v); return 2; }
        } else {
            fprintf(stderr, "mekivk synth: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!config || !out) {
        fprintf(stderr, "mekivk synth: --config and --out are required (see --help)\n");
        return 2;
    }
    if (no_qk_norm && !checkpoint) {
        fprintf(stderr, "mekivk synth: --no-qk-norm applies to --checkpoint (a GGUF without q/k norms: --arch)\n");
        return 2;
    }
    if (tokenizer && checkpoint) {
        fprintf(stderr, "mekivk synth: --tokenizer writes into a GGUF; for --checkpoint, put tokenizer.json beside "
                        "the checkpoint (convert carries it)\n");
        return 2;
    }
    if (gate_input && dense) {
        fprintf(stderr, "mekivk synth: --gate-input: a --dense model has no MeKi gate\n");
        return 2;
    }
    const mkv_synth_shape *shape = mkv_synth_find_shape(config);
    if (!shape) {
        fprintf(stderr, "mekivk synth: --config = '%s': expected tiny, small, 0.6b, 1.7b or 4b\n", config);
        return 2;
    }
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, shape, out);
    if (n_vocab) o.shape.n_vocab = n_vocab;
    o.dense = dense;
    o.arch = arch;
    o.wtype = wtype;
    o.pure = pure;
    o.bank_dtype = bank_type;
    o.tied_output = !untied;
    o.gate_input = gate_input;
    o.no_qk_norm = no_qk_norm;
    o.seed = seed;
    o.progress = true;
    o.tokenizer = tokenizer;
    mkv_error err = {0};
    double t0 = mkv_now_s();
    if (checkpoint) {
        if (mkv_synth_write_checkpoint(&o, ck_dtype, shards, &err)) return cli_fail("synth", &err);
        fprintf(stderr, "mekivk synth: wrote checkpoint %s (%s, %s, %u shard%s, seed %llu) in %.1f s\n", out, shape->name,
                mkv_st_dtype_name(ck_dtype), shards, shards == 1 ? "" : "s", (unsigned long long)seed, mkv_now_s() - t0);
        return 0;
    }
    uint32_t n_fallback = 0;
    if (mkv_synth_write(&o, &err) || mkv_synth_fallbacks(&o, &n_fallback, &err)) return cli_fail("synth", &err);
    fprintf(stderr, "mekivk synth: wrote %s/model.gguf%s (%s %s, %s%s, seed %llu) in %.1f s\n", out,
            dense ? "" : " and bank.mkb", arch, shape->name, mkv_synth_wtype_name(wtype), pure ? " pure" : "",
            (unsigned long long)seed, mkv_now_s() - t0);
    if (n_fallback)
        fprintf(stderr, "mekivk synth: %u matri%s fell back to another type: rows not whole blocks of the type "
                        "chosen (see --help)\n", n_fallback, n_fallback == 1 ? "x" : "ces");
    return 0;
}
