#!/bin/sh
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan, MKV_FUZZ=ON)
# in their own build folder and runs each for a bounded time; fails on any
# crash, sanitizer report, leak or timeout, and copies the input that found
# it into tests/fuzz/regress/<target>/ (which ctest then replays in every
# build: commit it with the fix).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]    # default: 60 s each, every target
#
# Environment: MKV_FUZZ_BUILD (build folder, default build-fuzz), MKV_FUZZ_JOBS
# (build jobs, default 2), MKV_FUZZ_ARGS (more libFuzzer flags, e.g.
# "-jobs=4 -workers=4" to use more cores; their workers' logs go to
# build-fuzz/jobs/<target>/). For hours: tests/fuzz/run.sh 14400.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=$*
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${MKV_FUZZ_BUILD:-$root/build-fuzz}
fuzz=$root/tests/fuzz

command -v clang >/dev/null || { echo "run.sh: clang is needed (Debian: apt-get install clang)" >&2; exit 2; }
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DMKV_FUZZ=ON -DMKV_WERROR=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.cmake.log" 2>&1 || { cat "$build.cmake.log" >&2; exit 2; }
build=$(cd "$build" && pwd) # the fuzzers run from a folder of their own: paths absolute
# every target: the list tests/fuzz/CMakeLists.txt declares (MKV_FUZZ_TARGETS)
[ -n "$targets" ] || targets=$(cat "$build/tests/fuzz/targets.txt")
build_targets=""
for t in $targets; do build_targets="$build_targets fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$build" -j"${MKV_FUZZ_JOBS:-2}" --target $build_targets >"$build.build.log" 2>&1 ||
    { tail -50 "$build.build.log" >&2; exit 2; }

# the targets' scratch files (in RAM where possible); a crashed run cannot
# remove its own
shm=/dev/shm
[ -w "$shm" ] || shm=${TMPDIR:-/tmp}
MKV_FUZZ_SCRATCH=$(mktemp -d "$shm/mkv_fuzz_run.XXXXXX")
export MKV_FUZZ_SCRATCH
trap 'rm -rf "$MKV_FUZZ_SCRATCH"' EXIT

failed=""
for t in $targets; do
    work=$build/corpus/$t       # libFuzzer adds what it finds here, not to the source tree
    art=$build/artifacts/$t
    mkdir -p "$work" "$art"
    rm -f "$art"/*              # findings of an earlier run are in regress/ already
    log=$build/fuzz_$t.log
    jobs=$build/jobs/$t         # where -jobs=N leaves its workers' fuzz-<i>.log (libFuzzer: the current folder)
    mkdir -p "$jobs"
    rm -f "$jobs"/fuzz-*.log
    echo "fuzz_$t: $secs s ..."
    # -timeout: one input taking > 10 s is a finding (a hang); leaks are
    # reported at the end of each run (ASan's leak checker, on by default).
    # shellcheck disable=SC2086
    if (cd "$jobs" && exec "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
           -print_final_stats=1 -artifact_prefix="$art/" ${MKV_FUZZ_ARGS:-} "$work" "$fuzz/corpus/$t" "$fuzz/regress/$t") \
           >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        echo "fuzz_$t: ok, ${runs:-?} runs, ${rate:-?} exec/s"
    else
        echo "fuzz_$t: FAILED (log: $log)" >&2
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20 >&2 || true
        for a in "$art"/*; do
            [ -f "$a" ] || continue
            cp "$a" "$fuzz/regress/$t/" && echo "fuzz_$t: input kept as tests/fuzz/regress/$t/$(basename "$a")" >&2
        done
        failed="$failed $t"
    fi
done
[ -z "$failed" ] || { echo "run.sh: findings in:$failed" >&2; exit 1; }
echo "run.sh: no findings"
