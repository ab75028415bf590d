/* The body of the consumer program, in the common subset of C11 and C++11
 * (main.c and main.cpp include it after the public headers).
 *
 *   app MODEL.gguf   MODEL: a dense model with a tokenizer (mekivk synth)
 *
 * Host-only calls first (status names, options, sampler, tokenizer), then
 * on the Vulkan device (lavapipe in CI): load MODEL, prefill tokens 1,2,3
 * and step the greedy token once; prints "generated: A B" as
 * `mekivk generate --tokens 1,2,3 -n 2` does, for run.sh to compare. Exit
 * status 0 only when every check holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "consumer (%s) %s:%d: failed: %s\n", LANG, __FILE__, __LINE__, #c); \
            failures++;                                                                           \
        }                                                                                         \
    } while (0)
#define CHECK_OK(call)                                                                            \
    do {                                                                                          \
        mkv_status st_ = (call);                                                                  \
        if (st_ != MKV_OK) {                                                                      \
            fprintf(stderr, "consumer (%s) %s:%d: %s: %s: %s\n", LANG, __FILE__, __LINE__, #call, \
                    mkv_status_name(st_), err.msg);                                               \
            failures++;                                                                           \
        }                                                                                         \
    } while (0)

static void host_only(void) {
    mkv_error err;
    memset(&err, 0, sizeof err);
    CHECK(strcmp(mkv_status_name(MKV_ERR_CRC), "MKV_ERR_CRC") == 0);
    CHECK(mkv_status_desc(MKV_ERR_IO) != NULL);

    mkv_device_opts dopts;
    mkv_device_opts_default(&dopts);
    CHECK(dopts.index == -1 && dopts.name == NULL && !dopts.validation);

    /* the embedding header: what a host's device needs */
    mkv_device_requirements req;
    mkv_device_requirements_get(&req);
    CHECK(req.api_version >= VK_API_VERSION_1_2 && (req.queue_flags & VK_QUEUE_COMPUTE_BIT));

    /* greedy: the largest logit, no draw */
    mkv_sampler_params sp;
    mkv_sampler_params_default(&sp);
    mkv_sampler *greedy = NULL;
    CHECK_OK(mkv_sampler_create(&sp, 4, &greedy, &err));
    const float logits[4] = {0.5f, 2.0f, -1.0f, 1.0f};
    uint32_t tok = 99;
    CHECK_OK(mkv_sampler_sample(greedy, logits, &tok, &err));
    CHECK(tok == 1);
    CHECK(!mkv_sampler_needs_logits(greedy));
    mkv_sampler_free(greedy);

    /* bad parameters: an error naming the field, nothing created */
    sp.top_p = 2.0f;
    mkv_sampler *bad = NULL;
    CHECK(mkv_sampler_create(&sp, 4, &bad, &err) == MKV_ERR_INVALID_ARG);
    CHECK(bad == NULL && err.status == MKV_ERR_INVALID_ARG && strstr(err.msg, "top_p") != NULL);

    /* seeded top-k 2: the same tokens from two samplers, only tokens 1 and 3 */
    mkv_sampler_params_default(&sp);
    sp.temperature = 0.8f;
    sp.top_k = 2;
    sp.seed = 42;
    mkv_sampler *a = NULL, *b = NULL;
    CHECK_OK(mkv_sampler_create(&sp, 4, &a, &err));
    CHECK_OK(mkv_sampler_create(&sp, 4, &b, &err));
    if (a && b)
        for (int i = 0; i < 50; i++) {
            uint32_t ta = 0, tb = 0;
            CHECK_OK(mkv_sampler_sample(a, logits, &ta, &err));
            CHECK_OK(mkv_sampler_sample(b, logits, &tb, &err));
            CHECK(ta == tb && (ta == 1 || ta == 3));
        }
    mkv_sampler_free(a);
    mkv_sampler_free(b);

    mkv_rng r1, r2;
    mkv_rng_seed(&r1, 7);
    mkv_rng_seed(&r2, 7);
    CHECK(mkv_rng_next(&r1) == mkv_rng_next(&r2));
    double u = mkv_rng_uniform(&r1);
    CHECK(u >= 0.0 && u < 1.0);
}

