/* mekivk — Vulkan decoding of MeKi-augmented LLMs. Public API.
 *
 * Every fallible function returns an mkv_status and, when `err` is not NULL,
 * fills it with a message naming the file, field and value at fault. No
 * function aborts or exits on bad input. Objects are opaque; each *_create /
 * *_load has a matching *_destroy that accepts NULL.
 *
 * Typical use (see hosttools/cmd_generate.c):
 *   mkv_device_create  -> mkv_model_load -> mkv_session_create
 *   -> mkv_session_prefill (the prompt, in batches)
 *   -> mkv_session_step (once per generated token) -> destroy in reverse order.
 *
 * Text, for an app that embeds mekivk without its CLI: runtime/tokenizer.h
 * (a model's tokenizer from its GGUF: tokenize, detokenize, a streaming
 * decoder) and runtime/sampler.h (temperature, top-k, top-p, min-p, repeat
 * penalty, seeded; its state apart from the session) belong to this API and
 * include nothing but this header.
 *
 * On the host's own Vulkan device (a game engine, an app's renderer):
 * mekivk_vulkan.h hands its instance, device and queue over, with callbacks
 * that take the host's lock around mekivk's queue submissions.
 *
 * Threads: several sessions on one model (weights shared, a KV cache each)
 * may be created, stepped and destroyed on different threads at the same
 * time; the device serializes what Vulkan requires (queue submissions, its
 * one-off command pool, the pipeline cache), and a session waits only for
 * its own fences, never for the whole queue or device. One session is used
 * by one thread at a time. Loading or destroying a model or device must not
 * overlap any other call on it. (tests/test_e2e.c: two sessions on two
 * threads give bit for bit the logits of each alone, with the validation
 * layer's threading checks on; tests/test_embed.c: the same on the host's
 * device while the host submits its own work to the same queue.)
 *
 * Environment: the library reads none. The CLI maps MKV_DEVICE and
 * MKV_VALIDATION to mkv_device_opts.
 */
#ifndef MEKIVK_H
#define MEKIVK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes and errors ------------------------------------------ */

typedef enum mkv_status {
    MKV_OK = 0,
    MKV_ERR_INVALID_ARG,   /* caller passed a bad argument (NULL, 0, range) */
    MKV_ERR_NO_MEMORY,     /* host or device allocation failed */
    MKV_ERR_IO,            /* open/read/write/stat failed */
    MKV_ERR_TRUNCATED,     /* a file ends before a structure it declares */
    MKV_ERR_BAD_MAGIC,     /* not the expected file type */
    MKV_ERR_BAD_VERSION,   /* known file type, unsupported version */
    MKV_ERR_FORMAT,        /* malformed field (size, offset, count, shape) */
    MKV_ERR_UNSUPPORTED,   /* well-formed but not supported (type, arch) */
    MKV_ERR_MISSING,       /* a required tensor or key is absent */
    MKV_ERR_MISMATCH,      /* two files (model, bank) disagree */
    MKV_ERR_CRC,           /* checksum mismatch */
    MKV_ERR_TOKEN_RANGE,   /* token id >= n_vocab */
    MKV_ERR_CONTEXT_FULL,  /* position would exceed the session's n_ctx */
    MKV_ERR_VULKAN,        /* a Vulkan call failed */
    MKV_ERR_NO_DEVICE,     /* no (matching) Vulkan device */
    MKV_ERR_DEVICE_LIMIT,  /* device lacks a feature or limit we need */
    MKV_ERR_STATUS_COUNT
} mkv_status;

#define MKV_ERROR_MSG_MAX 512

typedef struct mkv_error {
    mkv_status status;
    char msg[MKV_ERROR_MSG_MAX]; /* "file: field = value: what is wrong" */
} mkv_error;

/* Short constant name of a status ("MKV_ERR_CRC"); never NULL. */
const char *mkv_status_name(mkv_status s);
/* One-line human description of a status; never NULL. */
const char *mkv_status_desc(mkv_status s);

/* ---- devices ----------------------------------------------------------- */

typedef struct mkv_device mkv_device;

typedef struct mkv_device_opts {
    int index;            /* physical device index, or -1: choose */
    const char *name;     /* substring of the device name, or NULL */
    bool validation;      /* enable VK_LAYER_KHRONOS_validation */
    bool quiet;           /* do not print validation messages to stderr */
    /* A tuning file (`mekivk bench --sweep`) for the kernels' workgroup
     * sizes and tiles, or NULL: the tuning table's row for the device. A
     * file for another device, with an unknown kernel or a bad value is
     * refused (MKV_ERR_FORMAT, MKV_ERR_MISMATCH, naming the field). */
    const char *tuning_file;
} mkv_device_opts;

