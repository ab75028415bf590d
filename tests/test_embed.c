/* mekivk on the host's own Vulkan device (mekivk_vulkan.h), as an engine
 * embedding it would use it: this test is the host. It links the Vulkan
 * loader itself (so any Vulkan symbol the library defined would collide),
 * creates its instance (validation and synchronization validation on, as
 * ctest sets them), device and queue, hands them over, and submits its own
 * work on the same queue between tokens and from another thread, under its
 * own queue lock. Logits must equal those of a mekivk-made device bit for
 * bit, and the host's device must outlive mekivk's objects. */
#undef VK_NO_PROTOTYPES /* the host calls the loader's exported functions */
#include <vulkan/vulkan.h>

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mekivk_vulkan.h"
#include "synth.h"
#include "test_util.h"

enum { N_STEPS = 6, N_CTX = 32, N_THREADS = 2 };

static const char *model_path, *bank_path;

/* ---- the host ---------------------------------------------------------- */

typedef struct host {
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    uint32_t family;
    VkQueue queue;
    pthread_mutex_t queue_lock;
    atomic_uint locks;        /* lock_queue calls made by mekivk */
    atomic_uint messages;     /* validation warnings and errors */
    /* the host's own work: fill a host-visible buffer with a value */
    VkBuffer buf;
    VkDeviceMemory mem;
    uint32_t *map;
    VkCommandPool pool;
} host;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    host *h = user;
    if (sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        atomic_fetch_add(&h->messages, 1);
        fprintf(stderr, "host validation: %s\n", data->pMessage ? data->pMessage : "(no message)");
    }
    (void)type;
    return VK_FALSE;
}

static void lock_queue(void *user)
{
    host *h = user;
    pthread_mutex_lock(&h->queue_lock);
    atomic_fetch_add(&h->locks, 1);
}

static void unlock_queue(void *user)
{
    host *h = user;
    pthread_mutex_unlock(&h->queue_lock);
}

static void host_create(host *h)
{
    memset(h, 0, sizeof *h);
    ck_assert_int_eq(pthread_mutex_init(&h->queue_lock, NULL), 0);
    const char *v = getenv("MKV_VALIDATION");
    bool validation = v && strcmp(v, "1") == 0;
    const char *layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    mkv_device_requirements req;
    mkv_device_requirements_get(&req);
    ck_assert_uint_eq(req.n_extensions, 0);
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "host",
                             .apiVersion = req.api_version};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app,
                               .enabledLayerCount = validation, .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = validation, .ppEnabledExtensionNames = exts};
    ck_assert_int_eq(vkCreateInstance(&ci, NULL, &h->inst), VK_SUCCESS);
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(h->inst, "vkCreateDebugUtilsMessengerEXT");
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
            .pfnUserCallback = on_message, .pUserData = h};
        ck_assert_int_eq(create(h->inst, &mi, NULL, &h->messenger), VK_SUCCESS);
    }
    /* the first device and compute family that mekivk accepts */
    VkPhysicalDevice pds[8];
    uint32_t n = 8;
    ck_assert(vkEnumeratePhysicalDevices(h->inst, &n, pds) >= 0 && n > 0);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++) {
        VkQueueFamilyProperties q[8];
        uint32_t nq = 8;
        vkGetPhysicalDeviceQueueFamilyProperties(pds[i], &nq, q);
        for (uint32_t f = 0; f < nq && !found; f++) {
            mkv_error err;
            if ((q[f].queueFlags & req.queue_flags) == req.queue_flags &&
                mkv_device_check(vkGetInstanceProcAddr, h->inst, pds[i], f, &err) == MKV_OK) {
                h->phys = pds[i];
                h->family = f;
                found = true;
            }
        }
    }
    ck_assert_msg(found, "no device mekivk accepts");
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = h->family, .queueCount = 1, .pQueuePriorities = &prio};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi};
    ck_assert_int_eq(vkCreateDevice(h->phys, &di, NULL, &h->dev), VK_SUCCESS);
    vkGetDeviceQueue(h->dev, h->family, 0, &h->queue);

    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 4096,
                             .usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    ck_assert_int_eq(vkCreateBuffer(h->dev, &bi, NULL, &h->buf), VK_SUCCESS);
    VkMemoryRequirements mr;
    vkGetBufferMemoryRequirements(h->dev, h->buf, &mr);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(h->phys, &mp);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t t = 0; t < mp.memoryTypeCount && type == UINT32_MAX; t++)
        if ((mr.memoryTypeBits & (1u << t)) && (mp.memoryTypes[t].propertyFlags & want) == want) type = t;
    ck_assert_uint_ne(type, UINT32_MAX);
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = mr.size,
                               .memoryTypeIndex = type};
    ck_assert_int_eq(vkAllocateMemory(h->dev, &ai, NULL, &h->mem), VK_SUCCESS);
    ck_assert_int_eq(vkBindBufferMemory(h->dev, h->buf, h->mem, 0), VK_SUCCESS);
    ck_assert_int_eq(vkMapMemory(h->dev, h->mem, 0, VK_WHOLE_SIZE, 0, (void **)&h->map), VK_SUCCESS);
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .queueFamilyIndex = h->family};
    ck_assert_int_eq(vkCreateCommandPool(h->dev, &pi, NULL, &h->pool), VK_SUCCESS);
}

