#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

double mkv_now_s(void) { return mkv_now_ms() * 1e-3; }

void mkv_progress_start(mkv_progress *p, bool on, const char *label, uint64_t total)
{
    *p = (mkv_progress){.on = on, .tty = on && isatty(2), .label = label, .total = total ? total : 1, .shown = -1,
                        .t0 = mkv_now_s()};
}

double mkv_progress_elapsed(const mkv_progress *p) { return mkv_now_s() - p->t0; }

/* "1h02m", "3m07s", "12s" */
static void fmt_time(double s, char *out, size_t cap)
{
    unsigned long t = s > 0 ? (unsigned long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(out, cap, "%luh%02lum", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(out, cap, "%lum%02lus", t / 60, t % 60);
    else snprintf(out, cap, "%lus", t);
}

void mkv_progress_add(mkv_progress *p, uint64_t n)
{
    p->done += n;
    if (!p->on) return;
    if (p->done > p->total) p->done = p->total;
    int pct = (int)(p->done * 100 / p->total);
    double now = mkv_now_s(), el = now - p->t0;
    bool last = p->done == p->total;
    char eta[32], spent[32];
    fmt_time(p->done ? el * (double)(p->total - p->done) / (double)p->done : 0, eta, sizeof eta);
    fmt_time(el, spent, sizeof spent);
    if (p->tty) {
        if (!last && (now - p->t_drawn < 0.1 || (pct == p->shown && now - p->t_drawn < 1.0))) return;
        char bar[31];
        memset(bar, ' ', 30);
        memset(bar, '#', (size_t)(pct * 30 / 100));
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %3d%%  %s, eta %s   %s", p->label, bar, pct, spent, last ? "0s" : eta, last ? "\n" : "");
        p->t_drawn = now;
    } else {
        if (p->shown >= 0 && pct / 10 == p->shown / 10) return;
        pct = pct / 10 * 10;
        fprintf(stderr, "%s: %d%% (%s, eta %s)\n", p->label, pct, spent, last ? "0s" : eta);
    }
    fflush(stderr);
    p->shown = pct;
}
