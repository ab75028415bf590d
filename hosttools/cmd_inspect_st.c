/* `mekivk inspect` for safetensors checkpoints (a file, an index, or a
 * folder): header length, the tensor table (name, dtype, shape, byte
 * range), totals, __metadata__, and the consistency checks the reader
 * makes (it refuses a file that fails any: the message says which).
 * Wired into the inspect command's dispatcher (cmd_inspect.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "safetensors.h"



int mkv_inspect_safetensors(const char *path, FILE *out)
{
    mkv_safetensors *st = NULL;
    mkv_error err = {0};
    mkv_status s = mkv_st_open(path, &st, &err);
    if (s != MKV_OK) {
        fprintf(out, "mekivk inspect: %s (%s)\n", err.msg, mkv_status_name(s));
        return 1;
    }
    uint64_t total_bytes = 0, total_elems = 0, per_dtype[3] = {0};
    for (uint32_t f = 0; f < st->n_files; f++)
        fprintf(out, "file %s: %" PRIu64 " bytes, header length %" PRIu64 ", %u tensors, data section [%" PRIu64 ", %" PRIu64 ")\n",
               st->files[f].path, st->files[f].size, st->files[f].header_len, st->files[f].n_tensors,
               8 + st->files[f].header_len, st->files[f].size);
    if (st->n_meta) {
        fprintf(out, "__metadata__:\n");
        for (uint32_t i = 0; i < st->n_meta; i++) fprintf(out, "  %s = %s\n", st->meta[i].key, st->meta[i].value);
    }
    fprintf(out, "%-64s %-5s %-20s %s\n", "tensor", "dtype", "shape", "bytes [begin, end) of the data section");
    for (uint32_t i = 0; i < st->n_tensors; i++) {
        const mkv_st_tensor *t = &st->tensors[i];
        char shape[96] = "[";
        for (uint32_t d = 0; d < t->n_dims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRIu64, d ? ", " : "", t->shape[d]);
        strncat(shape, "]", sizeof shape - strlen(shape) - 1);
        fprintf(out, "%-64s %-5s %-20s [%" PRIu64 ", %" PRIu64 ")%s%s\n", t->name, mkv_st_dtype_name(t->dtype), shape, t->begin,
               t->end, st->n_files > 1 ? " in " : "", st->n_files > 1 ? strrchr(st->files[t->file].path, '/') + 1 : "");
        total_bytes += t->end - t->begin;
        total_elems += t->numel;
        per_dtype[t->dtype] += t->numel;
    }
    fprintf(out, "total: %u tensors, %" PRIu64 " elements (F32 %" PRIu64 ", F16 %" PRIu64 ", BF16 %" PRIu64 "), %" PRIu64 " bytes\n",
           st->n_tensors, total_elems, per_dtype[MKV_ST_F32], per_dtype[MKV_ST_F16], per_dtype[MKV_ST_BF16], total_bytes);
    fprintf(out, "checks passed: header length within the file and <= %u bytes; strict JSON; dtypes F32/F16/BF16;\n"
           "shapes without overflow; data_offsets ordered, inside the data section, sized numel x dtype,\n"
           "not overlapping; names unique%s\n",
           MKV_ST_MAX_HEADER, st->n_files > 1 ? "; every index entry in its shard" : "");
    mkv_st_close(st);
    return 0;
}