/* The host's own work on the shared queue: fill its buffer with value,
 * submitted under its queue lock, waited on its own fence, checked. Only
 * the thread that calls it uses h->pool. */
static void host_work(host *h, uint32_t value)
{
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = h->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkCommandBuffer cb;
    ck_assert_int_eq(vkAllocateCommandBuffers(h->dev, &ai, &cb), VK_SUCCESS);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    ck_assert_int_eq(vkBeginCommandBuffer(cb, &bi), VK_SUCCESS);
    vkCmdFillBuffer(cb, h->buf, 0, VK_WHOLE_SIZE, value);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    ck_assert_int_eq(vkEndCommandBuffer(cb), VK_SUCCESS);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence;
    ck_assert_int_eq(vkCreateFence(h->dev, &fi, NULL, &fence), VK_SUCCESS);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    pthread_mutex_lock(&h->queue_lock);
    VkResult r = vkQueueSubmit(h->queue, 1, &si, fence);
    pthread_mutex_unlock(&h->queue_lock);
    ck_assert_int_eq(r, VK_SUCCESS);
    ck_assert_int_eq(vkWaitForFences(h->dev, 1, &fence, VK_TRUE, UINT64_MAX), VK_SUCCESS);
    vkDestroyFence(h->dev, fence, NULL);
    vkFreeCommandBuffers(h->dev, h->pool, 1, &cb);
    ck_assert_uint_eq(h->map[0], value);
    ck_assert_uint_eq(h->map[1023], value);
}

static void host_destroy(host *h)
{
    vkDestroyCommandPool(h->dev, h->pool, NULL);
    vkUnmapMemory(h->dev, h->mem);
    vkDestroyBuffer(h->dev, h->buf, NULL);
    vkFreeMemory(h->dev, h->mem, NULL);
    vkDestroyDevice(h->dev, NULL);
    ck_assert_uint_eq(atomic_load(&h->messages), 0);
    if (h->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(h->inst, "vkDestroyDebugUtilsMessengerEXT");
        destroy(h->inst, h->messenger, NULL);
    }
    vkDestroyInstance(h->inst, NULL);
    pthread_mutex_destroy(&h->queue_lock);
}

static mkv_device *host_hand_over(host *h, bool with_lock)
{
    mkv_vulkan_context ctx = {
        .get_instance_proc_addr = vkGetInstanceProcAddr,
        .instance = h->inst, .physical_device = h->phys, .device = h->dev,
        .queue_family = h->family, .queue = h->queue,
        .lock_queue = with_lock ? lock_queue : NULL, .unlock_queue = with_lock ? unlock_queue : NULL,
        .lock_user = h,
    };
    mkv_device *d = NULL;
    mkv_error err;
    mkv_status st = mkv_device_create_vulkan(&ctx, NULL, &d, &err);
    ck_assert_msg(st == MKV_OK, "mkv_device_create_vulkan: %s: %s", mkv_status_name(st), err.msg);
    return d;
}

