/* Every compute kernel against the CPU reference (tests/ref) on random data,
 * odd sizes included: dimensions that are not multiples of the workgroup
 * size or of 8, one KV head, n_head = n_kv_head, position 0 and positions at
 * the end of the context, matrices split over several storage bindings.
 *
 * Tolerances (relative to the largest reference magnitude):
 *  - matvec family, norms, residual: 2e-5. Weights are f16 in both, so the
 *    only difference is f32 summation order on the GPU against the
 *    reference's double: ~n * 2^-24 ~ 1e-5 worst case for n ~ 4000, far
 *    less in practice; 2e-5 still catches any wrong element (an off-by-one
 *    row or column changes results at the 1e-1 level).
 *  - rope/kv and attention: 1e-3. K and V are stored as f16 (rel 2^-11 =
 *    4.9e-4 per element) and the reference rounds them the same way, but a
 *    value lying near a rounding boundary may round differently after a
 *    1-ulp f32 difference: one f16 ulp, 4.9e-4 of the value.
 *  - sigmoid/silu use the GPU's exp: 1e-5 relative per OpenCL-style
 *    precision, covered by the 2e-5 bound. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"
#include "dequant.h"
#include "half.h"
#include "ops.h"
#include "pipeline.h"
#include "ref.h"
#include "step_params.h"
#include "test_util.h"
#include "wmo_layout.h"

static mkv_device *dev;
static uint64_t rng = 12345;

/* ---- harness ---- */

typedef struct kt {
    VkCommandBuffer cb;
    mkv_recorder r;
} kt;

/* How the typed kernels read weights and input in the loop tests (_i):
 * 0 storage buffers, 1 texel buffers (wt_bind.glsl), 2 texel buffers with
 * rows interleaved in groups of the rows a subgroup takes at once (as
 * lavapipe's tuning has it: the kernels then load a unit's scale words of
 * the whole group at once, wt_sw4); -1 the device's tuning. */
static int reads = -1;

/* The tunables of a variant of the sweep space under test (NULL: the
 * device's), set before the reads override. */
static const mkv_tunables *variant;
static bool coop;     /* check_typed_mm: on cooperative matrices (mm_cm.comp) */
static bool coop_emu; /* check_typed_mm: mm_cm's tiles with the lanes doing the matrix steps (mm_cm_emu) */

/* Starts a loop test's pass: both ways must work on every device. */
static void use_reads(int mode)
{
    reads = mode;
    if (mode >= 1) ck_assert_msg(dev->max_texel_elements > 0, "device has no RGBA32UI uniform texel buffers");
}

static mkv_recorder *kt_begin(kt *k)
{
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = dev->cmd_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    ck_assert_int_eq(dev->vk.vkAllocateCommandBuffers(dev->dev, &ai, &k->cb), VK_SUCCESS);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    ck_assert_int_eq(dev->vk.vkBeginCommandBuffer(k->cb, &bi), VK_SUCCESS);
    mkv_error err;
    ck_assert_msg(mkv_recorder_init(&k->r, dev, k->cb, false, &err) == MKV_OK, "%s", err.msg);
    if (variant) k->r.tune = *variant;
    if (reads >= 0) k->r.tune.texel_reads = reads >= 1;
    return &k->r;
}

static void kt_run(kt *k)
{
    mkv_rec_finish(&k->r);
    ck_assert_int_eq(dev->vk.vkEndCommandBuffer(k->cb), VK_SUCCESS);
    VkFence fence;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    ck_assert_int_eq(dev->vk.vkCreateFence(dev->dev, &fi, NULL, &fence), VK_SUCCESS);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &k->cb};
    ck_assert_int_eq(dev->vk.vkQueueSubmit(dev->queue, 1, &si, fence), VK_SUCCESS);
    ck_assert_int_eq(dev->vk.vkWaitForFences(dev->dev, 1, &fence, VK_TRUE, UINT64_MAX), VK_SUCCESS);
    dev->vk.vkDestroyFence(dev->dev, fence, NULL);
    mkv_recorder_release(&k->r);
    dev->vk.vkFreeCommandBuffers(dev->dev, dev->cmd_pool, 1, &k->cb);
}

