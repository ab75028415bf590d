#!/bin/bash
# Where a lavapipe run spends its time inside the shaders' JIT code.
#
#   scripts/jit_profile.sh OUT [--every S] -- COMMAND [ARGS...]
#
# Runs COMMAND under `perf record` (cpu-clock, 2 kHz). lavapipe compiles each
# pipeline into anonymous executable memory, which perf cannot read back, so
# every S seconds (default 2) while COMMAND runs, gdb copies each such
# mapping not yet copied into OUT/m_<address>.bin. Afterwards the samples are
# placed on those copies: OUT/report.txt lists the mappings by their share
# of all samples, and for the hottest five OUT/m_<address>.annot holds the
# disassembly with each instruction's samples, and report.txt its hottest
# 256-byte blocks (COMMAND's own output: OUT/stdout.txt, OUT/stderr.txt,
# with perf's messages). Code that was compiled and freed between two copies is
# counted as "not copied". Needs perf, gdb, objdump and python3; perf may
# need kernel.perf_event_paranoid <= 1 (or root).
# Which mapping is which pipeline: run one kernel alone (e.g. `mekivk bench
# --kernels --types q4_0 --ctx 128`), or look for its loop in the .annot.
# (README, Speed: what it showed for attention at KV 10240.)
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out=$1; shift
every=2
if [ "$1" = "--every" ]; then every=$2; shift 2; fi
[ "$1" = "--" ] || { echo "jit_profile.sh: expected -- before the command" >&2; exit 2; }
shift
for t in perf gdb objdump python3; do
    command -v $t >/dev/null || { echo "jit_profile.sh: $t is needed" >&2; exit 2; }
done
mkdir -p "$out"
rm -f "$out"/m_*.bin "$out"/m_*.annot
perf record -e cpu-clock -F 2000 -o "$out/perf.data" -- "$@" > "$out/stdout.txt" 2> "$out/stderr.txt" &
perf_pid=$!
pid=""
for _ in $(seq 50); do # the command: perf's child
    pid=$(pgrep -P $perf_pid | head -1 || true)
    [ -n "$pid" ] && break
    sleep 0.1
done
[ -n "$pid" ] || { echo "jit_profile.sh: the command did not start (see $out/stderr.txt)" >&2; exit 1; }
copies=0
while kill -0 $pid 2>/dev/null; do
    sleep "$every"
    kill -0 $pid 2>/dev/null || break
    cmds=()
    while read -r range perms offset dev inode rest; do
        [ "$perms" = "r-xp" ] && [ "$inode" = "0" ] && [ -z "$rest" ] || continue
        s=${range%-*}; e=${range#*-}
        [ -e "$out/m_$s.bin" ] || cmds+=(-ex "dump binary memory $out/m_$s.bin 0x$s 0x$e")
    done < "/proc/$pid/maps" 2>/dev/null || true
    if [ ${#cmds[@]} -gt 0 ]; then
        gdb -batch -p $pid "${cmds[@]}" > /dev/null 2>&1 || true
        copies=$((copies + 1))
    fi
done
wait $perf_pid || echo "jit_profile.sh: perf or the command exited with status $? (see $out/stderr.txt)" >&2
echo "jit_profile.sh: $copies copy rounds; report in $out/report.txt"
perf script -i "$out/perf.data" -F ip,dso 2>/dev/null |
    python3 "$(dirname "$0")/jit_profile.py" "$out" | tee "$out/report.txt"
