/* The table of kernel tunables, and tuning files (tuning.h).
 *
 * lavapipe's row is measured on a 2-core VM and NVIDIA's on an H200
 * (figures in their functions). The other GPU rows are reasoned from each
 * vendor's published subgroup sizes and the facts in DESIGN §9, and say
 * so: `mekivk bench --sweep` on the device itself is what replaces a
 * guess with a measurement. */
#include "tuning.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json.h"

/* ---- the table ----------------------------------------------------------- */

/* The generic tunables for a GPU of subgroup size sg: the kernels' design
 * (subgroup sums, wide coalesced loads, few barriers) as it is. */
static void generic(uint32_t sg, mkv_tunables *t)
{
    /* Matvec: a subgroup per NR rows, four subgroups per workgroup (at least
     * 64 threads) to amortise the launch; four rows at once, so each x load
     * feeds four rows and a d_mem = 64 matrix still spreads over 4 groups. */
    t->wg_matvec = mkv_pow2_at_least(4 * sg, 64);
    t->nr_matvec = 4;
    t->rows_matvec = t->nr_matvec * (t->wg_matvec / sg);
    /* Storage-buffer reads: GPUs read them through their caches as well as
     * texels. */
    t->texel_reads = false;
    /* Plain rows: a GPU's lanes read one row's consecutive chunks together
     * (coalesced), and its caches need no help to follow a few rows. */
    t->il_rows = 1;
    /* Norms and rope touch a few KiB: a subgroup-multiple of 64 is plenty. */
    t->wg_norm = mkv_pow2_at_least(sg, 64);
    /* Attention: teams of lanes per position, merged through shared memory
     * at the end; 64 threads give a GPU several teams per workgroup. */
    t->wg_attn = mkv_pow2_at_least(sg, 64);
    t->wg_argmax = mkv_pow2_at_least(sg, 128);
    /* Splits of ~256 positions keep every core busy at long context while
     * the combine pass stays tiny. */
    t->attn_chunk = 256;
    /* Two positions per team step: two K rows, then two V rows, in flight
     * per lane. */
    t->u_attn = 2;
    /* The splits merged by attn_combine, a dispatch of its own: the
     * sweep tries the merge in attention's last split (attn.merge). */
    t->merge_attn = false;
    /* rope_kv a dispatch of its own (attn.rope: attention does its work) */
    t->rope_attn = false;
    /* Matmul (the offline fold): 64 threads, each one weight row, share a
     * staged slice of 8 batch rows held in registers. */
    t->wg_matmul = 64;
    t->tb_matmul = 8;
    /* mm (prefill): as matvec, a subgroup per NR rows, four per workgroup;
     * a register tile of 4 rows x 8 tokens (32 sums) stays within a GPU's
     * registers for f16 and feeds each weight load to 8 tokens. */
    t->wg_mm = mkv_pow2_at_least(4 * sg, 64);
    t->nr_mm = 4;
    t->nb_mm = 8;
    t->rows_mm = t->nr_mm * (t->wg_mm / sg);
    /* Cooperative matrices (mm_cm.comp): off in every row. They pass the
     * kernel tests on an NVIDIA H200, but take x as f16 (nvidia() below);
     * `bench --sweep` tries them where the device has them (each variant
     * checked against a C reference first) and keeps them if they win. */
    t->coop_mm = false;
}

static void lavapipe(const mkv_tuning_key *k, mkv_tunables *t)
{
    const uint32_t sg = k->subgroup_size;
    /* One subgroup per workgroup. lavapipe hands each CPU thread a
     * contiguous range of workgroups, so a grid of few large workgroups
     * splits unevenly (SwiGLU's 3072 + 64 MeKi gate rows made 13 groups of
     * 256 rows: one thread did 7 and the step waited for it); and a
     * single-subgroup workgroup needs no barrier (ffn_out's tail). */
    t->wg_matvec = sg;
    /* Texel reads: a storage-buffer load runs lane by lane in a loop, 32
     * bits at a time, while a texel fetch gathers a 16-byte texel per lane
     * (bench --probe: 1.2 GB/s against 23 GB/s). */
    t->texel_reads = k->texel_ok;
    /* Rows at once, texel reads (bench --kernels --config 1.7b, GB/s of
     * f16 / q8_0 / q4_0 / q4_k over the gate and down shapes): 4: 7.2-8.7 /
     * 4.1-6.2 / 2.6-4.0 / 2.3-3.9; 16: 8.0-8.7 / 4.5-6.1 / 3.1-4.7 /
     * 3.1-4.8; 32: no better, some shapes halved. Four groups of 16 rows
     * per workgroup cut the workgroup count, which the gate's short rows
     * felt (q8_0 gate 4.5 -> 5.8, q4_0 3.1 -> 4.4 GB/s). With storage
     * reads, x's loads cost as much as the weights' unless many rows share
     * them: 64 rows at once (f16 / q8_0 / q4_0 at 0.98 / 0.80 / 0.62 GB/s
     * with 16, 1.02 / 0.93 / 0.81 with 64, probe 1.17). */
    t->nr_matvec = t->texel_reads ? 16 : 64;
    t->rows_matvec = 64;
    /* Rows interleaved in groups of the rows a subgroup takes at once
     * (shaders/wt_common.glsl): a subgroup reading 16 rows at once then
     * walks one sequential stream, not 16, and the CPU's prefetcher keeps
     * up (perf on the JIT code: the first lane's load of each texel fetch
     * stalled on memory). bench --kernels --config 1.7b, plain -> 16, the
     * best of 3 alternating runs: q4_0 gate 2.45 -> 1.63 ms, down 1.83 ->
     * 1.38; q8_0 1.35x / 1.29x; q4_k 1.30x / 1.23x; q6_k 1.39x / 1.31x;
     * f16 1.15x / 1.19x. Types whose blocks' quants are not whole 16-byte
     * chunks (Q5_0, Q5_1) stay plain (memory.c). */
    t->il_rows = t->texel_reads ? t->nr_matvec : 1;
    /* Norms, rope, attention: one subgroup, so tree reductions' barriers
     * cost nothing (each barrier switches between a workgroup's subgroups:
     * rope_kv at 64 threads took 0.69 s of a 7.7 s 128-token prefill of the
     * 0.6b shape, 0.40 s at 8); attention needs no merge at all. */
    t->wg_norm = sg;
    t->wg_attn = sg;
    /* mm, 0.6b shapes, 128-token prefill (mm's share of it, f16; rows x
     * tokens at once): 4 x 8: 6.3 s, 8 x 8: 5.8, 4 x 16: 5.7, 8 x 16: 5.2,
     * 16 x 8: 6.0, 2 x 16: 7.3; with 8 x 16, 64 rows per workgroup rather
     * than 16: 5.2 -> 5.1 s and a quarter of the workgroups. A 128-sum tile
     * spills to the stack, which costs a CPU less than the x loads and
     * weight decodes a smaller one repeats. With the sums by butterfly
     * (shaders/sg_sums.glsl) every pass got faster and the order held:
     * `bench --sweep`, q4_0, a 128-token pass: 8 x 16 3.15 s, 8 x 8 3.36,
     * 4 x 16 4.01, 4 x 8 1.73x slower on its first shape. */
    t->wg_mm = sg;
    t->nr_mm = 8;
    t->nb_mm = 16;
    t->rows_mm = 64;
}

