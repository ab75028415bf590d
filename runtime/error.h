/* Internal error helpers shared by every module (not public API). */
#ifndef MKV_ERROR_H
#define MKV_ERROR_H

#include "mekivk.h"

#if defined(__GNUC__)
#define MKV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MKV_PRINTF(a, b)
#endif

/* Records status `st` and a formatted message in `err` (if not NULL) and
 * returns `st`, so callers write `return mkv_fail(err, MKV_ERR_IO, ...)`.
 * Message convention: "<file>: <field> = <value>: <what is wrong>". */
mkv_status mkv_fail(mkv_error *err, mkv_status st, const char *fmt, ...) MKV_PRINTF(3, 4);

/* Clears err to MKV_OK with an empty message. */
void mkv_error_clear(mkv_error *err);

/* Returns from the calling function with the status of x unless it is
 * MKV_OK; the caller declares `mkv_status st`. */
#define TRY(x) do { if ((st = (x))) return st; } while (0)

#endif
