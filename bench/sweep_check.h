/* bench --sweep's whole-prefill check (sweep_check.c): before the sweep
 * takes a group's new values that change the prefill products, whole
 * prefills of the model with the current values and with the candidate,
 * taking turns; kernel-alone times do not always tell what a whole
 * prefill does (cache sharing with the rest of the pass, other tile
 * shapes of the activations). */
#ifndef MKV_SWEEP_CHECK_H
#define MKV_SWEEP_CHECK_H

#include "device.h"
#include "mekivk.h"
#include "progress.h"

#define MKV_PREFILL_AB_MAX_ROUNDS 16u

typedef struct mkv_prefill_ab {
    uint32_t tokens, rounds;
    double current_ms, candidate_ms; /* medians over the rounds, wall time of one whole prefill */
    double ratio;                    /* candidate_ms / current_ms */
} mkv_prefill_ab;

/* The prefills a check runs (for a progress bar's total). */
static inline uint32_t mkv_prefill_ab_steps(uint32_t rounds) { return 2 * rounds; }

/* On d, m's device (m loaded dense or with its bank; the MeKi branch is
 * off): a session whose passes are recorded with `current`, one with
 * `candidate` (each warmed up by a 2-token prefill, which records its
 * prefill pass and builds its pipelines), then `rounds` rounds of one
 * prefill of `tokens` (2..MKV_MAX_CTX) tokens from position 0 in each,
 * the order alternating (current first in even rounds). One progress step
 * per timed prefill. d->tune is back as it was on return. */
mkv_status mkv_prefill_ab_run(mkv_device *d, mkv_model *m, const mkv_tunables *current, const mkv_tunables *candidate,
                              uint32_t tokens, uint32_t rounds, mkv_progress *prog, mkv_prefill_ab *out, mkv_error *err);

#endif
