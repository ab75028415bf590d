/* mekivk inspect: what a model or bank file holds and whether the engine
 * would accept it. The kind of file is told by its first bytes; the GGUF
 * report is here, the bank report in cmd_inspect_mkb.c, safetensors behind
 * the hook in cmd_inspect_st.c. Nothing here uses Vulkan. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "gguf.h"
#include "model_desc.h"

#define ARRAY_SHOWN 8   /* elements printed of each metadata array */
#define STRING_SHOWN 64 /* bytes printed of each string value */

static void help(void)
{
    printf("usage: mekivk inspect FILE [--verify]\n\n"
           "Reports what FILE holds, by its content (not its name):\n"
           "  GGUF model   header (version, counts, alignment), every metadata key (arrays\n"
           "               with type, length and first elements), the tensor table (name,\n"
           "               type, shape, offset, bytes), totals per type, and whether the\n"
           "               engine would load it (\"model: qwen3, 28 layers, ... OK\" or the error)\n"
           "  .mkb bank    header fields, file size check, fingerprint\n"
           "  safetensors  see mekivk convert\n"
           "  --verify     bank: read every slab and check its CRC-32C (progress on stderr)\n\n"
           "Exit status: 0 sound, 1 damaged or refused, 2 usage or unsupported kind.\n");
}

int mkv_cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    bool verify = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return 0;
        } else if (!strcmp(argv[i], "--verify")) {
            verify = true;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "mekivk inspect: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "mekivk inspect: FILE is required (see --help)\n");
        return 2;
    }
    return mkv_inspect_file(path, verify, stdout);
}

/* ---- by content ------------------------------------------------------------ */

int mkv_inspect_file(const char *path, bool verify, FILE *out)
{
    uint8_t b[16] = {0};
    int fd;
    uint64_t size;
    mkv_error err;
    if (mkv_open_regular(path, 0, &fd, &size, &err) != MKV_OK) {
        fprintf(out, "error: %s\n", err.msg);
        return 1;
    }
    ssize_t n = pread(fd, b, sizeof b, 0);
    int e = errno;
    close(fd);
    if (n < 0) {
        fprintf(out, "error: %s: read: %s\n", path, strerror(e));
        return 1;
    }
    if (n >= 4 && memcmp(b, "GGUF", 4) == 0) return mkv_inspect_gguf(path, out);
    if (n >= 8 && memcmp(b, "MEKIBANK", 8) == 0) return mkv_inspect_bank(path, verify, out);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (n >= 9 && b[8] == '{' && hlen >= 2 && hlen <= size - 8) return mkv_inspect_safetensors(path, out);
    fprintf(out, "error: %s: unknown format (first bytes %02x %02x %02x %02x): not GGUF, a MeKi bank or safetensors\n",
            path, b[0], b[1], b[2], b[3]);
    return 1;
}

/* ---- GGUF ------------------------------------------------------------------ */

static void print_bytes(FILE *out, uint64_t n)
{
    if (n >= (1ull << 30)) fprintf(out, "%.2f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20)) fprintf(out, "%.2f MiB", (double)n / (1ull << 20));
    else if (n >= (1ull << 10)) fprintf(out, "%.1f KiB", (double)n / (1ull << 10));
    else fprintf(out, "%" PRIu64 " B", n);
}

static void print_count(FILE *out, uint64_t n)
{
    if (n >= 1000000000ull) fprintf(out, "%.2f B", (double)n * 1e-9);
    else if (n >= 1000000ull) fprintf(out, "%.2f M", (double)n * 1e-6);
    else fprintf(out, "%" PRIu64, n);
}

static void print_string(FILE *out, const char *s, uint64_t len)
{
    fputc('"', out);
    for (uint64_t i = 0; i < len && i < STRING_SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f) fputc(c, out);
        else if (c == '\n') fputs("\\n", out);
        else fprintf(out, "\\x%02x", c);
    }
    fputs(len > STRING_SHOWN ? "\"..." : "\"", out);
    if (len > STRING_SHOWN) fprintf(out, " (%" PRIu64 " bytes)", len);
}

/* A scalar or string value as mkv_gguf_kv holds it. */
static void print_value(FILE *out, const mkv_gguf_kv *kv)
{
    switch (kv->type) {
    case MKV_GGUF_U8: case MKV_GGUF_U16: case MKV_GGUF_U32: case MKV_GGUF_U64:
        fprintf(out, "%" PRIu64, kv->v.u64);
        break;
    case MKV_GGUF_I8: case MKV_GGUF_I16: case MKV_GGUF_I32: case MKV_GGUF_I64:
        fprintf(out, "%" PRId64, kv->v.i64);
        break;
    case MKV_GGUF_F32: case MKV_GGUF_F64: fprintf(out, "%.9g", kv->v.f64); break;
    case MKV_GGUF_BOOL: fputs(kv->v.u64 ? "true" : "false", out); break;
    case MKV_GGUF_STRING: print_string(out, kv->v.str.ptr, kv->v.str.len); break;
    default: fputs("?", out); break;
    }
}

