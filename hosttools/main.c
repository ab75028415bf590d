/* mekivk: the command-line program. Each subcommand lives in cmd_<name>.c
 * (bench in bench/bench.c) and prints its own --help. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#endif

#include "cli.h"
#include "report.h" /* mkv_cmd_report */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"devices", mkv_cmd_devices, "list Vulkan devices and the features the engine uses"},
    {"synth", mkv_cmd_synth, "write a synthetic model (model.gguf, bank.mkb) of a named shape"},
    {"convert", mkv_cmd_convert, "fold a training-form safetensors checkpoint into model.gguf + bank.mkb"},
    {"generate", mkv_cmd_generate, "a prompt (token ids or text), then N tokens, greedy or sampled"},
    {"chat", mkv_cmd_chat, "talk with a model in its chat template (the KV cache kept across turns)"},
    {"perplexity", mkv_cmd_perplexity, "perplexity of a token stream in windows (quality: weight types, MeKi on/off)"},
    {"bench", mkv_cmd_bench, "measure decode speed of MeKi vs dense, bank stats, kernel times"},
    {"report", mkv_cmd_report, "saved bench --json results side by side (devices, builds), with ratios"},
    {"inspect", mkv_cmd_inspect, "show a model (.gguf) or bank (.mkb) file's contents and check it"},
    {"tokenize", mkv_cmd_tokenize, "text -> token ids with a model's tokenizer (no GPU)"},
    {"detokenize", mkv_cmd_detokenize, "token ids -> text with a model's tokenizer (no GPU)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mekivk <command> [options]   (mekivk <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nenvironment: MKV_DEVICE=<index|name> picks the Vulkan device; MKV_VALIDATION=1 enables\n"
               "the Khronos validation layer; MKV_TUNING=<file> loads kernel tunables from a tuning file\n"
               "(bench --sweep) instead of the built-in table's row for the device.\n");
}

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds only (.ci/run): the Vulkan loader unloads the driver
 * stack at vkDestroyInstance, and LeakSanitizer, which reports at exit,
 * could then no longer name the module of what the driver itself leaked
 * (tests/sanitize/lsan.supp suppresses by module). Pinning those
 * libraries (where present) keeps the names; tests/test_util.c does the
 * same in the test programs. */
static void keep_driver_loaded(void)
{
    static const char *const libs[] = {"libvulkan_lvp.so", "libLLVM-15.so.1", "libVkLayer_khronos_validation.so",
                                       "libstdc++.so.6"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) (void)dlopen(libs[i], RTLD_LAZY | RTLD_NODELETE);
}
#endif

int main(int argc, char **argv)
{
#if defined(__SANITIZE_ADDRESS__)
    keep_driver_loaded();
#endif
    /* A file-size limit (ulimit -f) then fails a write with EFBIG, which the
     * writers report and clean up after, as a full disk; not a kill that
     * leaves a temporary behind. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mekivk: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