#define OK(call)                                                          \
    do {                                                                  \
        mkv_error e_ = {0};                                               \
        mkv_status s_ = (call);                                           \
        ck_assert_msg(s_ == MKV_OK, "%s: %s", #call, e_.msg);             \
    } while (0)
/* (calls below pass &e_ through the macro's scope) */
#define E (&e_)

static float *rand_vec(uint64_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (uint64_t i = 0; i < n; i++) v[i] = tu_rand_f(&rng) * scale;
    return v;
}

static uint16_t *rand_f16(uint64_t n, float scale)
{
    uint16_t *v = malloc((n ? n : 1) * sizeof *v);
    for (uint64_t i = 0; i < n; i++) v[i] = mkv_float_to_half(tu_rand_f(&rng) * scale);
    return v;
}

/* Device vector of n floats, padded with zeros to a multiple of 8. */
static mkv_buffer vec_buf(const float *data, uint64_t n)
{
    mkv_buffer b;
    OK(mkv_buffer_create(dev, ((n + 7) & ~7ull) * 4 + 16, MKV_MEM_DEVICE, &b, E));
    if (data) OK(mkv_buffer_write(dev, &b, 0, data, n * 4, E));
    return b;
}

static float *read_vec(const mkv_buffer *b, uint64_t n)
{
    float *v = malloc(n * sizeof *v);
    OK(mkv_buffer_read(dev, b, 0, v, n * 4, E));
    return v;
}

/* Rows in their ggml encoding, row_bytes each. */
typedef struct host_mat {
    const uint8_t *rows;
    uint64_t row_bytes;
} host_mat;

static mkv_status fill_rows(void *user, uint32_t row0, uint32_t n, void *dst, mkv_error *err)
{
    const host_mat *h = user;
    memcpy(dst, h->rows + row0 * h->row_bytes, n * h->row_bytes);
    (void)err;
    return MKV_OK;
}

/* The row interleaving of the typed matrices a test uploads
 * (mkv_matrix_create_il): the loop tests' storage pass stores rows plainly
 * (as GPUs do), their texel pass interleaves them in groups of 4 (lavapipe
 * uses the rows a subgroup takes at once, 16: the end-to-end tests run
 * that; 4 makes a subgroup's rows span groups); other tests take the
 * device's tuning. */
static uint32_t test_il_rows(void)
{
    return reads == 0 ? 1 : reads == 1 ? 4 : reads == 2 ? dev->tune.nr_matvec : dev->tune.il_rows;
}

/* Uploads rows x cols of type t from their ggml encoding, rows interleaved
 * in groups of il_rows; with max_range != 0 the device's binding limit is
 * lowered for this matrix so it splits into parts. */
static mkv_matrix typed_matrix_il(mkv_wtype t, const void *rows_enc, uint32_t rows, uint32_t cols, uint64_t max_range,
                                  uint32_t il_rows)
{
    mkv_matrix m;
    host_mat h = {rows_enc, mkv_wtype_src_row_bytes(t, cols)};
    uint64_t saved = dev->max_storage_range;
    if (max_range) dev->max_storage_range = max_range;
    mkv_error e_ = {0};
    mkv_status st = mkv_matrix_create_il(dev, "test", t, rows, cols, il_rows, fill_rows, &h, &m, &e_);
    dev->max_storage_range = saved;
    ck_assert_msg(st == MKV_OK, "%s", e_.msg);
    return m;
}

static mkv_matrix typed_matrix(mkv_wtype t, const void *rows_enc, uint32_t rows, uint32_t cols, uint64_t max_range)
{
    return typed_matrix_il(t, rows_enc, rows, cols, max_range, test_il_rows());
}

/* Uploads rows x cols f16. */
static mkv_matrix matrix(const uint16_t *w, uint32_t rows, uint32_t cols, uint64_t max_range)
{
    return typed_matrix(MKV_WT_F16, w, rows, cols, max_range);
}

/* The same in plain rows: for the kernels that address a matrix themselves
 * (matmul, W_mo transposed in ffn_out_meki). */
static mkv_matrix plain_matrix(const uint16_t *w, uint32_t rows, uint32_t cols)
{
    return typed_matrix_il(MKV_WT_F16, w, rows, cols, 0, 1);
}

/* Random rows x cols of weight type t in its ggml encoding
 * (mkv_wtype_random_row: random quant bytes, every pattern a valid block,
 * with finite random scales). */
static uint8_t *rand_rows(mkv_wtype t, uint32_t rows, uint32_t cols)
{
    const uint64_t rb = mkv_wtype_src_row_bytes(t, cols);
    uint8_t *p = malloc(rb * rows);
    uint64_t s = tu_rand_u64(&rng);
    for (uint32_t r = 0; r < rows; r++) mkv_wtype_random_row(t, cols, &s, p + r * rb);
    return p;
}

/* The rows of rand_rows as floats (the CPU decoder, tests/test_quant.c's
 * subject). */
static float *decode_rows(mkv_wtype t, const uint8_t *enc, uint32_t rows, uint32_t cols)
{
    const uint64_t rb = mkv_wtype_src_row_bytes(t, cols);
    float *w = malloc((size_t)rows * cols * 4);
    for (uint32_t r = 0; r < rows; r++) mkv_dequant_row(mkv_wtype_get(t)->ggml, enc + r * rb, cols, w + (size_t)r * cols);
    return w;
}

/* y = W x in double, W as floats. */
static void ref_matvec(const float *w, const float *x, uint32_t rows, uint32_t cols, float *y)
{
    for (uint32_t r = 0; r < rows; r++) {
        double s = 0;
        for (uint32_t c = 0; c < cols; c++) s += (double)w[(size_t)r * cols + c] * x[c];
        y[r] = (float)s;
    }
}

static double rel_err(const float *a, const float *ref, uint64_t n)
{
    return tu_max_rel_err(a, ref, n);
}

static void setup(void)
{
    dev = tu_device();
    reads = -1;
    variant = NULL;
    coop = coop_emu = false;
}
static void teardown(void)
{
    tu_assert_no_validation(dev);
    mkv_device_destroy(dev);
    dev = NULL;
}

/* ---- matvec ---- */

static void check_matvec(uint32_t rows, uint32_t cols, bool accumulate, uint64_t max_range)
{
    uint16_t *w = rand_f16((uint64_t)rows * cols, 1.0f);
    float *x = rand_vec(cols, 1.0f), *y0 = rand_vec(rows, 1.0f), *ref = malloc(rows * sizeof *ref);
    mkv_matrix m = matrix(w, rows, cols, max_range);
    if (max_range) ck_assert_uint_gt(m.n_parts, 1);
    mkv_buffer bx = vec_buf(x, cols), by = vec_buf(y0, rows);
    kt k;
    OK(mkv_op_matvec(kt_begin(&k), &m, &bx, &by, 0, accumulate ? MKV_MATVEC_ACCUMULATE : 0, E));
    kt_run(&k);
    ref_matvec_f16(w, x, rows, cols, ref);
    if (accumulate)
        for (uint32_t r = 0; r < rows; r++) ref[r] += y0[r];
    float *got = read_vec(&by, rows);
    double e = rel_err(got, ref, rows);
    ck_assert_msg(e <= 2e-5, "matvec %ux%u acc=%d parts=%u: rel err %.3g", rows, cols, accumulate, m.n_parts, e);
    mkv_matrix_destroy(dev, &m);
    mkv_buffer_destroy(dev, &bx);
    mkv_buffer_destroy(dev, &by);
    free(w); free(x); free(y0); free(ref); free(got);
}

START_TEST(matvec_matches_reference_on_odd_sizes)
{
    use_reads(_i);
    static const uint32_t shapes[][2] = {{1, 1}, {1, 9}, {3, 7}, {37, 13}, {129, 1000}, {2, 4097}, {257, 64}, {64, 257}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_matvec(shapes[i][0], shapes[i][1], false, 0);
        check_matvec(shapes[i][0], shapes[i][1], true, 0);
    }
}
END_TEST

START_TEST(matvec_over_split_bindings_matches_reference)
{
    use_reads(_i);
    /* 1000 rows of 40 columns (ld 40 -> 80 bytes/row) with a 4 KiB binding
     * limit: 51 rows per part, 20 parts, the last one short. */
    check_matvec(1000, 40, false, 4096);
    check_matvec(333, 17, true, 1024);
}
END_TEST

START_TEST(matvec_swiglu_matches_reference)
{
    use_reads(_i);
    static const uint32_t shapes[][2] = {{1, 5}, {77, 33}, {768, 256}, {129, 1023}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        uint32_t rows = shapes[i][0], cols = shapes[i][1];
        uint16_t *wg = rand_f16((uint64_t)rows * cols, 1.0f), *wu = rand_f16((uint64_t)rows * cols, 1.0f);
        float *x = rand_vec(cols, 1.0f), *g = malloc(rows * 4), *u = malloc(rows * 4), *ref = malloc(rows * 4);
        uint16_t *wgu = malloc((size_t)2 * rows * cols * 2); /* [W_gate; W_up] */
        memcpy(wgu, wg, (size_t)rows * cols * 2);
        memcpy(wgu + (size_t)rows * cols, wu, (size_t)rows * cols * 2);
        mkv_matrix mgu = matrix(wgu, 2 * rows, cols, 0);
        free(wgu);
        mkv_buffer bx = vec_buf(x, cols), by = vec_buf(NULL, rows);
        kt k;
        OK(mkv_op_matvec_swiglu(kt_begin(&k), &mgu, &bx, &by, rows, E));
        kt_run(&k);
        ref_matvec_f16(wg, x, rows, cols, g);
        ref_matvec_f16(wu, x, rows, cols, u);
        ref_swiglu(g, u, rows, ref);
        float *got = read_vec(&by, rows);
        double e = rel_err(got, ref, rows);
        ck_assert_msg(e <= 2e-5, "swiglu %ux%u: rel err %.3g", rows, cols, e);
        mkv_matrix_destroy(dev, &mgu);
        mkv_buffer_destroy(dev, &bx); mkv_buffer_destroy(dev, &by);
        free(wg); free(wu); free(x); free(g); free(u); free(ref); free(got);
    }
}
END_TEST

/* ---- every weight type, read as stored ---- */

/* Column counts for type t: one block, odd block counts, and (out[3]) rows
 * of whole interleaving runs (a run: a unit for each of the subgroup's
 * lanes, memory.c), so that the interleaved layout is what gets tested
 * where the type has one: 384 / 1536 / 2048 are whole runs at subgroup
 * sizes up to 16, and are rounded up to whole runs of wider subgroups
 * (an NVIDIA GPU's 32 lanes gave plain rows at 384 f16 columns). */
static void type_cols(mkv_wtype t, uint32_t out[4])
{
    const mkv_wtype_info *wi = mkv_wtype_get(t);
    const uint32_t b = wi->block == 8 ? 1 : wi->block, run = dev->subgroup_size * wi->unit;
    if (b == 1) { out[0] = 7; out[1] = 333; out[2] = 1027; out[3] = 384; }
    else {
        out[0] = b;
        out[1] = 7 * b;
        out[2] = (b == 256 ? 9 : 65) * b;
        out[3] = b == 256 ? 2048 : 1536;
    }
    out[3] = (out[3] + run - 1) / run * run;
}

/* Asserts that a matrix of type t uploaded for the test is interleaved
 * (or not) where the test asks for it and the type has the layout (memory.c). */
static void assert_interleaved(mkv_wtype t, const mkv_matrix *m, bool want)
{
    const mkv_wtype_info *wi = mkv_wtype_get(t);
    const bool has = (wi->block_bytes - wi->scale_bytes) % 16 == 0;
    if (test_il_rows() > 1 && has && want)
        ck_assert_msg(m->il != 0, "%s %ux%u: rows not interleaved", wi->name, m->rows, m->cols);
    if (!want) ck_assert_msg(m->il == 0, "%s %ux%u: rows interleaved", wi->name, m->rows, m->cols);
}

/* y[off + r] = act(W[r] . x) (+ y) against the reference over the CPU
 * decoder's floats; the rows land at an offset inside y. */
static void check_typed_matvec_il(mkv_wtype t, uint32_t rows, uint32_t cols, uint32_t flags, uint64_t max_range,
                                  int want_il)
{
    const uint32_t off = 3;
    uint8_t *enc = rand_rows(t, rows, cols);
    float *w = decode_rows(t, enc, rows, cols), *x = rand_vec(cols, 1.0f), *y0 = rand_vec(rows + off, 1.0f);
    float *ref = malloc((rows + off) * 4);
    mkv_matrix m = typed_matrix(t, enc, rows, cols, max_range);
    if (max_range) ck_assert_uint_gt(m.n_parts, 1);
    if (want_il >= 0) assert_interleaved(t, &m, want_il == 1);
    mkv_buffer bx = vec_buf(x, cols), by = vec_buf(y0, rows + off);
    kt k;
    OK(mkv_op_matvec(kt_begin(&k), &m, &bx, &by, off, flags, E));
    kt_run(&k);
    memcpy(ref, y0, off * 4);
    ref_matvec(w, x, rows, cols, ref + off);
    for (uint32_t r = off; r < rows + off; r++) {
        if (flags & MKV_MATVEC_SIGMOID) ref[r] = 1.0f / (1.0f + expf(-ref[r]));
        if (flags & MKV_MATVEC_ACCUMULATE) ref[r] += y0[r];
    }
    float *got = read_vec(&by, rows + off);
    double e = rel_err(got, ref, rows + off);
    ck_assert_msg(e <= 2e-5, "matvec %s %ux%u flags %u parts %u: rel err %.3g", mkv_wtype_get(t)->name, rows, cols,
                  flags, m.n_parts, e);
    mkv_matrix_destroy(dev, &m);
    mkv_buffer_destroy(dev, &bx);
    mkv_buffer_destroy(dev, &by);
    free(enc); free(w); free(x); free(y0); free(ref); free(got);
}

static void check_typed_matvec(mkv_wtype t, uint32_t rows, uint32_t cols, uint32_t flags, uint64_t max_range)
{
    check_typed_matvec_il(t, rows, cols, flags, max_range, -1);
}

START_TEST(matvec_reads_every_weight_type_as_stored)
{
    use_reads(_i);
    for (int t = 0; t < MKV_WT_COUNT; t++) {
        uint32_t cols[4];
        type_cols((mkv_wtype)t, cols);
        check_typed_matvec((mkv_wtype)t, 1, cols[0], 0, 0);
        check_typed_matvec((mkv_wtype)t, 37, cols[1], MKV_MATVEC_ACCUMULATE, 0);
        check_typed_matvec((mkv_wtype)t, 129, cols[2], 0, 0);
        check_typed_matvec((mkv_wtype)t, 5, cols[1], MKV_MATVEC_SIGMOID, 0);
        /* split over bindings of ~3 rows each */
        check_typed_matvec((mkv_wtype)t, 31, cols[1], 0, 3ull * 4 * mkv_wtype_row_words((mkv_wtype)t, cols[1]));
        /* whole runs: interleaved where the pass asks for it; odd rows end in a part group; split
         * into bindings of 2G + 1 rows (parts of two whole groups of G), and of fewer than G, at most 3
         * (plain rows; an NVIDIA row's G = NR = 2 took bindings of 3 rows interleaved) */
        const uint64_t g2 = 2 * test_il_rows() + 1, few = test_il_rows() > 1 && test_il_rows() - 1 < 3 ? test_il_rows() - 1 : 3;
        check_typed_matvec_il((mkv_wtype)t, 37, cols[3], 0, 0, 1);
        check_typed_matvec_il((mkv_wtype)t, 45, cols[3], 0, g2 * 4 * mkv_wtype_row_words((mkv_wtype)t, cols[3]), 1);
        check_typed_matvec_il((mkv_wtype)t, 7, cols[3], 0, few * 4 * mkv_wtype_row_words((mkv_wtype)t, cols[3]), 0);
    }
}
END_TEST

/* The batched product (mm, prefill) in every type: n_tok of cap token rows
 * of x (ldx floats apart, zeros past cols), y rows of ldy at an offset;
 * the rows past n_tok and the columns around the output stay untouched.
 * tile: {nr, nb, rows} overriding the device's tuning (0: keep); tiles of
 * NR x NB below the subgroup size (1 x 1) and not a power of two (3 x 5)
 * take the butterfly's other paths (mm.comp). */
static void check_typed_mm(mkv_wtype t, uint32_t rows, uint32_t cols, uint32_t n_tok, uint32_t cap, uint32_t flags,
                           uint64_t max_range, const uint32_t tile[3])
{
    const uint32_t off = 3, ldx = ((cols + 7) & ~7u) + 8, ldy = rows + off + 5, cap16 = (cap + 15) & ~15u;
    uint8_t *enc = rand_rows(t, rows, cols);
    float *w = decode_rows(t, enc, rows, cols);
    float *x = calloc((size_t)cap16 * ldx, 4), *y0 = rand_vec((uint64_t)cap16 * ldy, 1.0f);
    float *ref = malloc((size_t)cap16 * ldy * 4), *xr = malloc(cols * 4);
    for (uint32_t b = 0; b < cap16; b++)
        for (uint32_t c = 0; c < cols; c++) x[(size_t)b * ldx + c] = tu_rand_f(&rng);
    /* On cooperative matrices (mm_cm.comp) the weights and x enter the products as f16: the
     * reference takes them rounded so, and only the order of the f32 sums differs (against
     * the unrounded reference, mm_cm's error is about 5e-3 of the largest output) */
    const bool cm = coop_emu || (dev->coop_nv && (coop || (variant && variant->coop_mm)));
    if (cm)
        for (uint64_t i = 0; i < (uint64_t)rows * cols; i++) w[i] = mkv_round_f16(w[i]);
    memcpy(ref, y0, (size_t)cap16 * ldy * 4);
    for (uint32_t b = 0; b < n_tok; b++) {
        memcpy(xr, x + (size_t)b * ldx, cols * 4);
        if (cm)
            for (uint32_t c = 0; c < cols; c++) xr[c] = mkv_round_f16(xr[c]);
        float *yr = ref + (size_t)b * ldy + off;
        ref_matvec(w, xr, rows, cols, yr);
        for (uint32_t r = 0; r < rows; r++) {
            if (flags & MKV_MATVEC_SIGMOID) yr[r] = 1.0f / (1.0f + expf(-yr[r]));
            if (flags & MKV_MATVEC_ACCUMULATE) yr[r] += y0[(size_t)b * ldy + off + r];
        }
    }
    mkv_matrix m = typed_matrix(t, enc, rows, cols, max_range);
    if (max_range) ck_assert_uint_gt(m.n_parts, 1);
    mkv_buffer bx = vec_buf(x, (uint64_t)cap16 * ldx), by = vec_buf(y0, (uint64_t)cap16 * ldy), params;
    OK(mkv_buffer_create(dev, mkv_step_params_bytes(cap), MKV_MEM_HOST, &params, E));
    mkv_step_params p = {.n_tok = n_tok};
    memcpy(params.map, &p, 16);
    kt k;
    mkv_recorder *r = kt_begin(&k);
    if (tile[0]) r->tune.nr_mm = tile[0];
    if (tile[1]) r->tune.nb_mm = tile[1];
    if (tile[2]) r->tune.rows_mm = tile[2];
    if (coop) r->tune.coop_mm = true;
    ck_assert(cm == (coop_emu || (r->tune.coop_mm && dev->coop_nv)));
    if (coop_emu) OK(mkv_op_mm_cm(r, &m, &bx, ldx, &by, ldy, off, cap, &params, flags, true, E));
    else OK(mkv_op_mm(r, &m, &bx, ldx, &by, ldy, off, cap, &params, flags, E));
    kt_run(&k);
    float *got = read_vec(&by, (uint64_t)cap16 * ldy);
    double e = rel_err(got, ref, (uint64_t)cap16 * ldy);
    /* mm_cm sums 16-term steps into f32 fragments: another order than mm's lanes, measured up
     * to 4.3e-5 emulated (q6_k, 2048 columns) and 1.4e-4 on an NVIDIA H200's matrix units
     * (q5_k, 2304 columns: their f32 sums round differently); 5e-4, where one misplaced
     * weight costs about 1e-2 */
    ck_assert_msg(e <= (cm ? 5e-4 : 2e-5), "mm%s %s %ux%u x %u of %u tokens, flags %u, parts %u, tile %u/%u/%u: rel err %.3g",
                  cm ? " (cooperative matrices)" : "", mkv_wtype_get(t)->name, rows, cols, n_tok, cap, flags, m.n_parts,
                  tile[0], tile[1], tile[2], e);
    for (uint64_t i = (uint64_t)n_tok * ldy; i < (uint64_t)cap16 * ldy; i++)
        ck_assert_msg(got[i] == y0[i], "mm %s: row %llu past n_tok = %u written", mkv_wtype_get(t)->name,
                      (unsigned long long)(i / ldy), n_tok);
    mkv_matrix_destroy(dev, &m);
    mkv_buffer_destroy(dev, &bx);
    mkv_buffer_destroy(dev, &by);
    mkv_buffer_destroy(dev, &params);
    free(enc); free(w); free(x); free(y0); free(ref); free(xr); free(got);
}

START_TEST(mm_reads_every_weight_type_as_stored_for_any_batch_and_tile)
{
    use_reads(_i);
    static const uint32_t keep[3] = {0, 0, 0}, odd[3] = {3, 5, 7}, one[3] = {1, 1, 1};
    for (int t = 0; t < MKV_WT_COUNT; t++) {
        uint32_t cols[4];
        type_cols((mkv_wtype)t, cols);
        check_typed_mm((mkv_wtype)t, 1, cols[0], 1, 1, 0, 0, keep);
        check_typed_mm((mkv_wtype)t, 37, cols[1], 17, 19, MKV_MATVEC_ACCUMULATE, 0, keep);
        check_typed_mm((mkv_wtype)t, 67, cols[2], 33, 40, 0, 0, keep);
        check_typed_mm((mkv_wtype)t, 37, cols[3], 17, 19, 0, 0, keep);
        check_typed_mm((mkv_wtype)t, 13, cols[1], 9, 9, MKV_MATVEC_SIGMOID, 0, odd);
        check_typed_mm((mkv_wtype)t, 11, cols[1], 5, 16, MKV_MATVEC_ACCUMULATE, 0, one);
        /* split over bindings of ~3 rows each */
        check_typed_mm((mkv_wtype)t, 31, cols[1], 6, 7, 0, 3ull * 4 * mkv_wtype_row_words((mkv_wtype)t, cols[1]), keep);
    }
}
END_TEST

/* mm_cm's cases for every type, on cooperative matrices or emulated (the
 * switches above): odd rows, columns and tokens across its 16 x 16
 * fragments, 32-token and 16 x (subgroups)-row workgroups and KT-wide tiles
 * (Q6_K: 256), one row, one token, accumulate and sigmoid, a matrix over
 * several bindings. */
static void check_mm_cm_cases(void)
{
    static const uint32_t keep[3] = {0, 0, 0};
    for (int t = 0; t < MKV_WT_COUNT; t++) {
        uint32_t cols[4];
        type_cols((mkv_wtype)t, cols);
        check_typed_mm((mkv_wtype)t, 1, cols[0], 1, 1, 0, 0, keep);
        check_typed_mm((mkv_wtype)t, 37, cols[1], 17, 19, MKV_MATVEC_ACCUMULATE, 0, keep);
        check_typed_mm((mkv_wtype)t, 67, cols[2], 33, 40, 0, 0, keep);
        check_typed_mm((mkv_wtype)t, 131, cols[2], 65, 70, MKV_MATVEC_SIGMOID, 0, keep);
        check_typed_mm((mkv_wtype)t, 131, cols[3], 65, 70, MKV_MATVEC_SIGMOID, 0, keep);
        check_typed_mm((mkv_wtype)t, 31, cols[1], 6, 7, 0, 3ull * 4 * mkv_wtype_row_words((mkv_wtype)t, cols[1]), keep);
    }
}

/* On cooperative matrices (mm_cm.comp), where the device has them
 * (VK_NV_cooperative_matrix: not lavapipe, whose run only says so). */
START_TEST(mm_on_cooperative_matrices_matches_reference_for_every_type)
{
    if (!dev->coop_nv) {
        printf("mm on cooperative matrices: %s has none (VK_NV_cooperative_matrix, 16x16x16 f16): not run\n",
               dev->props.deviceName);
        return;
    }
    coop = true;
    check_mm_cm_cases();
    coop = false;
}
END_TEST

/* mm_cm's tiles on any device, the matrix steps done by the lanes
 * (mm_cm_emu): the weights decoded into the f16 tile at their places (Q6_K's
 * spread units too), x beside them, rows, tokens and weights past the
 * matrix and the pass zero and unwritten, several workgroups each way, the
 * sums out per fragment, at every subgroup size the suite runs. */
START_TEST(mm_cm_tiles_match_reference_with_the_matrix_steps_emulated)
{
    coop_emu = true;
    check_mm_cm_cases();
    coop_emu = false;
}
END_TEST

/* SwiGLU (rows [W_gate; W_up]) and SwiGLU + MeKi gate rows
 * ([W_gate; W_mg[0, h); W_up; W_mg[h, d_mem); zeros]) in every type. */
static void check_typed_swiglu(mkv_wtype t, uint32_t d_ffn, uint32_t d_model, uint32_t d_mem)
{
    const uint32_t half = (d_mem + 1) / 2, n_rows = d_ffn + half; /* d_mem 0: plain SwiGLU */
    uint8_t *enc = rand_rows(t, 2 * n_rows, d_model);
    const uint64_t rb = mkv_wtype_src_row_bytes(t, d_model);
    if (d_mem % 2) memset(enc + (2ull * n_rows - 1) * rb, 0, rb); /* the zero row */
    float *w = decode_rows(t, enc, 2 * n_rows, d_model), *x = rand_vec(d_model, 1.0f);
    float *all = malloc(2 * n_rows * 4), *ref_t = malloc(d_ffn * 4), *ref_g = malloc((d_mem ? d_mem : 1) * 4);
    ref_matvec(w, x, 2 * n_rows, d_model, all);
    ref_swiglu(all, all + n_rows, d_ffn, ref_t);
    for (uint32_t j = 0; j < d_mem; j++) {
        float v = j < half ? all[d_ffn + j] : all[n_rows + d_ffn + j - half];
        ref_g[j] = 1.0f / (1.0f + expf(-v));
    }
    mkv_matrix m = typed_matrix(t, enc, 2 * n_rows, d_model, 0);
    mkv_buffer bx = vec_buf(x, d_model), bt = vec_buf(NULL, d_ffn), bg = vec_buf(NULL, d_mem ? d_mem : 1);
    kt k;
    if (d_mem) OK(mkv_op_matvec_swiglu_meki(kt_begin(&k), &m, &bx, &bt, d_ffn, d_mem, &bg, E));
    else OK(mkv_op_matvec_swiglu(kt_begin(&k), &m, &bx, &bt, d_ffn, E));
    kt_run(&k);
    float *got_t = read_vec(&bt, d_ffn), *got_g = read_vec(&bg, d_mem ? d_mem : 1);
    double et = rel_err(got_t, ref_t, d_ffn), eg = d_mem ? rel_err(got_g, ref_g, d_mem) : 0;
    ck_assert_msg(et <= 2e-5 && eg <= 2e-5, "swiglu %s d_ffn %u d_model %u d_mem %u: rel err t %.3g g %.3g",
                  mkv_wtype_get(t)->name, d_ffn, d_model, d_mem, et, eg);
    mkv_matrix_destroy(dev, &m);
    mkv_buffer_destroy(dev, &bx); mkv_buffer_destroy(dev, &bt); mkv_buffer_destroy(dev, &bg);
    free(enc); free(w); free(x); free(all); free(ref_t); free(ref_g); free(got_t); free(got_g);
}

START_TEST(swiglu_and_meki_gate_read_every_weight_type_as_stored)
{
    use_reads(_i);
    for (int t = 0; t < MKV_WT_COUNT; t++) {
        uint32_t cols[4];
        type_cols((mkv_wtype)t, cols);
        check_typed_swiglu((mkv_wtype)t, 77, cols[1], 0);
        check_typed_swiglu((mkv_wtype)t, 45, cols[1], 13);
        check_typed_swiglu((mkv_wtype)t, 21, cols[3], 13);
        check_typed_swiglu((mkv_wtype)t, 3, cols[0], 64);
        /* W_up's rows start on a whole group of 16 (pass 2: the grouped scale loads) */
        check_typed_swiglu((mkv_wtype)t, 32, cols[3], 0);
        check_typed_swiglu((mkv_wtype)t, 25, cols[3], 13);
    }
}
END_TEST

/* ffn_out's down projection in type t (dense: h += W_down t, then the
 * next norm): n rows of d_ffn. */
static void check_typed_ffn_out(mkv_wtype t, uint32_t n, uint32_t d_ffn)
{
    uint8_t *enc = rand_rows(t, n, d_ffn);
    float *wd = decode_rows(t, enc, n, d_ffn), *tv = rand_vec(d_ffn, 1.0f), *h = rand_vec(n, 1.0f);
    float *wn = rand_vec(n, 1.0f), *f = malloc(n * 4), *ref_xn = malloc(n * 4);
    mkv_matrix md = typed_matrix(t, enc, n, d_ffn, 0);
    mkv_buffer bt = vec_buf(tv, d_ffn), bh = vec_buf(h, n), bwn = vec_buf(wn, n), bxn = vec_buf(NULL, n), bc;
    const uint32_t zero = 0;
    OK(mkv_buffer_create(dev, 4, MKV_MEM_DEVICE, &bc, E));
    OK(mkv_buffer_write(dev, &bc, 0, &zero, 4, E));
    kt k;
    OK(mkv_op_ffn_out(kt_begin(&k), &md, &bt, &bh, &bwn, &bxn, &bc, 1e-6f, NULL, E));
    kt_run(&k);
    ref_matvec(wd, tv, n, d_ffn, f);
    for (uint32_t j = 0; j < n; j++) f[j] += h[j];
    ref_rmsnorm(f, wn, n, 1e-6f, ref_xn);
    float *got_h = read_vec(&bh, n), *got_xn = read_vec(&bxn, n);
    double eh = rel_err(got_h, f, n), ex = rel_err(got_xn, ref_xn, n);
    ck_assert_msg(eh <= 2e-5 && ex <= 2e-5, "ffn_out %s %ux%u: rel err h %.3g xn %.3g", mkv_wtype_get(t)->name, n,
                  d_ffn, eh, ex);
    mkv_matrix_destroy(dev, &md);
    mkv_buffer *bufs[] = {&bt, &bh, &bwn, &bxn, &bc};
    for (size_t b = 0; b < 5; b++) mkv_buffer_destroy(dev, bufs[b]);
    free(enc); free(wd); free(tv); free(h); free(wn); free(f); free(ref_xn); free(got_h); free(got_xn);
}

START_TEST(ffn_out_reads_every_weight_type_as_stored)
{
    use_reads(_i);
    for (int t = 0; t < MKV_WT_COUNT; t++) {
        uint32_t cols[4];
        type_cols((mkv_wtype)t, cols);
        check_typed_ffn_out((mkv_wtype)t, 45, cols[1]);
        check_typed_ffn_out((mkv_wtype)t, 21, cols[3]);
    }
}
END_TEST

/* The embedding gather decodes exactly what the CPU decoder does. */
START_TEST(embed_decodes_every_weight_type_as_the_cpu_does)
{
    for (int t = 0; t < MKV_WT_COUNT; t++) {
        uint32_t cols[4];
        type_cols((mkv_wtype)t, cols);
        const uint32_t vocab = 301, d = cols[3]; /* interleaved where the type allows (parts of 32 rows) */
        uint8_t *enc = rand_rows((mkv_wtype)t, vocab, d);
        float *ref = decode_rows((mkv_wtype)t, enc, vocab, d);
        mkv_matrix m = typed_matrix((mkv_wtype)t, enc, vocab, d, 40ull * 4 * mkv_wtype_row_words((mkv_wtype)t, d));
        mkv_buffer params, bh = vec_buf(NULL, d);
        OK(mkv_buffer_create(dev, sizeof(mkv_step_params), MKV_MEM_HOST, &params, E));
        assert_interleaved((mkv_wtype)t, &m, true);
        static const uint32_t toks[] = {0, 31, 32, 39, 40, 299, 300};
        for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
            mkv_step_params p = {.n_tok = 1, .tok = {{.token = toks[i]}}};
            memcpy(params.map, &p, sizeof p);
            kt k;
            OK(mkv_op_embed(kt_begin(&k), &params, &m, &bh, d, 1, E));
            kt_run(&k);
            float *got = read_vec(&bh, d);
            double e = rel_err(got, ref + (size_t)toks[i] * d, d);
            ck_assert_msg(e <= 1e-6, "embed %s token %u: rel err %.3g", mkv_wtype_get((mkv_wtype)t)->name, toks[i], e);
            free(got);
        }
        mkv_matrix_destroy(dev, &m);
        mkv_buffer_destroy(dev, &params);
        mkv_buffer_destroy(dev, &bh);
        free(enc); free(ref);
    }
}
END_TEST

