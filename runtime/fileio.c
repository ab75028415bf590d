#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

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

/* ---- inputs ---------------------------------------------------------------- */

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

mkv_status mkv_open_regular(const char *path, int extra_flags, int *fd_out, uint64_t *size_out, mkv_error *err)
{
    *fd_out = -1;
    /* O_NONBLOCK: open() of a FIFO with no writer would wait forever */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | extra_flags);
    if (fd < 0) {
        int e = errno;
        mkv_status st = mkv_fail(err, MKV_ERR_IO, "%s: open: %s", path, strerror(e));
        errno = e;
        return st;
    }
    struct stat sb;
    mkv_status st = MKV_OK;
    int fl;
    if (fstat(fd, &sb) != 0) st = mkv_fail(err, MKV_ERR_IO, "%s: fstat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = mkv_fail(err, MKV_ERR_IO, "%s: is %s, not a regular file", path, file_kind(sb.st_mode));
    else if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        st = mkv_fail(err, MKV_ERR_IO, "%s: fcntl: %s", path, strerror(errno));
    if (st != MKV_OK) {
        close(fd);
        errno = 0; /* opened, then refused: not open()'s errno (see fileio.h) */
        return st;
    }
    *fd_out = fd;
    if (size_out) *size_out = (uint64_t)sb.st_size;
    return MKV_OK;
}

mkv_status mkv_pread_full(int fd, void *dst, uint64_t n, uint64_t off, const char *path, const char *what,
                          mkv_error *err)
{
    uint8_t *b = dst;
    uint64_t got = 0;
    const uint64_t max_off = sizeof(off_t) >= 8 ? (uint64_t)INT64_MAX : (uint64_t)INT32_MAX;
    if (off > max_off || n > max_off - off)
        return mkv_fail(err, MKV_ERR_IO, "%s: %s: bytes %" PRIu64 "+%" PRIu64 ": offset out of range", path, what,
                        off, n);
    while (got < n) {
        /* at most 1 GiB per call, as for write() */
        size_t k = (size_t)(n - got > (1u << 30) ? (1u << 30) : n - got);
        ssize_t r = pread(fd, b + got, k, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return mkv_fail(err, MKV_ERR_IO, "%s: %s: read of %" PRIu64 " bytes at offset %" PRIu64 ": %s", path, what,
                            n - got, off + got, strerror(errno));
        }
        if (r == 0) {
            struct stat sb;
            uint64_t end = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : off + got;
            return mkv_fail(err, MKV_ERR_TRUNCATED,
                            "%s: %s: the file ends at byte %" PRIu64 ", before byte %" PRIu64
                            ": truncated or changed since it was opened",
                            path, what, end, off + n);
        }
        got += (uint64_t)r;
    }
    return MKV_OK;
}

mkv_status mkv_read_small_file(const char *path, uint64_t max_bytes, char **out, uint64_t *len_out, mkv_error *err)
{
    int fd;
    uint64_t size;
    *out = NULL;
    *len_out = 0;
    if (max_bytes >= SIZE_MAX / 2) return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: a limit of %" PRIu64 " bytes", path, max_bytes);
    mkv_status st = mkv_open_regular(path, 0, &fd, &size, err);
    if (st != MKV_OK) return st;
    /* The buffer holds the size fstat gave and one byte more (which tells a
     * file that grew since), and grows if it did: a small file costs its
     * size, not the limit (tokenizer.json's is 256 MB). */
    uint64_t cap = (size < max_bytes ? size : max_bytes) + 2;
    char *buf = mkv_malloc((size_t)cap);
    uint64_t n = 0;
    if (!buf) st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    while (st == MKV_OK && n <= max_bytes) { /* one byte past the limit tells "too large" */
        if (n + 1 >= cap) { /* full but for the terminator: the file grew */
            uint64_t grown = cap * 2 < max_bytes + 2 ? cap * 2 : max_bytes + 2;
            char *b = mkv_realloc(buf, (size_t)grown);
            if (!b) {
                st = mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
                break;
            }
            buf = b, cap = grown;
        }
        ssize_t r = read(fd, buf + n, (size_t)(cap - 1 - n));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) st = mkv_fail(err, MKV_ERR_IO, "%s: read: %s", path, strerror(errno));
        if (r <= 0) break;
        n += (uint64_t)r;
    }
    close(fd);
    if (st == MKV_OK && n > max_bytes)
        st = mkv_fail(err, MKV_ERR_FORMAT, "%s: size > %" PRIu64 " bytes: too large for this kind of file", path,
                      max_bytes);
    if (st != MKV_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len_out = n;
    return MKV_OK;
}

/* ---- atomic outputs ------------------------------------------------------------ */

static void atomic_reset(mkv_atomic_file *f)
{
    free(f->path);
    free(f->tmp);
    *f = (mkv_atomic_file)MKV_ATOMIC_FILE_INIT;
}

