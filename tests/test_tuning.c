/* The tuning table and tuning files (runtime/tuning.c), host-only:
 * synthetic device descriptions pick the intended rows, and files are
 * read back or refused naming the field. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "tuning.h"

static mkv_tuning_key key(uint32_t vendor, const char *name, uint32_t driver, uint32_t sg)
{
    return (mkv_tuning_key){.vendor_id = vendor, .device_name = name, .driver_id = driver, .subgroup_size = sg,
                            .cpu = driver == 13, .texel_ok = true, .max_wg = 1024};
}

static const char *pick(mkv_tuning_key k, mkv_tunables *t)
{
    mkv_tunables tmp;
    return mkv_tuning_pick(&k, t ? t : &tmp)->name;
}

START_TEST(devices_pick_their_rows)
{
    mkv_tunables t;
    ck_assert_str_eq(pick(key(0x10005, "llvmpipe (LLVM 15.0.6, 256 bits)", 13, 8), &t), "lavapipe");
    ck_assert_uint_eq(t.wg_matvec, 8);
    ck_assert(t.texel_reads);
    ck_assert_uint_eq(t.nr_mm, 8);
    ck_assert_uint_eq(t.nb_mm, 16);
    ck_assert_str_eq(pick(key(0x10DE, "NVIDIA H100 80GB HBM3", 4, 32), &t), "nvidia");
    ck_assert_uint_eq(t.wg_matvec, 128);
    ck_assert(!t.texel_reads);
    ck_assert_str_eq(pick(key(0x1002, "AMD Radeon RX 7900 XTX", 1, 64), NULL), "amd");
    ck_assert_str_eq(pick(key(0x8086, "Intel(R) Arc(tm) A770 Graphics (DG2)", 17, 32), NULL), "intel");
    ck_assert_str_eq(pick(key(0x13B5, "Mali-G720", 9, 16), &t), "mali");
    ck_assert_uint_eq(t.wg_matvec, 128);
    ck_assert_str_eq(pick(key(0x5143, "Adreno (TM) 830", 8, 64), &t), "adreno-8xx");
    ck_assert_uint_eq(t.wg_matvec, 64);
    ck_assert_str_eq(pick(key(0x5143, "Adreno (TM) 740", 8, 64), NULL), "adreno-7xx");
    ck_assert_str_eq(pick(key(0x5143, "Turnip Adreno (TM) 750", 18, 128), NULL), "adreno-7xx");
    ck_assert_str_eq(pick(key(0x5143, "Adreno (TM) 650", 8, 64), NULL), "adreno-6xx");
    /* a Qualcomm device of an unknown family, and an unknown vendor */
    ck_assert_str_eq(pick(key(0x5143, "Adreno (TM) 9xx", 8, 64), NULL), "default");
    ck_assert_str_eq(pick(key(0x1234, "Some GPU", 99, 32), &t), "default");
    ck_assert_uint_eq(t.wg_matvec, 128);
    /* lavapipe on an AMD CPU: the driver decides, not the host's vendor */
    ck_assert_str_eq(pick(key(0x1002, "llvmpipe (LLVM 15.0.6, 128 bits)", 13, 4), &t), "lavapipe");
    ck_assert_uint_eq(t.wg_matvec, 4);
}
END_TEST

START_TEST(every_row_gives_tunables_its_device_accepts)
{
    uint32_t n;
    const mkv_tuning_row *rows = mkv_tuning_table(&n);
    ck_assert_str_eq(rows[0].name, "default");
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_msg(rows[i].why && strlen(rows[i].why) > 20, "row %s has no reason", rows[i].name);
        for (uint32_t sg = 4; sg <= 128; sg *= 2) {
            mkv_tuning_key k = key(rows[i].vendor_id, rows[i].device_name ? rows[i].device_name : "x",
                                   rows[i].driver_id, sg);
            mkv_tunables t;
            const mkv_tuning_row *got = mkv_tuning_pick(&k, &t);
            ck_assert_str_eq(got->name, rows[i].name);
            mkv_error err;
            ck_assert_msg(mkv_tuning_check(&k, &t, rows[i].name, &err) == MKV_OK, "sg %u: %s", sg, err.msg);
        }
    }
    /* the device's workgroup limit bounds every row */
    mkv_tuning_key k = key(0x10DE, "small", 4, 32);
    k.max_wg = 64;
    mkv_tunables t;
    mkv_tuning_pick(&k, &t);
    ck_assert_uint_le(t.wg_matvec, 64);
    ck_assert_uint_le(t.wg_argmax, 64);
}
END_TEST

