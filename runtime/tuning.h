/* Kernel tunables (workgroup sizes, rows per workgroup, tile shapes,
 * attention split size, texel or storage reads) and where they come from:
 * one table of rows keyed by vendor, device name, driver and subgroup
 * size, each with its reason (tuning.c), or a tuning file made by
 * `mekivk bench --sweep`. The device picks its tunables once, at
 * creation; every recording reads them from there (tunables.h). */
#ifndef MKV_TUNING_H
#define MKV_TUNING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct mkv_tunables { /* a new field: also mkv_tuning_equal */
    uint32_t wg_matvec;    /* threads per matvec workgroup */
    uint32_t rows_matvec;  /* rows per matvec workgroup */
    uint32_t nr_matvec;    /* rows a subgroup takes at once (one x load feeds them all) */
    uint32_t wg_norm;      /* norms, rope, residual: one vector per workgroup */
    uint32_t wg_attn;      /* attention: threads over positions, then dims */
    uint32_t wg_argmax;
    uint32_t attn_chunk;   /* target positions per attention split */
    uint32_t u_attn;       /* attention: positions a team of lanes takes per step (1, 2, 4 or 8) */
    uint32_t wg_matmul;    /* matmul: weight rows (threads) per workgroup */
    uint32_t tb_matmul;    /* matmul: batch rows per workgroup (register tile) */
    uint32_t wg_mm;        /* mm (prefill products): threads per workgroup */
    uint32_t rows_mm;      /* mm: weight rows per workgroup */
    uint32_t nr_mm;        /* mm: rows a subgroup takes at once */
    uint32_t nb_mm;        /* mm: tokens per workgroup (register tile NR x NB) */
    bool coop_mm;          /* mm on cooperative matrices (mm_cm.comp) where the device has them */
    bool texel_reads;      /* typed kernels read weights and input as texel buffers (wt_bind.glsl) */
    bool merge_attn;       /* attention: the last split of each KV head merges the splits in the same
                              dispatch (attn.comp's MERGE), rather than attn_combine after it */
    bool rope_attn;        /* decode attention does rope_kv's work too (attn_rope: one dispatch, not two);
                              not swept (the sweep's attention job has no RoPE inputs): the row's, or a file's */
    uint32_t il_rows;      /* typed weights stored with rows interleaved in groups of this many (1: plain;
                              mkv_matrix_create_il): fixed when a model loads; not swept */
} mkv_tunables;

static inline uint32_t mkv_pow2_at_least(uint32_t v, uint32_t lo)
{
    uint32_t p = 1;
    while (p < v || p < lo) p <<= 1;
    return p;
}

/* What a device is, as far as tuning goes. */
typedef struct mkv_tuning_key {
    uint32_t vendor_id;        /* VkPhysicalDeviceProperties::vendorID */
    const char *device_name;
    uint32_t driver_id;        /* VkDriverId */
    uint32_t subgroup_size;
    bool cpu;                  /* a CPU implementation */
    bool texel_ok;             /* RGBA32UI uniform texel buffers */
    uint32_t max_wg;           /* min(maxComputeWorkGroupSize[0], maxComputeWorkGroupInvocations) */
    bool coop_ok;              /* mm_cm.comp can run (mkv_device.coop_nv) */
} mkv_tuning_key;

/* A row of the table: matches a device when every key it sets is equal
 * (device_name: a substring of the device's); the row setting the most
 * keys wins, the first on a tie. Its tunables are the generic ones for the
 * device's subgroup size with the row's settings over them. */
typedef struct mkv_tuning_row {
    const char *name;
    uint32_t vendor_id;        /* 0: any */
    const char *device_name;   /* NULL: any */
    uint32_t driver_id;        /* 0: any */
    uint32_t subgroup_size;    /* 0: any */
    const char *why;           /* one line of rationale */
    void (*apply)(const mkv_tuning_key *key, mkv_tunables *t); /* NULL: the generic tunables */
} mkv_tuning_row;

/* The table (first row: "default", matching every device). */
const mkv_tuning_row *mkv_tuning_table(uint32_t *n_rows);

/* The row for key and its tunables (limited to the device's workgroup size). */
const mkv_tuning_row *mkv_tuning_pick(const mkv_tuning_key *key, mkv_tunables *t);