/* One wave per workgroup for matvec and mm. With a subgroup of 64 (128 on
 * Turnip's 750), four subgroups make workgroups of 256 (512) threads: the
 * short MeKi matrices (d_mem = 64) would run on one or two workgroups, and
 * large pipelines are the ones reported to fail creation on 6xx/7xx. */
static void adreno(const mkv_tuning_key *k, mkv_tunables *t)
{
    const uint32_t sg = k->subgroup_size;
    t->wg_matvec = sg;
    t->rows_matvec = 8; /* two turns of NR = 4 rows: ffn_out takes W_mo's rows 8 at a time */
    t->wg_mm = sg;
    t->rows_mm = t->nr_mm;
}

/* NVIDIA, measured on an H200 (driver 580.159.04, warps of 32): the full
 * `bench --sweep` on the 0.6b q4_0 model, then `bench` of that model with
 * the row and with the sweep's file (scripts/device_check.sh;
 * docs/bench/h200/):
 *  - attention: splits of 64 positions, 256 threads (8 warps, 16 teams of
 *    16 lanes), 4 positions a team step: the sweep's attention jobs (KV
 *    1024) 1.08 -> 0.47 ms against the previous row (splits of 128, 64
 *    threads, 2 positions); of its 28 variants the wider workgroups won
 *    every time (at splits of 64: 64 / 128 / 256 threads 0.74 / 0.55 /
 *    0.47 ms), more positions a step a little (2 -> 4: 1-3 %; 8 helped
 *    at 128 threads, not at 256). Decode of the q4_0 model, the previous
 *    row -> the sweep's file, one session: 459 -> 534 tok/s at KV 128, 340
 *    -> 512 at KV 1024, 262 -> 323 at KV 10240.
 *  - matvec: two rows a warp at a time, 8 rows a workgroup, not 4 and 16:
 *    the sweep's decode products 4.95 -> 4.13 ms (1 row: 4.99, 8: 5.83).
 *    The 0.6b shape's W_down has 1024 rows: 64 workgroups of 16 rows
 *    left most of the 132 SMs idle.
 *    (Before these two, splits of 128 rather than 256 had taken decode at
 *    KV 1024 from 267 to 343 tok/s.)
 *  - not in the row: the products of prefill on cooperative matrices
 *    (mm_cm.comp, "mm": {"nr": 4, "nb": 8, "rows": 16, "coop": true} in a
 *    tuning file; the full sweep keeps them: 128-token prefills 0.52x the
 *    time): prefill of 128 tokens 4807 -> 9371 tok/s, 512 tokens 4540 ->
 *    8666; but they take x as f16: a prefill's logits then differ from the
 *    stepped ones by 1.0e-3 to 2.3e-3 (tests/test_prefill.c, the tiles
 *    emulated), against at most 3.6e-4 on the f32 path. A user trades that
 *    with a tuning file.
 *  - attention's splits merged by its last split (attn.merge), not by
 *    attn_combine: one dispatch a layer fewer. q4_0 0.6b decode, the same
 *    call (the row without, a file with it): 522 -> 546 tok/s at KV 128,
 *    517 -> 529 at 1024, 344 -> 372 at 10240; attention's kernels 0.50 ->
 *    0.41 ms a token at KV 128, 1.47 -> 1.23 at 10240. */
static void nvidia(const mkv_tuning_key *k, mkv_tunables *t)
{
    const uint32_t sg = k->subgroup_size;
    t->attn_chunk = 64;
    t->wg_attn = mkv_pow2_at_least(8 * sg, 64);
    t->u_attn = 4;
    t->merge_attn = true;
    t->nr_matvec = 2;
    t->rows_matvec = t->nr_matvec * (t->wg_matvec / sg);
}

/* Mali (Valhall: subgroup 16): eight subgroups per workgroup so a
 * workgroup is 128 threads, the size Arm's guides suggest for compute. */
static void mali(const mkv_tuning_key *k, mkv_tunables *t)
{
    const uint32_t sg = k->subgroup_size;
    t->wg_matvec = mkv_pow2_at_least(8 * sg, 64);
    t->rows_matvec = t->nr_matvec * (t->wg_matvec / sg);
}