static void text(const char *model) {
    mkv_error err;
    memset(&err, 0, sizeof err);
    mkv_tokenizer *t = NULL;
    CHECK_OK(mkv_tokenizer_open(model, &t, &err));
    if (!t) return;
    CHECK(mkv_tokenizer_n_vocab(t) >= 256);
    CHECK(mkv_tokenizer_eos(t) != MKV_TOKEN_NONE);

    const char *s = "Hello, w\xc3\xb6rld";
    uint32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(mkv_tokenize(t, s, strlen(s), false, &ids, &n, &err));
    CHECK(n > 0);
    char *back = NULL;
    size_t len = 0;
    CHECK_OK(mkv_detokenize(t, ids, n, &back, &len, &err));
    CHECK(back != NULL && len == strlen(s) && memcmp(back, s, len) == 0);
    free(back);

    /* streamed: only whole UTF-8 characters come out, together the text */
    mkv_detok_stream *ds = NULL;
    CHECK_OK(mkv_detok_stream_create(t, &ds, &err));
    char out[64] = {0};
    size_t got = 0;
    for (size_t i = 0; ds && i < n; i++) {
        const char *piece = NULL;
        size_t plen = 0;
        CHECK_OK(mkv_detok_stream_push(ds, ids[i], &piece, &plen, &err));
        CHECK(got + plen < sizeof out && mkv_utf8_valid_prefix(piece, plen) == plen);
        if (got + plen < sizeof out) memcpy(out + got, piece, plen);
        got += plen;
    }
    CHECK(got == strlen(s) && memcmp(out, s, got) == 0);
    mkv_detok_stream_free(ds);
    free(ids);
    mkv_tokenizer_free(t);
}

/* 1 when there is no Vulkan device (the GPU part is skipped). */
static int gpu(const char *model) {
    mkv_error err;
    memset(&err, 0, sizeof err);
    mkv_device_opts dopts;
    mkv_device_opts_default(&dopts);
    dopts.quiet = true;
    mkv_device *dev = NULL;
    mkv_status st = mkv_device_create(&dopts, &dev, &err);
    if (st == MKV_ERR_NO_DEVICE) {
        printf("consumer (%s): no Vulkan device (%s): GPU part skipped\n", LANG, err.msg);
        return 1;
    }
    CHECK_OK(st);
    if (!dev) return 0;
    CHECK(mkv_device_name(dev) != NULL);

    mkv_model *m = NULL;
    CHECK_OK(mkv_model_load(dev, model, NULL, &m, &err));
    mkv_session *s = NULL;
    if (m) {
        mkv_session_opts so;
        memset(&so, 0, sizeof so);
        so.n_ctx = 16;
        CHECK_OK(mkv_session_create(m, &so, &s, &err));
    }
    if (s) {
        mkv_model_info info;
        mkv_model_get_info(m, &info);
        float *logits = (float *)malloc(sizeof(float) * info.n_vocab);
        const uint32_t prompt[3] = {1, 2, 3};
        uint32_t first = 0, second = 0;
        CHECK_OK(mkv_session_prefill(s, prompt, 3, MKV_PREFILL_LAST, logits, &first, &err));
        /* the host-side greedy choice agrees with the GPU's argmax */
        mkv_sampler_params sp;
        mkv_sampler_params_default(&sp);
        mkv_sampler *g = NULL;
        CHECK_OK(mkv_sampler_create(&sp, info.n_vocab, &g, &err));
        uint32_t host = 0;
        if (g && logits) CHECK_OK(mkv_sampler_sample(g, logits, &host, &err));
        CHECK(host == first && isfinite(logits[first]));
        mkv_sampler_free(g);
        CHECK_OK(mkv_session_step(s, first, NULL, &second, &err));
        CHECK(mkv_session_pos(s) == 4);
        CHECK(mkv_session_step(s, info.n_vocab, NULL, NULL, &err) == MKV_ERR_TOKEN_RANGE);
        printf("generated: %u %u\n", (unsigned)first, (unsigned)second);
        free(logits);
    }
    mkv_session_destroy(s);
    mkv_model_destroy(m);
    mkv_device_destroy(dev);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    host_only();
    text(argv[1]);
    gpu(argv[1]);
    if (failures) {
        fprintf(stderr, "consumer (%s): %d check(s) failed\n", LANG, failures);
        return 1;
    }
    printf("consumer (%s): ok\n", LANG);
    return 0;
}
