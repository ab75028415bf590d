/* Allocation-failure injection (issue 16): the n-th host allocation
 * (runtime/alloc.h's hook) or the n-th Vulkan allocation (the device's
 * function table patched here: memory, buffers, views, pipelines and their
 * layouts and modules, descriptor pools and sets, command pools and
 * buffers, fences, query pools, mapping, begin/end of recording, queue
 * submission) made to fail, for every n through model load, session
 * create, a batched prefill (two passes), decode steps and destroy, dense
 * and MeKi (the bank streamed by reader threads).
 *
 * Each failing call must end in a clean error (MKV_ERR_NO_MEMORY or
 * MKV_ERR_VULKAN, a message, no output object, the session's position
 * unmoved), and what was made before it must still work: either the
 * failed call is retried with the hook cleared and the run goes on to the
 * end, where every logit must equal, bit for bit, those of the undisturbed
 * run; or everything made is destroyed at once (a hang there fails by the
 * timeout). A failure the engine recovers from (a descriptor pool out of
 * sets: it opens the next) must leave the run's logits unchanged. Leaks
 * fail the sanitizer build (LeakSanitizer), misuse of Vulkan objects on
 * error paths the validation layer (tu_assert_no_validation).
 *
 * Cost: one device and the model files for the whole sweep. Pipelines are
 * what takes time on lavapipe (LLVM), so the full sweeps run with the
 * device's pipeline cache filled and cheap runs (tens of ms); a strided
 * sweep with the cache emptied before each run puts pipeline creation
 * inside the run, and inject_pipeline fails each allocation of one
 * pipeline's creation. The whole program: about a minute, two or three
 * under ASan; registered at one lavapipe width (tests/CMakeLists.txt).
 * MKV_INJECT_TRACE=1 names each run and each failure on stderr (to find
 * the run that crashed); CK_RUN_CASE=meki (device, pipeline, dense) runs
 * one case. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "device.h"
#include "pipeline.h"
#include "synth.h"
#include "tunables.h"
#include "test_util.h"

/* Small enough that one run takes a few tens of milliseconds, large enough
 * for every part of the forward pass: 2 layers (the first holds the MeKi
 * split, the last feeds the LM head), GQA, the bank. */
static const mkv_synth_shape shape = {"inject", 2, 128, 2, 1, 64, 256, 16, 512, 10000.0f, 1e-6f};
enum { N_VOCAB = 512, N_CTX = 16, CHUNK = 4, N_PROMPT = 5, N_STEPS = 3, N_ROWS = N_PROMPT + N_STEPS };
static const uint32_t prompt[N_PROMPT] = {1, 7, 300, 7, 42};
static const uint32_t steps[N_STEPS] = {9, 511, 7};

/* ---- Vulkan allocations: the device's table patched ---- */

static mkv_vk_table real;       /* the device's functions before patching */
static atomic_long vk_count;    /* calls of the wrapped functions so far */
static atomic_long vk_fail_at = -1;
static atomic_bool vk_sticky;   /* every call from vk_fail_at on fails */
static atomic_long vk_injected;

static bool trace; /* MKV_INJECT_TRACE set: each run and each failure on stderr (which run crashed) */

static bool vk_inject_(const char *name)
{
    long i = atomic_fetch_add(&vk_count, 1), f = atomic_load(&vk_fail_at);
    if (f < 0 || i < f || (i > f && !atomic_load(&vk_sticky))) return false;
    atomic_fetch_add(&vk_injected, 1);
    if (trace) fprintf(stderr, "inject: %s fails\n", name);
    return true;
}
#define vk_inject() vk_inject_(__func__ + 2)

/* Wrapper of a function whose handle outputs need nothing on failure. */
#define WRAP(name, code, params, args) \
    static VKAPI_ATTR VkResult VKAPI_CALL w_##name params { return vk_inject() ? (code) : real.name args; }

WRAP(vkAllocateMemory, VK_ERROR_OUT_OF_DEVICE_MEMORY,
     (VkDevice d, const VkMemoryAllocateInfo *i, const VkAllocationCallbacks *a, VkDeviceMemory *o), (d, i, a, o))
WRAP(vkBindBufferMemory, VK_ERROR_OUT_OF_DEVICE_MEMORY, (VkDevice d, VkBuffer b, VkDeviceMemory m, VkDeviceSize off),
     (d, b, m, off))