static const mkv_tuning_row table[] = {
    {"default", 0, NULL, 0, 0,
     "any device: the kernels' own design from the subgroup size (four subgroups per product workgroup, "
     "storage-buffer reads); on an NVIDIA H200 the full bench --sweep kept its reads and register tile, and chose "
     "smaller matvec turns and wider attention workgroups (the nvidia row)", NULL},
    {"lavapipe", 0, NULL, 13 /* VK_DRIVER_ID_MESA_LLVMPIPE */, 0,
     "Mesa's CPU driver: workgroups are CPU threads, so one subgroup per workgroup, no barriers, texel reads "
     "(a storage load runs lane by lane); measured on a 2-core VM", lavapipe},
    {"nvidia", 0x10DE, NULL, 0, 0,
     "warps of 32: four warps (128 threads) per product workgroup taking 2 rows each at a time; attention "
     "splits of 64 positions, 256 threads, 4 positions a team step, merged by the last split; measured on an H200", nvidia},
    {"amd", 0x1002, NULL, 0, 0,
     "wave64 (RDNA also wave32): the default gives 256 or 128 threads per product workgroup; not measured", NULL},
    {"intel", 0x8086, NULL, 0, 0,
     "subgroups of 8 to 32, chosen per pipeline by the compiler: the default from the reported size; not "
     "measured", NULL},
    {"mali", 0x13B5, NULL, 0, 0,
     "Valhall subgroup 16: eight subgroups (128 threads) per matvec workgroup rather than four; not measured",
     mali},
    {"adreno-6xx", 0x5143, "Adreno (TM) 6", 0, 0,
     "subgroup 64, 32 KB shared memory, no cooperative matrix, no 8-bit storage: one wave per product "
     "workgroup (DESIGN 9); not measured", adreno},
    {"adreno-7xx", 0x5143, "Adreno (TM) 7", 0, 0,
     "subgroup 64 (Turnip on the 750: 128), 32 KB shared memory: one wave per product workgroup (DESIGN 9); "
     "not measured", adreno},
    {"adreno-8xx", 0x5143, "Adreno (TM) 8", 0, 0,
     "subgroup 64 (size control 64-128), 32 KB shared memory, no cooperative matrix: one wave per product "
     "workgroup (DESIGN 9); not measured", adreno},
};

const mkv_tuning_row *mkv_tuning_table(uint32_t *n_rows)
{
    *n_rows = sizeof table / sizeof table[0];
    return table;
}

static bool row_matches(const mkv_tuning_row *r, const mkv_tuning_key *k, uint32_t *keys)
{
    *keys = 0;
    if (r->vendor_id) {
        if (r->vendor_id != k->vendor_id) return false;
        ++*keys;
    }
    if (r->device_name) {
        if (!k->device_name || !strstr(k->device_name, r->device_name)) return false;
        ++*keys;
    }
    if (r->driver_id) {
        if (r->driver_id != k->driver_id) return false;
        ++*keys;
    }
    if (r->subgroup_size) {
        if (r->subgroup_size != k->subgroup_size) return false;
        ++*keys;
    }
    return true;
}

static uint32_t clamp_wg(uint32_t wg, uint32_t max) { return max && wg > max ? max : wg; }

/* 15 uint32_t fields and 4 bools: a struct of
 * another size has a field mkv_tuning_equal does not compare yet */
_Static_assert(sizeof(mkv_tunables) == 15 * 4 + 4, "mkv_tunables changed: compare the new field in mkv_tuning_equal");

bool mkv_tuning_equal(const mkv_tunables *a, const mkv_tunables *b)
{
    return a->wg_matvec == b->wg_matvec && a->rows_matvec == b->rows_matvec && a->nr_matvec == b->nr_matvec &&
           a->wg_norm == b->wg_norm && a->wg_attn == b->wg_attn && a->wg_argmax == b->wg_argmax &&
           a->attn_chunk == b->attn_chunk && a->u_attn == b->u_attn && a->merge_attn == b->merge_attn && a->rope_attn == b->rope_attn && a->wg_matmul == b->wg_matmul && a->tb_matmul == b->tb_matmul &&
           a->wg_mm == b->wg_mm && a->rows_mm == b->rows_mm && a->nr_mm == b->nr_mm && a->nb_mm == b->nb_mm &&
           a->coop_mm == b->coop_mm && a->texel_reads == b->texel_reads && a->il_rows == b->il_rows;
}

const mkv_tuning_row *mkv_tuning_pick(const mkv_tuning_key *key, mkv_tunables *t)
{
    const mkv_tuning_row *best = &table[0];
    uint32_t best_keys = 0, keys;
    for (size_t i = 1; i < sizeof table / sizeof table[0]; i++)
        if (row_matches(&table[i], key, &keys) && keys > best_keys) {
            best = &table[i];
            best_keys = keys;
        }
    const uint32_t sg = key->subgroup_size ? key->subgroup_size : 32;
    const mkv_tuning_key k = {.vendor_id = key->vendor_id, .device_name = key->device_name,
                              .driver_id = key->driver_id, .subgroup_size = sg, .cpu = key->cpu,
                              .texel_ok = key->texel_ok, .max_wg = key->max_wg, .coop_ok = key->coop_ok};
    memset(t, 0, sizeof *t);
    generic(sg, t);
    if (best->apply) best->apply(&k, t);
    if (!key->texel_ok) t->texel_reads = false;
    t->wg_matvec = clamp_wg(t->wg_matvec, key->max_wg);
    t->wg_matmul = clamp_wg(t->wg_matmul, key->max_wg);
    t->wg_mm = clamp_wg(t->wg_mm, key->max_wg);
    t->wg_norm = clamp_wg(t->wg_norm, key->max_wg);
    t->wg_attn = clamp_wg(t->wg_attn, key->max_wg);
    t->wg_argmax = clamp_wg(t->wg_argmax, key->max_wg);
    return best;
}

