/* f16 <-> f32 conversion (runtime/half.h): exhaustive over halves, against
 * the compiler's _Float16 and an independent double-precision rounding on
 * millions of floats, and the special cases by name. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "test_util.h"

#if defined(__FLT16_MANT_DIG__)
#define HAVE_FLOAT16 1
static uint16_t cc_to_half(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}
static float cc_to_float(uint16_t b)
{
    _Float16 h;
    memcpy(&h, &b, 2);
    return (float)h;
}
#else
#define HAVE_FLOAT16 0
#endif

static bool half_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

static uint32_t fbits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static float bits_f(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* Independent rounding of x to the nearest binary16 value, ties to even,
 * computed in double with rint (the default rounding mode is nearest-even). */
static double round_half_ref(double x)
{
    if (isnan(x)) return x;
    double ax = fabs(x);
    if (ax >= 65520.0) return copysign(INFINITY, x);
    if (ax == 0.0) return x;
    int e;
    frexp(ax, &e);                 /* ax = m * 2^e, m in [0.5, 1) */
    int E = e - 1 < -14 ? -14 : e - 1;
    double ulp = ldexp(1.0, E - 10);
    return copysign(rint(ax / ulp) * ulp, x);
}

/* Checks one float's conversion; returns false (with a message) on error. */
static bool check_one(float f, char *msg, size_t cap)
{
    uint16_t h = mkv_float_to_half(f);
    if (isnan(f)) {
        if (!half_is_nan(h) || (h >> 15) != (fbits(f) >> 31)) {
            snprintf(msg, cap, "NaN 0x%08x -> 0x%04x", fbits(f), h);
            return false;
        }
        return true;
    }
#if HAVE_FLOAT16
    uint16_t want = cc_to_half(f);
    if (h != want) {
        snprintf(msg, cap, "%a (0x%08x) -> 0x%04x, _Float16 gives 0x%04x", f, fbits(f), h, want);
        return false;
    }
#endif
    double r = round_half_ref(f);
    float got = mkv_half_to_float(h);
    if ((double)got != r || !signbit(got) != !signbit(r)) {
        snprintf(msg, cap, "%a (0x%08x) -> %a, rint reference gives %a", f, fbits(f), got, r);
        return false;
    }
    return true;
}

START_TEST(every_non_nan_half_round_trips_exactly)
{
    uint32_t checked = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if (half_is_nan((uint16_t)h)) continue;
        float f = mkv_half_to_float((uint16_t)h);
        ck_assert_msg(mkv_float_to_half(f) == h, "0x%04x -> %a -> 0x%04x", h, f, mkv_float_to_half(f));
#if HAVE_FLOAT16
        ck_assert_msg(fbits(f) == fbits(cc_to_float((uint16_t)h)), "0x%04x -> %a, _Float16 gives %a", h,
                      f, cc_to_float((uint16_t)h));
#endif
        checked++;
    }
    ck_assert_uint_eq(checked, 65536 - 2 * 1023);
}
END_TEST

START_TEST(every_nan_half_decodes_to_nan_and_back_to_nan)
{
    for (uint32_t h = 0; h < 65536; h++) {
        if (!half_is_nan((uint16_t)h)) continue;
        float f = mkv_half_to_float((uint16_t)h);
        ck_assert_msg(isnan(f), "0x%04x -> %a", h, f);
        ck_assert_msg(!!signbit(f) == !!(h & 0x8000u), "0x%04x sign", h);
        uint16_t back = mkv_float_to_half(f);
        ck_assert_msg(half_is_nan(back) && (back & 0x8000u) == (h & 0x8000u), "0x%04x -> 0x%04x", h, back);
    }
}
END_TEST

START_TEST(float_rounding_is_nearest_even_on_ten_million_floats)
{
    uint64_t rng = 0x1234567u;
    char msg[160];
    const uint32_t n = 10u * 1000u * 1000u;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = tu_rand_u64(&rng);
        uint32_t b = (uint32_t)(r >> 32);
        float f;
        switch (i % 4) {
        case 0: /* any bit pattern: mostly overflow/underflow, some NaN */
            f = bits_f(b);
            break;
        case 1: /* exponent in [2^-26, 2^17): subnormal, normal and overflow halves */
            f = bits_f((b & 0x807fffffu) | ((uint32_t)(101 + (r & 0xffff) % 43) << 23));
            break;
        case 2: { /* exact tie between two adjacent finite halves, either sign */
            uint16_t h = (uint16_t)(r % 0x7bffu);
            double mid = ((double)mkv_half_to_float(h) + mkv_half_to_float((uint16_t)(h + 1))) / 2;
            f = (float)((b & 1) ? -mid : mid);
            break;
        }
        default: { /* one float ulp either side of a tie */
            uint16_t h = (uint16_t)(r % 0x7bffu);
            double mid = ((double)mkv_half_to_float(h) + mkv_half_to_float((uint16_t)(h + 1))) / 2;
            f = nextafterf((float)mid, (b & 1) ? INFINITY : 0.0f);
            if (b & 2) f = -f;
            break;
        }
        }
        if (!check_one(f, msg, sizeof msg)) ck_abort_msg("sample %u: %s", i, msg);
    }
}
END_TEST