static mkv_status load_text(const char *text, mkv_tunables *t, mkv_error *err)
{
    const char *path = tu_path_in("tuning", "t.json");
    tu_write_file(path, text, strlen(text));
    mkv_tuning_key k = key(0x10005, "llvmpipe", 13, 8);
    return mkv_tuning_load(path, &k, t, err);
}

START_TEST(a_saved_file_loads_back_and_a_partial_one_keeps_the_rest)
{
    mkv_tuning_key k = key(0x10005, "llvmpipe", 13, 8);
    mkv_tunables t, u;
    mkv_tuning_pick(&k, &t);
    t.nr_mm = 4;
    t.attn_chunk = 512;
    t.texel_reads = false;
    mkv_error err;
    const char *path = tu_path_in("tuning", "saved.json");
    ck_assert_msg(mkv_tuning_save(path, &k, &t, &err) == MKV_OK, "%s", err.msg);
    mkv_tuning_pick(&k, &u);
    ck_assert_msg(mkv_tuning_load(path, &k, &u, &err) == MKV_OK, "%s", err.msg);
    ck_assert(mkv_tuning_equal(&t, &u));
    mkv_tuning_pick(&k, &u);
    ck_assert_msg(load_text("{\"mekivk_tuning\": 1, \"kernels\": {\"mm\": {\"nb\": 8}}}", &u, &err) == MKV_OK,
                  "%s", err.msg);
    mkv_tuning_pick(&k, &t);
    t.nb_mm = 8;
    ck_assert(mkv_tuning_equal(&t, &u));
    /* attn.merge and attn.rope, true or false (rope is not swept: any device's file may set it) */
    mkv_tuning_pick(&k, &u);
    ck_assert(!u.merge_attn && !u.rope_attn);
    ck_assert_msg(load_text("{\"mekivk_tuning\": 1, \"kernels\": {\"attn\": {\"merge\": true, \"rope\": true}}}", &u, &err) ==
                      MKV_OK, "%s", err.msg);
    ck_assert(u.merge_attn && u.rope_attn);
    ck_assert_msg(mkv_tuning_save(path, &k, &u, &err) == MKV_OK, "%s", err.msg);
    mkv_tuning_pick(&k, &t);
    ck_assert_msg(mkv_tuning_load(path, &k, &t, &err) == MKV_OK, "%s", err.msg);
    ck_assert(mkv_tuning_equal(&t, &u));
}
END_TEST

/* text is refused with status st and a message containing want; t unchanged. */
static void refused(const char *text, mkv_status st, const char *want)
{
    mkv_tunables t, before;
    mkv_tuning_key k = key(0x10005, "llvmpipe", 13, 8);
    mkv_tuning_pick(&k, &t);
    before = t;
    mkv_error err = {0};
    mkv_status got = load_text(text, &t, &err);
    ck_assert_msg(got == st, "%s: got %s (%s)", text, mkv_status_name(got), err.msg);
    ck_assert_msg(strstr(err.msg, want), "%s: message \"%s\" lacks \"%s\"", text, err.msg, want);
    ck_assert(mkv_tuning_equal(&t, &before));
}