WRAP(vkMapMemory, VK_ERROR_MEMORY_MAP_FAILED,
     (VkDevice d, VkDeviceMemory m, VkDeviceSize off, VkDeviceSize n, VkMemoryMapFlags f, void **p), (d, m, off, n, f, p))
WRAP(vkCreateBuffer, VK_ERROR_OUT_OF_DEVICE_MEMORY,
     (VkDevice d, const VkBufferCreateInfo *i, const VkAllocationCallbacks *a, VkBuffer *o), (d, i, a, o))
WRAP(vkCreateBufferView, VK_ERROR_OUT_OF_HOST_MEMORY,
     (VkDevice d, const VkBufferViewCreateInfo *i, const VkAllocationCallbacks *a, VkBufferView *o), (d, i, a, o))
WRAP(vkCreateShaderModule, VK_ERROR_OUT_OF_HOST_MEMORY,
     (VkDevice d, const VkShaderModuleCreateInfo *i, const VkAllocationCallbacks *a, VkShaderModule *o), (d, i, a, o))
WRAP(vkCreateDescriptorSetLayout, VK_ERROR_OUT_OF_HOST_MEMORY,
     (VkDevice d, const VkDescriptorSetLayoutCreateInfo *i, const VkAllocationCallbacks *a, VkDescriptorSetLayout *o),
     (d, i, a, o))
WRAP(vkCreatePipelineLayout, VK_ERROR_OUT_OF_HOST_MEMORY,
     (VkDevice d, const VkPipelineLayoutCreateInfo *i, const VkAllocationCallbacks *a, VkPipelineLayout *o), (d, i, a, o))
WRAP(vkCreateDescriptorPool, VK_ERROR_OUT_OF_DEVICE_MEMORY,
     (VkDevice d, const VkDescriptorPoolCreateInfo *i, const VkAllocationCallbacks *a, VkDescriptorPool *o), (d, i, a, o))
WRAP(vkCreateCommandPool, VK_ERROR_OUT_OF_HOST_MEMORY,
     (VkDevice d, const VkCommandPoolCreateInfo *i, const VkAllocationCallbacks *a, VkCommandPool *o), (d, i, a, o))
WRAP(vkCreateFence, VK_ERROR_OUT_OF_HOST_MEMORY,
     (VkDevice d, const VkFenceCreateInfo *i, const VkAllocationCallbacks *a, VkFence *o), (d, i, a, o))
WRAP(vkCreateQueryPool, VK_ERROR_OUT_OF_DEVICE_MEMORY,
     (VkDevice d, const VkQueryPoolCreateInfo *i, const VkAllocationCallbacks *a, VkQueryPool *o), (d, i, a, o))
WRAP(vkBeginCommandBuffer, VK_ERROR_OUT_OF_HOST_MEMORY, (VkCommandBuffer cb, const VkCommandBufferBeginInfo *i), (cb, i))
WRAP(vkEndCommandBuffer, VK_ERROR_OUT_OF_DEVICE_MEMORY, (VkCommandBuffer cb), (cb))
WRAP(vkQueueSubmit, VK_ERROR_OUT_OF_HOST_MEMORY, (VkQueue q, uint32_t n, const VkSubmitInfo *s, VkFence f), (q, n, s, f))

/* The spec's rule for these: on failure every output handle is VK_NULL_HANDLE. */
static VKAPI_ATTR VkResult VKAPI_CALL w_vkCreateComputePipelines(VkDevice d, VkPipelineCache c, uint32_t n,
                                                                  const VkComputePipelineCreateInfo *i,
                                                                  const VkAllocationCallbacks *a, VkPipeline *o)
{
    if (!vk_inject()) return real.vkCreateComputePipelines(d, c, n, i, a, o);
    for (uint32_t k = 0; k < n; k++) o[k] = VK_NULL_HANDLE;
    return VK_ERROR_OUT_OF_HOST_MEMORY;
}

static VKAPI_ATTR VkResult VKAPI_CALL w_vkAllocateCommandBuffers(VkDevice d, const VkCommandBufferAllocateInfo *i,
                                                                  VkCommandBuffer *o)
{
    if (!vk_inject()) return real.vkAllocateCommandBuffers(d, i, o);
    for (uint32_t k = 0; k < i->commandBufferCount; k++) o[k] = VK_NULL_HANDLE;
    return VK_ERROR_OUT_OF_HOST_MEMORY;
}