START_TEST(subnormal_halves_round_to_nearest_even)
{
    const float u = 0x1p-24f; /* smallest subnormal half */
    ck_assert_uint_eq(mkv_float_to_half(u), 0x0001);
    ck_assert_uint_eq(mkv_float_to_half(-u), 0x8001);
    ck_assert_uint_eq(mkv_float_to_half(0x1p-25f), 0x0000);          /* tie -> even (0) */
    ck_assert_uint_eq(mkv_float_to_half(nextafterf(0x1p-25f, 1)), 0x0001);
    ck_assert_uint_eq(mkv_float_to_half(1.5f * u), 0x0002);          /* tie -> even (2) */
    ck_assert_uint_eq(mkv_float_to_half(2.5f * u), 0x0002);          /* tie -> even (2) */
    ck_assert_uint_eq(mkv_float_to_half(1023 * u), 0x03ff);          /* largest subnormal */
    ck_assert_uint_eq(mkv_float_to_half(1023.5f * u), 0x0400);       /* tie -> even: smallest normal */
    ck_assert_uint_eq(mkv_float_to_half(0x1p-14f), 0x0400);
    ck_assert_uint_eq(mkv_float_to_half(0x1p-30f), 0x0000);
    ck_assert_uint_eq(mkv_float_to_half(-0x1p-30f), 0x8000);         /* sign of zero kept */
    ck_assert_uint_eq(mkv_float_to_half(bits_f(1)), 0x0000);         /* float subnormal */
    ck_assert(mkv_half_to_float(0x0001) == u);
    ck_assert(mkv_half_to_float(0x03ff) == 1023 * u);
    ck_assert(signbit(mkv_half_to_float(0x8000)) && mkv_half_to_float(0x8000) == 0.0f);
    char msg[160];
    for (uint32_t m = 0; m < (1u << 16); m++) { /* every float near the subnormal range, sampled */
        float f = bits_f(0x33000000u + m * 0x5a3u);
        ck_assert_msg(check_one(f, msg, sizeof msg), "%s", msg);
    }
}
END_TEST

START_TEST(overflow_rounds_to_infinity_past_65520)
{
    ck_assert_uint_eq(mkv_float_to_half(65504.0f), 0x7bff);
    ck_assert_uint_eq(mkv_float_to_half(nextafterf(65520.0f, 0)), 0x7bff);
    ck_assert_uint_eq(mkv_float_to_half(65520.0f), 0x7c00);          /* tie -> even: infinity */
    ck_assert_uint_eq(mkv_float_to_half(-65520.0f), 0xfc00);
    ck_assert_uint_eq(mkv_float_to_half(1e10f), 0x7c00);
    ck_assert_uint_eq(mkv_float_to_half(3.4e38f), 0x7c00);
    ck_assert_uint_eq(mkv_float_to_half(INFINITY), 0x7c00);
    ck_assert_uint_eq(mkv_float_to_half(-INFINITY), 0xfc00);
    ck_assert(isinf(mkv_half_to_float(0x7c00)) && mkv_half_to_float(0x7c00) > 0);
    ck_assert(isinf(mkv_half_to_float(0xfc00)) && mkv_half_to_float(0xfc00) < 0);
}
END_TEST

START_TEST(float_nan_stays_nan_with_sign)
{
    uint32_t pats[] = {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0xffc00000u, 0xff800001u, 0x7f802000u};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        uint16_t h = mkv_float_to_half(bits_f(pats[i]));
        ck_assert_msg(half_is_nan(h), "0x%08x -> 0x%04x", pats[i], h);
        ck_assert_uint_eq(h >> 15, pats[i] >> 31);
        ck_assert(isnan(mkv_round_f16(bits_f(pats[i]))));
    }
}
END_TEST

static Suite *half_suite(void)
{
    Suite *s = suite_create("half");
    TCase *tc = tcase_create("convert");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_non_nan_half_round_trips_exactly);
    tcase_add_test(tc, every_nan_half_decodes_to_nan_and_back_to_nan);
    tcase_add_test(tc, float_rounding_is_nearest_even_on_ten_million_floats);
    tcase_add_test(tc, subnormal_halves_round_to_nearest_even);
    tcase_add_test(tc, overflow_rounds_to_infinity_past_65520);
    tcase_add_test(tc, float_nan_stays_nan_with_sign);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(half_suite());
}
