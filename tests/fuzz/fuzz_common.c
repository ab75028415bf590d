#include "fuzz_common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

static char scratch[512];
static char names[8][64]; /* the files put there, removed at exit */
static int n_names;

static void cleanup(void)
{
    char p[sizeof scratch + sizeof names[0] + 2];
    for (int i = 0; i < n_names; i++) {
        if (snprintf(p, sizeof p, "%s/%s", scratch, names[i]) < (int)sizeof p) unlink(p);
    }
    rmdir(scratch);
}

const char *fz_dir(void)
{
    if (scratch[0]) return scratch;
    const char *base = getenv("MKV_FUZZ_SCRATCH"); /* run.sh's, removed by it even after a crash */
    if (!base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/mkv_fuzz.XXXXXX", base);
    if (!mkdtemp(scratch)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(cleanup);
    return scratch;
}

static void remember(const char *name)
{
    for (int i = 0; i < n_names; i++)
        if (!strcmp(names[i], name)) return;
    if (n_names < 8 && strlen(name) < sizeof names[0]) snprintf(names[n_names++], sizeof names[0], "%s", name);
}

const char *fz_put(const char *name, const uint8_t *data, size_t n)
{
    static char path[sizeof scratch + sizeof names[0] + 2];
    if (strlen(name) >= sizeof names[0]) abort();
    if (snprintf(path, sizeof path, "%s/%s", fz_dir(), name) >= (int)sizeof path) abort();
    remember(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    mkv_error err;
    if (fd < 0 || mkv_write_full(fd, data, n, path, &err) != MKV_OK || close(fd) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
    return path;
}