/* ---- mekivk's side ------------------------------------------------------ */

static mkv_model *load(mkv_device *d)
{
    mkv_model_opts mo = {.bank_path = bank_path};
    mkv_model *m = NULL;
    mkv_error err;
    mkv_status st = mkv_model_load(d, model_path, &mo, &m, &err);
    ck_assert_msg(st == MKV_OK, "load: %s: %s", mkv_status_name(st), err.msg);
    return m;
}

static uint32_t n_vocab(const mkv_model *m)
{
    mkv_model_info info;
    mkv_model_get_info(m, &info);
    return info.n_vocab;
}

static uint32_t token(int stream, int i, uint32_t nv) { return (uint32_t)((stream * 977 + i * 131 + 7) % nv); }

/* Steps N_STEPS tokens of `stream` into logits (N_STEPS x n_vocab); with
 * h, the host does its own work on the queue after every token. */
static mkv_status run_stream(mkv_model *m, int stream, float *logits, host *h, mkv_error *err)
{
    mkv_session_opts so = {.n_ctx = N_CTX};
    mkv_session *s = NULL;
    mkv_status st = mkv_session_create(m, &so, &s, err);
    uint32_t nv = n_vocab(m);
    for (int i = 0; i < N_STEPS && !st; i++) {
        st = mkv_session_step(s, token(stream, i, nv), logits + (size_t)i * nv, NULL, err);
        if (h) host_work(h, 0x1000u * (uint32_t)stream + (uint32_t)i);
    }
    mkv_session_destroy(s);
    return st;
}

/* The logits of each stream on a device mekivk made itself. */
static float *reference_logits(uint32_t *nv_out)
{
    mkv_device *d = tu_device();
    mkv_model *m = load(d);
    uint32_t nv = n_vocab(m);
    float *ref = malloc((size_t)N_THREADS * N_STEPS * nv * sizeof(float));
    ck_assert_ptr_nonnull(ref);
    mkv_error err;
    for (int t = 0; t < N_THREADS; t++)
        ck_assert_msg(run_stream(m, t, ref + (size_t)t * N_STEPS * nv, NULL, &err) == MKV_OK, "%s", err.msg);
    mkv_model_destroy(m);
    tu_assert_no_validation(d);
    mkv_device_destroy(d);
    *nv_out = nv;
    return ref;
}

START_TEST(host_device_gives_the_logits_of_a_mekivk_device)
{
    uint32_t nv;
    float *ref = reference_logits(&nv);
    host h;
    host_create(&h);
    host_work(&h, 1);
    mkv_device *d = host_hand_over(&h, true);
    mkv_model *m = load(d);
    float *got = malloc((size_t)N_STEPS * nv * sizeof(float));
    mkv_error err;
    ck_assert_msg(run_stream(m, 0, got, &h, &err) == MKV_OK, "%s", err.msg);
    ck_assert_msg(memcmp(got, ref, (size_t)N_STEPS * nv * sizeof(float)) == 0,
                  "logits on the host's device differ from a mekivk-made device's");
    /* every submission of mekivk's went through the host's lock */
    ck_assert_uint_ge(atomic_load(&h.locks), N_STEPS);
    mkv_model_destroy(m);
    mkv_device_destroy(d);
    /* the host's device, queue and instance live on */
    host_work(&h, 77);
    host_destroy(&h);
    free(got);
    free(ref);
}
END_TEST

typedef struct job {
    mkv_model *m;
    int stream;
    float *logits;
    mkv_status st;
    mkv_error err;
} job;

static void *job_main(void *arg)
{
    job *j = arg;
    j->st = run_stream(j->m, j->stream, j->logits, NULL, &j->err);
    return NULL;
}