/* matmul (the fold's batched products): y[b][r] = y[b][r] + scale * W[r] . x[b]
 * with a row stride ldy wider than the rows, and matmul_swiglu over the same
 * batch; rows, columns and batch rows none a multiple of the workgroup's. */
static void check_matmul(uint32_t rows, uint32_t cols, uint32_t n_batch)
{
    mkv_tunables t;
    mkv_tunables_for(dev, &t);
    const uint32_t ld = mkv_matrix_ld(cols), ldy = rows + 3, tb = t.tb_matmul;
    const uint32_t alloc_rows = (n_batch + tb - 1) / tb * tb;
    uint16_t *w = rand_f16((uint64_t)rows * cols, 0.5f), *w2 = rand_f16((uint64_t)rows * cols, 0.5f);
    float *x = calloc((size_t)alloc_rows * ld, 4), *y0 = rand_vec((uint64_t)n_batch * ldy, 1.0f);
    float *ref = malloc((size_t)n_batch * ldy * 4), *ref2 = malloc((size_t)n_batch * ldy * 4);
    float *g = malloc(rows * 4), *u = malloc(rows * 4);
    for (uint32_t b = 0; b < n_batch; b++)
        for (uint32_t c = 0; c < cols; c++) x[(size_t)b * ld + c] = tu_rand_f(&rng);
    const float scale = 0.75f;
    memcpy(ref, y0, (size_t)n_batch * ldy * 4);
    memcpy(ref2, y0, (size_t)n_batch * ldy * 4); /* matmul_swiglu leaves columns past rows alone */
    for (uint32_t b = 0; b < n_batch; b++) {
        ref_matvec_f16(w, x + (size_t)b * ld, rows, cols, g);
        ref_matvec_f16(w2, x + (size_t)b * ld, rows, cols, u);
        for (uint32_t r = 0; r < rows; r++) ref[(size_t)b * ldy + r] += scale * g[r];
        ref_swiglu(g, u, rows, ref2 + (size_t)b * ldy);
    }
    mkv_matrix m = plain_matrix(w, rows, cols), m2 = plain_matrix(w2, rows, cols);
    mkv_buffer bx = vec_buf(x, (uint64_t)alloc_rows * ld), by = vec_buf(y0, (uint64_t)n_batch * ldy);
    mkv_buffer by2 = vec_buf(y0, (uint64_t)n_batch * ldy);
    kt k;
    mkv_recorder *r = kt_begin(&k);
    OK(mkv_op_matmul(r, &m, &bx, &by, n_batch, ldy, true, scale, E));
    OK(mkv_op_matmul_swiglu(r, &m, &m2, &bx, &by2, n_batch, ldy, E));
    kt_run(&k);
    float *got = read_vec(&by, (uint64_t)n_batch * ldy), *got2 = read_vec(&by2, (uint64_t)n_batch * ldy);
    double e = rel_err(got, ref, (uint64_t)n_batch * ldy), e2 = rel_err(got2, ref2, (uint64_t)n_batch * ldy);
    ck_assert_msg(e <= 2e-5, "matmul %ux%u batch %u: rel err %.3g", rows, cols, n_batch, e);
    ck_assert_msg(e2 <= 2e-5, "matmul_swiglu %ux%u batch %u: rel err %.3g", rows, cols, n_batch, e2);
    mkv_matrix_destroy(dev, &m); mkv_matrix_destroy(dev, &m2);
    mkv_buffer_destroy(dev, &bx); mkv_buffer_destroy(dev, &by); mkv_buffer_destroy(dev, &by2);
    free(w); free(w2); free(x); free(y0); free(ref); free(ref2); free(g); free(u); free(got); free(got2);
}

START_TEST(matmul_and_matmul_swiglu_match_reference_on_odd_sizes)
{
    static const uint32_t shapes[][3] = {{1, 5, 1}, {65, 67, 9}, {130, 200, 17}, {64, 64, 8}}; /* rows, cols, batch */
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_matmul(shapes[i][0], shapes[i][1], shapes[i][2]);
}
END_TEST

/* One dispatch computes the SwiGLU t = silu(W_gate u) * (W_up u) and the
 * MeKi gate g = sigmoid(W_mg u). W_mg's rows sit under W_gate's (first
 * half) and W_up's (second half, then a zero row when d_mem is odd), as
 * model.c loads them. */
static void check_swiglu_meki(uint32_t d_mem, uint32_t d_model, uint32_t d_ffn)
{
    uint16_t *w = rand_f16((uint64_t)d_mem * d_model, 0.2f);
    float *u = rand_vec(d_model, 1.0f), *ref = malloc(d_mem * 4);
    mkv_buffer bu = vec_buf(u, d_model), bg = vec_buf(NULL, d_mem);
    uint16_t *wg = rand_f16((uint64_t)d_ffn * d_model, 0.2f), *wu = rand_f16((uint64_t)d_ffn * d_model, 0.2f);
    float *g = malloc(d_ffn * 4), *up = malloc(d_ffn * 4), *ref_t = malloc(d_ffn * 4);
    const uint32_t half = (d_mem + 1) / 2, n_rows = d_ffn + half;
    const size_t ffn_sz = (size_t)d_ffn * d_model;
    /* [W_gate; W_mg[0, half); W_up; W_mg[half, d_mem); zeros] */
    uint16_t *ws = calloc((size_t)2 * n_rows * d_model, 2), *up_half = ws + (size_t)n_rows * d_model;
    memcpy(ws, wg, ffn_sz * 2);
    memcpy(ws + ffn_sz, w, (size_t)half * d_model * 2);
    memcpy(up_half, wu, ffn_sz * 2);
    memcpy(up_half + ffn_sz, w + (size_t)half * d_model, (size_t)(d_mem - half) * d_model * 2);
    mkv_matrix ms = matrix(ws, 2 * n_rows, d_model, 0);
    free(ws);
    mkv_buffer bt = vec_buf(NULL, d_ffn);
    kt k;
    OK(mkv_op_matvec_swiglu_meki(kt_begin(&k), &ms, &bu, &bt, d_ffn, d_mem, &bg, E));
    kt_run(&k);
    ref_matvec_f16(w, u, d_mem, d_model, ref);
    for (uint32_t i = 0; i < d_mem; i++) ref[i] = 1.0f / (1.0f + expf(-ref[i]));
    float *got = read_vec(&bg, d_mem);
    double e = rel_err(got, ref, d_mem);
    ck_assert_msg(e <= 2e-5, "meki gate d_mem %u d_model %u: rel err %.3g", d_mem, d_model, e);
    ref_matvec_f16(wg, u, d_ffn, d_model, g);
    ref_matvec_f16(wu, u, d_ffn, d_model, up);
    ref_swiglu(g, up, d_ffn, ref_t);
    float *got_t = read_vec(&bt, d_ffn);
    e = rel_err(got_t, ref_t, d_ffn);
    ck_assert_msg(e <= 2e-5, "swiglu %ux%u beside the gate: rel err %.3g", d_ffn, d_model, e);
    mkv_matrix_destroy(dev, &ms);
    mkv_buffer_destroy(dev, &bt); mkv_buffer_destroy(dev, &bu); mkv_buffer_destroy(dev, &bg);
    free(wg); free(wu); free(g); free(up); free(ref_t); free(got_t); free(w); free(u); free(ref); free(got);
}

START_TEST(swiglu_meki_gives_swiglu_and_gate)
{
    use_reads(_i);
    check_swiglu_meki(64, 256, 700);
    check_swiglu_meki(12, 37, 53);
    check_swiglu_meki(4, 9, 3*9+1);
    check_swiglu_meki(132, 100, 3*100+1);
    check_swiglu_meki(300, 100, 33); /* more gate rows than SwiGLU rows */
    check_swiglu_meki(13, 37, 53);   /* odd d_mem: W_up's last gate row is zeros */
    check_swiglu_meki(13, 40, 20);
}
END_TEST

/* ---- norms and the layer's end ---- */

/* A recorder whose small kernels (norms, rope_kv, ffn_act, attn_combine)
 * run in workgroups of 64 when wide (several subgroups, as on a GPU),
 * else the device's. */
static mkv_recorder *kt_begin_norm(kt *k, bool wide)
{
    mkv_recorder *r = kt_begin(k);
    if (wide) r->tune.wg_norm = 64;
    return r;
}

START_TEST(rmsnorm_matches_reference)
{
    use_reads(_i);
    /* lengths a multiple of 4 take the vec4 path (rmsnorm.comp's P); the last
     * shapes again in workgroups of several subgroups */
    static const uint32_t shapes[][2] = {{1, 1}, {7, 1}, {256, 1}, {1000, 3}, {64, 16}, {4097, 2}, {1000, 3}, {4097, 2}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        uint32_t n = shapes[i][0], nv = shapes[i][1];
        float *x = rand_vec((uint64_t)n * nv, 3.0f), *w = rand_vec(n, 1.0f), *ref = malloc((size_t)n * nv * 4);
        mkv_buffer bx = vec_buf(x, (uint64_t)n * nv), bw = vec_buf(w, n), by = vec_buf(NULL, (uint64_t)n * nv);
        kt k;
        OK(mkv_op_rmsnorm(kt_begin_norm(&k, i >= 6), &bx, &bw, &by, n, nv, 1e-6f, E));
        kt_run(&k);
        for (uint32_t v = 0; v < nv; v++) ref_rmsnorm(x + (size_t)v * n, w, n, 1e-6f, ref + (size_t)v * n);
        float *got = read_vec(&by, (uint64_t)n * nv);
        double e = rel_err(got, ref, (uint64_t)n * nv);
        ck_assert_msg(e <= 2e-5, "rmsnorm n=%u vecs=%u: rel err %.3g", n, nv, e);
        mkv_buffer_destroy(dev, &bx); mkv_buffer_destroy(dev, &bw); mkv_buffer_destroy(dev, &by);
        free(x); free(w); free(ref); free(got);
    }
}
END_TEST