/* ---- checks ------------------------------------------------------------------ */

static bool pow2(uint32_t v) { return v && !(v & (v - 1)); }

#define BAD(kernel, field, v, why) \
    mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.%s = %" PRIu32 ": %s", what, kernel, field, (uint32_t)(v), why)

/* A workgroup size: a power of two within the device's limit, and for the
 * kernels that sum across subgroups, whole subgroups. */
static mkv_status check_wg(const mkv_tuning_key *k, const char *kernel, uint32_t wg, bool whole_subgroups,
                           const char *what, mkv_error *err)
{
    if (!pow2(wg)) return BAD(kernel, "wg", wg, "not a power of two");
    if (k->max_wg && wg > k->max_wg) return BAD(kernel, "wg", wg, "above the device's workgroup size limit");
    if (whole_subgroups && k->subgroup_size && wg % k->subgroup_size)
        return BAD(kernel, "wg", wg, "not a multiple of the device's subgroup size");
    return MKV_OK;
}

mkv_status mkv_tuning_check(const mkv_tuning_key *k, const mkv_tunables *t, const char *what, mkv_error *err)
{
    mkv_status st;
    if ((st = check_wg(k, "matvec", t->wg_matvec, true, what, err)) ||
        (st = check_wg(k, "mm", t->wg_mm, true, what, err)) ||
        (st = check_wg(k, "attn", t->wg_attn, true, what, err)) ||
        (st = check_wg(k, "norm", t->wg_norm, false, what, err)) ||
        (st = check_wg(k, "argmax", t->wg_argmax, false, what, err)) ||
        (st = check_wg(k, "matmul", t->wg_matmul, false, what, err)))
        return st;
    /* matvec: NR rows at once (the SwiGLU variants take NR / 2 of each
     * half); ffn_out takes W_mo's rows 8 at a time */
    if (!pow2(t->nr_matvec) || t->nr_matvec > 64) return BAD("matvec", "nr", t->nr_matvec, "not a power of two up to 64");
    if (t->rows_matvec % 8 || t->rows_matvec % t->nr_matvec || t->rows_matvec > 1024)
        return BAD("matvec", "rows", t->rows_matvec, "not a multiple of 8 and of matvec.nr up to 1024");
    /* mm: its register tile holds NR x NB sums */
    if (!pow2(t->nr_mm) || t->nr_mm > 16) return BAD("mm", "nr", t->nr_mm, "not a power of two up to 16");
    if (!pow2(t->nb_mm) || t->nb_mm > 32) return BAD("mm", "nb", t->nb_mm, "not a power of two up to 32");
    if (t->rows_mm % t->nr_mm || t->rows_mm > 1024)
        return BAD("mm", "rows", t->rows_mm, "not a multiple of mm.nr up to 1024");
    if (t->attn_chunk < 16 || t->attn_chunk > 65536) return BAD("attn", "chunk", t->attn_chunk, "not in 16..65536");
    if (!pow2(t->u_attn) || t->u_attn > 8) return BAD("attn", "u", t->u_attn, "not 1, 2, 4 or 8");
    if (!t->tb_matmul || t->tb_matmul > 32) return BAD("matmul", "tb", t->tb_matmul, "not in 1..32");
    if (!pow2(t->il_rows) || t->il_rows > 64)
        return BAD("layout", "il_rows", t->il_rows, "not a power of two up to 64 (1: plain rows)");
    if (t->coop_mm && !k->coop_ok)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: mm.coop = true: the device has no 16x16x16 f16 cooperative matrices "
                        "(VK_NV_cooperative_matrix)", what);
    if (t->texel_reads && !k->texel_ok)
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: reads.texel = true: the device has no RGBA32UI uniform texel buffers",
                        what);
    return MKV_OK;
}

/* ---- files ------------------------------------------------------------------- */

typedef struct field {
    const char *kernel, *name;
    size_t off;
} field;

#define F(kernel, name, member) {kernel, name, offsetof(mkv_tunables, member)}
static const field fields[] = {
    F("matvec", "wg", wg_matvec), F("matvec", "rows", rows_matvec), F("matvec", "nr", nr_matvec),
    F("mm", "wg", wg_mm),         F("mm", "rows", rows_mm),         F("mm", "nr", nr_mm),
    F("mm", "nb", nb_mm),         F("attn", "wg", wg_attn),         F("attn", "chunk", attn_chunk),
    F("attn", "u", u_attn),
    F("norm", "wg", wg_norm),     F("argmax", "wg", wg_argmax),     F("matmul", "wg", wg_matmul),
    F("matmul", "tb", tb_matmul), F("layout", "il_rows", il_rows),
};
#undef F
static const char *const kernels[] = {"matvec", "mm", "attn", "norm", "argmax", "matmul", "reads", "layout"};

static uint32_t *field_of(mkv_tunables *t, const char *kernel, const char *name)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(fields[i].kernel, kernel) && !strcmp(fields[i].name, name))
            return (uint32_t *)((char *)t + fields[i].off);
    return NULL;
}

static bool known_kernel(const char *k)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        if (!strcmp(kernels[i], k)) return true;
    return false;
}