/* Fills opts with defaults: index -1, no name, validation off. */
void mkv_device_opts_default(mkv_device_opts *opts);

/* Writes a human-readable list of every Vulkan device and the features the
 * engine uses (fp16, 8/16-bit storage, subgroup size, timestamps, memory
 * types), then whether mkv_device_create would take it (or why not) and
 * the tuning table's row it would get, to `out` (a FILE*). */
mkv_status mkv_devices_print(void *out_file, mkv_error *err);

/* Creates the instance and logical device. Choice: opts->index if >= 0,
 * else the first device whose name contains opts->name, else the first
 * discrete/integrated GPU, else the first CPU device (lavapipe). It opens
 * the Vulkan loader (libvulkan.so.1) itself; mekivk_vulkan.h runs on a
 * device the host made instead. */
mkv_status mkv_device_create(const mkv_device_opts *opts, mkv_device **out, mkv_error *err);
void mkv_device_destroy(mkv_device *dev);

/* Name and driver strings of the chosen device (valid while dev lives). */
const char *mkv_device_name(const mkv_device *dev);
const char *mkv_device_driver(const mkv_device *dev);
/* Whether the device is a CPU implementation (lavapipe, SwiftShader). */
bool mkv_device_is_cpu(const mkv_device *dev);

/* Number of validation-layer messages (warnings and errors) seen so far. */
uint32_t mkv_device_validation_count(const mkv_device *dev);

/* What the device is, for results that say what they ran on. */
typedef struct mkv_device_info {
    const char *name;           /* deviceName */
    const char *driver;         /* driverName and driverInfo */
    uint32_t vendor_id, device_id;
    uint32_t driver_id;         /* VkDriverId (VK_DRIVER_ID_MESA_LLVMPIPE = 13, ...) */
    uint32_t driver_version;    /* as the vendor encodes it */
    uint32_t api_version;       /* Vulkan: major v >> 22, minor (v >> 12) & 0x3ff, patch v & 0xfff */
    uint32_t subgroup_size;
    bool cpu, uma, timestamps;
    const char *tuning_source;  /* where the kernel tunables came from: "table" | "file" | "default" */
    const char *tuning_row;     /* the tuning table's row, or the tuning file's path */
} mkv_device_info;

/* Fills info; its strings live as long as dev. */
void mkv_device_get_info(const mkv_device *dev, mkv_device_info *info);

/* ---- the bandwidth probe ------------------------------------------------ */

/* Decode reads every weight once per token, so bench sets its achieved GB/s
 * against how fast the device streams a buffer. No one kernel shape streams
 * fastest everywhere (a GPU wants adjacent lanes on adjacent addresses, a
 * CPU driver's thread one long contiguous stream), so the probe times a
 * sweep of shapes and keeps the best. */

/* One shape of the sweep and what it achieved. */
typedef struct mkv_bandwidth_shape {
    const char *pattern;  /* how invocations walk the buffer: "block" (a
                             workgroup's lanes interleaved over its block:
                             coalesced), "run" (each invocation streams its
                             own contiguous run of the block), "grid"
                             (grid-stride over the whole buffer) */
    uint32_t wg;          /* invocations per workgroup */
    uint32_t vec;         /* 16-byte loads per invocation per loop iteration */
    uint32_t groups;      /* workgroups dispatched */
    uint64_t group_bytes; /* bytes per workgroup (grid: the dispatch's size only) */
    double gbps;          /* one timed read, or the median of `reads` */
    uint32_t reads;       /* 1, or the sweep's reps for a confirmed shape:
                             every shape is read once, then the fastest read
                             once is read reps - 1 more times, until a
                             confirmed median beats every single read */
} mkv_bandwidth_shape;

#define MKV_BANDWIDTH_MAX_SHAPES 128

typedef struct mkv_bandwidth_sweep {
    uint64_t bytes;       /* size of the buffer read */
    uint32_t reps;        /* timed reads of a confirmed shape */
    bool gpu_timer;       /* timed by GPU timestamps; false: the host clock */
    uint32_t n_shapes;    /* shapes measured, in sweep order */
    mkv_bandwidth_shape shapes[MKV_BANDWIDTH_MAX_SHAPES];
    uint32_t best;        /* index of the fastest shape, a confirmed one */
    double best_gbps;     /* shapes[best].gbps: the maximum of the table */
    double seconds;       /* wall time of the whole sweep */
} mkv_bandwidth_sweep;