START_TEST(bad_files_are_refused_naming_the_field)
{
    refused("{\"kernels\": {}}", MKV_ERR_FORMAT, "mekivk_tuning");
    refused("{\"mekivk_tuning\": 2}", MKV_ERR_BAD_VERSION, "mekivk_tuning = 2");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"softmax\": {\"wg\": 8}}}", MKV_ERR_FORMAT, "kernels.softmax");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"mm\": {\"tile\": 8}}}", MKV_ERR_FORMAT, "kernels.mm.tile");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"mm\": {\"nb\": 12}}}", MKV_ERR_FORMAT, "mm.nb = 12");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"mm\": {\"nb\": -1}}}", MKV_ERR_FORMAT, "kernels.mm.nb = -1");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"matvec\": {\"wg\": 4}}}", MKV_ERR_FORMAT,
            "matvec.wg = 4: not a multiple of the device's subgroup size");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"matvec\": {\"wg\": 4096}}}", MKV_ERR_FORMAT, "limit");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"matvec\": {\"rows\": 12}}}", MKV_ERR_FORMAT, "matvec.rows = 12");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"attn\": {\"chunk\": \"big\"}}}", MKV_ERR_FORMAT,
            "kernels.attn.chunk");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"reads\": {\"texel\": 1}}}", MKV_ERR_FORMAT, "reads.texel");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"mm\": {\"coop\": 1}}}", MKV_ERR_FORMAT, "kernels.mm.coop");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"attn\": {\"rope\": 1}}}", MKV_ERR_FORMAT, "kernels.attn.rope: not true or false");
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"attn\": {\"merge\": \"yes\"}}}", MKV_ERR_FORMAT, "kernels.attn.merge");
    /* cooperative matrices on a device without them (lavapipe) */
    refused("{\"mekivk_tuning\": 1, \"kernels\": {\"mm\": {\"coop\": true}}}", MKV_ERR_FORMAT, "mm.coop = true");
    refused("{\"mekivk_tuning\": 1, \"device\": \"Adreno (TM) 830\"}", MKV_ERR_MISMATCH, "another device");
    refused("{\"mekivk_tuning\": 1, \"subgroup_size\": 16}", MKV_ERR_MISMATCH, "subgroup_size = 16");
    refused("{\"mekivk_tuning\": 1, \"colour\": 1}", MKV_ERR_FORMAT, "colour: unknown key");
    refused("{\"mekivk_tuning\": 1,}", MKV_ERR_FORMAT, "JSON");
    refused("[1]", MKV_ERR_FORMAT, "not a JSON object");
    /* texel reads on a device without texel buffers */
    mkv_tuning_key k = key(0x10DE, "gpu", 4, 32);
    k.texel_ok = false;
    mkv_tunables t;
    mkv_tuning_pick(&k, &t);
    ck_assert(!t.texel_reads);
    t.texel_reads = true;
    mkv_error err;
    ck_assert_int_eq(mkv_tuning_check(&k, &t, "x", &err), MKV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "texel"));
    /* a missing file names it */
    ck_assert_int_ne(mkv_tuning_load(tu_path_in("tuning", "absent.json"), &k, &t, &err), MKV_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "absent.json"));
}
END_TEST

/* The sweep space (what bench --sweep may choose and the kernel tests
 * cover): on every row and subgroup size, each group's variants start with
 * the row's own values, differ only in the group's fields, pass both checks
 * and load back from a file; the groups' variants combine. */
