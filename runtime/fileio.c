#include "fileio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

mkv_status mkv_write_full(int fd, const void *p, uint64_t n, const char *path, mkv_error *err)
{
    const uint8_t *b = p;
    while (n > 0) {
        /* at most 1 GiB per call: write() may not take more in one go */
        ssize_t r = write(fd, b, (size_t)(n > (1u << 30) ? (1u << 30) : n));
        if (r < 0) {
            if (errno == EINTR) continue;
            return mkv_fail(err, MKV_ERR_IO, "%s: write: %s", path, strerror(errno));
        }
        b += r;
        n -= (uint64_t)r;
    }
    return MKV_OK;
}