/* A slab of n_layer random rows of dtype staged in the last of three slots
 * of a ring, as a session's ring holds it, and step params pointing at it.
 * Returns row `layer` as floats (what the shader should read) and the
 * row size in *row_bytes. */
static float *stage_slab(uint32_t dtype, uint32_t d_mem, uint32_t n_layer, uint32_t layer, mkv_buffer *ring,
                         mkv_buffer *params, uint32_t *row_bytes_out)
{
    const uint32_t row_bytes = dtype == MKV_BANK_F16 ? 2 * d_mem : 4 + d_mem;
    *row_bytes_out = row_bytes;
    uint8_t *slab = calloc((size_t)n_layer * row_bytes + 4, 1);
    for (uint32_t l = 0; l < n_layer; l++) {
        float *r = rand_vec(d_mem, 2.0f);
        mkv_bank_encode_row(dtype, d_mem, r, slab + (size_t)l * row_bytes);
        free(r);
    }
    mkv_bank_header h = {.dtype = dtype, .n_layer = n_layer, .d_mem = d_mem, .row_bytes = row_bytes};
    float *row = malloc(d_mem * 4);
    mkv_bank_row_to_f32(&h, slab, layer, row);
    const size_t slab_sz = ((size_t)n_layer * row_bytes + 4 + 15) & ~(size_t)15;
    OK(mkv_buffer_create(dev, 3 * slab_sz, MKV_MEM_HOST, ring, E));
    memset(ring->map, 0x55, 3 * slab_sz);
    memcpy((uint8_t *)ring->map + 2 * slab_sz, slab, (size_t)n_layer * row_bytes + 4);
    OK(mkv_buffer_create(dev, sizeof(mkv_step_params), MKV_MEM_HOST, params, E));
    mkv_step_params p = {.n_tok = 1, .tok = {{.slab_offset = (uint32_t)(2 * slab_sz)}}};
    memcpy(params->map, &p, sizeof p);
    free(slab);
    return row;
}

/* The batch's small kernels against the reference, rows of odd strides,
 * n_tok of cap tokens (rows past n_tok untouched where the kernel guards):
 * rmsnorm_add (y += norm(x)), rmsnorm_last (the last token's norm),
 * rmsnorm_add_norm (the add, then the sum's norm),
 * ffn_act (SwiGLU and stacked gate rows) and meki_v (each token's bank row
 * from its own slab, + g). */
static mkv_buffer batch_params(uint32_t pos, uint32_t n_tok, uint32_t cap, const uint32_t *slab_off)
{
    mkv_buffer b;
    OK(mkv_buffer_create(dev, mkv_step_params_bytes(cap), MKV_MEM_HOST, &b, E));
    mkv_step_params *p = b.map;
    p->pos = pos;
    p->n_tok = n_tok;
    for (uint32_t i = 0; i < cap; i++) p->tok[i] = (mkv_step_token){.token = i, .slab_offset = slab_off ? slab_off[i] : 0};
    return b;
}

START_TEST(batch_norms_activation_and_meki_rows_match_reference)
{
    const float eps = 1e-6f;
    use_reads(_i);
    /* rmsnorm_add, rmsnorm_last and rmsnorm_add_norm: n = 333 or 336 (vec4 at a time:
     * rmsnorm.comp's P) in rows of 340, 5 of 7 tokens; 333 also in wide workgroups */
    for (int cs = 0; cs < 3; cs++) { /* cs 2: 333 again in workgroups of several subgroups */
        const uint32_t n = cs == 1 ? 336 : 333, ld = 340, n_tok = 5, cap = 7;
        const bool wide = cs == 2;
        float *x = rand_vec((uint64_t)cap * ld, 3.0f), *w = rand_vec(n, 1.0f), *y0 = rand_vec((uint64_t)cap * ld, 1.0f);
        float *ref = malloc((size_t)cap * ld * 4), *last = malloc(n * 4);
        mkv_buffer bx = vec_buf(x, (uint64_t)cap * ld), bw = vec_buf(w, n), by = vec_buf(y0, (uint64_t)cap * ld);
        mkv_buffer bl = vec_buf(NULL, n), params = batch_params(0, n_tok, cap, NULL);
        kt k;
        mkv_recorder *r = kt_begin_norm(&k, wide);
        /* rmsnorm_add_norm: the same add into a copy of y0, then its norm by w2 */
        float *w2 = rand_vec(n, 1.0f), *ref2 = calloc((size_t)cap * ld, 4);
        mkv_buffer bw2 = vec_buf(w2, n), by2 = vec_buf(y0, (uint64_t)cap * ld), bn = vec_buf(ref2, (uint64_t)cap * ld);
        OK(mkv_op_rmsnorm_rows(r, true, &bx, ld, &bw, &by, ld, n, cap, eps, E));
        OK(mkv_op_rmsnorm_last(r, &params, &bx, ld, &bw, &bl, n, eps, E));
        OK(mkv_op_rmsnorm_add_norm(r, &bx, ld, &bw, &by2, ld, &bw2, &bn, n, cap, eps, E));
        kt_run(&k);
        memcpy(ref, y0, (size_t)cap * ld * 4);
        for (uint32_t b = 0; b < cap; b++) {
            float *t = malloc(n * 4);
            ref_rmsnorm(x + (size_t)b * ld, w, n, eps, t);
            for (uint32_t i = 0; i < n; i++) ref[(size_t)b * ld + i] += t[i];
            if (b == n_tok - 1) memcpy(last, t, n * 4);
            ref_rmsnorm(ref + (size_t)b * ld, w2, n, eps, ref2 + (size_t)b * ld);
            free(t);
        }
        float *got = read_vec(&by, (uint64_t)cap * ld), *gl = read_vec(&bl, n);
        float *got2 = read_vec(&by2, (uint64_t)cap * ld), *gn = read_vec(&bn, (uint64_t)cap * ld);
        /* the padding between rows stays as it was (y0's, and zero) */
        for (uint32_t b = 0; b < cap; b++)
            for (uint32_t i = n; i < ld; i++)
                ck_assert(gn[(size_t)b * ld + i] == 0 && got2[(size_t)b * ld + i] == y0[(size_t)b * ld + i]);
        const double e = rel_err(got, ref, (uint64_t)cap * ld), el = rel_err(gl, last, n);
        const double e2 = rel_err(got2, ref, (uint64_t)cap * ld), en = rel_err(gn, ref2, (uint64_t)cap * ld);
        ck_assert_msg(e <= 2e-5 && el <= 2e-5 && e2 <= 2e-5 && en <= 2e-5,
                      "n %u: rmsnorm_add %.3g, rmsnorm_last %.3g, rmsnorm_add_norm %.3g (add) %.3g (norm)", n, e, el, e2, en);
        mkv_buffer *bufs[] = {&bx, &bw, &by, &bl, &params, &bw2, &by2, &bn};
        for (size_t i = 0; i < 8; i++) mkv_buffer_destroy(dev, bufs[i]);
        free(x); free(w); free(y0); free(ref); free(last); free(got); free(gl);
        free(w2); free(ref2); free(got2); free(gn);
    }
    /* ffn_act: 37 SwiGLU rows and 5 gate rows per half (n_mem 9: the last gate row's
     * second value absent), 6 of 9 tokens; and without gate rows. Then (c >= 2) rows and
     * strides in fours, the vec4 path (ffn_act.comp's P): 36 SwiGLU rows, 4 gate rows per
     * half and n_mem 7 (the last quad's second values partly absent) */
    for (int cs = 0; cs < 5; cs++) { /* cs 4: the quads with gate rows in wide workgroups */
        const int gate = cs == 4 || cs % 2, quads = cs >= 2;
        const uint32_t n_ffn = quads ? 36 : 37, half = n_ffn + (gate ? (quads ? 4 : 5) : 0);
        const uint32_t n_mem = gate ? (quads ? 7 : 9) : 0, ldgu = 2 * half + (quads ? 4 : 3), ldt = quads ? 40 : 41, ldg = 11;
        const uint32_t n_tok = 6, cap = 9;
        float *gu = rand_vec((uint64_t)cap * ldgu, 3.0f);
        mkv_buffer bgu = vec_buf(gu, (uint64_t)cap * ldgu), bt = vec_buf(NULL, (uint64_t)cap * ldt);
        mkv_buffer bg = vec_buf(NULL, (uint64_t)cap * ldg), params = batch_params(0, n_tok, cap, NULL);
        kt k;
        OK(mkv_op_ffn_act(kt_begin_norm(&k, cs == 4), &bgu, ldgu, half, n_ffn, half, &bt, ldt, n_mem, gate ? &bg : NULL, ldg, cap,
                          &params, E));
        kt_run(&k);
        float *gt = read_vec(&bt, (uint64_t)cap * ldt), *gg = read_vec(&bg, (uint64_t)cap * ldg);
        double e = 0;
        for (uint32_t b = 0; b < cap; b++) {
            const float *row = gu + (size_t)b * ldgu;
            for (uint32_t i = 0; i < n_ffn; i++) {
                const double a = row[i], c = row[half + i], want = b < n_tok ? a / (1 + exp(-a)) * c : 0;
                e = fmax(e, fabs(gt[(size_t)b * ldt + i] - want) / (1 + fabs(want)));
            }
            for (uint32_t j = 0; j < n_mem; j++) { /* g[j] from gate row n_ffn + j (first half), or its second half */
                const uint32_t h = half - n_ffn;
                const double a = j < h ? row[n_ffn + j] : row[half + n_ffn + (j - h)];
                const double want = b < n_tok ? 1 / (1 + exp(-a)) : 0;
                e = fmax(e, fabs(gg[(size_t)b * ldg + j] - want));
            }
        }
        ck_assert_msg(e <= 2e-6, "ffn_act (gate rows %d, quads %d): err %.3g", gate, quads, e);
        mkv_buffer *bufs[] = {&bgu, &bt, &bg, &params};
        for (size_t i = 0; i < 4; i++) mkv_buffer_destroy(dev, bufs[i]);
        free(gu); free(gt); free(gg);
    }
    /* meki_v: 3 of 4 tokens, each with its own slab of either dtype (layer 1 of 3) */
    for (uint32_t dtype = MKV_BANK_F16; dtype <= MKV_BANK_Q8; dtype++) {
        const uint32_t d_mem = 36, n_layer = 3, layer = 1, n_tok = 3, cap = 4, ldg = 41, ldv = 43; /* banks: d_mem % 4 == 0 */
        const uint32_t row_bytes = dtype == MKV_BANK_F16 ? 2 * d_mem : 4 + d_mem;
        const size_t slab_sz = ((size_t)n_layer * row_bytes + 4 + 15) & ~(size_t)15;
        mkv_buffer ring;
        OK(mkv_buffer_create(dev, cap * slab_sz, MKV_MEM_HOST, &ring, E));
        memset(ring.map, 0x55, cap * slab_sz);
        float *rows = malloc((size_t)cap * d_mem * 4);
        uint32_t off[4];
        mkv_bank_header h = {.dtype = dtype, .n_layer = n_layer, .d_mem = d_mem, .row_bytes = row_bytes};
        for (uint32_t b = 0; b < cap; b++) {
            off[b] = (uint32_t)(((b * 3 + 1) % cap) * slab_sz); /* tokens in other slots than their order */
            uint8_t *slab = (uint8_t *)ring.map + off[b];
            for (uint32_t l = 0; l < n_layer; l++) {
                float *r = rand_vec(d_mem, 2.0f);
                mkv_bank_encode_row(dtype, d_mem, r, slab + (size_t)l * row_bytes);
                free(r);
            }
            mkv_bank_row_to_f32(&h, slab, layer, rows + (size_t)b * d_mem);
        }
        float *g = rand_vec((uint64_t)cap * ldg, 1.0f);
        mkv_buffer bg = vec_buf(g, (uint64_t)cap * ldg), bv = vec_buf(NULL, (uint64_t)cap * ldv);
        mkv_buffer params = batch_params(0, n_tok, cap, off);
        kt k;
        OK(mkv_op_meki_v(kt_begin(&k), &ring, layer * row_bytes, dtype, &bg, ldg, &bv, ldv, d_mem, cap, &params, E));
        kt_run(&k);
        float *gv = read_vec(&bv, (uint64_t)cap * ldv);
        double e = 0;
        for (uint32_t b = 0; b < cap; b++)
            for (uint32_t i = 0; i < ldv; i++) {
                const double want = b < n_tok && i < d_mem ? rows[(size_t)b * d_mem + i] + g[(size_t)b * ldg + i] : 0;
                e = fmax(e, fabs(gv[(size_t)b * ldv + i] - want));
            }
        ck_assert_msg(e <= 1e-6, "meki_v dtype %u: err %.3g", dtype, e);
        mkv_buffer *bufs[] = {&ring, &bg, &bv, &params};
        for (size_t i = 0; i < 4; i++) mkv_buffer_destroy(dev, bufs[i]);
        free(rows); free(g); free(gv);
    }
}
END_TEST

/* ffn_out: h += W_down t (and, with MeKi, + RMSNorm(W_mo v) * w, v = the
 * bank row `layer` of a staged slab of either dtype + the gate g) over many
 * workgroups, then the last one to finish norms h for the next layer.
 * Recorded twice in a row: the second dispatch only works if the first
 * left its workgroup counter at zero. */
typedef struct ffn_out_case {
    uint32_t n, d_ffn, d_mem;          /* d_model, d_ffn, d_mem (0: dense) */
    uint32_t dtype, n_layer, layer;    /* the bank row (MeKi) */
} ffn_out_case;