/* "dir/.name.tmp.PID[-k]" for destination "dir/name". */
static char *temp_name(const char *path, unsigned k)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t cap = strlen(path) + 48;
    char *t = mkv_malloc(cap);
    if (!t) return NULL;
    int n = snprintf(t, cap, "%.*s.%s.tmp.%ld", (int)dir_len, path, path + dir_len, (long)getpid());
    if (k) snprintf(t + n, cap - (size_t)n, "-%u", k);
    return t;
}

/* What is at an output's destination already: nothing or a regular file
 * (replaced by the rename), a directory (refused before any work), or
 * something else (/dev/null, a FIFO another process reads), written in
 * place: renaming over it would replace the device node. */
typedef enum { DEST_FILE, DEST_DIR, DEST_SPECIAL } dest_kind;

static dest_kind destination_kind(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || S_ISREG(sb.st_mode)) return DEST_FILE;
    return S_ISDIR(sb.st_mode) ? DEST_DIR : DEST_SPECIAL;
}

mkv_status mkv_atomic_begin(mkv_atomic_file *f, const char *path, mkv_error *err)
{
    *f = (mkv_atomic_file)MKV_ATOMIC_FILE_INIT;
    if (!(f->path = mkv_strdup(path))) return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
    dest_kind kind = destination_kind(path);
    if (kind == DEST_DIR) {
        atomic_reset(f);
        return mkv_fail(err, MKV_ERR_IO, "%s: is a directory, not a file to write", path);
    }
    if (kind == DEST_SPECIAL) {
        f->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (f->fd < 0) {
            mkv_status st = mkv_fail(err, MKV_ERR_IO, "%s: open: %s", path, strerror(errno));
            atomic_reset(f);
            return st;
        }
        return MKV_OK;
    }
    for (unsigned k = 0; k < 100; k++) {
        if (!(f->tmp = temp_name(path, k))) {
            atomic_reset(f);
            return mkv_fail(err, MKV_ERR_NO_MEMORY, "%s: out of memory", path);
        }
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (f->fd >= 0) return MKV_OK;
        if (errno != EEXIST) break;
        free(f->tmp);
        f->tmp = NULL;
    }
    mkv_status st = mkv_fail(err, MKV_ERR_IO, "%s: create %s: %s", path, f->tmp ? f->tmp : "a temporary beside it",
                             f->tmp ? strerror(errno) : "every name taken");
    atomic_reset(f);
    return st;
}

mkv_status mkv_atomic_finish(mkv_atomic_file *f, mkv_error *err)
{
    if (f->finished) return MKV_OK;
    if (f->fd < 0) return mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: finish: no file being written", f->path ? f->path : "?");
    const char *name = f->tmp ? f->tmp : f->path;
    mkv_status st = MKV_OK;
    /* a pipe or terminal cannot be synced (EINVAL): only files must be */
    if (fsync(f->fd) != 0 && (f->tmp || (errno != EINVAL && errno != EROFS)))
        st = mkv_fail(err, MKV_ERR_IO, "%s: fsync: %s", name, strerror(errno));
    if (close(f->fd) != 0 && st == MKV_OK) /* delayed write errors (NFS, quota) surface here */
        st = mkv_fail(err, MKV_ERR_IO, "%s: close: %s", name, strerror(errno));
    f->fd = -1;
    if (st != MKV_OK) {
        mkv_atomic_abort(f);
        return st;
    }
    f->finished = 1;
    return MKV_OK;
}

static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? mkv_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : mkv_strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some file systems refuse */
        close(fd);
    }
    free(dir);
}

mkv_status mkv_atomic_publish(mkv_atomic_file *f, mkv_error *err)
{
    if (!f->path) return MKV_OK; /* idle: nothing was begun (a dense model's bank) */
    if (!f->finished) {
        mkv_status st = mkv_fail(err, MKV_ERR_INVALID_ARG, "%s: publish before finish", f->path ? f->path : "?");
        mkv_atomic_abort(f);
        return st;
    }
    mkv_status st = MKV_OK;
    if (f->tmp) {
        if (rename(f->tmp, f->path) != 0) {
            st = mkv_fail(err, MKV_ERR_IO, "%s: rename from %s: %s", f->path, f->tmp, strerror(errno));
            unlink(f->tmp);
        } else {
            sync_parent_dir(f->path);
        }
    }
    atomic_reset(f);
    return st;
}

mkv_status mkv_atomic_commit(mkv_atomic_file *f, mkv_error *err)
{
    mkv_status st = mkv_atomic_finish(f, err);
    if (st != MKV_OK) return st;
    return mkv_atomic_publish(f, err);
}

mkv_status mkv_atomic_publish_all(mkv_atomic_file *const *files, uint32_t n, mkv_error *err)
{
    mkv_status st = MKV_OK;
    for (uint32_t i = 0; i < n; i++) {
        if (st == MKV_OK) st = mkv_atomic_publish(files[i], err);
        else mkv_atomic_abort(files[i]);
    }
    return st;
}

void mkv_atomic_abort(mkv_atomic_file *f)
{
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    atomic_reset(f);
}