/* Applies the "kernels" object of j to t. */
static mkv_status apply_kernels(const mkv_json *j, uint32_t obj, const char *path, mkv_tunables *t, mkv_error *err)
{
    for (uint32_t c = j->v[obj].first; c != MKV_JSON_NONE; c = j->v[c].next) {
        const mkv_json_value *kv = &j->v[c];
        if (!known_kernel(kv->key))
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels.%s: unknown kernel (known: matvec, mm, attn, norm, "
                            "argmax, matmul, reads, layout)", path, kv->key);
        if (kv->type != MKV_JSON_OBJECT)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels.%s: not an object", path, kv->key);
        for (uint32_t f = kv->first; f != MKV_JSON_NONE; f = j->v[f].next) {
            const mkv_json_value *fv = &j->v[f];
            if (!strcmp(kv->key, "reads")) {
                if (strcmp(fv->key, "texel"))
                    return mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels.reads.%s: unknown field (known: texel)", path,
                                    fv->key);
                if (fv->type != MKV_JSON_TRUE && fv->type != MKV_JSON_FALSE)
                    return mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels.reads.texel: not true or false", path);
                t->texel_reads = fv->type == MKV_JSON_TRUE;
                continue;
            }
            bool *flag = !strcmp(kv->key, "mm") && !strcmp(fv->key, "coop")      ? &t->coop_mm
                         : !strcmp(kv->key, "attn") && !strcmp(fv->key, "merge") ? &t->merge_attn
                         : !strcmp(kv->key, "attn") && !strcmp(fv->key, "rope")  ? &t->rope_attn
                                                                                 : NULL;
            if (flag) {
                if (fv->type != MKV_JSON_TRUE && fv->type != MKV_JSON_FALSE)
                    return mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels.%s.%s: not true or false", path, kv->key, fv->key);
                *flag = fv->type == MKV_JSON_TRUE;
                continue;
            }
            uint32_t *dst = field_of(t, kv->key, fv->key);
            if (!dst)
                return mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels.%s.%s: unknown field", path, kv->key, fv->key);
            if (fv->type != MKV_JSON_NUMBER || !fv->is_uint || fv->u == 0 || fv->u > 65536)
                return mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels.%s.%s = %.40s: not an integer in 1..65536", path,
                                kv->key, fv->key, fv->type == MKV_JSON_NUMBER ? fv->str : "(not a number)");
            *dst = (uint32_t)fv->u;
        }
    }
    return MKV_OK;
}

mkv_status mkv_tuning_load(const char *path, const mkv_tuning_key *key, mkv_tunables *t, mkv_error *err)
{
    char *text = NULL;
    uint64_t len = 0;
    mkv_status st = mkv_read_small_file(path, 1 << 20, &text, &len, err);
    if (st) return st;
    mkv_json j = {0};
    st = mkv_json_parse(text, (size_t)len, path, &j, err);
    free(text);
    if (st) return st;
    mkv_tunables nt = *t;
    uint32_t v, k;
    if (j.v[0].type != MKV_JSON_OBJECT) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: not a JSON object (a tuning file from `mekivk bench --sweep`)", path);
    } else if ((v = mkv_json_get(&j, 0, "mekivk_tuning")) == MKV_JSON_NONE) {
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: no \"mekivk_tuning\" key: not a tuning file", path);
    } else if (j.v[v].type != MKV_JSON_NUMBER || !j.v[v].is_uint || j.v[v].u != 1) {
        st = mkv_fail(err, MKV_ERR_BAD_VERSION, "%s: mekivk_tuning = %.20s: this build reads version 1", path,
                      j.v[v].type == MKV_JSON_NUMBER ? j.v[v].str : "(not a number)");
    }
    for (uint32_t c = st ? MKV_JSON_NONE : j.v[0].first; c != MKV_JSON_NONE && !st; c = j.v[c].next) {
        const mkv_json_value *m = &j.v[c];
        if (!strcmp(m->key, "mekivk_tuning") || !strcmp(m->key, "kernels") || !strcmp(m->key, "why")) continue;
        if (!strcmp(m->key, "device")) {
            if (m->type != MKV_JSON_STRING)
                st = mkv_fail(err, MKV_ERR_FORMAT, "%s: device: not a string", path);
            else if (key->device_name && strcmp(m->str, key->device_name))
                st = mkv_fail(err, MKV_ERR_MISMATCH, "%s: device = \"%.200s\": made for another device than this "
                              "one (\"%.200s\")", path, m->str, key->device_name);
        } else if (!strcmp(m->key, "subgroup_size")) {
            if (m->type != MKV_JSON_NUMBER || !m->is_uint)
                st = mkv_fail(err, MKV_ERR_FORMAT, "%s: subgroup_size: not an unsigned integer", path);
            else if (m->u != key->subgroup_size)
                st = mkv_fail(err, MKV_ERR_MISMATCH, "%s: subgroup_size = %" PRIu64 ": this device runs %" PRIu32,
                              path, m->u, key->subgroup_size);
        } else {
            st = mkv_fail(err, MKV_ERR_FORMAT, "%s: %s: unknown key (known: mekivk_tuning, device, subgroup_size, "
                          "kernels, why)", path, m->key);
        }
    }
    if (!st && (k = mkv_json_get(&j, 0, "kernels")) != MKV_JSON_NONE) {
        if (j.v[k].type != MKV_JSON_OBJECT) st = mkv_fail(err, MKV_ERR_FORMAT, "%s: kernels: not an object", path);
        else st = apply_kernels(&j, k, path, &nt, err);
    }
    mkv_json_free(&j);
    if (!st) st = mkv_tuning_check(key, &nt, path, err);
    if (!st) st = mkv_tuning_check_space(key, &nt, path, err);
    if (!st) *t = nt;
    return st;
}