static void check_ffn_out(const ffn_out_case *c)
{
    const uint32_t n = c->n, d_ffn = c->d_ffn, d_mem = c->d_mem;
    const bool meki = d_mem > 0;
    uint16_t *wd = rand_f16((uint64_t)n * d_ffn, 0.3f), *wmo = meki ? rand_f16((uint64_t)n * d_mem, 0.3f) : NULL;
    float *t = rand_vec(d_ffn, 1.0f), *g = meki ? rand_vec(d_mem, 1.0f) : NULL, *h = rand_vec(n, 1.0f);
    float *w = rand_vec(n, 1.0f), *wn = rand_vec(n, 1.0f), *f = malloc(n * 4), *z = malloc(n * 4), *zn = malloc(n * 4);
    float *ref_h = malloc(n * 4), *ref_xn = malloc(n * 4), *row = NULL, *v = NULL;
    mkv_matrix md = matrix(wd, n, d_ffn, 0), mo = {0};
    mkv_buffer bt = vec_buf(t, d_ffn), bh = vec_buf(h, n), bw = vec_buf(w, n), bwn = vec_buf(wn, n);
    /* z: W_mo v, then a float per workgroup */
    mkv_buffer bxn = vec_buf(NULL, n), bz = vec_buf(NULL, 2ull * n), bg = {0}, bc, ring = {0}, params = {0};
    uint32_t row_bytes = 0;
    if (meki) { /* the device holds W_mo transposed in bands of 8 MKV_WMO_BAND outputs (wmo_layout.h) */
        const uint32_t bo = 8 * MKV_WMO_BAND, n_bands = (n + bo - 1) / bo; /* outputs per band, bands */
        uint16_t *wmo_t = calloc((size_t)n_bands * d_mem * bo, 2);
        for (uint32_t r = 0; r < n; r++)
            for (uint32_t k = 0; k < d_mem; k++) wmo_t[((size_t)(r / bo) * d_mem + k) * bo + r % bo] = wmo[(size_t)r * d_mem + k];
        mo = plain_matrix(wmo_t, n_bands, d_mem * bo);
        free(wmo_t);
        bg = vec_buf(g, d_mem);
        row = stage_slab(c->dtype, d_mem, c->n_layer, c->layer, &ring, &params, &row_bytes);
        v = malloc(d_mem * 4);
        for (uint32_t k = 0; k < d_mem; k++) v[k] = row[k] + g[k];
    }
    const uint32_t zero = 0;
    OK(mkv_buffer_create(dev, 4, MKV_MEM_DEVICE, &bc, E));
    OK(mkv_buffer_write(dev, &bc, 0, &zero, 4, E));
    const mkv_ffn_out_meki mk = {.w_mo_t = &mo, .g = &bg, .z = &bz, .w_norm = &bw, .ring = &ring, .params = &params,
                                 .row_byte_offset = c->layer * row_bytes, .bank_dtype = c->dtype};
    kt k;
    mkv_recorder *r = kt_begin(&k);
    OK(mkv_op_ffn_out(r, &md, &bt, &bh, &bwn, &bxn, &bc, 1e-6f, meki ? &mk : NULL, E));
    OK(mkv_op_ffn_out(r, &md, &bt, &bh, &bwn, &bxn, &bc, 1e-6f, meki ? &mk : NULL, E));
    kt_run(&k);
    ref_matvec_f16(wd, t, n, d_ffn, f);
    if (meki) {
        ref_matvec_f16(wmo, v, n, d_mem, z);
        ref_rmsnorm(z, w, n, 1e-6f, zn);
    }
    for (uint32_t j = 0; j < n; j++) ref_h[j] = h[j] + 2.0f * (f[j] + (meki ? zn[j] : 0.0f));
    ref_rmsnorm(ref_h, wn, n, 1e-6f, ref_xn);
    float *got_h = read_vec(&bh, n), *got_xn = read_vec(&bxn, n), *got_z = read_vec(&bz, n);
    double eh = rel_err(got_h, ref_h, n), ex = rel_err(got_xn, ref_xn, n), ez = meki ? rel_err(got_z, z, n) : 0;
    ck_assert_msg(ez <= 2e-5, "ffn_out z n=%u d_ffn=%u d_mem=%u dtype %u layer %u: rel err %.3g", n, d_ffn, d_mem,
                  c->dtype, c->layer, ez);
    ck_assert_msg(eh <= 2e-5, "ffn_out h n=%u d_ffn=%u d_mem=%u: rel err %.3g", n, d_ffn, d_mem, eh);
    ck_assert_msg(ex <= 2e-5, "ffn_out next norm n=%u d_ffn=%u d_mem=%u: rel err %.3g", n, d_ffn, d_mem, ex);
    mkv_matrix_destroy(dev, &md);
    if (meki) mkv_matrix_destroy(dev, &mo);
    mkv_buffer *bufs[] = {&bt, &bh, &bw, &bwn, &bxn, &bz, &bg, &bc, &ring, &params};
    for (size_t b = 0; b < sizeof bufs / sizeof bufs[0]; b++) mkv_buffer_destroy(dev, bufs[b]);
    free(wd); free(wmo); free(t); free(g); free(h); free(w); free(wn); free(f); free(z); free(zn); free(ref_h);
    free(ref_xn); free(got_h); free(got_xn); free(got_z); free(row); free(v);
}