/* Whether a and b hold the same values, field by field (never memcmp: the
 * struct has padding, which copies need not keep). A new field goes here too. */
bool mkv_tuning_equal(const mkv_tunables *a, const mkv_tunables *b);

/* Refuses tunables the kernels cannot run: MKV_ERR_FORMAT naming
 * `what`, the kernel, the field and the value. */
mkv_status mkv_tuning_check(const mkv_tuning_key *key, const mkv_tunables *t, const char *what, mkv_error *err);

/* A tuning file (JSON, made by `mekivk bench --sweep`):
 *   {"mekivk_tuning": 1, "device": "<name>", "subgroup_size": 8,
 *    "kernels": {"matvec": {"wg": 8, "rows": 64, "nr": 16},
 *                "mm": {"wg": 8, "rows": 64, "nr": 8, "nb": 16},
 *                "attn": {"wg": 8, "chunk": 256, "u": 2}, "norm": {"wg": 8},
 *                "argmax": {"wg": 128}, "matmul": {"wg": 64, "tb": 8},
 *                "reads": {"texel": true}}}
 * Kernels and fields it leaves out keep t's values. Refused, naming the
 * file, kernel, field and value: another version, an unknown kernel or
 * field, a value that is not a number (bool for reads.texel) or that
 * mkv_tuning_check refuses, values outside the sweep space that the kernel
 * tests cover (mkv_tuning_check_space: the file's fields over t, and the
 * fields it leaves out, must be one of the space's variants), a file made
 * for another device name or subgroup size. t is unchanged on error. */
mkv_status mkv_tuning_load(const char *path, const mkv_tuning_key *key, mkv_tunables *t, mkv_error *err);

/* Writes t as a tuning file for key's device (atomically). */
mkv_status mkv_tuning_save(const char *path, const mkv_tuning_key *key, const mkv_tunables *t, mkv_error *err);

/* ---- the sweep space: what `bench --sweep` may choose, and what the
 * kernel tests cover (tests/test_kernels.c iterates it at every subgroup
 * size); a tuning file outside it is refused. ---- */

/* The tunables a sweep varies, in groups of fields chosen together; every
 * other field keeps the device's table row. */
typedef enum mkv_tuning_group {
    MKV_TUNE_READS,  /* reads.texel: on and off (off only, without RGBA32UI texel buffers) */
    MKV_TUNE_MATVEC, /* matvec.nr, matvec.rows (matvec, SwiGLU, ffn_out); matvec.wg as the row has it */
    MKV_TUNE_MM,     /* mm.nr, mm.nb, mm.rows (prefill products); mm.wg as the row has it */
    MKV_TUNE_ATTN,   /* attn.chunk (positions per decode attention split), attn.wg, attn.u, attn.merge */
    MKV_TUNE_GROUPS
} mkv_tuning_group;

/* The group's kernel name in a tuning file: "reads", "matvec", "mm", "attn". */
const char *mkv_tuning_group_name(mkv_tuning_group g);

#define MKV_TUNING_MAX_VARIANTS 40

/* The variants of group g on key's device: copies of t, each with g's
 * fields set to one of the group's values (every other field as in t),
 * t's own values first when they are in the space. Returns how many
 * (1..MKV_TUNING_MAX_VARIANTS); each passes mkv_tuning_check. The values
 * depend on the device's table row (mkv_tuning_pick): its workgroup sizes
 * set the rows per workgroup of matvec and mm. */
uint32_t mkv_tuning_variants(const mkv_tuning_key *key, const mkv_tunables *t, mkv_tuning_group g,
                             mkv_tunables out[MKV_TUNING_MAX_VARIANTS]);

/* g's fields of t as text: json false "nr 16, rows 64", true
 * {"nr": 16, "rows": 64}. */
void mkv_tuning_describe(mkv_tuning_group g, const mkv_tunables *t, bool json, char *buf, size_t cap);

/* Refuses t unless it is in the sweep space of key's device: every group's
 * fields one of its variants, every other field the table row's.
 * MKV_ERR_FORMAT naming `what`, the kernel, the field and the value:
 * "not a variant the kernel tests cover". mkv_tuning_load applies it after
 * mkv_tuning_check. */
mkv_status mkv_tuning_check_space(const mkv_tuning_key *key, const mkv_tunables *t, const char *what, mkv_error *err);

#endif