mkv_status mkv_tuning_save(const char *path, const mkv_tuning_key *key, const mkv_tunables *t, mkv_error *err)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf,
                     "{\"mekivk_tuning\": 1, \"device\": \"%s\", \"subgroup_size\": %" PRIu32 ",\n"
                     " \"kernels\": {\n"
                     "  \"matvec\": {\"wg\": %" PRIu32 ", \"rows\": %" PRIu32 ", \"nr\": %" PRIu32 "},\n"
                     "  \"mm\": {\"wg\": %" PRIu32 ", \"rows\": %" PRIu32 ", \"nr\": %" PRIu32 ", \"nb\": %" PRIu32
                     ", \"coop\": %s},\n"
                     "  \"attn\": {\"wg\": %" PRIu32 ", \"chunk\": %" PRIu32 ", \"u\": %" PRIu32 ", \"merge\": %s, \"rope\": %s},\n"
                     "  \"norm\": {\"wg\": %" PRIu32 "},\n"
                     "  \"argmax\": {\"wg\": %" PRIu32 "},\n"
                     "  \"matmul\": {\"wg\": %" PRIu32 ", \"tb\": %" PRIu32 "},\n"
                     "  \"reads\": {\"texel\": %s},\n"
                     "  \"layout\": {\"il_rows\": %" PRIu32 "}\n"
                     " }}\n",
                     key->device_name ? key->device_name : "", key->subgroup_size, t->wg_matvec, t->rows_matvec,
                     t->nr_matvec, t->wg_mm, t->rows_mm, t->nr_mm, t->nb_mm, t->coop_mm ? "true" : "false", t->wg_attn, t->attn_chunk, t->u_attn, t->merge_attn ? "true" : "false", t->rope_attn ? "true" : "false", t->wg_norm,
                     t->wg_argmax, t->wg_matmul, t->tb_matmul, t->texel_reads ? "true" : "false", t->il_rows);
    if (n < 0 || (size_t)n >= sizeof buf) return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: tuning text too long", path);
    for (const char *p = key->device_name; p && *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: the device name has a character JSON would escape", path);
    mkv_atomic_file f = MKV_ATOMIC_FILE_INIT;
    mkv_status st = mkv_atomic_begin(&f, path, err);
    if (!st) st = mkv_write_full(f.fd, buf, (uint64_t)n, path, err);
    if (!st) st = mkv_atomic_commit(&f, err);
    mkv_atomic_abort(&f);
    return st;
}

/* ---- the sweep space ------------------------------------------------------------ */

const char *mkv_tuning_group_name(mkv_tuning_group g)
{
    static const char *const names[MKV_TUNE_GROUPS] = {"reads", "matvec", "mm", "attn"};
    return (unsigned)g < MKV_TUNE_GROUPS ? names[g] : "?";
}

/* Subgroups per workgroup of a product kernel (at least 1). */
static uint32_t n_subgroups(const mkv_tuning_key *k, uint32_t wg)
{
    const uint32_t sg = k->subgroup_size ? k->subgroup_size : 32;
    return wg > sg ? wg / sg : 1;
}

static bool same_group(mkv_tuning_group g, const mkv_tunables *a, const mkv_tunables *b)
{
    switch (g) {
    case MKV_TUNE_READS: return a->texel_reads == b->texel_reads;
    case MKV_TUNE_MATVEC: return a->nr_matvec == b->nr_matvec && a->rows_matvec == b->rows_matvec;
    case MKV_TUNE_MM:
        return a->nr_mm == b->nr_mm && a->nb_mm == b->nb_mm && a->rows_mm == b->rows_mm && a->coop_mm == b->coop_mm;
    case MKV_TUNE_ATTN:
        return a->attn_chunk == b->attn_chunk && a->wg_attn == b->wg_attn && a->u_attn == b->u_attn &&
               a->merge_attn == b->merge_attn;
    default: return true;
    }
}

/* Sets g's fields of `to` from `from`. */
static void copy_group(mkv_tuning_group g, mkv_tunables *to, const mkv_tunables *from)
{
    switch (g) {
    case MKV_TUNE_READS: to->texel_reads = from->texel_reads; break;
    case MKV_TUNE_MATVEC: to->nr_matvec = from->nr_matvec, to->rows_matvec = from->rows_matvec; break;
    case MKV_TUNE_MM:
        to->nr_mm = from->nr_mm, to->nb_mm = from->nb_mm, to->rows_mm = from->rows_mm, to->coop_mm = from->coop_mm;
        break;
    case MKV_TUNE_ATTN:
        to->attn_chunk = from->attn_chunk, to->wg_attn = from->wg_attn, to->u_attn = from->u_attn;
        to->merge_attn = from->merge_attn;
        break;
    default: break;
    }
}

/* The space of group g on key's device, as values of g's fields over the
 * table row's tunables (row[0]: the row's own). Kept small: a sweep of
 * the 0.6b model times every variant at every product shape of the model,
 * and the kernel tests run every variant at three subgroup sizes, each a
 * pipeline of its own to compile (on lavapipe the large unrolled ones take
 * seconds: matvec with NR = 32 or 64 and mm's 128-sum tiles 3 to 16 s
 * each).
 *  - matvec: NR rows at once in 4..16 (4: a GPU's usual; 16: lavapipe
 *    with texel reads, where 32 did no better: lavapipe row), and the
 *    row's own (64: lavapipe with storage reads, where x's loads must feed
 *    many rows), each with as many rows per workgroup as its subgroups take
 *    in one turn, at least four turns up to 64 rows (a short matrix still
 *    spreads over several workgroups).
 *  - mm: where the device has cooperative matrices, the row's values with
 *    them toggled (second: --quick tries it); register tiles of NR rows x
 *    NB tokens of 32 to 128 sums, those
 *    lavapipe's row was chosen from but 16 x 8 (its slowest 128-sum tile),
 *    with the row's rows per workgroup rounded up to whole turns of its
 *    subgroups.
 *    On a GPU also NR 1 and 2 (more subgroups on a short matrix).
 *  - attn: splits of 64, 128, 256 or 512 positions with the row's teams (64
 *    first after the row: --quick tries it; a GPU at short context had one
 *    split per KV head); on a CPU device also 4 positions per team step;
 *    on a GPU every combination of splits of 64, 128 and 256, workgroups
 *    of 1, 2 and 4 times the row's and 2, 4 or 8 positions per team step
 *    (an H200 ran attention at 2-11 % of its bandwidth with the row's
 *    64 threads and 2 positions: too few loads in flight).
 *  - reads: texel or storage reads, where the device has texel buffers. */