/* Out of pool memory: the recorder opens its next pool and goes on. */
static VKAPI_ATTR VkResult VKAPI_CALL w_vkAllocateDescriptorSets(VkDevice d, const VkDescriptorSetAllocateInfo *i,
                                                                  VkDescriptorSet *o)
{
    if (!vk_inject()) return real.vkAllocateDescriptorSets(d, i, o);
    for (uint32_t k = 0; k < i->descriptorSetCount; k++) o[k] = VK_NULL_HANDLE;
    return VK_ERROR_OUT_OF_POOL_MEMORY;
}

static void vk_patch(mkv_device *dev)
{
    real = dev->vk;
#define P(name) dev->vk.name = w_##name;
    P(vkAllocateMemory) P(vkBindBufferMemory) P(vkMapMemory) P(vkCreateBuffer) P(vkCreateBufferView)
    P(vkCreateShaderModule) P(vkCreateDescriptorSetLayout) P(vkCreatePipelineLayout) P(vkCreateComputePipelines)
    P(vkCreateDescriptorPool) P(vkAllocateDescriptorSets) P(vkCreateCommandPool) P(vkAllocateCommandBuffers)
    P(vkCreateFence) P(vkCreateQueryPool) P(vkBeginCommandBuffer) P(vkEndCommandBuffer) P(vkQueueSubmit)
#undef P
}

static void vk_unpatch(mkv_device *dev) { dev->vk = real; }

/* ---- the scenario ---- */

typedef enum { HOOK_NONE, HOOK_HOST, HOOK_VK } hook_kind;

/* How a run goes: which allocation fails and how, and what follows. */
typedef struct plan {
    hook_kind kind;
    long n;         /* the n-th allocation of that kind in the run fails (-1: none) */
    bool sticky;    /* and every one after it, until the failure is seen */
    bool cold;      /* the device's pipeline cache emptied first: pipeline creation inside the run */
    bool finish;    /* after the failure, retry the call (hook cleared) and go on to the end;
                     * false: destroy what was made at once */
} plan;

static void hook_set(hook_kind k, long n, bool sticky)
{
    mkv_alloc_fail_sticky(sticky);
    mkv_alloc_fail_after(k == HOOK_HOST ? n : -1);
    atomic_store(&vk_sticky, sticky);
    atomic_store(&vk_fail_at, k == HOOK_VK && n >= 0 ? atomic_load(&vk_count) + n : -1);
}

static void hook_clear(void) { hook_set(HOOK_NONE, -1, false); }

static long hook_count(hook_kind k) { return k == HOOK_HOST ? mkv_alloc_count() : atomic_load(&vk_count); }
static long hook_injected(hook_kind k) { return k == HOOK_HOST ? mkv_alloc_injected() : atomic_load(&vk_injected); }

enum { PH_LOAD, PH_CREATE, PH_PREFILL, PH_STEP, PH_NONE };
static const char *const phase_names[] = {"model load", "session create", "prefill", "step", "none"};

typedef struct run_result {
    float logits[N_ROWS][N_VOCAB];
    uint32_t argmax[1 + N_STEPS];
    int failed_phase;          /* the phase whose call failed, PH_NONE if none did */
    mkv_status st;
    long count;                /* allocations of the plan's kind the run made */
} run_result;

typedef struct scenario {
    const char *name;
    char model[4096], bank[4096];
    bool meki;
} scenario;

/* Checks a failed call's error and records it: one failure per run (the
 * hook is cleared once it is seen). */
static void failed(run_result *r, int phase, mkv_status st, const mkv_error *err, const char *what)
{
    ck_assert_msg(r->failed_phase == PH_NONE, "%s failed (%s: %s) after %s had already failed", what,
                  mkv_status_name(st), err->msg, phase_names[r->failed_phase]);
    ck_assert_msg(st == MKV_ERR_NO_MEMORY || st == MKV_ERR_VULKAN, "%s: %s: %s: not an allocation failure's status",
                  what, mkv_status_name(st), err->msg);
    ck_assert_msg(err->status == st, "%s: returned %s, err says %s", what, mkv_status_name(st),
                  mkv_status_name(err->status));
    ck_assert_msg(err->msg[0] != '\0', "%s: %s with an empty message", what, mkv_status_name(st));
    r->failed_phase = phase;
    r->st = st;
    hook_clear();
}

