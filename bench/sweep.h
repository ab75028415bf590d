/* mekivk bench --sweep: the tunable variants of every kernel the model
 * uses, timed on this device at the model's shapes and weight types, each
 * first checked against a C reference on the same data; the fastest
 * written as a tuning file (runtime/tuning.h), a new choice that changes
 * the prefill products only once whole prefills of the model confirm it
 * (sweep_check.h). */
#ifndef MKV_SWEEP_H
#define MKV_SWEEP_H

/* `mekivk bench --sweep --model F [--bank F] [--out tuning.json] [--json]
 * [--quick] [--reps R] [--prefill-tokens N] [--device I|NAME]`: parses its
 * own flags (--sweep itself is skipped); returns the process exit status (2: bad usage, 1: failure). */
int mkv_bench_sweep(int argc, char **argv);

#endif