START_TEST(every_variant_of_the_sweep_space_passes_the_checks_and_loads_back)
{
    uint32_t n_rows;
    const mkv_tuning_row *rows = mkv_tuning_table(&n_rows);
    const char *path = tu_path_in("tuning", "variant.json");
    for (uint32_t r = 0; r < n_rows; r++)
        for (uint32_t sg = 4; sg <= 128; sg *= 2)
            for (int texel = 0; texel < 4; texel++) { /* bit 0: texel buffers; bit 1: cooperative matrices */
                mkv_tuning_key k = key(rows[r].vendor_id, rows[r].device_name ? rows[r].device_name : "x",
                                       rows[r].driver_id, sg);
                k.texel_ok = texel & 1;
                k.coop_ok = texel >> 1;
                mkv_tunables row, combo, v[MKV_TUNING_MAX_VARIANTS];
                mkv_tuning_pick(&k, &row);
                combo = row;
                for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
                    const uint32_t n = mkv_tuning_variants(&k, &row, (mkv_tuning_group)g, v);
                    ck_assert_uint_ge(n, g == MKV_TUNE_READS ? 1 + (texel & 1) : 3);
                    ck_assert_uint_le(n, MKV_TUNING_MAX_VARIANTS);
                    ck_assert(mkv_tuning_equal(&v[0], &row));
                    for (uint32_t i = 0; i < n; i++) {
                        mkv_error err;
                        ck_assert_msg(mkv_tuning_check(&k, &v[i], rows[r].name, &err) == MKV_OK, "%s", err.msg);
                        ck_assert_msg(mkv_tuning_check_space(&k, &v[i], rows[r].name, &err) == MKV_OK, "%s", err.msg);
                        for (uint32_t j = 0; j < i; j++) ck_assert(!mkv_tuning_equal(&v[i], &v[j]));
                        /* only the group's fields differ from the row's */
                        mkv_tunables u = v[i];
                        switch (g) {
                        case MKV_TUNE_READS: u.texel_reads = row.texel_reads; break;
                        case MKV_TUNE_MATVEC: u.nr_matvec = row.nr_matvec, u.rows_matvec = row.rows_matvec; break;
                        case MKV_TUNE_MM:
                            u.nr_mm = row.nr_mm, u.nb_mm = row.nb_mm, u.rows_mm = row.rows_mm, u.coop_mm = row.coop_mm;
                            break;
                        default:
                            u.attn_chunk = row.attn_chunk, u.wg_attn = row.wg_attn, u.u_attn = row.u_attn;
                            u.merge_attn = row.merge_attn;
                            break;
                        }
                        ck_assert(mkv_tuning_equal(&u, &row));
                        char d[96];
                        mkv_tuning_describe((mkv_tuning_group)g, &v[i], true, d, sizeof d);
                        ck_assert(d[0] == '{' && d[strlen(d) - 1] == '}');
                    }
                    /* the variants of a group over those of the previous ones: the same values */
                    mkv_tunables w[MKV_TUNING_MAX_VARIANTS];
                    ck_assert_uint_eq(mkv_tuning_variants(&k, &combo, (mkv_tuning_group)g, w), n);
                    combo = w[n - 1];
                }
                mkv_error err;
                ck_assert_msg(mkv_tuning_check_space(&k, &combo, "combo", &err) == MKV_OK, "%s", err.msg);
                ck_assert_msg(mkv_tuning_save(path, &k, &combo, &err) == MKV_OK, "%s", err.msg);
                mkv_tunables back = row;
                ck_assert_msg(mkv_tuning_load(path, &k, &back, &err) == MKV_OK, "%s: %s", rows[r].name, err.msg);
                ck_assert(mkv_tuning_equal(&back, &combo));
            }
    /* lavapipe's space: the values its row was chosen from */
    mkv_tuning_key k = key(0x10005, "llvmpipe", 13, 8);
    mkv_tunables row, v[MKV_TUNING_MAX_VARIANTS];
    mkv_tuning_pick(&k, &row);
    ck_assert_uint_eq(mkv_tuning_variants(&k, &row, MKV_TUNE_MATVEC, v), 3);
    ck_assert_uint_eq(v[0].nr_matvec, 16);
    ck_assert_uint_eq(v[0].rows_matvec, 64);
    ck_assert_uint_eq(v[1].nr_matvec, 4);
    ck_assert_uint_eq(v[1].rows_matvec, 16);
    ck_assert_uint_eq(mkv_tuning_variants(&k, &row, MKV_TUNE_MM, v), 4);
    for (int i = 0; i < 4; i++) ck_assert(!v[i].coop_mm); /* lavapipe has no cooperative matrices */
    ck_assert_uint_eq(mkv_tuning_variants(&k, &row, MKV_TUNE_ATTN, v), 6);
    ck_assert_uint_eq(v[1].attn_chunk, 64); /* second: --quick tries it */
    for (int i = 0; i < 4; i++) ck_assert(v[i].wg_attn == row.wg_attn && v[i].u_attn == row.u_attn && !v[i].merge_attn);
    ck_assert(v[4].attn_chunk == row.attn_chunk && v[4].u_attn == row.u_attn && v[4].merge_attn); /* the merge in attention */
    ck_assert(v[5].attn_chunk == row.attn_chunk && v[5].wg_attn == row.wg_attn && v[5].u_attn == 4 && !v[5].merge_attn);
    ck_assert_uint_eq(mkv_tuning_variants(&k, &row, MKV_TUNE_READS, v), 2);
    ck_assert(!v[1].texel_reads);
    ck_assert_str_eq(mkv_tuning_group_name(MKV_TUNE_MM), "mm");
    /* a GPU with them: the row's tile, then (second, so that --quick tries it) the products
     * on them, off in the row; then the register tiles */
    mkv_tuning_key kn = key(0x10DE, "NVIDIA H100 80GB HBM3", 4, 32);
    kn.coop_ok = true;
    mkv_tuning_pick(&kn, &row);
    ck_assert(!row.coop_mm);
    ck_assert(row.attn_chunk == 64 && row.wg_attn == 256 && row.u_attn == 4 && row.merge_attn); /* measured on an H200 */
    ck_assert(row.nr_matvec == 2 && row.rows_matvec == 8);
    /* attention on a GPU: splits of 64 to 512 with the row's teams (64 second), then splits of 64 to 256 by
     * workgroups of 1, 2, 4 times the row's by 2, 4, 8 positions a step, without repeats; then the merge
     * in attention toggled, and on at splits of 32 to 256 */
    const uint32_t n_attn = mkv_tuning_variants(&kn, &row, MKV_TUNE_ATTN, v);
    /* the cross with the row's teams repeats 3; the row merges, so of the merged splits only 32 is new */
    ck_assert_uint_eq(n_attn, 1 + 3 + 1 + 27 - 3 + 1);
    ck_assert(v[1].attn_chunk == 128 && v[1].wg_attn == row.wg_attn && v[1].u_attn == row.u_attn); /* the row: 64 */
    bool big = false;
    uint32_t merged = 0;
    for (uint32_t i = 0; i < n_attn; i++) {
        big |= v[i].attn_chunk == 64 && v[i].wg_attn == 4 * row.wg_attn && v[i].u_attn == 8;
        merged += v[i].merge_attn != row.merge_attn;
        if (v[i].merge_attn != row.merge_attn) ck_assert(v[i].wg_attn == row.wg_attn && v[i].u_attn == row.u_attn);
    }
    ck_assert(big);
    ck_assert_uint_eq(merged, 1); /* the row merges: the toggle alone does not */
    /* nr 1 and 2 on a GPU, with at least 8 rows a workgroup */
    const uint32_t n_mv = mkv_tuning_variants(&kn, &row, MKV_TUNE_MATVEC, v);
    ck_assert_uint_eq(n_mv, 5); /* the row's 2 x 8; 4, 8, 16; 1 */
    ck_assert(v[n_mv - 1].nr_matvec == 1 && v[n_mv - 1].rows_matvec == 8);
    const uint32_t n_mm = mkv_tuning_variants(&kn, &row, MKV_TUNE_MM, v);
    ck_assert_uint_eq(n_mm, 5);
    ck_assert(v[1].coop_mm && v[1].nr_mm == row.nr_mm && v[1].nb_mm == row.nb_mm);
    for (uint32_t i = 2; i < n_mm; i++) ck_assert(!v[i].coop_mm);
    /* from a file with them on, the space still holds every register tile */
    mkv_tunables on = v[1];
    ck_assert_uint_eq(mkv_tuning_variants(&kn, &on, MKV_TUNE_MM, v), 5);
    ck_assert(v[0].coop_mm && !v[1].coop_mm);
    char d[96];
    mkv_tuning_describe(MKV_TUNE_MM, &v[0], true, d, sizeof d);
    ck_assert_ptr_nonnull(strstr(d, "\"coop\": true"));
}
END_TEST

