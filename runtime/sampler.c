/* The sampler (sampler.h): repeat penalty, top-k, top-p, min-p, then a
 * seeded draw at the temperature.
 *
 * Candidates are (logit, id) pairs in one total order: larger logit first,
 * lower id first among equal logits. The array keeps an invariant: its
 * first `sorted` entries are the largest, in that order, and every entry
 * after them comes later in the order. Top-k and top-p grow the sorted
 * prefix only as far as they need (quickselect, then a sort of what was
 * selected), so a row of 151936 logits is never sorted whole unless top-p
 * really needs most of it. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define MAX_LAST_N (1u << 20)

typedef struct cand {
    float l;
    uint32_t id;
} cand;

struct mkv_sampler {
    mkv_sampler_params p;
    uint32_t n_vocab;
    mkv_rng rng;
    uint32_t *hist; /* ring of the last p.repeat_last_n accepted tokens */
    uint32_t hist_n, hist_head;
    cand *c;        /* n_vocab candidates */
    uint8_t *mark;  /* n_vocab: penalised once already in this call */
};

/* ---- PRNG: splitmix64 seeds xoshiro256** --------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void mkv_rng_seed(mkv_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t mkv_rng_next(mkv_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double mkv_rng_uniform(mkv_rng *r) { return (double)(mkv_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- parameters, life cycle ------------------------------------------- */

void mkv_sampler_params_default(mkv_sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 0.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->min_p = 0.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

static mkv_status check_params(const mkv_sampler_params *p, mkv_error *err)
{
    if (!(isfinite(p->temperature) && p->temperature >= 0.0f))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: temperature = %g: expected a finite value >= 0",
                        (double)p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: top_p = %g: expected a value in (0, 1]", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: min_p = %g: expected a value in [0, 1]", (double)p->min_p);
    if (!(isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f))
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: repeat_penalty = %g: expected a finite value > 0",
                        (double)p->repeat_penalty);
    if (p->repeat_last_n > MAX_LAST_N)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: repeat_last_n = %u: at most %u", p->repeat_last_n,
                        MAX_LAST_N);
    return MKV_OK;
}

static bool penalty_on(const mkv_sampler *s) { return s->p.repeat_penalty != 1.0f && s->p.repeat_last_n > 0; }