#define MKV_SPACE_MAX (MKV_TUNING_MAX_VARIANTS + 8) /* room for what the filter below drops */
static uint32_t space(const mkv_tuning_key *key, mkv_tuning_group g, mkv_tunables *out)
{
    mkv_tunables row;
    mkv_tuning_pick(key, &row);
    uint32_t n = 0;
    out[n++] = row;
    switch (g) {
    case MKV_TUNE_READS:
        if (key->texel_ok) {
            out[n] = row;
            out[n++].texel_reads = !row.texel_reads;
        }
        break;
    case MKV_TUNE_MATVEC: {
        const uint32_t sub = n_subgroups(key, row.wg_matvec);
        for (uint32_t nr = 4; nr <= 16; nr *= 2) {
            const uint32_t turn = nr * sub, min_rows = 4 * nr < 64 ? 4 * nr : 64;
            out[n] = row;
            out[n].nr_matvec = nr;
            out[n++].rows_matvec = turn > min_rows ? turn : min_rows;
        }
        /* a GPU: one or two rows at a time, so a short matrix (the 0.6b
         * shape's 1024 rows of W_down) is more subgroups at once; at least
         * 8 rows per workgroup (ffn_out takes W_mo's outputs 8 at a time) */
        for (uint32_t nr = 1; nr <= 2 && !key->cpu; nr++) {
            const uint32_t turn = nr * sub;
            out[n] = row;
            out[n].nr_matvec = nr;
            out[n++].rows_matvec = turn >= 8 ? turn : 8 / turn * turn;
        }
        break;
    }
    case MKV_TUNE_MM: {
        /* second, so that --quick's two variants try it: the row's values with the products
         * on cooperative matrices (mm_cm.comp) toggled (on an NVIDIA H200 they doubled prefill) */
        if (key->coop_ok) {
            out[n] = row;
            out[n++].coop_mm = !row.coop_mm;
        }
        static const uint32_t tiles[][2] = {{4, 8}, {8, 8}, {4, 16}, {8, 16}};
        const uint32_t sub = n_subgroups(key, row.wg_mm);
        for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) { /* register tiles (mm.comp) */
            const uint32_t turn = tiles[i][0] * sub;
            out[n] = row;
            out[n].coop_mm = false;
            out[n].nr_mm = tiles[i][0];
            out[n].nb_mm = tiles[i][1];
            out[n++].rows_mm = (row.rows_mm + turn - 1) / turn * turn;
        }
        break;
    }
    case MKV_TUNE_ATTN:
        for (uint32_t c = 64; c <= 512; c *= 2) { /* the row's teams */
            out[n] = row;
            out[n++].attn_chunk = c;
        }
        /* the splits merged in attention's last split, not by attn_combine (or the other way) */
        out[n] = row;
        out[n++].merge_attn = !row.merge_attn;
        if (key->cpu) { /* four positions a step (lavapipe: a larger unrolled body, not more in flight) */
            out[n] = row;
            out[n++].u_attn = 4;
            break;
        }
        /* a GPU: more positions in flight per team and more teams per
         * workgroup, at splits of 64 to 256 */
        for (uint32_t c = 64; c <= 256; c *= 2)
            for (uint32_t w = 1; w <= 4; w *= 2)
                for (uint32_t u = 2; u <= 8; u *= 2) {
                    out[n] = row;
                    out[n].attn_chunk = c;
                    out[n].wg_attn = w * row.wg_attn;
                    out[n++].u_attn = u;
                }
        /* and merged at splits of 32 to 256 */
        for (uint32_t c = 32; c <= 256; c *= 2) {
            out[n] = row;
            out[n].attn_chunk = c;
            out[n++].merge_attn = true;
        }
        break;
    default:
        break;
    }
    /* without repeats, and only what the kernels can run */
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool dup = false;
        for (uint32_t j = 0; j < m && !dup; j++) dup = same_group(g, &out[i], &out[j]);
        mkv_error err;
        if (!dup && mkv_tuning_check(key, &out[i], "space", &err) == MKV_OK) out[m++] = out[i];
    }
    return m;
}

uint32_t mkv_tuning_variants(const mkv_tuning_key *key, const mkv_tunables *t, mkv_tuning_group g,
                             mkv_tunables out[MKV_TUNING_MAX_VARIANTS])
{
    mkv_tunables sp[MKV_SPACE_MAX];
    const uint32_t n = space(key, g, sp);
    uint32_t m = 0, own = n;
    for (uint32_t i = 0; i < n; i++)
        if (same_group(g, &sp[i], t)) own = i;
    if (own < n) { /* t's own values first */
        out[m] = *t;
        m++;
    }
    for (uint32_t i = 0; i < n && m < MKV_TUNING_MAX_VARIANTS; i++) {
        if (i == own) continue;
        out[m] = *t;
        copy_group(g, &out[m], &sp[i]);
        m++;
    }
    return m;
}