START_TEST(two_sessions_on_two_threads_beside_the_hosts_own_submissions)
{
    uint32_t nv;
    float *ref = reference_logits(&nv);
    host h;
    host_create(&h);
    mkv_device *d = host_hand_over(&h, true);
    mkv_model *m = load(d);
    job jobs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t] = (job){.m = m, .stream = t, .logits = malloc((size_t)N_STEPS * nv * sizeof(float))};
        ck_assert_int_eq(pthread_create(&th[t], NULL, job_main, &jobs[t]), 0);
    }
    /* meanwhile the host keeps submitting its own work to the same queue */
    for (uint32_t i = 0; i < 40; i++) host_work(&h, 100 + i);
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_msg(jobs[t].st == MKV_OK, "thread %d: %s: %s", t, mkv_status_name(jobs[t].st), jobs[t].err.msg);
        ck_assert_msg(memcmp(jobs[t].logits, ref + (size_t)t * N_STEPS * nv, (size_t)N_STEPS * nv * sizeof(float)) == 0,
                      "thread %d: logits differ from the same tokens run alone", t);
        free(jobs[t].logits);
    }
    mkv_model_destroy(m);
    mkv_device_destroy(d);
    host_work(&h, 5);
    host_destroy(&h);
    free(ref);
}
END_TEST

START_TEST(bad_handles_and_unmet_requirements_are_refused)
{
    host h;
    host_create(&h);
    mkv_error err;
    mkv_device *d = (mkv_device *)&h; /* must be reset to NULL */
    mkv_vulkan_context ctx = {.get_instance_proc_addr = vkGetInstanceProcAddr, .instance = h.inst,
                              .physical_device = h.phys, .device = h.dev, .queue_family = h.family};
    ck_assert_int_eq(mkv_device_create_vulkan(&ctx, NULL, &d, &err), MKV_ERR_INVALID_ARG); /* no queue */
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(err.msg, "queue"));
    ctx.queue = h.queue;
    ctx.lock_queue = lock_queue; /* without unlock_queue */
    ck_assert_int_eq(mkv_device_create_vulkan(&ctx, NULL, &d, &err), MKV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "unlock_queue"));
    ctx.lock_queue = NULL;
    ctx.queue_family = 99;
    ck_assert_int_eq(mkv_device_create_vulkan(&ctx, NULL, &d, &err), MKV_ERR_NO_DEVICE);
    ck_assert_ptr_nonnull(strstr(err.msg, "queue family = 99"));
    ck_assert_int_eq(mkv_device_check(vkGetInstanceProcAddr, h.inst, h.phys, 99, &err), MKV_ERR_NO_DEVICE);
    ck_assert_int_eq(mkv_device_check(NULL, h.inst, h.phys, 0, &err), MKV_ERR_INVALID_ARG);
    /* without a lock the device works too (the host then keeps off the queue meanwhile) */
    ctx.queue_family = h.family;
    d = host_hand_over(&h, false);
    mkv_model *m = load(d);
    mkv_model_destroy(m);
    mkv_device_destroy(d);
    host_work(&h, 9);
    host_destroy(&h);
}
END_TEST

static void setup(void)
{
    const char *dir = tu_path_in("embed", "tiny");
    mkv_synth_opts o;
    mkv_synth_opts_default(&o, mkv_synth_find_shape("tiny"), dir);
    o.seed = 5;
    mkv_error err;
    mkv_status st = mkv_synth_write(&o, &err);
    ck_assert_msg(st == MKV_OK, "synth: %s", err.msg);
    static char mp[4200], bp[4200];
    snprintf(mp, sizeof mp, "%s/model.gguf", dir);
    snprintf(bp, sizeof bp, "%s/bank.mkb", dir);
    model_path = mp;
    bank_path = bp;
}

int main(void)
{
    Suite *s = suite_create("embed");
    TCase *tc = tcase_create("host_device");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, host_device_gives_the_logits_of_a_mekivk_device);
    tcase_add_test(tc, two_sessions_on_two_threads_beside_the_hosts_own_submissions);
    tcase_add_test(tc, bad_handles_and_unmet_requirements_are_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
