/* Small POSIX file helpers shared by every reader and writer (GGUF, bank,
 * safetensors, config files, logits): opening inputs without blocking on
 * special files, and writing outputs atomically. */
#ifndef MKV_FILEIO_H
#define MKV_FILEIO_H

#include <stdint.h>

#include "error.h"

/* Writes all n bytes to fd, retrying short writes and EINTR; an error
 * names `path` and errno. */
mkv_status mkv_write_full(int fd, const void *p, uint64_t n, const char *path, mkv_error *err);

/* ---- inputs ---------------------------------------------------------------- */

/* Opens path read-only (O_CLOEXEC, plus extra_flags such as O_DIRECT)
 * without blocking: O_NONBLOCK at open, so a FIFO or device cannot hang
 * the caller, then refuses anything but a regular file, naming what it is
 * ("path: is a FIFO, not a regular file"), then clears O_NONBLOCK. On
 * success *fd_out is the descriptor and *size_out (if not NULL) the size.
 * Fails with MKV_ERR_IO; errno is then open()'s when open() itself failed
 * (callers may fall back on EINVAL from O_DIRECT), else 0. */
mkv_status mkv_open_regular(const char *path, int extra_flags, int *fd_out, uint64_t *size_out, mkv_error *err);

/* Reads exactly n bytes at file offset off of fd into dst with pread,
 * retrying EINTR and short reads (never through a mapping: a file that
 * shrank cannot raise SIGBUS). The file ending first is MKV_ERR_TRUNCATED
 * ("<path>: <what>: the file ends at byte E, before byte B: truncated or
 * changed since it was opened"), a read error MKV_ERR_IO; `what` names the
 * structure read (a tensor, a slab). */
mkv_status mkv_pread_full(int fd, void *dst, uint64_t n, uint64_t off, const char *path, const char *what,
                          mkv_error *err);

/* Reads a whole small regular file (at most max_bytes) into a malloc'd,
 * NUL-terminated buffer; *len_out gets its length. MKV_ERR_FORMAT when it
 * is larger than max_bytes. */
mkv_status mkv_read_small_file(const char *path, uint64_t max_bytes, char **out, uint64_t *len_out, mkv_error *err);

/* ---- atomic outputs -----------------------------------------------------------
 * An output is written to a temporary file beside its destination
 * (".NAME.tmp.PID" in the same directory), then synced and renamed over
 * the destination only once complete. Until then a file already at the
 * destination is untouched; on failure the temporary is removed.
 *
 *   mkv_atomic_file f = MKV_ATOMIC_FILE_INIT;
 *   st = mkv_atomic_begin(&f, path, err);      f.fd: write here
 *   ... on error: mkv_atomic_abort(&f);
 *   st = mkv_atomic_commit(&f, err);           finish + publish
 *
 * Files that must appear together (model.gguf + bank.mkb) are finished
 * one by one (complete and synced under their temporary names), then
 * published in order; mkv_atomic_abort on every one afterwards is always
 * safe (a no-op for a published file). */
typedef struct mkv_atomic_file {
    int fd;        /* the temporary file while it is being written, else -1 */
    char *path;    /* destination (owned), NULL when idle */
    char *tmp;     /* temporary name (owned), NULL when idle */
    int finished;  /* synced and closed, ready to publish */
} mkv_atomic_file;

#define MKV_ATOMIC_FILE_INIT {.fd = -1, .path = NULL, .tmp = NULL, .finished = 0}

/* Creates the temporary file for destination `path` (mode 0644 less the
 * umask). f must be idle (MKV_ATOMIC_FILE_INIT, or after commit/abort). */
mkv_status mkv_atomic_begin(mkv_atomic_file *f, const char *path, mkv_error *err);
/* fsyncs and closes the temporary: complete, not yet visible. On failure
 * the temporary is removed and f is idle again. */
mkv_status mkv_atomic_finish(mkv_atomic_file *f, mkv_error *err);
/* Renames a finished temporary over the destination and syncs the
 * directory; f is idle afterwards, whether it succeeds or not (a failed
 * rename removes the temporary). An idle f (nothing begun) publishes
 * nothing and succeeds. */
mkv_status mkv_atomic_publish(mkv_atomic_file *f, mkv_error *err);
/* finish + publish. */
mkv_status mkv_atomic_commit(mkv_atomic_file *f, mkv_error *err);
/* Publishes n finished files in array order (bank before model); stops at
 * the first failure and aborts the rest. */
mkv_status mkv_atomic_publish_all(mkv_atomic_file *const *files, uint32_t n, mkv_error *err);
/* Closes and removes the temporary, if any; f is idle. Safe on an idle f. */
void mkv_atomic_abort(mkv_atomic_file *f);

#endif