START_TEST(ffn_out_adds_down_projection_and_meki_then_norms_for_the_next_layer_twice_in_a_row)
{
    use_reads(_i);
    static const ffn_out_case cases[] = {
        {1, 5, 4, MKV_BANK_Q8, 1, 0},      {13, 29, 12, MKV_BANK_F16, 3, 1}, {256, 700, 64, MKV_BANK_Q8, 4, 3},
        {1000, 301, 132, MKV_BANK_F16, 2, 1}, {40, 20, 13, MKV_BANK_Q8, 5, 4}, /* odd d_mem: unaligned rows */
        {37, 53, 13, MKV_BANK_F16, 3, 2},
        {1, 5, 0, 0, 0, 0},                {13, 29, 0, 0, 0, 0},             {1000, 301, 0, 0, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_ffn_out(&cases[i]);
}
END_TEST

/* ---- embedding ---- */

START_TEST(embed_gathers_the_token_row_from_any_part)
{
    const uint32_t vocab = 1001, d = 37;
    uint16_t *table = rand_f16((uint64_t)vocab * d, 1.0f);
    mkv_matrix m = matrix(table, vocab, d, 8192); /* ld 40 -> 80 B/row: 102 rows per part, 10 parts */
    ck_assert_uint_eq(m.n_parts, 10);
    mkv_buffer params, bh = vec_buf(NULL, d);
    OK(mkv_buffer_create(dev, sizeof(mkv_step_params), MKV_MEM_HOST, &params, E));
    static const uint32_t toks[] = {0, 1, 101, 102, 500, 999, 1000};
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
        mkv_step_params p = {.n_tok = 1, .tok = {{.token = toks[i]}}};
        memcpy(params.map, &p, sizeof p);
        kt k;
        OK(mkv_op_embed(kt_begin(&k), &params, &m, &bh, d, 1, E));
        kt_run(&k);
        float *got = read_vec(&bh, d);
        for (uint32_t j = 0; j < d; j++)
            ck_assert_msg(got[j] == mkv_half_to_float(table[(size_t)toks[i] * d + j]), "token %u dim %u", toks[i], j);
        free(got);
    }
    mkv_matrix_destroy(dev, &m);
    mkv_buffer_destroy(dev, &params);
    mkv_buffer_destroy(dev, &bh);
    free(table);
}
END_TEST

/* ---- rope + kv append, attention ---- */

typedef struct attn_case {
    uint32_t n_head, n_kv_head, head_dim, n_ctx, n_kv; /* n_kv positions filled, the last one by the kernel */
    bool qk_norm;
    uint32_t n_split;
    bool rope_norm;  /* adjacent RoPE pairs (llama) instead of NEOX */
    bool bias;       /* q/k/v biases */
    uint32_t wg;     /* attention workgroup width; 0: the device's tunable */
    bool kv_q8;      /* q8_0 KV cache (kv_layout.h) instead of f16 */
    uint32_t u;      /* positions a team takes per step (attn.comp's U); 0: the device's tunable */
    bool merge;      /* the splits merged by attention's last split (attn.merge); false: the device's tunable */
    bool rope;       /* rope_kv's work inside attention (attn_rope; one token, f16 caches) */
} attn_case;

/* q8_0 of one cache block as kv_layout.h defines it: d = max|x| / 127,
 * q = round(x / d), halves away from zero. */
static float q8_block(const float *x, int8_t *q)
{
    float amax = 0;
    for (int i = 0; i < MKV_KV_Q8_BLOCK; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < MKV_KV_Q8_BLOCK; i++) {
        float v = roundf(x[i] * id);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return d;
}

/* A cache of n_ctx positions of kvd = n_kv_head x hd values as the device
 * stores it (kv_layout.h): each KV head's rows of every position, head
 * after head; f16, or q8_0 (quants, then the f32 scales from scale_base
 * on, per row and block in the same order). */
typedef struct host_kv {
    bool q8;
    uint32_t n_ctx, kvd, hd;
    uint8_t *bytes;
    uint64_t size;
} host_kv;

static host_kv host_kv_new(bool q8, uint32_t n_ctx, uint32_t kvd, uint32_t hd)
{
    host_kv h = {q8, n_ctx, kvd, hd, NULL, mkv_kv_cache_bytes(n_ctx, kvd, q8)};
    h.bytes = calloc(1, h.size);
    return h;
}

/* Where value i (of kvd) of position p sits: head i / hd's row of p. */
static size_t host_kv_at(const host_kv *h, uint32_t p, uint32_t i)
{
    return ((size_t)(i / h->hd) * h->n_ctx + p) * h->hd + i % h->hd;
}

/* Stores position p (kvd floats) and puts back in x the values the cache holds. */
static void host_kv_store(host_kv *h, uint32_t p, float *x)
{
    if (!h->q8) {
        uint16_t *r = (uint16_t *)h->bytes;
        for (uint32_t i = 0; i < h->kvd; i++) {
            r[host_kv_at(h, p, i)] = mkv_float_to_half(x[i]);
            x[i] = mkv_half_to_float(r[host_kv_at(h, p, i)]);
        }
        return;
    }
    int8_t *q = (int8_t *)h->bytes;
    float *sc = (float *)(h->bytes + (uint64_t)h->n_ctx * h->kvd);
    for (uint32_t b = 0; b < h->kvd / MKV_KV_Q8_BLOCK; b++) {
        int8_t qb[MKV_KV_Q8_BLOCK];
        const size_t at = host_kv_at(h, p, b * MKV_KV_Q8_BLOCK); /* a block never spans heads (hd % 32 == 0) */
        sc[at / MKV_KV_Q8_BLOCK] = q8_block(x + b * MKV_KV_Q8_BLOCK, qb);
        for (uint32_t i = 0; i < MKV_KV_Q8_BLOCK; i++) {
            q[at + i] = qb[i];
            x[b * MKV_KV_Q8_BLOCK + i] = sc[at / MKV_KV_Q8_BLOCK] * qb[i];
        }
    }
}

/* Position p of a cache image read from the device, as floats. */
static void host_kv_load(const host_kv *h, uint32_t p, float *x)
{
    for (uint32_t i = 0; i < h->kvd; i++) {
        const size_t at = host_kv_at(h, p, i);
        if (!h->q8) {
            x[i] = mkv_half_to_float(((const uint16_t *)h->bytes)[at]);
        } else {
            const float *sc = (const float *)(h->bytes + (uint64_t)h->n_ctx * h->kvd);
            x[i] = sc[at / MKV_KV_Q8_BLOCK] * ((const int8_t *)h->bytes)[at];
        }
    }
}

static void rope_table(const attn_case *c, float theta, float *tab)
{
    for (uint32_t p = 0; p < c->n_ctx; p++)
        for (uint32_t i = 0; i < c->head_dim / 2; i++) {
            double a = p * pow(theta, -2.0 * i / c->head_dim);
            tab[(p * (c->head_dim / 2) + i) * 2] = (float)cos(a);
            tab[(p * (c->head_dim / 2) + i) * 2 + 1] = (float)sin(a);
        }
}

/* Fills positions 0..n_kv-2 of the cache from the host, runs rope_kv for
 * position n_kv-1 and then attention; checks q, the appended k/v and the
 * attention output against the reference. */
static void check_attention(const attn_case *c)
{
    const uint32_t hd = c->head_dim, qd = c->n_head * hd, kvd = c->n_kv_head * hd, pos = c->n_kv - 1;
    const float theta = 10000.0f, eps = 1e-6f;
    float *qkv = rand_vec(qd + 2 * kvd, 2.0f), *qn = rand_vec(hd, 1.0f), *kn = rand_vec(hd, 1.0f);
    float *bias = rand_vec(qd + 2 * kvd, 1.0f);
    const mkv_rope_style style = c->rope_norm ? MKV_ROPE_NORM : MKV_ROPE_NEOX;
    float *tab = malloc((size_t)c->n_ctx * hd * 4);
    rope_table(c, theta, tab);
    /* Host cache for positions < pos, random, as stored (f16 or q8_0);
     * kc, vc: the values it holds. */
    float *kc = calloc((size_t)c->n_ctx * kvd, 4), *vc = calloc((size_t)c->n_ctx * kvd, 4);
    host_kv hk = host_kv_new(c->kv_q8, c->n_ctx, kvd, hd), hv = host_kv_new(c->kv_q8, c->n_ctx, kvd, hd);
    for (uint64_t i = 0; i < (uint64_t)pos * kvd; i++) {
        kc[i] = tu_rand_f(&rng) * 2.0f;
        vc[i] = tu_rand_f(&rng) * 2.0f;
    }
    for (uint32_t t = 0; t < pos; t++) {
        host_kv_store(&hk, t, kc + (size_t)t * kvd);
        host_kv_store(&hv, t, vc + (size_t)t * kvd);
    }
    mkv_buffer params, bqkv = vec_buf(qkv, qd + 2 * kvd), bqn = vec_buf(qn, hd), bkn = vec_buf(kn, hd);
    mkv_buffer bbias = vec_buf(bias, qd + 2 * kvd);
    mkv_buffer brope = vec_buf(tab, (uint64_t)c->n_ctx * hd), bq = vec_buf(NULL, qd), bout = vec_buf(NULL, qd);
    mkv_buffer bk, bv;
    mkv_buffer bpart = vec_buf(NULL, mkv_attn_partials_floats(c->n_head, c->n_split, hd, 1));
    mkv_buffer bdone = vec_buf(NULL, c->n_kv_head), bfirst = vec_buf(NULL, qd); /* the merge's counters; a first output */
    OK(mkv_buffer_create(dev, hk.size, MKV_MEM_DEVICE, &bk, E));
    OK(mkv_buffer_create(dev, hv.size, MKV_MEM_DEVICE, &bv, E));
    OK(mkv_buffer_write(dev, &bk, 0, hk.bytes, hk.size, E));
    OK(mkv_buffer_write(dev, &bv, 0, hv.bytes, hv.size, E));
    OK(mkv_buffer_create(dev, sizeof(mkv_step_params), MKV_MEM_HOST, &params, E));
    mkv_step_params p = {.pos = pos, .n_tok = 1};
    memcpy(params.map, &p, sizeof p);
    mkv_attn_dims ad = {.n_head = c->n_head, .n_kv_head = c->n_kv_head, .head_dim = hd, .n_ctx = c->n_ctx,
                        .n_split = c->n_split, .qk_norm = c->qk_norm, .rope_norm = c->rope_norm,
                        .kv_q8 = c->kv_q8, .eps = eps};
    kt k;
    mkv_recorder *r = kt_begin(&k);
    if (c->wg) r->tune.wg_attn = r->tune.wg_norm = c->wg; /* attention, rope_kv and attn_combine */
    if (c->u) r->tune.u_attn = c->u;
    if (c->merge) r->tune.merge_attn = true;
    const bool merge = r->tune.merge_attn && c->n_split > 1;
    if (c->rope) {
        r->tune.rope_attn = true;
        ck_assert(mkv_attn_rope_fits(r, &ad));
        mkv_attn_dims two = ad;
        two.n_batch = 2; /* a pass of tokens needs rope_kv first */
        ck_assert(!mkv_attn_rope_fits(r, &two));
        mkv_error e2;
        ck_assert_int_eq(mkv_op_rope_attention(r, &two, &params, &bqkv, NULL, &bqn, &bkn, &brope, &bk, &bv, &bpart, &bdone,
                                               &bout, &e2), MKV_ERR_INVALID_ARG);
    } else {
        OK(mkv_op_rope_kv(r, &ad, &params, &bqkv, c->bias ? &bbias : NULL, &bqn, &bkn, &brope, &bq, &bk, &bv, E));
    }
    if (c->n_split > 1) { /* partials a float short are refused, nothing recorded */
        mkv_buffer small;
        OK(mkv_buffer_create(dev, 4 * mkv_attn_partials_floats(c->n_head, c->n_split, hd, 1) - 16, MKV_MEM_DEVICE, &small, E));
        mkv_error e2;
        ck_assert_int_eq(mkv_op_attention(r, &ad, &params, &bq, &bk, &bv, &small, &bdone, &bout, &e2), MKV_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(e2.msg, "partials"));
        mkv_buffer_destroy(dev, &small);
        /* more splits than attn_combine holds weights for, or none: refused too */
        mkv_attn_dims many = ad;
        many.n_split = MKV_ATTN_MAX_SPLIT + 1;
        ck_assert_int_eq(mkv_op_attention(r, &many, &params, &bq, &bk, &bv, &bpart, &bdone, &bout, &e2), MKV_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(e2.msg, "n_split = 65"));
        many.n_split = 0;
        ck_assert_int_eq(mkv_op_attention(r, &many, &params, &bq, &bk, &bv, &bpart, &bdone, &bout, &e2), MKV_ERR_INVALID_ARG);
        ck_assert_int_eq(mkv_attn_splits(1000000, 16), MKV_ATTN_MAX_SPLIT);
        ck_assert_int_eq(mkv_attn_splits(1, 256), 1);
        /* workgroups whose shared memory exceeds the device's: refused (lavapipe's 32 KB: 1024 threads
         * at head_dim 256 need 64 KB or more at any subgroup size up to 64) */
        mkv_tunables keep = r->tune;
        r->tune.wg_attn = 1024;
        if (mkv_attn_shared(1024, dev->subgroup_size, 256) > dev->props.limits.maxComputeSharedMemorySize) {
            mkv_attn_dims wide = ad;
            wide.head_dim = 256;
            ck_assert_int_eq(mkv_op_attention(r, &wide, &params, &bq, &bk, &bv, &bpart, &bdone, &bout, &e2), MKV_ERR_DEVICE_LIMIT);
            ck_assert_ptr_nonnull(strstr(e2.msg, "shared memory"));
        }
        r->tune = keep;
        if (merge && c->n_kv_head % 4 == 0) { /* counters for 4 KV heads fewer (buffers hold 16-byte multiples): refused */
            mkv_buffer few;
            OK(mkv_buffer_create(dev, 4ull * (c->n_kv_head - 4), MKV_MEM_DEVICE, &few, E));
            ck_assert_int_eq(mkv_op_attention(r, &ad, &params, &bq, &bk, &bv, &bpart, &few, &bout, &e2), MKV_ERR_INVALID_ARG);
            ck_assert_ptr_nonnull(strstr(e2.msg, "split counters"));
            mkv_buffer_destroy(dev, &few);
        }
    }
    /* merged: twice, the first into its own output (the merge must leave
     * its counters at zero for the second to merge) */
    if (c->rope) { /* appending the same row twice: the second run reads what the first wrote */
        const mkv_buffer *bb = c->bias ? &bbias : NULL;
        if (merge) OK(mkv_op_rope_attention(r, &ad, &params, &bqkv, bb, &bqn, &bkn, &brope, &bk, &bv, &bpart, &bdone, &bfirst, E));
        OK(mkv_op_rope_attention(r, &ad, &params, &bqkv, bb, &bqn, &bkn, &brope, &bk, &bv, &bpart, &bdone, &bout, E));
    } else {
        if (merge) OK(mkv_op_attention(r, &ad, &params, &bq, &bk, &bv, &bpart, &bdone, &bfirst, E));
        OK(mkv_op_attention(r, &ad, &params, &bq, &bk, &bv, &bpart, &bdone, &bout, E));
    }
    kt_run(&k);

    /* Reference: bias, norm + rope of q and k, then k and v as the cache
     * stores them (f16 rounding, or q8_0 blocks), attention. */
    if (c->bias)
        for (uint32_t i = 0; i < qd + 2 * kvd; i++) qkv[i] += bias[i];
    float *q = malloc(qd * 4);
    memcpy(q, qkv, qd * 4);
    for (uint32_t h = 0; h < c->n_head; h++) {
        if (c->qk_norm) ref_rmsnorm(q + h * hd, qn, hd, eps, q + h * hd);
        ref_rope(q + h * hd, hd, pos, theta, style);
    }
    float *kk = kc + (size_t)pos * kvd, *vv = vc + (size_t)pos * kvd;
    for (uint32_t h = 0; h < c->n_kv_head; h++) {
        memcpy(kk + h * hd, qkv + qd + h * hd, hd * 4);
        if (c->qk_norm) ref_rmsnorm(kk + h * hd, kn, hd, eps, kk + h * hd);
        ref_rope(kk + h * hd, hd, pos, theta, style);
    }
    memcpy(vv, qkv + qd + kvd, kvd * 4);
    float *k_exact = malloc(kvd * 4), *v_exact = malloc(kvd * 4);
    memcpy(k_exact, kk, kvd * 4);
    memcpy(v_exact, vv, kvd * 4);
    host_kv_store(&hk, pos, kk);
    host_kv_store(&hv, pos, vv);

    /* The row the device appended: its values equal the reference's to
     * rounding (f16), or to one quant step of the block's scale (q8_0: x /
     * d may round the other way on the device); attention is then checked
     * on the values the device holds. */
    float *fk = malloc(kvd * 4), *fv = malloc(kvd * 4);
    OK(mkv_buffer_read(dev, &bk, 0, hk.bytes, hk.size, E));
    OK(mkv_buffer_read(dev, &bv, 0, hv.bytes, hv.size, E));
    host_kv_load(&hk, pos, fk);
    host_kv_load(&hv, pos, fv);
    double ek = rel_err(fk, kk, kvd), ev = rel_err(fv, vv, kvd);
    const double kv_tol = c->kv_q8 ? 1.0 / 127 + 1e-4 : 1e-3;
    double ek_exact = c->kv_q8 ? rel_err(fk, k_exact, kvd) : 0;
    memcpy(kk, fk, kvd * 4);
    memcpy(vv, fv, kvd * 4);
    float *ref = malloc(qd * 4);
    ref_attention(q, kc, vc, c->n_kv, c->n_head, c->n_kv_head, hd, ref);

    float *gq = read_vec(&bq, qd), *go = read_vec(&bout, qd), *g1 = read_vec(&bfirst, qd), *gd = read_vec(&bdone, c->n_kv_head);
    /* (attn_rope keeps its rotated q in registers: no q to check) */
    double eq = c->rope ? 0 : rel_err(gq, q, qd), eo = rel_err(go, ref, qd), e1 = merge ? rel_err(g1, ref, qd) : 0;
    ck_assert_msg(eq <= 2e-5 && ek <= kv_tol && ev <= kv_tol && ek_exact <= 0.02 && eo <= 1e-3 && e1 <= 1e-3,
                  "heads %u/%u hd %u ctx %u n_kv %u norm %d split %u rope_norm %d bias %d wg %u u %u kv_q8 %d merge %d rope %d: q %.3g "
                  "k %.3g v %.3g (k vs exact %.3g) out %.3g (first merge %.3g)",
                  c->n_head, c->n_kv_head, hd, c->n_ctx, c->n_kv, c->qk_norm, c->n_split, c->rope_norm, c->bias, c->wg,
                  c->u, c->kv_q8, merge, c->rope, eq, ek, ev, ek_exact, eo, e1);
    for (uint32_t h = 0; h < c->n_kv_head; h++) ck_assert(gd[h] == 0.0f); /* the counters left at zero */

    mkv_buffer *bufs[] = {&params, &bqkv, &bqn, &bkn, &bbias, &brope, &bq, &bout, &bk, &bv, &bpart, &bdone, &bfirst};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mkv_buffer_destroy(dev, bufs[i]);
    free(g1); free(gd);
    free(qkv); free(qn); free(kn); free(bias); free(tab); free(kc); free(vc); free(hk.bytes); free(hv.bytes);
    free(q); free(ref); free(gq); free(go); free(fk); free(fv); free(k_exact); free(v_exact);
}

START_TEST(attention_matches_reference_for_gqa_shapes_positions_rope_styles_and_biases)
{
    use_reads(_i);
    static const attn_case cases[] = {
        /* heads kv  hd   ctx  n_kv norm split rope_norm bias wg kv_q8 */
        {4, 2, 64, 64, 1, true, 1, false, false, 0, false, 0, false, false},      /* position 0 */
        {4, 2, 64, 64, 64, true, 1, false, false, 0, false, 0, false, false},     /* last position of the context */
        {4, 2, 64, 300, 300, true, 4, false, false, 0, false, 0, false, false},   /* splits over a full cache */
        {4, 2, 64, 300, 5, true, 8, false, false, 0, false, 0, false, false},     /* more splits than filled positions: empty chunks */
        {8, 8, 32, 50, 37, false, 3, false, false, 0, false, 0, false, false},    /* n_head = n_kv_head, no q/k norm */
        {6, 1, 16, 40, 33, true, 2, false, false, 0, false, 0, false, false},     /* one KV head, group of 6 */
        {16, 1, 128, 20, 20, true, 1, false, false, 0, false, 0, false, false},   /* group of 16 (the limit), head_dim 128 */
        {2, 1, 130, 33, 17, false, 5, false, false, 0, false, 0, false, false},   /* head_dim not a multiple of 8 */
        {16, 8, 128, 1024, 1000, true, 4, false, false, 0, false, 0, false, false}, /* 0.6b-like attention near the end */
        {4, 2, 64, 64, 10, true, 1, true, false, 0, false, 0, false, false},  /* llama-style pairs with q/k norm */
        {8, 8, 32, 50, 37, false, 3, true, false, 0, false, 0, false, false}, /* llama-style pairs, MHA */
        {2, 1, 130, 33, 17, false, 5, true, true, 0, false, 0, false, false}, /* odd pair count, pairs and bias */
        {4, 2, 64, 64, 20, false, 2, false, true, 0, false, 0, false, false}, /* qwen2: NEOX with q/k/v bias */
        {6, 1, 16, 40, 33, true, 2, false, true, 0, false, 0, false, false},  /* bias before q/k norm */
        {16, 1, 256, 40, 33, true, 2, false, false, 0, false, 0, false, false},  /* both limits: group of 16, head_dim 256 */
        /* Several subgroups per workgroup (a GPU's shape), merged in shared memory. */
        {16, 8, 128, 300, 77, true, 2, false, false, 64, false, 0, false, false},
        {6, 1, 16, 40, 33, true, 2, false, false, 64, false, 0, false, false},
        {2, 1, 130, 33, 17, false, 5, false, false, 64, false, 0, false, false},
        {4, 2, 64, 300, 5, true, 8, false, false, 128, false, 0, false, false},
        {16, 8, 128, 300, 77, true, 1, false, false, 64, false, 0, false, false}, /* one split: the merge writes the output */
        {2, 1, 130, 33, 17, false, 1, false, false, 64, false, 0, false, false},
        /* q8_0 KV cache */
        {4, 2, 64, 64, 1, true, 1, false, false, 0, true, 0, false, false},
        {4, 2, 64, 300, 300, true, 4, false, true, 0, true, 0, false, false},
        {16, 8, 128, 1024, 1000, true, 4, false, false, 0, true, 0, false, false},
        {16, 1, 256, 40, 33, true, 2, false, false, 0, true, 0, false, false},
        {8, 8, 32, 50, 37, false, 3, true, false, 64, true, 0, false, false},
        /* 1, 4 and 8 positions per team step (a GPU's tuning): chunks not a multiple of them, one team
         * and several, head_dim not a multiple of 8, q8_0 */
        {16, 8, 128, 300, 77, true, 2, false, false, 0, false, 1, false, false},
        {16, 8, 128, 300, 77, true, 2, false, false, 0, false, 4, false, false},
        {16, 8, 128, 300, 77, true, 3, false, false, 64, false, 8, false, false},
        {16, 8, 128, 1024, 1000, true, 7, false, false, 128, true, 8, false, false},
        {4, 2, 64, 300, 5, true, 8, false, false, 128, false, 8, false, false},
        {2, 1, 130, 33, 17, false, 5, false, false, 64, false, 4, false, false},
        {16, 1, 256, 40, 33, true, 1, false, false, 0, false, 8, false, false},
        /* the splits merged by attention's last split (attn.merge): one subgroup and several, empty
         * chunks, head_dim not a multiple of 8 (one value at a time), q8_0, the largest group and
         * head_dim, the most splits */
        {16, 8, 128, 300, 77, true, 2, false, false, 0, false, 0, true, false},
        {16, 8, 128, 300, 77, true, 5, false, false, 64, false, 4, true, false},
        {4, 2, 64, 300, 5, true, 8, false, false, 128, false, 8, true, false},
        {2, 1, 130, 33, 17, false, 5, false, false, 64, false, 0, true, false},
        {2, 1, 130, 33, 17, false, 5, false, false, 0, false, 0, true, false},
        {16, 8, 128, 1024, 1000, true, 7, false, false, 128, true, 8, true, false},
        {16, 1, 256, 40, 33, true, 2, false, false, 64, false, 0, true, false},
        {4, 2, 64, 300, 300, true, MKV_ATTN_MAX_SPLIT, false, false, 64, false, 0, true, false},
        {4, 2, 64, 300, 300, true, MKV_ATTN_MAX_SPLIT, false, false, 0, false, 0, true, false},
        /* a workgroup wider than the merge's 256 sums (attn_merge.glsl: an H200 has 48 KB of shared memory;
         * head_dim 16 keeps the teams' own merge within lavapipe's 32 KB at subgroups of 4) */
        {4, 2, 16, 300, 300, true, 8, false, false, 512, false, 0, true, false},
        /* rope_kv's work in attention (attn_rope): one split and several, merged or not, q/k norm or
         * not, both pairings, biases, one KV head and groups of 2 to 8, head_dim 130 and 256 (a group
         * of 16 at head_dim 256: its body, unrolled over 16 heads x 8 chunks a lane at lavapipe's
         * subgroups of 4, took LLVM minutes to compile) */
        {4, 2, 64, 64, 1, true, 1, false, false, 0, false, 0, false, true},
        {16, 8, 128, 300, 77, true, 2, false, false, 0, false, 0, false, true},
        {16, 8, 128, 300, 77, true, 5, false, false, 64, false, 4, true, true},
        {8, 8, 32, 50, 37, false, 3, true, false, 64, false, 0, false, true},
        {2, 1, 130, 33, 17, false, 5, true, true, 0, false, 0, true, true},
        {6, 1, 16, 40, 33, true, 2, false, true, 64, false, 0, false, true},
        {8, 2, 256, 40, 33, true, 2, false, false, 0, false, 2, true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_attention(&cases[i]);
}
END_TEST

/* Causal attention for a batch (prefill): positions < pos filled from the
 * host, then rope_kv + attention for n_tok tokens at positions pos ..
 * pos + n_tok - 1 (rows of qkv, q and the output padded apart), each token
 * attending to positions 0 .. its own; checked against the reference on
 * the K/V values the device holds, and the appended rows against the
 * reference's. Rows past n_tok of a pass of cap tokens stay untouched. */
static void check_attention_batch(const attn_case *c, uint32_t pos, uint32_t n_tok, uint32_t cap)
{
    const uint32_t hd = c->head_dim, qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    const uint32_t ld_qkv = qd + 2 * kvd + 5, ld_q = qd + 4; /* q rows: whole vec4 */
    const float theta = 10000.0f, eps = 1e-6f;
    const mkv_rope_style style = c->rope_norm ? MKV_ROPE_NORM : MKV_ROPE_NEOX;
    float *qkv = rand_vec((uint64_t)cap * ld_qkv, 2.0f), *qn = rand_vec(hd, 1.0f), *kn = rand_vec(hd, 1.0f);
    float *bias = rand_vec(qd + 2 * kvd, 1.0f), *tab = malloc((size_t)c->n_ctx * hd * 4);
    rope_table(c, theta, tab);
    float *kc = calloc((size_t)c->n_ctx * kvd, 4), *vc = calloc((size_t)c->n_ctx * kvd, 4);
    host_kv hk = host_kv_new(c->kv_q8, c->n_ctx, kvd, hd), hv = host_kv_new(c->kv_q8, c->n_ctx, kvd, hd);
    for (uint64_t i = 0; i < (uint64_t)pos * kvd; i++) {
        kc[i] = tu_rand_f(&rng) * 2.0f;
        vc[i] = tu_rand_f(&rng) * 2.0f;
    }
    for (uint32_t t = 0; t < pos; t++) {
        host_kv_store(&hk, t, kc + (size_t)t * kvd);
        host_kv_store(&hv, t, vc + (size_t)t * kvd);
    }
    mkv_buffer params, bqkv = vec_buf(qkv, (uint64_t)cap * ld_qkv), bqn = vec_buf(qn, hd), bkn = vec_buf(kn, hd);
    mkv_buffer bbias = vec_buf(bias, qd + 2 * kvd), brope = vec_buf(tab, (uint64_t)c->n_ctx * hd);
    mkv_buffer bq = vec_buf(NULL, (uint64_t)cap * ld_q), bout = vec_buf(NULL, (uint64_t)cap * ld_q), bk, bv;
    mkv_buffer bpart = vec_buf(NULL, mkv_attn_partials_floats(c->n_head, c->n_split, hd, cap));
    mkv_buffer bdone = vec_buf(NULL, (uint64_t)cap * c->n_kv_head); /* the merge's counters, per token (created zero) */
    OK(mkv_buffer_create(dev, hk.size, MKV_MEM_DEVICE, &bk, E));
    OK(mkv_buffer_create(dev, hv.size, MKV_MEM_DEVICE, &bv, E));
    OK(mkv_buffer_write(dev, &bk, 0, hk.bytes, hk.size, E));
    OK(mkv_buffer_write(dev, &bv, 0, hv.bytes, hv.size, E));
    OK(mkv_buffer_create(dev, mkv_step_params_bytes(cap), MKV_MEM_HOST, &params, E));
    mkv_step_params p = {.pos = pos, .n_tok = n_tok};
    memcpy(params.map, &p, 16);
    mkv_attn_dims ad = {.n_head = c->n_head, .n_kv_head = c->n_kv_head, .head_dim = hd, .n_ctx = c->n_ctx,
                        .n_split = c->n_split, .qk_norm = c->qk_norm, .rope_norm = c->rope_norm,
                        .kv_q8 = c->kv_q8, .eps = eps, .n_batch = cap, .ld_qkv = ld_qkv, .ld_q = ld_q};
    kt k;
    mkv_recorder *r = kt_begin(&k);
    if (c->wg) r->tune.wg_attn = r->tune.wg_norm = c->wg; /* attention, rope_kv and attn_combine */
    if (c->u) r->tune.u_attn = c->u;
    if (c->merge) r->tune.merge_attn = true;
    OK(mkv_op_rope_kv(r, &ad, &params, &bqkv, c->bias ? &bbias : NULL, &bqn, &bkn, &brope, &bq, &bk, &bv, E));
    OK(mkv_op_attention(r, &ad, &params, &bq, &bk, &bv, &bpart, &bdone, &bout, E));
    kt_run(&k);

    /* the reference's q, k, v of every token; K/V rows as the device holds them */
    float *q = malloc((size_t)n_tok * qd * 4), *kx = malloc((size_t)n_tok * kvd * 4), *vx = malloc((size_t)n_tok * kvd * 4);
    for (uint32_t b = 0; b < n_tok; b++) {
        float *x = qkv + (size_t)b * ld_qkv;
        if (c->bias)
            for (uint32_t i = 0; i < qd + 2 * kvd; i++) x[i] += bias[i];
        memcpy(q + (size_t)b * qd, x, qd * 4);
        memcpy(kx + (size_t)b * kvd, x + qd, kvd * 4);
        memcpy(vx + (size_t)b * kvd, x + qd + kvd, kvd * 4);
        for (uint32_t h = 0; h < c->n_head; h++) {
            float *v = q + (size_t)b * qd + h * hd;
            if (c->qk_norm) ref_rmsnorm(v, qn, hd, eps, v);
            ref_rope(v, hd, pos + b, theta, style);
        }
        for (uint32_t h = 0; h < c->n_kv_head; h++) {
            float *v = kx + (size_t)b * kvd + h * hd;
            if (c->qk_norm) ref_rmsnorm(v, kn, hd, eps, v);
            ref_rope(v, hd, pos + b, theta, style);
        }
    }
    OK(mkv_buffer_read(dev, &bk, 0, hk.bytes, hk.size, E));
    OK(mkv_buffer_read(dev, &bv, 0, hv.bytes, hv.size, E));
    double ek = 0, ev = 0;
    for (uint32_t b = 0; b < n_tok; b++) {
        float *dk = kc + (size_t)(pos + b) * kvd, *dv = vc + (size_t)(pos + b) * kvd;
        host_kv_load(&hk, pos + b, dk);
        host_kv_load(&hv, pos + b, dv);
        const double a = rel_err(dk, kx + (size_t)b * kvd, kvd), e = rel_err(dv, vx + (size_t)b * kvd, kvd);
        ek = a > ek ? a : ek;
        ev = e > ev ? e : ev;
    }
    float *gq = read_vec(&bq, (uint64_t)cap * ld_q), *go = read_vec(&bout, (uint64_t)cap * ld_q), *ref = malloc(qd * 4);
    double eq = 0, eo = 0;
    for (uint32_t b = 0; b < n_tok; b++) {
        ref_attention(q + (size_t)b * qd, kc, vc, pos + b + 1, c->n_head, c->n_kv_head, hd, ref);
        const double a = rel_err(gq + (size_t)b * ld_q, q + (size_t)b * qd, qd), o = rel_err(go + (size_t)b * ld_q, ref, qd);
        eq = a > eq ? a : eq;
        eo = o > eo ? o : eo;
    }
    for (uint64_t i = (uint64_t)n_tok * ld_q; i < (uint64_t)cap * ld_q; i++) ck_assert(gq[i] == 0.0f);
    const double kv_tol = c->kv_q8 ? 1.0 / 127 + 1e-4 : 1e-3;
    ck_assert_msg(eq <= 2e-5 && ek <= kv_tol && ev <= kv_tol && eo <= 1e-3,
                  "batch: heads %u/%u hd %u pos %u tokens %u of %u split %u norm %d rope_norm %d bias %d wg %u u %u kv_q8 %d: "
                  "q %.3g k %.3g v %.3g out %.3g",
                  c->n_head, c->n_kv_head, hd, pos, n_tok, cap, c->n_split, c->qk_norm, c->rope_norm, c->bias, c->wg,
                  c->u, c->kv_q8, eq, ek, ev, eo);
    float *gd = read_vec(&bdone, (uint64_t)cap * c->n_kv_head);
    for (uint64_t i = 0; i < (uint64_t)cap * c->n_kv_head; i++) ck_assert(gd[i] == 0.0f); /* left at zero */
    mkv_buffer *bufs[] = {&params, &bqkv, &bqn, &bkn, &bbias, &brope, &bq, &bout, &bk, &bv, &bpart, &bdone};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mkv_buffer_destroy(dev, bufs[i]);
    free(gd);
    free(qkv); free(qn); free(kn); free(bias); free(tab); free(kc); free(vc); free(hk.bytes); free(hv.bytes);
    free(q); free(kx); free(vx); free(gq); free(go); free(ref);
}

/* GQA ratios 1, 2, 4 (and 6, 16), odd lengths, from position 0 and after a
 * filled cache, split or not, both RoPE pairings, biases, q8_0 K/V. */
START_TEST(causal_batch_attention_matches_reference)
{
    use_reads(_i);
    static const struct { attn_case c; uint32_t pos, n_tok, cap; } cases[] = {
        /*  heads kv  hd  ctx n_kv norm split rope_norm bias wg kv_q8      pos n_tok cap */
        {{4, 4, 64, 64, 0, true, 1, false, false, 0, false, 0, false, false}, 0, 17, 17},   /* GQA 1 */
        {{4, 2, 64, 64, 0, true, 1, false, false, 0, false, 0, false, false}, 0, 1, 3},     /* GQA 2, one token of three */
        {{8, 2, 32, 80, 0, false, 1, true, true, 0, false, 0, false, false}, 13, 29, 32},   /* GQA 4, after a cache */
        {{6, 1, 16, 90, 0, true, 3, false, false, 0, false, 0, false, false}, 7, 33, 33},   /* split in 3 */
        {{2, 1, 130, 40, 0, false, 1, false, true, 0, false, 0, false, false}, 0, 11, 16},  /* head_dim not a multiple of 8 */
        {{16, 8, 128, 300, 0, true, 1, false, false, 0, false, 0, false, false}, 250, 37, 48}, /* 0.6b-like */
        {{16, 8, 128, 300, 0, true, 1, false, false, 64, false, 0, false, false}, 3, 19, 19}, /* a GPU's workgroup */
        {{8, 2, 64, 100, 0, true, 2, false, false, 0, true, 0, false, false}, 20, 23, 24},  /* q8_0 K/V */
        {{16, 8, 128, 300, 0, true, 1, false, false, 64, false, 8, false, false}, 3, 19, 19}, /* 8 positions per team step */
        {{8, 2, 64, 100, 0, true, 2, false, false, 0, true, 4, false, false}, 20, 23, 24},
        /* split passes merged by their last split (attn.merge): a counter per token and KV head */
        {{6, 1, 16, 90, 0, true, 3, false, false, 0, false, 0, true, false}, 7, 33, 33},
        {{8, 2, 64, 100, 0, true, 2, false, false, 64, true, 4, true, false}, 20, 23, 24},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_attention_batch(&cases[i].c, cases[i].pos, cases[i].n_tok, cases[i].cap);
}
END_TEST

/* The 0.6b shape at cache lengths 1 and 2, one position either side of the
 * first two split boundaries of the device's attention chunk, and 10240:
 * once with splits as bench sizes them (cache = n_kv, every chunk full but
 * the last; f16 also, at 2c + 1 and 10240, with the splits merged by
 * attention's last split, and at 2c + 1 with rope_kv's work in attention) and
 * once in a cache of four chunks (short and empty chunks). */
START_TEST(attention_matches_reference_at_split_boundaries_and_long_context)
{
    use_reads(_i);
    mkv_tunables t;
    mkv_tunables_for(dev, &t);
    const uint32_t c = t.attn_chunk;
    const uint32_t lens[] = {1, 2, c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 1, 10240};
    for (int q8 = 0; q8 < 2; q8++) /* f16 and q8_0 caches */
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            const uint32_t n = lens[i];
            attn_case full = {16, 8, 128, n, n, true, mkv_attn_splits(n, c), false, false, 0, q8, 0, false, false};
            check_attention(&full);
            if (!q8 && (n == 2 * c + 1 || n == 10240)) { /* merged by the last split (attn.merge) */
                full.merge = true;
                check_attention(&full);
            }
            if (!q8 && n == 2 * c + 1) { /* and with rope_kv's work in attention (attn_rope: storage reads,
                                          * slow on lavapipe, so not at 10240) */
                full.rope = true;
                check_attention(&full);
            }
            if (n <= 4 * c) {
                attn_case roomy = {16, 8, 128, 4 * c, n, true, 4, false, false, 0, q8, 0, false, false};
                check_attention(&roomy);
            }
        }
}
END_TEST

/* ---- the sweep space ---- */

/* Every variant `bench --sweep` may choose on this device (runtime/tuning.c,
 * mkv_tuning_variants: the space a tuning file is held to) at this subgroup
 * size, with texel and with storage reads. Each group's first variant is
 * the table row's own values, which every other test here runs; the others:
 * matvec's through matvec (q4_0, and f16 with texel reads), SwiGLU (q4_0),
 * SwiGLU + MeKi gate (f16), ffn_out (q4_0) and ffn_out + MeKi (f16), mm's
 * through the batched product (f16, and q4_0 with texel reads), at odd
 * shapes: the tile logic is the same for every type, and each variant is a
 * pipeline of its own to compile, seconds each on lavapipe for the larger
 * tiles (q4_0's mm 2 to 6 s, q4_k's more: not here); attn.chunk's through attention at the
 * lengths around its first split boundaries, split as a session splits a
 * context of that length (f16 and q8_0 caches). */
START_TEST(every_variant_of_the_sweep_space_matches_reference)
{
    use_reads(_i);
    const mkv_tuning_key key = mkv_device_tuning_key(dev);
    mkv_tunables row, v[MKV_TUNING_MAX_VARIANTS];
    mkv_tuning_pick(&key, &row);
    ck_assert(mkv_tuning_equal(&row, &dev->tune)); /* the other tests' tunables: the row's */
    static const uint32_t keep[3] = {0, 0, 0};
    mkv_error err;
    uint32_t c1[4], c4[4];
    type_cols(MKV_WT_F16, c1);
    type_cols(MKV_WT_Q4_0, c4);
    /* the reads group is this loop's pass */
    uint32_t n = mkv_tuning_variants(&key, &row, MKV_TUNE_READS, v);
    ck_assert_uint_eq(n, dev->max_texel_elements ? 2 : 1);
    for (int g = 0; g < MKV_TUNE_GROUPS; g++) {
        n = mkv_tuning_variants(&key, &row, (mkv_tuning_group)g, v);
        ck_assert_uint_ge(n, 1);
        ck_assert(mkv_tuning_equal(&v[0], &row));
        for (uint32_t i = 0; i < n; i++) {
            char d[96];
            mkv_tuning_describe((mkv_tuning_group)g, &v[i], false, d, sizeof d);
            ck_assert_msg(mkv_tuning_check_space(&key, &v[i], d, &err) == MKV_OK, "%s", err.msg);
            if (i == 0 && g != MKV_TUNE_ATTN) continue; /* the row's: the tests above */
            variant = &v[i];
            if (g == MKV_TUNE_MATVEC) {
                static const ffn_out_case mk = {256, 700, 64, MKV_BANK_Q8, 4, 3};
                if (_i) check_typed_matvec(MKV_WT_F16, 37, c1[1], MKV_MATVEC_ACCUMULATE, 0);
                check_typed_matvec(MKV_WT_Q4_0, 129, c4[2], 0, 0);
                check_typed_swiglu(MKV_WT_Q4_0, 77, c4[1], 0);
                check_typed_swiglu(MKV_WT_F16, 45, c1[1], 13);
                check_typed_ffn_out(MKV_WT_Q4_0, 45, c4[2]);
                check_ffn_out(&mk); /* W_mo is f16 */
            } else if (g == MKV_TUNE_MM) {
                check_typed_mm(MKV_WT_F16, 37, c1[1], 17, 19, MKV_MATVEC_ACCUMULATE, 0, keep);
                if (_i) check_typed_mm(MKV_WT_Q4_0, 67, c4[2], 33, 40, 0, 0, keep);
            } else if (g == MKV_TUNE_ATTN) {
                const uint32_t c = v[i].attn_chunk, lens[] = {c - 1, c + 1, 2 * c + 1};
                for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                    const uint32_t split = (lens[l] + c - 1) / c;
                    attn_case a = {16, 8, 128, lens[l], lens[l], true, split, false, false, 0, false, 0, false, false};
                    check_attention(&a);
                    attn_case b = {4, 2, 64, lens[l], lens[l] / 2 + 1, false, split, true, false, 0, true, 0, false, false};
                    check_attention(&b);
                }
            }
            variant = NULL;
        }
    }
}
END_TEST

/* ---- argmax ---- */

START_TEST(argmax_finds_first_maximum)
{
    use_reads(_i);
    static const uint32_t sizes[] = {1, 2, 7, 2048, 2049, 32000, 151680};
    for (size_t i = 0; i < 3 * sizeof sizes / sizeof sizes[0]; i++) {
        uint32_t n = sizes[i / 3];
        float *x = rand_vec(n, 10.0f);
        /* a tie at the maximum, the lower index must win: at random places; side by side
         * (one vec4 or two, argmax.comp); the first and the next to last value (their
         * workgroups' slots, the later one met first) */
        uint32_t a = (uint32_t)(tu_rand_u64(&rng) % n), b = (uint32_t)(tu_rand_u64(&rng) % n);
        if (i % 3 == 1) b = (a = n / 2) + 1 < n ? a + 1 : a;
        if (i % 3 == 2) a = n > 1 ? n - 2 : 0, b = 0;
        x[a] = 50.0f;
        x[b] = 50.0f;
        if (n > 3) x[n - 1] = NAN; /* NaN never wins */
        mkv_buffer bx = vec_buf(x, n), slots, res;
        kt k;
        mkv_recorder *r = kt_begin(&k);
        OK(mkv_buffer_create(dev, 8ull * mkv_argmax_slots(r, n), MKV_MEM_DEVICE, &slots, E));
        OK(mkv_buffer_create(dev, 8, MKV_MEM_HOST, &res, E));
        OK(mkv_op_argmax(r, &bx, n, &slots, &res, E));
        kt_run(&k);
        uint32_t got;
        memcpy(&got, (uint8_t *)res.map + 4, 4);
        ck_assert_msg(got == (a < b ? a : b), "n=%u: argmax %u, want %u", n, got, a < b ? a : b);
        mkv_buffer_destroy(dev, &bx); mkv_buffer_destroy(dev, &slots); mkv_buffer_destroy(dev, &res);
        free(x);
    }
}
END_TEST

/* ---- the host side of the kernel table ---- */

/* The bandwidth probe reads every byte: its XOR of all words equals the
 * host's, for sizes that end mid-workgroup and mid-block. The public probe
 * reports a positive figure and refuses sizes it cannot bind. */
/* The probe's kernels are checked shape by shape in test_probe.c; here the
 * public call, on this device. */
START_TEST(bandwidth_probe_measures_and_refuses_bad_sizes)
{
    double gbps = 0;
    OK(mkv_device_bandwidth(dev, 8u << 20, &gbps, E));
    ck_assert_msg(gbps > 0.01 && gbps < 1e5, "probe: %g GB/s", gbps);
    mkv_error err;
    ck_assert_int_eq(mkv_device_bandwidth(dev, 8, &gbps, &err), MKV_ERR_INVALID_ARG);
    ck_assert_int_eq(mkv_device_bandwidth(dev, dev->max_storage_range + 4096ull, &gbps, &err), MKV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(dispatch_rejects_wrong_binding_count_and_push_size)
{
    mkv_buffer b = vec_buf(NULL, 8);
    kt k;
    mkv_recorder *r = kt_begin(&k);
    const mkv_buffer *bufs[2] = {&b, &b};
    uint32_t pc[2] = {0};
    mkv_error err = {0};
    ck_assert_int_eq(mkv_rec_dispatch(r, MKV_KERNEL_RMSNORM, mkv_spec1(64), bufs, 2, pc, 8, 1, 1, 0, &err), MKV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "rmsnorm"));
    const mkv_buffer *bufs3[3] = {&b, &b, &b};
    ck_assert_int_eq(mkv_rec_dispatch(r, MKV_KERNEL_RMSNORM, mkv_spec1(64), bufs3, 3, pc, 4, 1, 1, 0, &err), MKV_ERR_INVALID_ARG);
    kt_run(&k);
    mkv_buffer_destroy(dev, &b);
}
END_TEST

/* Every kernel declares only capabilities the engine knows how to enable,
 * and needs no optional feature but the cooperative-matrix kernels, which
 * need no more than a device with them is created with (device.h,
 * MKV_SPV_COOP_FEATURES). lavapipe never builds mm_cm, so only this static
 * check catches a feature it needs and the device does not enable (an
 * NVIDIA H200's validation layer found VulkanMemoryModel so). */
START_TEST(every_kernel_needs_only_the_features_its_device_enables)
{
    for (int i = 0; i < MKV_KERNEL_COUNT; i++) {
        const mkv_kernel_spirv *k = &mkv_kernel_spirv_table[i];
        mkv_spirv_info info;
        mkv_error err = {0};
        ck_assert_msg(mkv_spirv_reflect(k->code, *k->size, k->name, &info, &err) == MKV_OK, "%s", err.msg);
        const bool cm = !strncmp(k->name, "mm_cm_", 6) && strncmp(k->name, "mm_cm_emu_", 10);
        if (cm) {
            ck_assert_msg(info.needs & MKV_SPV_NEED_COOP_NV, "%s: no cooperative matrices", k->name);
            ck_assert_msg(!(info.needs & ~MKV_SPV_COOP_FEATURES), "%s: needs %s, which a device with cooperative "
                          "matrices is not created with", k->name,
                          mkv_spv_need_name(info.needs & ~MKV_SPV_COOP_FEATURES & -(info.needs & ~MKV_SPV_COOP_FEATURES)));
        } else {
            ck_assert_msg(info.needs == 0, "%s: needs %s", k->name, mkv_spv_need_name(info.needs & -info.needs));
        }
    }
    /* a device without them refuses those kernels by name, before Vulkan sees them */
    if (!dev->coop_nv) {
        const uint32_t spec[2] = {dev->subgroup_size, dev->subgroup_size};
        const mkv_pipeline *p;
        mkv_error err = {0};
        ck_assert_int_eq(mkv_pipeline_get(dev, MKV_KERNEL_MM_CM_T(MKV_WT_Q4_0), spec, 2, &p, &err), MKV_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(err.msg, "mm_cm_q4_0") && strstr(err.msg, "created without"), "%s", err.msg);
    }
    /* a capability mekivk does not know (Int8, 39) is refused, naming it */
    const uint32_t mod[] = {0x07230203u, 0x00010300u, 0, 8, 0, 2u << 16 | 17u, 1, 2u << 16 | 17u, 39};
    mkv_spirv_info info;
    mkv_error err = {0};
    ck_assert_int_eq(mkv_spirv_reflect(mod, sizeof mod, "made_up", &info, &err), MKV_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "made_up") && strstr(err.msg, "capability 39"), "%s", err.msg);
    /* and one it knows gives its bit */
    const uint32_t mod2[] = {0x07230203u, 0x00010300u, 0, 8, 0, 2u << 16 | 17u, 1, 2u << 16 | 17u, 9};
    ck_assert_int_eq(mkv_spirv_reflect(mod2, sizeof mod2, "made_up", &info, &err), MKV_OK);
    ck_assert_uint_eq(info.needs, MKV_SPV_NEED_FLOAT16);
}
END_TEST

/* The shared memory of a specialised module, read from its SPIR-V
 * (runtime/spirv_shared.c): every module evaluates; attention's matches
 * mkv_attn_shared (the count ops.c checks first, to name attn.wg) at every
 * shape; a pipeline past the device's shared memory is refused before
 * Vulkan sees it, naming the kernel and the bytes. */
START_TEST(shared_memory_is_read_from_the_spirv)
{
    mkv_error err = {0};
    uint64_t b = 0;
    for (int i = 0; i < MKV_KERNEL_COUNT; i++) {
        const mkv_kernel_spirv *k = &mkv_kernel_spirv_table[i];
        ck_assert_msg(mkv_spirv_shared_bytes(k->code, *k->size, k->name, NULL, 0, &b, &err) == MKV_OK, "%s", err.msg);
    }
    const mkv_kernel_id attn[] = {MKV_KERNEL_ATTN, MKV_KERNEL_ATTN_TB, MKV_KERNEL_ATTN_Q8, MKV_KERNEL_ATTN_Q8_TB,
                                  MKV_KERNEL_ATTN_ROPE};
    const uint32_t hds[] = {2, 6, 14, 64, 80, 96, 128, 256};
    unsigned checked = 0;
    for (size_t a = 0; a < sizeof attn / sizeof attn[0]; a++) {
        const mkv_kernel_spirv *k = &mkv_kernel_spirv_table[attn[a]];
        for (uint32_t sg = 4; sg <= 128; sg *= 2)
            for (uint32_t wg = sg; wg <= 1024; wg *= 2)
                for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++) {
                    /* WG, G, HD, SG, U, MERGE, NEOX, QK_NORM, HAS_BIAS (attn.h) */
                    const uint32_t spec[9] = {wg, 2, hds[h], sg, 2, 1, 1, 1, 0};
                    ck_assert_msg(mkv_spirv_shared_bytes(k->code, *k->size, k->name, spec, 9, &b, &err) == MKV_OK, "%s",
                                  err.msg);
                    ck_assert_msg(b == mkv_attn_shared(wg, sg, hds[h]), "%s, wg %u, sg %u, head_dim %u: %llu bytes in "
                                  "the SPIR-V, mkv_attn_shared says %u", k->name, wg, sg, hds[h], (unsigned long long)b,
                                  mkv_attn_shared(wg, sg, hds[h]));
                    checked++;
                }
    }
    ck_assert_uint_eq(checked, 5 * (9 + 8 + 7 + 6 + 5 + 4) * 8); /* wg from sg up to 1024, sg = 4 .. 128 */
    /* a workgroup-sized array: the probe's red[gl_WorkGroupSize.x] (4 bytes each) */
    const mkv_kernel_spirv *probe = &mkv_kernel_spirv_table[MKV_KERNEL_BW_PROBE];
    const uint32_t spec2[2] = {64, 4};
    ck_assert_int_eq(mkv_spirv_shared_bytes(probe->code, *probe->size, probe->name, spec2, 2, &b, &err), MKV_OK);
    ck_assert_uint_eq(b, 256);
    /* one invocation past the device's shared memory: refused by name */
    const uint32_t over[2] = {dev->props.limits.maxComputeSharedMemorySize / 4 + 1, 4};
    const mkv_pipeline *p;
    ck_assert_int_eq(mkv_pipeline_get(dev, MKV_KERNEL_BW_PROBE, over, 2, &p, &err), MKV_ERR_DEVICE_LIMIT);
    ck_assert_msg(strstr(err.msg, "bw_probe") && strstr(err.msg, "shared memory"), "%s", err.msg);
    /* an array whose length is no constant it knows: refused, not guessed */
    const uint32_t mod[] = {0x07230203u, 0x00010300u, 0, 8, 0,
                            4u << 16 | 21u, 1, 32, 0,      /* %1 = OpTypeInt 32 0 */
                            4u << 16 | 28u, 2, 1, 7};      /* %2 = OpTypeArray %1 %7 (%7 undefined) */
    ck_assert_int_eq(mkv_spirv_shared_bytes(mod, sizeof mod, "made_up", NULL, 0, &b, &err), MKV_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "made_up") && strstr(err.msg, "length"), "%s", err.msg);
}
END_TEST

/* The guard behind every GPU test: with the layer on, a misuse is counted
 * (so "no messages" in the other tests means something). */
/* A device of its own with the validation layer on and its messages
 * counted, not printed: the misuse tests below expect some. */
static mkv_device *quiet_validated_device(void)
{
    mkv_device_opts o;
    mkv_device_opts_default(&o);
    o.validation = true;
    o.quiet = true;
    mkv_device *d2;
    mkv_error err;
    ck_assert_msg(mkv_device_create(&o, &d2, &err) == MKV_OK, "%s", err.msg);
    return d2;
}

/* Two transfer writes to one buffer with no barrier between: a hazard
 * only synchronization validation sees (the GPU tests run with it on:
 * tests/CMakeLists.txt sets VK_LAYER_ENABLES). */
static void fill_twice(const mkv_device *d, VkCommandBuffer cb, void *user)
{
    const mkv_buffer *b = user;
    d->vk.vkCmdFillBuffer(cb, b->buf, 0, VK_WHOLE_SIZE, 1);
    d->vk.vkCmdFillBuffer(cb, b->buf, 0, VK_WHOLE_SIZE, 2);
}

START_TEST(synchronization_validation_counts_a_missing_barrier)
{
    const char *v = getenv("MKV_VALIDATION"), *en = getenv("VK_LAYER_ENABLES");
    if (!v || strcmp(v, "1") != 0 || !en || !strstr(en, "SYNCHRONIZATION")) return; /* ctest always sets both */
    mkv_device *d2 = quiet_validated_device();
    mkv_error err;
    mkv_buffer b;
    ck_assert_msg(mkv_buffer_create(d2, 256, MKV_MEM_DEVICE, &b, &err) == MKV_OK, "%s", err.msg);
    ck_assert_uint_eq(mkv_device_validation_count(d2), 0);
    ck_assert_msg(mkv_device_submit_once(d2, fill_twice, &b, &err) == MKV_OK, "%s", err.msg);
    ck_assert_uint_gt(mkv_device_validation_count(d2), 0); /* SYNC-HAZARD-WRITE-AFTER-WRITE */
    mkv_buffer_destroy(d2, &b);
    mkv_device_destroy(d2);
}
END_TEST

START_TEST(validation_layer_counts_a_misuse)
{
    const char *v = getenv("MKV_VALIDATION");
    if (!v || strcmp(v, "1") != 0) return; /* ctest always sets it */
    mkv_device *d2 = quiet_validated_device();
    ck_assert_uint_eq(mkv_device_validation_count(d2), 0);
    /* usage = 0 violates VUID-VkBufferCreateInfo-usage-requiredbitmask */
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 64, .usage = 0};
    VkBuffer b = VK_NULL_HANDLE;
    if (d2->vk.vkCreateBuffer(d2->dev, &bi, NULL, &b) == VK_SUCCESS) d2->vk.vkDestroyBuffer(d2->dev, b, NULL);
    ck_assert_uint_gt(mkv_device_validation_count(d2), 0);
    mkv_device_destroy(d2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, matvec_matches_reference_on_odd_sizes, 0, 2);
    tcase_add_loop_test(tc, matvec_over_split_bindings_matches_reference, 0, 2);
    tcase_add_loop_test(tc, matvec_swiglu_matches_reference, 0, 2);
    tcase_add_loop_test(tc, matvec_reads_every_weight_type_as_stored, 0, 3);
    tcase_add_loop_test(tc, swiglu_and_meki_gate_read_every_weight_type_as_stored, 0, 3);
    tcase_add_loop_test(tc, ffn_out_reads_every_weight_type_as_stored, 0, 3);
    tcase_add_loop_test(tc, mm_reads_every_weight_type_as_stored_for_any_batch_and_tile, 0, 2);
    tcase_add_test(tc, mm_on_cooperative_matrices_matches_reference_for_every_type);
    tcase_add_test(tc, mm_cm_tiles_match_reference_with_the_matrix_steps_emulated);
    tcase_add_test(tc, embed_decodes_every_weight_type_as_the_cpu_does);
    tcase_add_test(tc, matmul_and_matmul_swiglu_match_reference_on_odd_sizes);
    tcase_add_loop_test(tc, swiglu_meki_gives_swiglu_and_gate, 0, 2);
    tcase_add_loop_test(tc, rmsnorm_matches_reference, 0, 2);
    tcase_add_loop_test(tc, batch_norms_activation_and_meki_rows_match_reference, 0, 2);
    tcase_add_loop_test(tc, ffn_out_adds_down_projection_and_meki_then_norms_for_the_next_layer_twice_in_a_row, 0, 2);
    tcase_add_test(tc, embed_gathers_the_token_row_from_any_part);
    tcase_add_loop_test(tc, attention_matches_reference_for_gqa_shapes_positions_rope_styles_and_biases, 0, 2);
    tcase_add_loop_test(tc, attention_matches_reference_at_split_boundaries_and_long_context, 0, 2);
    tcase_add_loop_test(tc, causal_batch_attention_matches_reference, 0, 2);
    tcase_add_loop_test(tc, argmax_finds_first_maximum, 0, 2);
    tcase_add_test(tc, bandwidth_probe_measures_and_refuses_bad_sizes);
    tcase_add_test(tc, dispatch_rejects_wrong_binding_count_and_push_size);
    tcase_add_test(tc, every_kernel_needs_only_the_features_its_device_enables);
    tcase_add_test(tc, shared_memory_is_read_from_the_spirv);
    /* its own case: CK_RUN_CASE=sweep_space runs it alone */
    TCase *ts = tcase_create("sweep_space");
    tcase_add_checked_fixture(ts, setup, teardown);
    tcase_set_timeout(ts, 600);
    tcase_add_loop_test(ts, every_variant_of_the_sweep_space_matches_reference, 0, 2);
    suite_add_tcase(s, ts);
    TCase *tv = tcase_create("validation");
    tcase_add_test(tv, validation_layer_counts_a_misuse);
    tcase_add_test(tv, synchronization_validation_counts_a_missing_barrier);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tv);
    return tu_run_suite(s);
}
