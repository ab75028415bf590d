/* mekivk bench with a model: what it measures (bench_run.c) and how it
 * reports it (bench_print.c); bench.c parses the options and ties the two
 * together. */
#ifndef MKV_BENCH_RUN_H
#define MKV_BENCH_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "mekivk.h"
#include "profile.h"

#define MAX_REPS 64
#define MAX_KERNELS 32
#define MAX_PROMPTS 4
#define MAX_PROMPT 4096
#define MAX_CTXS 8
#define PROFILE_STEPS 7
#define PROFILE_PREFILL_REPS 3

/* A pass's GPU time by component (the mean of the middle profiled steps
 * or prefills: middle_passes), per token. */
typedef struct comp_stats {
    bool valid;           /* timestamps were read */
    bool complete;        /* every dispatch was timed */
    double ms[MKV_COMP_COUNT], gbps[MKV_COMP_COUNT];
    double gpu_ms;        /* the pass's GPU time (first timestamp to last, less wait_ms), per token */
    double wait_ms;       /* MeKi: the GPU idle between the pass's two submissions, per token */
    double shared_ms;     /* of the components: kernels split between FFN and MeKi, per token */
    uint32_t unknown;     /* dispatches of kernels outside profile.c's table */
} comp_stats;

typedef struct mode_run {
    const char *mode;
    bool meki_off;
    mkv_session *s;
    double decode[MAX_REPS];
    double prefill[MAX_PROMPTS][MAX_REPS];     /* tok/s per prompt length */
    double prefill_stall[MAX_PROMPTS][MAX_REPS]; /* ms the GPU waited on the bank in that prefill */
    double *stall_us;       /* per decoded token (all reps); NULL: not kept */
    double *window_us;      /* GPU time before the first bank-reading dispatch, per decoded token */
    uint32_t n_stall;
    mkv_kernel_time kernels[MAX_KERNELS];
    uint32_t n_kernels;
    comp_stats bd;          /* decode breakdown */
    comp_stats pre_bd;      /* prefill breakdown (--profile) */
    mkv_kernel_time pre_kernels[MAX_KERNELS]; /* per prompt token (--profile) */
    uint32_t n_pre_kernels;
    mkv_session_stats stats;
} mode_run;

/* Decode at one KV length of --ctx. */
typedef struct ctx_run {
    uint32_t ctx;
    double decode[2][MAX_REPS];
    double med[2], paired;
    comp_stats bd[2];       /* --profile */
    mkv_kernel_time kernels[2][MAX_KERNELS]; /* --profile: per kernel, as mode_run's */
    uint32_t n_kernels[2];
} ctx_run;

/* What to measure: bench's options (bench.c's help). */
typedef struct bench_opts {
    const char *model_path, *bank_path;
    uint32_t ctxs[MAX_CTXS], n_ctxs;            /* --ctx: KV lengths, the first with prompts and kernels */
    uint32_t n, reps, block, chunk;             /* -n, --reps, --block, --chunk (0: the session's default) */
    uint32_t n_prompt[MAX_PROMPTS], n_prompts;  /* --prompt */
    mkv_kv_type kv_type;
    bool json, cold, dontneed, bank_sync, profile;
    uint32_t cache_mb, bank_threads;
} bench_opts;

/* What was measured: each mode's figures at the first length, every
 * length's decode (cr[0] is the first), the yardsticks. */
typedef struct bench_result {
    mode_run runs[2];   /* dense, then meki (with a bank) */
    uint32_t n_modes;
    ctx_run *cr;        /* n_ctxs */
    double probe_gbps;  /* 0: no probe (said on stderr) */
    double host_gbps;   /* 0: not a CPU device */
    uint32_t host_threads;
    mkv_model_info info;
} bench_result;

/* Runs the whole measurement of o on a loaded model: prompts and decode
 * in alternating modes, the profiled passes, every further --ctx length.
 * res is filled as far as it got; free it with mkv_bench_result_free. */
mkv_status mkv_bench_measure(mkv_device *dev, mkv_model *model, const bench_opts *o, bench_result *res, mkv_error *err);
void mkv_bench_result_free(bench_result *res);

/* The report of a measurement on stdout: one JSON object (--json), or the
 * text for people. */
void mkv_bench_print_json(const mkv_device *dev, const bench_opts *o, const bench_result *res);
void mkv_bench_print_text(const mkv_device *dev, const bench_opts *o, const bench_result *res);

#endif