/* Times streaming reads of a `bytes` buffer in device memory in every shape
 * of the sweep (access pattern x workgroup width x loads per iteration x
 * bytes per workgroup; shapes the device cannot launch are left out) and
 * fills *out, the fastest in out->best, its figure the median of out->reps
 * reads. Reads are timed by GPU timestamps (the host clock where there are
 * none). bytes: a multiple of 16 in 16..maxStorageBufferRange, or 0 to let
 * the probe choose one large enough to defeat caches: 256 MiB, less where
 * maxStorageBufferRange or a quarter of the device-local heap is smaller,
 * halved while allocation fails; MKV_ERR_DEVICE_LIMIT or MKV_ERR_NO_MEMORY
 * when that leaves less than 16 MiB. MKV_ERR_INVALID_ARG for a bad size. */
mkv_status mkv_device_bandwidth_sweep(mkv_device *dev, uint64_t bytes, mkv_bandwidth_sweep *out, mkv_error *err);

/* The sweep's best figure alone (GB/s; 0 on failure); arguments as above. */
mkv_status mkv_device_bandwidth(mkv_device *dev, uint64_t bytes, double *gbps, mkv_error *err);

/* ---- models ------------------------------------------------------------ */

typedef struct mkv_model mkv_model;

typedef struct mkv_model_info {
    char arch[32];
    uint32_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ffn, n_vocab;
    uint32_t d_mem;        /* 0 for a dense model */
    float rope_theta, norm_eps;
    bool has_qk_norm, tied_output;
    bool has_bank;         /* a bank is attached: MeKi can run */
    uint64_t weight_bytes_dense; /* RAM weight bytes one dense decode step reads */
    uint64_t weight_bytes_meki;  /* same with the MeKi branch on */
    char weight_types[256];      /* device matrices by type: "197 q4_0 (290.1 MB), 1 q6_k (127.4 MB)" */
} mkv_model_info;

typedef struct mkv_model_opts {
    const char *bank_path;  /* .mkb bank; NULL for a dense model */
    bool ignore_fingerprint;/* accept a bank whose fingerprint differs */
    bool bank_cold;         /* read the bank past the page cache, so reads
                               measure storage: O_DIRECT, or where the file
                               system refuses it, as bank_cold_dontneed */
    bool bank_cold_dontneed;/* with bank_cold: plain reads, each slab's pages
                               dropped after its read (fadvise DONTNEED, no
                               readahead, the file written back first) */
    /* Progress of the upload, for progress bars (NULL: none): called on the
     * loading thread once the file's header, metadata and tensor table are
     * read and checked (done = 0), then after each tensor is on the device;
     * done and total count tensor data bytes, the last call has done = total. */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    void *progress_user;
} mkv_model_opts;

/* Loads the GGUF model at gguf_path onto the device, and opens the bank
 * (header checked against the model) if opts->bank_path is given. A MeKi
 * model without a bank fails with MKV_ERR_MISSING. opts may be NULL. */
mkv_status mkv_model_load(mkv_device *dev, const char *gguf_path, const mkv_model_opts *opts,
                          mkv_model **out, mkv_error *err);
void mkv_model_destroy(mkv_model *model);
void mkv_model_get_info(const mkv_model *model, mkv_model_info *info);

/* ---- sessions ---------------------------------------------------------- */

typedef struct mkv_session mkv_session;

/* How the KV cache stores K and V (shaders/kv_layout.h). */
typedef enum mkv_kv_type {
    MKV_KV_F16 = 0,  /* f16 values (the default) */
    MKV_KV_Q8_0 = 1, /* blocks of 32 int8 with an f32 scale: 36 bytes per 32 values
                        against 64 (head_dim must be a multiple of 32) */
} mkv_kv_type;

typedef struct mkv_session_opts {
    uint32_t n_ctx;   /* context length (positions), 1..MKV_MAX_CTX */
    mkv_kv_type kv_type;
    bool meki_off;    /* run the model with its MeKi branch off (y = 0) */
    bool profile;     /* time every dispatch (GPU timestamps), see mkv_session_profile */
    /* Bank streaming (MeKi only). A step asks for its token's slab at once;
     * reader threads fill a staging slot while the GPU runs the embedding
     * and layer 0's attention, SwiGLU and MeKi gate, and the GPU waits for
     * the slot only at layer 0's down projection, the first dispatch that
     * reads the bank row. */
    uint64_t bank_cache_bytes; /* hot-row cache budget in RAM; 0 = pure streaming */
    uint32_t bank_threads;     /* reader threads; 0 = 4 */
    uint32_t bank_slots;       /* staging slots (prefetch depth); 0 = 32; at least
                                  2 x prefill_chunk (a pass's slabs and the next's) */
    bool bank_sync;            /* reference path: read on the calling thread
                                  before submitting (no overlap, no cache) */
    uint32_t prefill_chunk;    /* tokens per batched forward pass of
                                  mkv_session_prefill; 0 = 128, at most 1024 */
} mkv_session_opts;