static void print_kv(FILE *out, const mkv_gguf *g, const mkv_gguf_kv *kv)
{
    fprintf(out, "  %-44s ", kv->key);
    if (kv->type != MKV_GGUF_ARRAY) {
        fprintf(out, "%-8s ", mkv_gguf_vtype_name(kv->type));
        print_value(out, kv);
        fputc('\n', out);
        return;
    }
    char t[32];
    snprintf(t, sizeof t, "%s[%" PRIu64 "]", mkv_gguf_vtype_name(kv->arr_type), kv->arr_n);
    fprintf(out, "%-8s [", t);
    if (kv->arr_type == MKV_GGUF_ARRAY) {
        fputs(kv->arr_n ? "...nested arrays]\n" : "]\n", out);
        return;
    }
    for (uint64_t i = 0; i < kv->arr_n && i < ARRAY_SHOWN; i++) {
        mkv_gguf_kv el;
        mkv_error err;
        if (mkv_gguf_array_get(g, kv, i, &el, &err) != MKV_OK) {
            fprintf(out, "%s<%s>", i ? ", " : "", err.msg);
            break;
        }
        fputs(i ? ", " : "", out);
        print_value(out, &el);
    }
    fputs(kv->arr_n > ARRAY_SHOWN ? ", ...]\n" : "]\n", out);
}

static void print_tensors(FILE *out, const mkv_gguf *g)
{
    int w = 4;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        int l = (int)strlen(g->tensors[i].name);
        if (l > w) w = l < 48 ? l : 48;
    }
    fprintf(out, "tensors:\n  %-*s %-5s %-22s %14s %14s\n", w, "name", "type", "shape (ne0, ne1, ...)", "offset",
            "bytes");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mkv_gguf_tensor *t = &g->tensors[i];
        char shape[96];
        int k = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t->n_dims && k > 0 && (size_t)k < sizeof shape; d++)
            k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%" PRIu64, d ? ", " : "", t->ne[d]);
        if (k > 0 && (size_t)k < sizeof shape) snprintf(shape + k, sizeof shape - (size_t)k, "]");
        fprintf(out, "  %-*s %-5s %-22s %14" PRIu64 " %14" PRIu64 "\n", w, t->name, mkv_ggml_type_name(t->type), shape,
                t->offset, t->nbytes);
    }
}

/* Count and bytes per tensor type, in order of first appearance. */
static void print_totals(FILE *out, const mkv_gguf *g)
{
    struct total { uint32_t type; uint64_t n, bytes, elems; } tot[32];
    size_t nt = 0;
    uint64_t all = 0, elems = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mkv_gguf_tensor *t = &g->tensors[i];
        uint64_t ne = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        size_t k = 0;
        while (k < nt && tot[k].type != t->type) k++;
        if (k == nt && nt < 32) tot[nt++] = (struct total){.type = t->type};
        if (k < nt) {
            tot[k].n++;
            tot[k].bytes += t->nbytes;
            tot[k].elems += ne;
        }
        all += t->nbytes;
        elems += ne;
    }
    fprintf(out, "totals: %" PRIu64 " tensors, ", g->n_tensors);
    print_count(out, elems);
    fprintf(out, " parameters, ");
    print_bytes(out, all);
    fprintf(out, " of tensor data (file ");
    print_bytes(out, g->size);
    fprintf(out, ")\n");
    for (size_t k = 0; k < nt; k++) {
        fprintf(out, "  %-5s %6" PRIu64 " tensors, ", mkv_ggml_type_name(tot[k].type), tot[k].n);
        print_count(out, tot[k].elems);
        fprintf(out, " parameters, ");
        print_bytes(out, tot[k].bytes);
        fputc('\n', out);
    }
}

/* What model_desc makes of the file: the engine's own validation. */
static int print_model_check(FILE *out, const char *path)
{
    mkv_model_desc *d = NULL;
    mkv_error err = {0};
    if (mkv_model_desc_load(path, &d, &err) != MKV_OK) {
        fprintf(out, "model: error: %s (%s)\n", err.msg, mkv_status_name(err.status));
        return 1;
    }
    const mkv_model_config *c = &d->cfg;
    fprintf(out, "model: %s, %u layers, d_model %u, heads %u/%u x %u, d_ffn %u, vocab %u, ", c->arch, c->n_layer,
            c->d_model, c->n_head, c->n_kv_head, c->head_dim, c->d_ffn, c->n_vocab);
    if (c->d_mem) fprintf(out, "MeKi d_mem %u, gate input %s, ", c->d_mem, c->meki_gate_residual ? "residual" : "norm");
    else fprintf(out, "dense, ");
    fprintf(out, "rope %s theta %g, eps %g%s%s%s: OK\n", c->rope_style == MKV_ROPE_NORM ? "norm" : "neox",
            (double)c->rope_theta, (double)c->norm_eps, c->has_qk_norm ? ", q/k norm" : "",
            c->has_qkv_bias ? ", q/k/v bias" : "", c->tied_output ? ", tied output" : ", separate output");
    mkv_model_desc_free(d);
    return 0;
}

int mkv_inspect_gguf(const char *path, FILE *out)
{
    mkv_gguf *g = NULL;
    mkv_error err = {0};
    fprintf(out, "file: %s\n", path);
    if (mkv_gguf_open(path, &g, &err) != MKV_OK) {
        fprintf(out, "error: %s (%s)\n", err.msg, mkv_status_name(err.status));
        return 1;
    }
    fprintf(out, "format: GGUF v%u, %" PRIu64 " tensors, %" PRIu64 " metadata keys, alignment %" PRIu64
            ", data at offset %" PRIu64 ", %" PRIu64 " bytes\n",
            g->version, g->n_tensors, g->n_kv, g->alignment, g->data_offset, g->size);
    fprintf(out, "metadata:\n");
    for (uint64_t i = 0; i < g->n_kv; i++) print_kv(out, g, &g->kv[i]);
    print_tensors(out, g);
    print_totals(out, g);
    mkv_gguf_close(g);
    return print_model_check(out, path);
}