/* Load, create, prefill (batched: two passes of CHUNK), steps, destroy. */
static void run(mkv_device *dev, const scenario *sc, const plan *p, run_result *r)
{
    memset(r, 0, sizeof *r);
    r->failed_phase = PH_NONE;
    if (p->cold) mkv_pipelines_destroy(dev); /* nothing uses them between runs */
    const long c0 = hook_count(p->kind);
    hook_set(p->kind, p->n, p->sticky);

    mkv_error err = {0};
    mkv_status st;
    mkv_model_opts mo = {.bank_path = sc->meki ? sc->bank : NULL};
    mkv_model *m = NULL;
    mkv_session *s = NULL;
    for (int tries = 0;; tries++) {
        m = (mkv_model *)&err; /* must come back NULL on failure */
        if ((st = mkv_model_load(dev, sc->model, &mo, &m, &err)) == MKV_OK) break;
        ck_assert_msg(m == NULL, "model load failed and left *out set");
        ck_assert_msg(tries == 0, "model load: %s: %s (hook cleared)", mkv_status_name(st), err.msg);
        failed(r, PH_LOAD, st, &err, "model load");
        if (!p->finish) goto out;
    }
    mkv_session_opts so = {.n_ctx = N_CTX, .bank_threads = 2, .prefill_chunk = CHUNK};
    for (int tries = 0;; tries++) {
        s = (mkv_session *)&err;
        if ((st = mkv_session_create(m, &so, &s, &err)) == MKV_OK) break;
        ck_assert_msg(s == NULL, "session create failed and left *out set");
        ck_assert_msg(tries == 0, "session create: %s: %s (hook cleared)", mkv_status_name(st), err.msg);
        failed(r, PH_CREATE, st, &err, "session create");
        if (!p->finish) goto out;
    }
    for (int tries = 0;; tries++) {
        st = mkv_session_prefill(s, prompt, N_PROMPT, MKV_PREFILL_ALL, &r->logits[0][0], &r->argmax[0], &err);
        if (st == MKV_OK) break;
        ck_assert_msg(tries == 0, "prefill: %s: %s (hook cleared)", mkv_status_name(st), err.msg);
        ck_assert_uint_eq(mkv_session_pos(s), 0); /* the session is as it was */
        failed(r, PH_PREFILL, st, &err, "prefill");
        if (!p->finish) goto out;
    }
    for (uint32_t i = 0; i < N_STEPS; i++)
        for (int tries = 0;; tries++) {
            if ((st = mkv_session_step(s, steps[i], r->logits[N_PROMPT + i], &r->argmax[1 + i], &err)) == MKV_OK) break;
            ck_assert_msg(tries == 0, "step %u: %s: %s (hook cleared)", i, mkv_status_name(st), err.msg);
            ck_assert_uint_eq(mkv_session_pos(s), N_PROMPT + i);
            failed(r, PH_STEP, st, &err, "step");
            if (!p->finish) goto out;
        }
out:
    mkv_session_destroy(s);
    mkv_model_destroy(m);
    hook_clear();
    r->count = hook_count(p->kind) - c0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void make_files(scenario *sc, const char *name, bool meki)
{
    const char *dir = tu_path_in("inject", name);
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, &shape, dir);
    o.dense = !meki;
    o.seed = 16;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    ck_assert_msg(st == MKV_OK, "synth: %s: %s", mkv_status_name(st), err.msg);
    sc->name = name;
    sc->meki = meki;
    snprintf(sc->model, sizeof sc->model, "%s/model.gguf", dir);
    snprintf(sc->bank, sizeof sc->bank, "%s/bank.mkb", dir);
}

/* The smallest stride >= want that is prime to 2 and 3: a strided sweep
 * then meets every position of a pattern repeated with period 2, 3, 4 or 6
 * (the allocations of one pipeline, of one buffer, ...). */
static long stride_for(long want)
{
    long s = want < 1 ? 1 : want;
    while (s > 1 && (s % 2 == 0 || s % 3 == 0)) s++;
    return s;
}

/* Runs the plan for n = 0, stride, 2 stride, ... and n_total - 1: every run
 * must fail where the hook says, cleanly, and (finishing) give the
 * undisturbed run's logits bit for bit. */
