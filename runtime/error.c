#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* One table turns a code into its name and a description. */
static const struct {
    const char *name, *desc;
} status_table[MKV_ERR_STATUS_COUNT] = {
    [MKV_OK] = {"MKV_OK", "success"},
    [MKV_ERR_INVALID_ARG] = {"MKV_ERR_INVALID_ARG", "invalid argument"},
    [MKV_ERR_NO_MEMORY] = {"MKV_ERR_NO_MEMORY", "out of memory"},
    [MKV_ERR_IO] = {"MKV_ERR_IO", "I/O error"},
    [MKV_ERR_TRUNCATED] = {"MKV_ERR_TRUNCATED", "file is truncated"},
    [MKV_ERR_BAD_MAGIC] = {"MKV_ERR_BAD_MAGIC", "wrong file magic"},
    [MKV_ERR_BAD_VERSION] = {"MKV_ERR_BAD_VERSION", "unsupported file version"},
    [MKV_ERR_FORMAT] = {"MKV_ERR_FORMAT", "malformed file field"},
    [MKV_ERR_UNSUPPORTED] = {"MKV_ERR_UNSUPPORTED", "unsupported feature"},
    [MKV_ERR_MISSING] = {"MKV_ERR_MISSING", "required item missing"},
    [MKV_ERR_MISMATCH] = {"MKV_ERR_MISMATCH", "files disagree"},
    [MKV_ERR_CRC] = {"MKV_ERR_CRC", "checksum mismatch"},
    [MKV_ERR_TOKEN_RANGE] = {"MKV_ERR_TOKEN_RANGE", "token id out of range"},
    [MKV_ERR_CONTEXT_FULL] = {"MKV_ERR_CONTEXT_FULL", "context is full"},
    [MKV_ERR_VULKAN] = {"MKV_ERR_VULKAN", "Vulkan call failed"},
    [MKV_ERR_NO_DEVICE] = {"MKV_ERR_NO_DEVICE", "no suitable Vulkan device"},
    [MKV_ERR_DEVICE_LIMIT] = {"MKV_ERR_DEVICE_LIMIT", "device lacks a required feature"},
};

const char *mkv_status_name(mkv_status s)
{
    if ((unsigned)s >= MKV_ERR_STATUS_COUNT || !status_table[s].name) return "MKV_ERR_UNKNOWN";
    return status_table[s].name;
}

const char *mkv_status_desc(mkv_status s)
{
    if ((unsigned)s >= MKV_ERR_STATUS_COUNT || !status_table[s].desc) return "unknown status";
    return status_table[s].desc;
}

mkv_status mkv_fail(mkv_error *err, mkv_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = st;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

void mkv_error_clear(mkv_error *err)
{
    if (err) {
        err->status = MKV_OK;
        err->msg[0] = '\0';
    }
}
