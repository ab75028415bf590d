/* Progress of a long host task on stderr: on a terminal a bar redrawn in
 * place (at most ten times a second) with the rate's ETA; otherwise (logs,
 * CI) one plain line per 10%. Off: prints nothing. */
#ifndef MKV_PROGRESS_H
#define MKV_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mkv_progress {
    bool on, tty;
    const char *label;
    uint64_t total, done;
    int shown;            /* last percentage printed (-1: none) */
    double t0, t_drawn;   /* start, last redraw (seconds, monotonic) */
} mkv_progress;

void mkv_progress_start(mkv_progress *p, bool on, const char *label, uint64_t total);
/* Adds n units of work done. */
void mkv_progress_add(mkv_progress *p, uint64_t n);
/* Seconds since mkv_progress_start. */
double mkv_progress_elapsed(const mkv_progress *p);
double mkv_now_s(void);

#endif