static void sweep(mkv_device *dev, const scenario *sc, plan p, long n_total, long stride, const run_result *base)
{
    const char *kind = p.kind == HOOK_HOST ? "host" : "Vulkan";
    char how[96];
    snprintf(how, sizeof how, "%s%s%s%s", p.sticky ? "sticky, " : "", p.cold ? "cold cache, " : "",
             p.finish ? "then finished" : "then destroyed", stride > 1 ? ", strided" : "");
    long per_phase[PH_NONE + 1] = {0}, runs = 0;
    run_result *r = malloc(sizeof *r);
    ck_assert(r != NULL);
    const double t0 = now_s();
    for (long n = 0; n < n_total; n = n + stride < n_total || n == n_total - 1 ? n + stride : n_total - 1) {
        const long inj0 = hook_injected(p.kind);
        if (trace) fprintf(stderr, "inject: %s, %s #%ld (%s)\n", sc->name, kind, n, how);
        p.n = n;
        run(dev, sc, &p, r);
        runs++;
        ck_assert_msg(hook_injected(p.kind) > inj0, "%s, %s allocation #%ld (%s): never made (the run made %ld)",
                      sc->name, kind, n, how, r->count);
        per_phase[r->failed_phase]++;
        if (!p.finish && r->failed_phase != PH_NONE) continue;
        ck_assert_msg(memcmp(r->logits, base->logits, sizeof r->logits) == 0 &&
                          memcmp(r->argmax, base->argmax, sizeof r->argmax) == 0,
                      "%s, %s allocation #%ld (%s; failed in %s: %s): the logits differ from the undisturbed run's",
                      sc->name, kind, n, how, phase_names[r->failed_phase], mkv_status_name(r->st));
    }
    const double dt = now_s() - t0;
    printf("inject: %s, %s allocations (%s): %ld runs, %.1f s (%.0f ms each); failed in load %ld, create %ld, "
           "prefill %ld, steps %ld; recovered %ld\n",
           sc->name, kind, how, runs, dt, 1e3 * dt / (double)runs, per_phase[PH_LOAD], per_phase[PH_CREATE],
           per_phase[PH_PREFILL], per_phase[PH_STEP], per_phase[PH_NONE]);
    fflush(stdout);
    free(r);
}

/* Allocations of the kind one undisturbed run makes (twice: they must
 * repeat, and the logits too); base receives the logits. */
static long count_run(mkv_device *dev, const scenario *sc, hook_kind k, bool cold, run_result *base, run_result *again)
{
    const plan p = {.kind = k, .n = -1, .cold = cold, .finish = true};
    run(dev, sc, &p, base);
    run(dev, sc, &p, again);
    ck_assert_int_eq(again->count, base->count);
    ck_assert_msg(memcmp(base->logits, again->logits, sizeof base->logits) == 0, "two undisturbed runs differ");
    return base->count;
}

static void sweep_case(bool meki)
{
    trace = getenv("MKV_INJECT_TRACE") != NULL;
    scenario sc;
    make_files(&sc, meki ? "meki" : "dense", meki);
    mkv_device *dev = tu_device();
    vk_patch(dev);
    run_result *base = malloc(sizeof *base), *again = malloc(sizeof *again);
    ck_assert(base && again);
    const double t0 = now_s();
    const long cold_host = count_run(dev, &sc, HOOK_HOST, true, base, again);
    const long cold_vk = count_run(dev, &sc, HOOK_VK, true, base, again);
    const double t1 = now_s();
    const long n_host = count_run(dev, &sc, HOOK_HOST, false, base, again); /* the cache is full */
    const long n_vk = count_run(dev, &sc, HOOK_VK, false, base, again);
    const double t2 = now_s();
    printf("inject: %s: a run makes %ld host and %ld Vulkan allocations (%ld and %ld creating its %u pipelines); "
           "undisturbed run %.0f ms, %.0f ms with the pipelines made in it\n",
           sc.name, n_host, n_vk, cold_host - n_host, cold_vk - n_vk, dev->n_pipelines, 1e3 * (t2 - t1) / 4,
           1e3 * (t1 - t0) / 4);
    fflush(stdout);
    /* Every allocation with the pipelines cached (a run: tens of ms), each
     * failure followed by retries to the end or by destruction at once;
     * sticky (every allocation from the n-th on fails until the error is
     * seen): every host allocation, every fifth or so Vulkan one. */
    for (int k = HOOK_HOST; k <= HOOK_VK; k++) {
        const long n = k == HOOK_HOST ? n_host : n_vk;
        sweep(dev, &sc, (plan){.kind = k, .finish = true}, n, 1, base);
        sweep(dev, &sc, (plan){.kind = k, .finish = false}, n, 1, base);
        sweep(dev, &sc, (plan){.kind = k, .sticky = true, .finish = true}, n, k == HOOK_HOST ? 1 : stride_for(n / 64),
              base);
    }
    /* Pipeline creation inside the run (a run: hundreds of ms on lavapipe,
     * a second under ASan): strided, about 8 runs of each kind. Every
     * allocation of one pipeline's creation: inject_pipeline. */
    sweep(dev, &sc, (plan){.kind = HOOK_HOST, .cold = true, .finish = true}, cold_host, stride_for(cold_host / 8), base);
    sweep(dev, &sc, (plan){.kind = HOOK_VK, .cold = true, .finish = true}, cold_vk, stride_for(cold_vk / 8), base);
    free(base);
    free(again);
    tu_assert_no_validation(dev);
    vk_unpatch(dev);
    mkv_device_destroy(dev);
}

