/* `mekivk convert`: a training-form checkpoint -> model.gguf (the RAM part,
 * llama.cpp qwen3 names, matrices f16, MeKi gate/out/norm) + bank.mkb (the
 * folded tables M̃, token-major slabs), bound by one fingerprint. The
 * vocabulary is streamed in batches: memory does not grow with it. */
#ifndef MKV_CONVERT_H
#define MKV_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "mekivk.h"

typedef struct mkv_convert_opts {
    const char *checkpoint;  /* folder, .safetensors or index.json (config.json beside it) */
    const char *out_dir;     /* created if missing */
    uint32_t bank_dtype;     /* MKV_BANK_F16 (default) or MKV_BANK_Q8 */
    uint32_t align;          /* bank slab alignment (default 4096) */
    uint32_t batch;          /* tokens per fold batch (default 512) */
    bool cpu;                /* fold on the CPU even if a device exists */
    mkv_device *device;      /* fold on this device (borrowed); NULL: create one unless cpu */
    mkv_device_opts device_opts; /* used when creating one */
    bool progress;           /* progress on stderr */
} mkv_convert_opts;

typedef struct mkv_convert_report {
    bool used_device;
    char device[600];        /* device name, or why the CPU was used */
    double seconds, fold_seconds, model_seconds;
    uint64_t bank_bytes, model_bytes;
    /* bank encoding error over every value: |stored - folded| */
    double enc_max_err, enc_rms_err, value_rms;
    uint8_t fingerprint[32];
} mkv_convert_report;

void mkv_convert_opts_default(mkv_convert_opts *o, const char *checkpoint, const char *out_dir);

/* Converts; report may be NULL. Without a device (none, or its creation
 * failed) and !o->cpu, folds on the CPU and says so in report->device. */
mkv_status mkv_convert(const mkv_convert_opts *o, mkv_convert_report *report, mkv_error *err);

#endif
