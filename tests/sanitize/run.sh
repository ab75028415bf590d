#!/bin/sh
# The sanitizer build: the whole suite built with AddressSanitizer and
# UndefinedBehaviorSanitizer (any report fails its test; leaks included),
# the GPU tests at one lavapipe width (256: subgroup 8) with the validation
# layer and its synchronization validation on, as in every build.
# LeakSanitizer suppresses only allocations inside the Vulkan driver stack
# (lsan.supp says why, line by line); the test programs and mekivk pin
# those libraries in this build so that leak reports can name them.
#
#   tests/sanitize/run.sh            (CI runs it after ./test.sh)
#
# Environment: MKV_SAN_BUILD (build folder, default build-san).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${MKV_SAN_BUILD:-$root/build-san}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S "$root" -B "$build" -DMKV_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$flags" >/dev/null
cmake --build "$build" -j"$(nproc)"
LSAN_OPTIONS="suppressions=$root/tests/sanitize/lsan.supp" UBSAN_OPTIONS="print_stacktrace=1" \
    ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -E '_lp128$|_lp512$'
