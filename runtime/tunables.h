/* The kernel tunables a recording uses: the device's, picked once at its
 * creation from the tuning table or a tuning file (tuning.h, tuning.c). */
#ifndef MKV_TUNABLES_H
#define MKV_TUNABLES_H

#include "device.h"
#include "tuning.h"

static inline void mkv_tunables_for(const mkv_device *d, mkv_tunables *t) { *t = d->tune; }

#endif