mkv_status mkv_sampler_create(const mkv_sampler_params *p, uint32_t n_vocab, mkv_sampler **out, mkv_error *err)
{
    mkv_status st;
    if (!p || !out) return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: params and out must not be NULL");
    *out = NULL;
    if (!n_vocab) return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: n_vocab = 0: expected at least 1");
    TRY(check_params(p, err));
    mkv_sampler *s = mkv_calloc(1, sizeof *s);
    if (!s) return mkv_fail(err, MKV_ERR_NO_MEMORY, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = mkv_malloc((size_t)n_vocab * sizeof *s->c);
    s->mark = mkv_calloc(n_vocab, 1);
    s->hist = p->repeat_last_n ? mkv_malloc((size_t)p->repeat_last_n * sizeof *s->hist) : NULL;
    if (!s->c || !s->mark || (p->repeat_last_n && !s->hist)) {
        mkv_sampler_free(s);
        return mkv_fail(err, MKV_ERR_NO_MEMORY, "sampler: out of memory for n_vocab = %u", n_vocab);
    }
    mkv_rng_seed(&s->rng, p->seed);
    *out = s;
    return MKV_OK;
}

void mkv_sampler_free(mkv_sampler *s)
{
    if (!s) return;
    free(s->c);
    free(s->mark);
    free(s->hist);
    free(s);
}

bool mkv_sampler_needs_logits(const mkv_sampler *s) { return !(s->p.temperature == 0.0f && !penalty_on(s)); }

mkv_status mkv_sampler_accept(mkv_sampler *s, uint32_t token, mkv_error *err)
{
    if (token >= s->n_vocab)
        return mkv_fail(err, MKV_ERR_TOKEN_RANGE, "sampler: token = %u: n_vocab is %u", token, s->n_vocab);
    uint32_t cap = s->p.repeat_last_n;
    if (!cap) return MKV_OK;
    s->hist[s->hist_head] = token;
    s->hist_head = (s->hist_head + 1) % cap;
    if (s->hist_n < cap) s->hist_n++;
    return MKV_OK;
}

void mkv_sampler_clear_history(mkv_sampler *s) { s->hist_n = s->hist_head = 0; }

void mkv_sampler_reseed(mkv_sampler *s, uint64_t seed) { mkv_rng_seed(&s->rng, seed); }

/* ---- selection in the total order -------------------------------------- */

static bool before(cand a, cand b) { return a.l > b.l || (a.l == b.l && a.id < b.id); }

static int cmp_cand(const void *pa, const void *pb)
{
    cand a = *(const cand *)pa, b = *(const cand *)pb;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap(cand *a, cand *b)
{
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges a[0..n) so that its first k entries are the k first in the
 * order (in no particular order among themselves). Quickselect with a
 * median-of-three pivot; after many rounds without progress (an unlucky
 * input) the rest is sorted instead, so the worst case is n log n. */
static void select_first(cand *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the k-th boundary lies in [lo, hi) */
    unsigned rounds = 0;
    while (hi - lo > 16 && k > lo && k < hi) {
        if (++rounds > 64) {
            qsort(a + lo, hi - lo, sizeof *a, cmp_cand);
            return;
        }
        size_t mid = lo + (hi - lo) / 2;
        /* median of a[lo], a[mid], a[hi-1] to a[hi-1] */
        if (before(a[mid], a[lo])) swap(&a[mid], &a[lo]);
        if (before(a[hi - 1], a[lo])) swap(&a[hi - 1], &a[lo]);
        if (before(a[mid], a[hi - 1])) swap(&a[mid], &a[hi - 1]);
        cand pivot = a[hi - 1];
        size_t store = lo;
        for (size_t i = lo; i < hi - 1; i++)
            if (before(a[i], pivot)) swap(&a[i], &a[store++]);
        swap(&a[store], &a[hi - 1]);
        if (store == k || store + 1 == k) return; /* [0, store] precede the rest */
        if (store < k) lo = store + 1;
        else hi = store;
    }
    if (k > lo && k < hi) qsort(a + lo, hi - lo, sizeof *a, cmp_cand);
}

/* Makes the sorted prefix at least `want` long (at most n). */
static void grow_sorted(cand *c, size_t n, size_t *sorted, size_t want)
{
    if (want > n) want = n;
    if (*sorted >= want) return;
    size_t k = want - *sorted;
    select_first(c + *sorted, n - *sorted, k);
    qsort(c + *sorted, k, sizeof *c, cmp_cand);
    *sorted = want;
}

/* ---- the chain ----------------------------------------------------------- */

/* Stages 1-4: fills s->c[0..*n) with the candidates left; s->c[0] is the
 * largest. Greedy: *n = 1. */
static mkv_status prepare(mkv_sampler *s, const float *logits, size_t *n_out, mkv_error *err)
{
    const uint32_t nv = s->n_vocab;
    cand *c = s->c;
    if (!logits) return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: logits = NULL");
    for (uint32_t i = 0; i < nv; i++) {
        float l = logits[i];
        if (isnan(l) || l == INFINITY)
            return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: logits[%u] = %g: expected a finite value or -inf", i,
                            (double)l);
        c[i].l = l;
        c[i].id = i;
    }
    /* 1. repeat penalty, once per distinct token in the window */
    if (penalty_on(s)) {
        const float pen = s->p.repeat_penalty;
        for (uint32_t i = 0; i < s->hist_n; i++) {
            uint32_t t = s->hist[i];
            if (s->mark[t]) continue;
            s->mark[t] = 1;
            c[t].l = c[t].l > 0.0f ? c[t].l / pen : c[t].l * pen;
        }
        for (uint32_t i = 0; i < s->hist_n; i++) s->mark[s->hist[i]] = 0;
    }
    size_t n = nv, sorted = 0;
    /* the largest first: greedy's answer and every filter's reference */
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (before(c[i], c[best])) best = i;
    if (c[best].l == -INFINITY)
        return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: every one of the %u logits is -inf", nv);
    swap(&c[0], &c[best]);
    sorted = 1;
    if (s->p.temperature == 0.0f) {
        *n_out = 1;
        return MKV_OK;
    }
    const double lmax = c[0].l;
    /* 2. top-k, ties with the k-th kept */
    uint32_t k = s->p.top_k;
    if (k && k < n) {
        grow_sorted(c, n, &sorted, k);
        size_t m = k;
        const float t = c[k - 1].l;
        for (size_t j = k; j < n; j++)
            if (c[j].l == t) swap(&c[j], &c[m++]);
        qsort(c + k, m - k, sizeof *c, cmp_cand);
        n = sorted = m;
    }
    /* 3. top-p over the softmax at temperature 1 */
    if (s->p.top_p < 1.0f && n > 1) {
        double z = 0;
        for (size_t i = 0; i < n; i++) z += exp((double)c[i].l - lmax);
        const double target = (double)s->p.top_p * z;
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            if (i >= sorted) grow_sorted(c, n, &sorted, sorted * 2 < 256 ? 256 : sorted * 2);
            cum += exp((double)c[i].l - lmax);
            if (cum >= target) {
                keep = i + 1;
                break;
            }
        }
        while (keep < n) { /* ties with the last one needed */
            if (keep >= sorted) grow_sorted(c, n, &sorted, sorted + 64);
            if (c[keep].l != c[keep - 1].l) break;
            keep++;
        }
        n = keep;
        if (sorted > n) sorted = n;
    }
    /* 4. min-p: l >= l_max + ln(min_p); order kept */
    if (s->p.min_p > 0.0f && n > 1) {
        const double thr = lmax + log((double)s->p.min_p);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if ((double)c[i].l >= thr) c[m++] = c[i];
        n = m; /* c[0] (l = lmax) always stays */
    }
    *n_out = n;
    return MKV_OK;
}

/* The draw weight of candidate i: exp((l - l_max) / T). */
static double weight(const cand *c, size_t i, double lmax, double temp)
{
    return exp(((double)c[i].l - lmax) / temp);
}

mkv_status mkv_sampler_sample(mkv_sampler *s, const float *logits, uint32_t *token, mkv_error *err)
{
    mkv_status st;
    size_t n;
    TRY(prepare(s, logits, &n, err));
    const cand *c = s->c;
    if (n == 1) {
        *token = c[0].id;
        return MKV_OK;
    }
    const double lmax = c[0].l, temp = s->p.temperature;
    double z = 0;
    for (size_t i = 0; i < n; i++) z += weight(c, i, lmax, temp);
    const double u = mkv_rng_uniform(&s->rng) * z;
    double cum = 0;
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        double w = weight(c, i, lmax, temp);
        if (w > 0) last = i;
        cum += w;
        if (u < cum) {
            *token = c[i].id;
            return MKV_OK;
        }
    }
    *token = c[last].id; /* u within rounding of z */
    return MKV_OK;
}

mkv_status mkv_sampler_probs(mkv_sampler *s, const float *logits, double *probs, mkv_error *err)
{
    mkv_status st;
    size_t n;
    if (!probs) return mkv_fail(err, MKV_ERR_INVALID_ARG, "sampler: probs = NULL");
    TRY(prepare(s, logits, &n, err));
    memset(probs, 0, (size_t)s->n_vocab * sizeof *probs);
    const cand *c = s->c;
    if (n == 1) {
        probs[c[0].id] = 1.0;
        return MKV_OK;
    }
    const double lmax = c[0].l, temp = s->p.temperature;
    double z = 0;
    for (size_t i = 0; i < n; i++) z += weight(c, i, lmax, temp);
    for (size_t i = 0; i < n; i++) probs[c[i].id] = weight(c, i, lmax, temp) / z;
    return MKV_OK;
}
