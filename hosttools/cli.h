/* Shared pieces of the `mekivk` command line: argument parsing helpers
 * that report the flag and value at fault, and the subcommand entry points. */
#ifndef MKV_CLI_H
#define MKV_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mekivk.h"
#include "progress.h" /* mkv_now_s */

/* Each returns the process exit status (0 on success). */
int mkv_cmd_devices(int argc, char **argv);
int mkv_cmd_synth(int argc, char **argv);
int mkv_cmd_convert(int argc, char **argv);
int mkv_cmd_generate(int argc, char **argv);
int mkv_cmd_chat(int argc, char **argv);       /* cmd_chat.c */
int mkv_cmd_bench(int argc, char **argv);
int mkv_cmd_inspect(int argc, char **argv);
int mkv_cmd_tokenize(int argc, char **argv);   /* cmd_tokenize.c */
int mkv_cmd_detokenize(int argc, char **argv);
int mkv_cmd_perplexity(int argc, char **argv);   /* cmd_perplexity.c */

/* ---- inspect (cmd_inspect*.c; no Vulkan, linked into tests as mkv_inspect) ----
 * Each prints a report on `out` (errors there too, as "error: ...") and
 * returns 0 if the file is sound, 1 if it is not (or cannot be read), 2 if
 * its kind is not supported. */

/* Detects the kind by content (GGUF magic, MEKIBANK magic, safetensors'
 * u64 header length followed by '{'), never by extension, and runs the
 * matching report. verify: read every bank slab and check its CRC. */
int mkv_inspect_file(const char *path, bool verify, FILE *out);
int mkv_inspect_gguf(const char *path, FILE *out);
int mkv_inspect_bank(const char *path, bool verify, FILE *out);
/* Hook for training-form checkpoints: hosttools/cmd_inspect_st.c, which
 * the safetensors import (mekivk convert) replaces. The stub prints
 * "safetensors support: see mekivk convert" and returns 2. */
int mkv_inspect_safetensors(const char *path, FILE *out);

/* Value of flag argv[*i] (the next word); advances *i. NULL and a message
 * on stderr if there is none. */
const char *cli_value(int argc, char **argv, int *i);
/* Strict decimal: digits only (no sign, space or trailing junk), no
 * overflow. No message. */
bool cli_parse_u64(const char *s, uint64_t *out);
/* Parses an unsigned integer in [lo, hi] for `flag`; false + a message
 * naming the flag and the value if not. */
bool cli_u32(const char *flag, const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
/* A comma-separated list of 1..cap integers in lo..hi ("128,512"); false
 * (said on stderr) on an empty item, a bad number or more than cap. */
bool cli_u32_list(const char *flag, const char *s, uint32_t lo, uint32_t hi, uint32_t *out, uint32_t cap, uint32_t *n);
bool cli_u64(const char *flag, const char *s, uint64_t *out);
/* Parses "1,2,3" into a malloc'd array; false + message on a bad or empty
 * item ("1,", ",1", "1,,2") or a value past 2^32 - 1. */
bool cli_tokens(const char *flag, const char *s, uint32_t **out, uint32_t *n);
/* Prints "mekivk <cmd>: <msg>" for an error and returns 1. */
int cli_fail(const char *cmd, const mkv_error *err);
/* Reads --device into opts: an index (digits only, 0..2^31-1) or, when it
 * does not start with a digit, a name substring; false + message if it is
 * empty or a malformed/out-of-range index. */
bool cli_device(const char *flag, const char *s, mkv_device_opts *opts);
/* The device options before any flag: mkv_device_opts_default, then the
 * environment (the library reads none): MKV_DEVICE (an index or a name
 * substring, as --device), MKV_VALIDATION=1 (the validation layer) and
 * MKV_TUNING (a tuning file from `bench --sweep`).
 * false + message if MKV_DEVICE is malformed. */
bool cli_device_defaults(mkv_device_opts *opts);
/* mkv_model_opts.progress for the commands: a "loading" bar on stderr
 * when it is a terminal (nothing otherwise). user: a cli_load_bar, zeroed. */
typedef struct cli_load_bar {
    mkv_progress p;
    bool started;
    uint64_t done;
} cli_load_bar;
void cli_load_progress(void *user, uint64_t done, uint64_t total);
/* --kv-type: "f16" or "q8_0"; false + message naming the flag otherwise. */
bool cli_kv_type(const char *flag, const char *s, mkv_kv_type *out);
const char *cli_kv_type_name(mkv_kv_type t);

/* The engine's options, shared by generate, chat and perplexity: --model,
 * --bank, --device, --ctx (ctx_min..MKV_MAX_CTX), --kv-type, --cache-mb,
 * --meki-off, --ignore-fingerprint, --cold, --cold-dontneed.
 * cli_engine_init sets the defaults (n_ctx 0: the command sets its own;
 * false if the environment's device options are bad, said on stderr;
 * load_bar: a zeroed cli_load_bar). cli_engine_flag handles argv[*i] if it
 * is one of them, its value too (*i advances): 1; another flag: 0; a bad
 * value (the flag and value named on stderr): -1. The command then sets
 * sopts.n_ctx and mopts.bank_path from n_ctx and bank_path.
 * cli_engine_help: their --help lines, but --ctx's (the command's own). */
typedef struct cli_engine {
    const char *model_path, *bank_path;
    uint32_t n_ctx;
    uint32_t ctx_min; /* the least --ctx taken (init: 1; perplexity's windows: 2) */
    mkv_device_opts dopts;
    mkv_model_opts mopts;
    mkv_session_opts sopts;
} cli_engine;
bool cli_engine_init(cli_engine *e, cli_load_bar *load_bar);
int cli_engine_flag(int argc, char **argv, int *i, cli_engine *e);
extern const char cli_engine_help[];

#endif
