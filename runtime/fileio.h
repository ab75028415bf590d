/* Small POSIX file helpers shared by the file writers (bank, GGUF). */
#ifndef MKV_FILEIO_H
#define MKV_FILEIO_H

#include <stdint.h>

#include "error.h"

/* Writes all n bytes to fd, retrying short writes and EINTR; an error
 * names `path` and errno. */
mkv_status mkv_write_full(int fd, const void *p, uint64_t n, const char *path, mkv_error *err);

#endif