#define MKV_MAX_CTX 65536u

/* Allocates the KV cache and activations and records the decode step once;
 * every mkv_session_step replays it. The prefill pass (opts.prefill_chunk
 * tokens) is recorded at the first mkv_session_prefill and replayed by
 * every later one. */
mkv_status mkv_session_create(mkv_model *model, const mkv_session_opts *opts,
                              mkv_session **out, mkv_error *err);
void mkv_session_destroy(mkv_session *s);

/* Processes `token` at the next position: reads its bank slab, runs every
 * layer, and returns the logits (n_vocab floats, if logits != NULL) and the
 * GPU's argmax (if argmax != NULL). Fails with MKV_ERR_TOKEN_RANGE or
 * MKV_ERR_CONTEXT_FULL without changing the session. */
mkv_status mkv_session_step(mkv_session *s, uint32_t token, float *logits, uint32_t *argmax,
                            mkv_error *err);

/* Which logits mkv_session_prefill returns. */
typedef enum mkv_prefill_logits {
    MKV_PREFILL_LAST = 0, /* n_vocab floats: the last token's */
    MKV_PREFILL_ALL = 1,  /* n x n_vocab floats, token i's at i * n_vocab
                             (teacher forcing, perplexity) */
} mkv_prefill_logits;

/* Processes n tokens at the next positions as batches (one forward pass per
 * opts.prefill_chunk tokens; every token's bank slab is requested at once).
 * The logits as `which` says (if logits != NULL) and the GPU's argmax of
 * the last token (if argmax != NULL). Equal to n mkv_session_step calls
 * within float rounding (the sums run in another order). On any error
 * (MKV_ERR_TOKEN_RANGE, MKV_ERR_CONTEXT_FULL, a failed bank read) the
 * session is left as it was: the position does not move. */
mkv_status mkv_session_prefill(mkv_session *s, const uint32_t *tokens, uint32_t n, mkv_prefill_logits which,
                               float *logits, uint32_t *argmax, mkv_error *err);

/* Tells the session which tokens the next steps will process, in order
 * (a prompt): their bank reads start now, concurrently, as many as staging
 * slots allow, the rest as slots free up. A token repeated in the list is
 * read once while its slab is staged. Stepping a token other than the next
 * one listed, or a step whose bank read fails, drops the rest of the list.
 * A hint: the list holds at most n_ctx tokens (more could never be
 * stepped); a session without streaming (dense, meki_off, bank_sync)
 * ignores it. MKV_ERR_TOKEN_RANGE for a token >= n_vocab. */
mkv_status mkv_session_prefetch(mkv_session *s, const uint32_t *tokens, uint32_t n, mkv_error *err);

/* KV-cache control, for chat (back to the end of an earlier turn) and
 * speculative decoding (the rejected draft tokens forgotten). A session's
 * state is its position pos, the K and V rows of positions [0, pos) of
 * every layer as the cache stores them (f16 or q8_0 blocks), and the
 * tokens its prefetch list still holds; not its statistics, nor what the
 * bank stream has staged or cached (a token's slab is the same at any
 * position). Decoding after a restore gives bit for bit the logits the
 * saved session would have given when the two sessions were created with
 * the same options (another n_ctx may split attention differently: equal
 * within float rounding). Format (runtime/session_state.h): a 96-byte
 * header (magic "MKVSTATE", version 1, the model's shape, kv_type, MeKi
 * on or off, pos, a 64-bit identity of the model and bank), the rows, the
 * prefetch tokens, a CRC-32C of all of it. */

/* Forgets positions >= pos: the next step or prefill writes at pos and
 * gives what a session that only ever processed the first pos tokens
 * gives. pos above mkv_session_pos is MKV_ERR_INVALID_ARG (naming both).
 * When positions are forgotten, the prefetch list goes too (its staging
 * slots released, reads in flight left to finish): it announced tokens
 * for the positions after them. No GPU work; pos equal to the position
 * changes nothing. */
mkv_status mkv_session_truncate(mkv_session *s, uint32_t pos, mkv_error *err);