void mkv_tuning_describe(mkv_tuning_group g, const mkv_tunables *t, bool json, char *buf, size_t cap)
{
    const char *q = json ? "\"" : "", *sep = json ? ": " : " ";
    switch (g) {
    case MKV_TUNE_READS:
        snprintf(buf, cap, "%s%stexel%s%s%s%s", json ? "{" : "", q, q, sep, t->texel_reads ? "true" : "false",
                 json ? "}" : "");
        break;
    case MKV_TUNE_MATVEC:
        snprintf(buf, cap, "%s%snr%s%s%" PRIu32 ", %srows%s%s%" PRIu32 "%s", json ? "{" : "", q, q, sep, t->nr_matvec,
                 q, q, sep, t->rows_matvec, json ? "}" : "");
        break;
    case MKV_TUNE_MM:
        snprintf(buf, cap, "%s%snr%s%s%" PRIu32 ", %snb%s%s%" PRIu32 ", %srows%s%s%" PRIu32 "%s%s", json ? "{" : "", q, q,
                 sep, t->nr_mm, q, q, sep, t->nb_mm, q, q, sep, t->rows_mm,
                 !t->coop_mm ? "" : json ? ", \"coop\": true" : ", coop", json ? "}" : "");
        break;
    case MKV_TUNE_ATTN:
        snprintf(buf, cap, "%s%schunk%s%s%" PRIu32 ", %swg%s%s%" PRIu32 ", %su%s%s%" PRIu32 "%s%s", json ? "{" : "", q, q,
                 sep, t->attn_chunk, q, q, sep, t->wg_attn, q, q, sep, t->u_attn,
                 !t->merge_attn ? "" : json ? ", \"merge\": true" : ", merge", json ? "}" : "");
        break;
    default:
        snprintf(buf, cap, "%s", json ? "{}" : "");
        break;
    }
}

/* The space's values of g as text: "nr/rows 16/64, 4/16, ..." */
static void list_space(const mkv_tuning_key *key, mkv_tuning_group g, char *buf, size_t cap)
{
    mkv_tunables sp[MKV_SPACE_MAX];
    const uint32_t n = space(key, g, sp);
    size_t k = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < n && k < cap; i++) {
        char d[96];
        mkv_tuning_describe(g, &sp[i], false, d, sizeof d);
        k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? "; " : "", d);
    }
}

mkv_status mkv_tuning_check_space(const mkv_tuning_key *key, const mkv_tunables *t, const char *what, mkv_error *err)
{
    mkv_tunables row;
    mkv_tuning_pick(key, &row);
    /* the fields no group varies: the row's */
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const uint32_t a = *(const uint32_t *)((const char *)t + fields[i].off);
        const uint32_t b = *(const uint32_t *)((const char *)&row + fields[i].off);
        const bool grouped = !strcmp(fields[i].kernel, "mm") ? strcmp(fields[i].name, "wg") != 0
                             : !strcmp(fields[i].kernel, "matvec") ? strcmp(fields[i].name, "wg") != 0
                             : !strcmp(fields[i].kernel, "attn") ? true /* chunk, wg, u (and merge): the group's */
                             /* the layout is a matrix's, read by every typed kernel through one mapping
                              * that the kernel tests run plain and interleaved: any valid value */
                             : !strcmp(fields[i].kernel, "layout");
        if (!grouped && a != b)
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.%s = %" PRIu32 ": not a variant the kernel tests cover "
                            "(this device's: %" PRIu32 ")", what, fields[i].kernel, fields[i].name, a, b);
    }
    for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
        mkv_tunables sp[MKV_SPACE_MAX];
        const uint32_t n = space(key, (mkv_tuning_group)g, sp);
        /* in: the variant is; a, b: its first field, its first two fields are in some variant */
        bool in = false, a = false, b = false, c = false;
        for (uint32_t i = 0; i < n; i++) {
            in |= same_group((mkv_tuning_group)g, &sp[i], t);
            if (g == MKV_TUNE_MATVEC) a |= sp[i].nr_matvec == t->nr_matvec;
            if (g == MKV_TUNE_MM) a |= sp[i].nr_mm == t->nr_mm, b |= sp[i].nr_mm == t->nr_mm && sp[i].nb_mm == t->nb_mm;
            if (g == MKV_TUNE_ATTN) {
                a |= sp[i].attn_chunk == t->attn_chunk, b |= sp[i].attn_chunk == t->attn_chunk && sp[i].wg_attn == t->wg_attn;
                c |= sp[i].attn_chunk == t->attn_chunk && sp[i].wg_attn == t->wg_attn && sp[i].u_attn == t->u_attn;
            }
        }
        if (in) continue;
        char list[2048];
        list_space(key, (mkv_tuning_group)g, list, sizeof list);
        const char *fname;
        uint32_t v;
        switch (g) {
        case MKV_TUNE_READS:
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: reads.texel = %s: not a variant the kernel tests cover (%s)", what,
                            t->texel_reads ? "true" : "false", list);
        case MKV_TUNE_MATVEC:
            fname = a ? "rows" : "nr", v = a ? t->rows_matvec : t->nr_matvec;
            break;
        case MKV_TUNE_MM:
            fname = !a ? "nr" : !b ? "nb" : "rows", v = !a ? t->nr_mm : !b ? t->nb_mm : t->rows_mm;
            break;
        default:
            fname = !a ? "chunk" : !b ? "wg" : "u", v = !a ? t->attn_chunk : !b ? t->wg_attn : t->u_attn;
            break;
        }
        char d[96];
        mkv_tuning_describe((mkv_tuning_group)g, t, false, d, sizeof d);
        if (g == MKV_TUNE_ATTN && c) /* only the merge differs */
            return mkv_fail(err, MKV_ERR_FORMAT, "%s: attn.merge = %s (%s): not a variant the kernel tests cover (attn: %s)",
                            what, t->merge_attn ? "true" : "false", d, list);
        return mkv_fail(err, MKV_ERR_FORMAT, "%s: %s.%s = %" PRIu32 " (%s): not a variant the kernel tests cover (%s: %s)",
                        what, mkv_tuning_group_name((mkv_tuning_group)g), fname, v, d,
                        mkv_tuning_group_name((mkv_tuning_group)g), list);
    }
    return MKV_OK;
}
