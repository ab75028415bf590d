#!/bin/sh
# ThreadSanitizer over the tests that run the engine from several threads:
# test_embed (two sessions on two threads on the host's device while the
# host submits its own work to the same queue, through its lock) and
# test_e2e's "session" case (two sessions on two threads on a mekivk
# device). Any report fails.
#
# The validation layer is off here, and only here: the layer is C++ built
# without TSan, and TSan reports races inside it (between its own rwlocks
# and the frees of its state objects) that name no mekivk frame. Every
# other build runs these tests with the layer on, threading checks included.
#
#   tests/sanitize/tsan.sh            (CI runs it after the ASan build)
#
# lavapipe is not instrumented either, and its threads' own locks race
# inside it (CI, 2026-11-26: pthread_mutex_destroy on one of its threads
# against pthread_mutex_lock on an llvmpipe worker, both called from
# libvulkan_lvp.so during a device's creation; no mekivk frame):
# ignore_noninstrumented_modules=1 leaves the calls of uninstrumented
# libraries (the driver, the loader, libc, Check) out, while mekivk's own
# threads, locks and memory stay checked (a two-thread counter race in an
# instrumented program is still reported with it).
#
# Environment: MKV_TSAN_BUILD (build folder, default build-tsan).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${MKV_TSAN_BUILD:-$root/build-tsan}
flags="-fsanitize=thread -fno-omit-frame-pointer"
cmake -S "$root" -B "$build" -DMKV_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_embed test_e2e >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 ignore_noninstrumented_modules=1" CK_DEFAULT_TIMEOUT=600 LP_NATIVE_VECTOR_WIDTH=256 \
       MKV_VALIDATION=0 MKV_TEST_TMP="$tmp"
"$build/tests/test_embed"
CK_RUN_CASE=session "$build/tests/test_e2e"
echo "tsan.sh: no ThreadSanitizer report"