/* Bytes mkv_session_save needs now: 96 + 2 x n_layer x (K/V bytes of pos
 * positions) + 4 per listed prefetch token + 4. */
uint64_t mkv_session_state_size(const mkv_session *s);

/* Writes the state into buf (cap bytes) and its size to *written (if not
 * NULL). MKV_ERR_INVALID_ARG naming both sizes when cap is less than
 * mkv_session_state_size. The session is unchanged. */
mkv_status mkv_session_save(mkv_session *s, void *buf, size_t cap, size_t *written, mkv_error *err);

/* Replaces the session's state with a saved one of n bytes (what *written
 * said). Any session on the same model (and bank, for MeKi) created with
 * the same kv_type and meki_off and an n_ctx that holds the saved
 * position takes it, a fresh one too. Everything is checked before
 * anything changes; on these errors the session is as it was:
 * MKV_ERR_TRUNCATED (n is less than the state), MKV_ERR_BAD_MAGIC,
 * MKV_ERR_BAD_VERSION, MKV_ERR_CRC (a damaged state), MKV_ERR_FORMAT (a
 * field out of range, bytes after the state), MKV_ERR_MISMATCH (another
 * model's state: the field named, or the model identity, a hash of the
 * config, weight types, norm weights, a sample of the weights and the
 * bank's fingerprint), MKV_ERR_CONTEXT_FULL (pos > n_ctx). A device
 * failure during the copy (MKV_ERR_VULKAN, MKV_ERR_NO_MEMORY) leaves the
 * session empty, at position 0. The saved prefetch list is requested
 * again (a streaming session; others ignore it). */
mkv_status mkv_session_restore(mkv_session *s, const void *buf, size_t n, mkv_error *err);

/* The same with a file. Save writes it atomically: a temporary beside
 * path, synced, then renamed over it (a file already at path is replaced
 * only by a whole state). Restore opens regular files only and reads in
 * chunks of a few MB (no copy of the whole state in memory): once to check
 * everything, once to copy, the bytes checked against the CRC again; a
 * file changed in between is MKV_ERR_CRC with the session empty. */
mkv_status mkv_session_save_file(mkv_session *s, const char *path, mkv_error *err);
mkv_status mkv_session_restore_file(mkv_session *s, const char *path, mkv_error *err);

/* Bank and stall counters since the session was created. */
typedef struct mkv_session_stats {
    uint64_t steps;                       /* decode steps (mkv_session_step) */
    uint64_t prefill_tokens;              /* tokens processed by mkv_session_prefill's batched passes */
    uint64_t bank_reads, bank_bytes_read; /* slab reads issued to storage, bytes read */
    uint64_t cache_hits, cache_misses;    /* slab requests served by the hot-row cache or not */
    uint64_t bank_shared;      /* requests that joined a slab already staged or in flight */
    uint64_t stall_steps;      /* steps where the GPU waited on the bank */
    double bank_stall_ms;      /* total time the GPU waited on bank reads */
    double last_stall_us;      /* that time for the last step */
    double last_window_us;     /* GPU time of the work before the first
                                  dispatch that reads the bank row, in the
                                  last step: what hides a read
                                  (0 without timestamps or MeKi) */
    double bank_read_ms;       /* summed duration of the slab reads (pread + CRC):
                                  over bank_reads, storage latency, not RAM's */
    const char *bank_io;       /* "page_cache", "o_direct", "fadvise_dontneed" or "" */
} mkv_session_stats;
void mkv_session_get_stats(const mkv_session *s, mkv_session_stats *stats);

/* Per-kernel GPU time of the last step (profile sessions only): fills up to
 * cap entries, one per kernel name, and returns how many. ms sums every
 * dispatch of the kernel; bytes is what they read from memory. */
typedef struct mkv_kernel_time {
    const char *name;
    double ms;
    uint64_t bytes;
} mkv_kernel_time;
uint32_t mkv_session_profile(const mkv_session *s, mkv_kernel_time *out, uint32_t cap);

/* Benchmarking aid: moves the position to `pos` (< n_ctx) without
 * computing the positions before it; their K/V stay whatever the cache
 * holds (zeros in a fresh session). Decode speed at a long context can be
 * measured without a long prefill. */
mkv_status mkv_session_seek(mkv_session *s, uint32_t pos, mkv_error *err);

/* Number of positions processed so far. */
uint32_t mkv_session_pos(const mkv_session *s);
/* Forgets the context (position 0 again); the recording is kept. */
void mkv_session_reset(mkv_session *s);

#ifdef __cplusplus
}
#endif
#endif /* MEKIVK_H */