START_TEST(inject_dense) { sweep_case(false); }
END_TEST

START_TEST(inject_meki) { sweep_case(true); }
END_TEST

/* One pipeline made from an empty cache with each of its allocations
 * failing in turn: a clean error, the cache as it was, and the next try
 * makes it. */
START_TEST(inject_pipeline)
{
    mkv_device *dev = tu_device();
    vk_patch(dev);
    mkv_tunables tune;
    mkv_tunables_for(dev, &tune);
    const uint32_t spec[1] = {tune.wg_norm};
    const mkv_pipeline *pl;
    mkv_error err;
    long count[2];
    for (int k = HOOK_HOST; k <= HOOK_VK; k++) {
        mkv_pipelines_destroy(dev);
        const long c0 = hook_count(k);
        ck_assert_int_eq(mkv_pipeline_get(dev, MKV_KERNEL_RMSNORM, spec, 1, &pl, &err), MKV_OK);
        count[k - HOOK_HOST] = hook_count(k) - c0;
        ck_assert_int_gt(count[k - HOOK_HOST], 0);
        for (long n = 0; n < count[k - HOOK_HOST]; n++) {
            mkv_pipelines_destroy(dev);
            hook_set(k, n, false);
            mkv_status st = mkv_pipeline_get(dev, MKV_KERNEL_RMSNORM, spec, 1, &pl, &err);
            hook_clear();
            ck_assert_msg(st == MKV_ERR_NO_MEMORY && err.msg[0], "pipeline, %s allocation #%ld failing: %s: %s",
                          k == HOOK_HOST ? "host" : "Vulkan", n, mkv_status_name(st), st ? err.msg : "");
            ck_assert_uint_eq(dev->n_pipelines, 0);
            ck_assert_int_eq(mkv_pipeline_get(dev, MKV_KERNEL_RMSNORM, spec, 1, &pl, &err), MKV_OK);
            ck_assert_uint_eq(dev->n_pipelines, 1);
        }
    }
    printf("inject: one pipeline: %ld host and %ld Vulkan allocations\n", count[0], count[1]);
    fflush(stdout);
    tu_assert_no_validation(dev);
    vk_unpatch(dev);
    mkv_device_destroy(dev);
}
END_TEST

/* Device creation: every host allocation of it (its Vulkan calls come
 * before the table can be patched). */
START_TEST(inject_device)
{
    mkv_device_opts opts;
    mkv_device_opts_default(&opts);
    const char *v = getenv("MKV_VALIDATION");
    opts.validation = v && strcmp(v, "1") == 0;
    mkv_error err;
    mkv_device *dev = NULL;
    long c0 = mkv_alloc_count();
    ck_assert_int_eq(mkv_device_create(&opts, &dev, &err), MKV_OK);
    mkv_device_destroy(dev);
    const long n_host = mkv_alloc_count() - c0;
    ck_assert_int_gt(n_host, 0);
    for (long n = 0; n < n_host; n++) {
        mkv_alloc_fail_after(n);
        dev = (mkv_device *)&err;
        mkv_status st = mkv_device_create(&opts, &dev, &err);
        mkv_alloc_fail_after(-1);
        ck_assert_msg(st == MKV_ERR_NO_MEMORY, "device create, host allocation #%ld failing: %s: %s", n,
                      mkv_status_name(st), st ? err.msg : "");
        ck_assert_msg(dev == NULL && err.msg[0], "device create failed without a message or left *out set");
    }
    printf("inject: device create: %ld host allocations\n", n_host);
    fflush(stdout);
}
END_TEST

int main(void)
{
    /* one case each: CK_RUN_CASE=meki runs one alone */
    Suite *s = suite_create("inject");
    const char *names[] = {"device", "pipeline", "dense", "meki"};
    const TTest *tests[] = {inject_device, inject_pipeline, inject_dense, inject_meki};
    for (int i = 0; i < 4; i++) {
        TCase *tc = tcase_create(names[i]);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
    }
    return tu_run_suite(s);
}