/* Values the checks accept but the kernel tests do not cover are refused,
 * naming the kernel, the field and the value. */
START_TEST(values_outside_the_sweep_space_are_refused)
{
    static const struct { const char *kernels, *want; } bad[] = {
        {"\"matvec\": {\"nr\": 2, \"rows\": 8}", "matvec.nr = 2"},
        {"\"matvec\": {\"rows\": 32}", "matvec.rows = 32"},
        {"\"matvec\": {\"wg\": 16}", "matvec.wg = 16"},
        {"\"mm\": {\"nr\": 4, \"nb\": 32}", "mm.nb = 32"},
        {"\"mm\": {\"nr\": 16, \"nb\": 8}", "mm.nr = 16"},
        {"\"mm\": {\"rows\": 128}", "mm.rows = 128"},
        {"\"attn\": {\"chunk\": 1024}", "attn.chunk = 1024"},
        {"\"norm\": {\"wg\": 16}", "norm.wg = 16"},
        {"\"matmul\": {\"tb\": 4}", "matmul.tb = 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"mekivk_tuning\": 1, \"kernels\": {%s}}", bad[i].kernels);
        refused(text, MKV_ERR_FORMAT, bad[i].want);
        refused(text, MKV_ERR_FORMAT, "not a variant the kernel tests cover");
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tuning");
    TCase *tc = tcase_create("tuning");
    tcase_add_test(tc, devices_pick_their_rows);
    tcase_add_test(tc, every_row_gives_tunables_its_device_accepts);
    tcase_add_test(tc, a_saved_file_loads_back_and_a_partial_one_keeps_the_rest);
    tcase_add_test(tc, bad_files_are_refused_naming_the_field);
    tcase_add_test(tc, every_variant_of_the_sweep_space_passes_the_checks_and_loads_back);
    tcase_add_test(tc, values_outside_the_sweep_space_are_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
