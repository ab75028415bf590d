#!/usr/bin/env bash
# Runs on a lent GPU machine, from the repository root, with .devkit/
# carried (scripts/devkit.sh packs it here first), in this order: the GPU
# tests with the validation layer on, the bandwidth probe, every weight
# type's matvec alone, the 0.6b q4_0 MeKi model (decode at KV 128, 1024 and 10240,
# prefill of 128 and 512 tokens, the breakdown by kernel), a full tuning
# sweep (every variant, the products on cooperative matrices among them
# where the device has them, judged on 128-token prefills: --quick's
# 16-token check found them 2.1x slower on an H200, where 128-token
# prefills ran 1.9x faster), the q4_0 bench again with the sweep's file, the f16 model, the
# q4_k_m mix.
# Each step has a time limit and the whole run a deadline (DEADLINE
# seconds, default 420), so one call of the device tool (at most 600 s)
# ends with time left in the session's 15 minutes to rerun a step:
#   bash scripts/device_check.sh [STEP...]     STEP: tests tests-kernels probe kernels q4_0 sweep tuned
#                                              kernels-tuned kernels-ab f16 q4_k_m q4_0-prev files
# What comes back under $OUT (the tool returns at most 8 files):
#   log.txt           every step's output, the device, each step's exit status
#   results.tgz       the JSONs:
#   probe.json        bench --probe
#   kernels.json      bench --kernels (the 1.7b FFN shapes, every weight type)
#   kernels-tuned.json  the same with tuning.json
#   bench-q4_0.json   bench of the 0.6b q4_0 MeKi model
#   tuning.json       bench --sweep on the q4_0 model: this device's fastest tunables
#   sweep.json        the sweep's own report (each group's variants, times, choices)
#   bench-q4_0-tuned.json  the q4_0 bench with tuning.json (with mm.coop on where the
#                     device has cooperative matrices, even if the sweep kept it off)
#   bench-f16.json    the f16 model's bench
#   bench-q4_k_m.json the q4_k_m mix's bench (Q4_K, Q6_K for the embedding and some layers)
#   bench-q4_0-prev.json  the q4_0 bench by .devkit/bin/mekivk_prev, where the kit has one
#   kernels-prev-N.json, kernels-new-N.json  (kernels-ab) bench --kernels by mekivk_prev
#                     and by mekivk, taking turns AB_REPS times (default 3); `mekivk
#                     report` of each pair goes to log.txt
#   bench-q4_0-NAME.json  the q4_0 bench with scripts/tunings/NAME.json or
#                     .devkit/tunings/NAME.json (step files)
set -uo pipefail
cd "$(dirname "$0")/.."
kit=$PWD/.devkit
out=${OUT:-/tmp/mkv_out}
deadline=$(( $(date +%s) + ${DEADLINE:-420} ))
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(tests probe kernels q4_0 sweep tuned f16 q4_k_m)

if [ ! -x "$kit/bin/mekivk" ]; then
    echo "device_check: $kit/bin/mekivk missing: run scripts/devkit.sh here and carry .devkit"
    exit 2
fi
echo "kit built at commit $(cat "$kit/commit"), checkout at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

# The Vulkan loader and GL dispatch into / where the machine has no loader
# (the device tool's recipe); the engine's own libraries and the
# validation layer into a private root.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    for f in "$kit"/gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
root=/tmp/mkv_root
for f in "$kit"/debs/*.deb; do dpkg -x "$f" "$root"; done
export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VK_LAYER_PATH="$root/usr/share/vulkan/explicit_layer.d"
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
export PATH="$kit/bin:$PATH" MKV_TEST_TMP=/tmp/mkv_tests CK_DEFAULT_TIMEOUT=300
mkdir -p "$MKV_TEST_TMP"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null

# run LIMIT NAME CMD..: CMD under the smaller of LIMIT and the time left.
run() {
    local limit=$1 name=$2 left
    shift 2
    left=$(( deadline - $(date +%s) ))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 10 ]; then
        echo "== $name: skipped, past the deadline"
        return 1
    fi
    echo "== $name (limit ${limit}s): $*"
    local t=$(date +%s) rc=0
    timeout "$limit" "$@" || rc=$?
    echo "== $name: exit $rc in $(( $(date +%s) - t ))s"
    return $rc
}

run 30 devices mekivk devices || { echo "device_check: no Vulkan device; stopping"; exit 1; }
models=/tmp/mkv_models
for s in "${steps[@]}"; do
    case $s in
    tests | tests-kernels)
        # validation layer on, synchronization validation too, as in ctest
        # (tests-kernels: test_kernels alone, the kernels and the sweep space)
        # (TESTS="kernels e2e" in the environment: those alone)
        list=(${TESTS:-kernels e2e prefill overlap state embed probe})
        [ "$s" = tests-kernels ] && list=(kernels)
        # (test_kernels runs every variant of the GPU's sweep space, 28 of attention alone: it
        # passed the 90 s the others get on an H200; each test named as it passes)
        for t in "${list[@]}"; do
            limit=90
            [ "$t" = kernels ] && limit=240
            CK_VERBOSITY=verbose MKV_VALIDATION=1 VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
                run $limit "test_$t" "test_$t"
        done ;;
    probe) run 60 probe sh -c "mekivk bench --probe --json > '$out/probe.json'" ;;
    kernels) run 60 kernels sh -c "mekivk bench --kernels --json > '$out/kernels.json'" ;;
    kernels-tuned) # the same with the sweep's file
        [ -f "$out/tuning.json" ] || { echo "== kernels-tuned: skipped, no tuning.json"; continue; }
        MKV_TUNING=$out/tuning.json run 60 kernels-tuned sh -c "mekivk bench --kernels --json > '$out/kernels-tuned.json'" ;;
    kernels-ab)
        # every weight type's matvec by the baseline build and by this one, taking turns (a
        # same-call ratio; TYPES narrows the types, as bench --types)
        if [ ! -x "$kit/bin/mekivk_prev" ]; then
            echo "== kernels-ab: skipped, no $kit/bin/mekivk_prev (PREV=COMMIT scripts/devkit.sh)"
            continue
        fi
        echo "== kernels-ab: baseline $(cat "$kit/prev_commit" 2>/dev/null || echo '?')"
        types=${TYPES:+--types $TYPES}
        for i in $(seq 1 "${AB_REPS:-3}"); do
            run 60 "kernels prev $i" sh -c "'$kit/bin/mekivk_prev' bench --kernels $types --json > '$out/kernels-prev-$i.json'"
            run 60 "kernels new $i" sh -c "mekivk bench --kernels $types --json > '$out/kernels-new-$i.json'"
            mekivk report "$out/kernels-prev-$i.json" "$out/kernels-new-$i.json"
        done ;;
    q4_0 | f16 | q4_k_m | tuned | q4_0-prev)
        # q4_0-prev: the q4_0 bench by .devkit/bin/mekivk_prev (a build of an earlier commit
        # that the kit may carry), in the same call as the others: the baseline of a change
        w=$s name=bench-$s.json tuning= bin=mekivk
        [ "$s" = q4_0-prev ] && w=q4_0 bin=$kit/bin/mekivk_prev
        if [ ! -x "$(command -v "$bin")" ]; then
            echo "== $s: skipped, no $bin"
            continue
        fi
        [ "$s" = tuned ] && w=q4_0 name=bench-q4_0-tuned.json tuning=$out/tuning.json
        if [ -n "$tuning" ] && [ ! -f "$tuning" ]; then
            echo "== tuned: skipped, no tuning.json (run the sweep step first)"
            continue
        fi
        # where the device has cooperative matrices but the sweep kept them off, bench them
        # anyway (a copy of its file with mm set to the tile the kernel tests cover on them:
        # nr 4, nb 8, rows 16, coop): their prefill figure either way
        if [ -n "$tuning" ] && grep -q '"coop": false' "$tuning" &&
            mekivk devices 2>/dev/null | grep -q 'cooperative matrices.*: yes'; then
            sed 's/"mm": {"wg": \([0-9]*\), [^}]*}/"mm": {"wg": \1, "rows": 16, "nr": 4, "nb": 8, "coop": true}/' \
                "$tuning" > /tmp/mkv_tuning_coop.json
            tuning=/tmp/mkv_tuning_coop.json
            echo "== tuned: the sweep kept mm.coop off; this bench runs with it on ($tuning)"
        fi
        [ -f "$models/$w/bank.mkb" ] || run 60 "synth $w" mekivk synth --config 0.6b --wtype "$w" --out "$models/$w"
        # CTX: the KV lengths (the first one's prefill, bank counters and kernels are the runs';
        # contexts lists every length's kernels)
        MKV_TUNING=$tuning run 120 "bench $s" sh -c "$bin bench --model '$models/$w/model.gguf' \
            --bank '$models/$w/bank.mkb' --ctx ${CTX:-128,1024,10240} -n 32 --reps 5 --prompt 128,512 --profile --json > '$out/$name'" ;;
    files)
        # the q4_0 bench with each tuning file in scripts/tunings/ (the ones the next GPU check
        # wants, committed) and .devkit/tunings/ (NAME.json -> bench-q4_0-NAME.json): variants
        # of this build compared in one call
        [ -f "$models/q4_0/bank.mkb" ] || run 60 "synth q4_0" mekivk synth --config 0.6b --wtype q4_0 --out "$models/q4_0"
        for f in scripts/tunings/*.json "$kit"/tunings/*.json; do
            [ -f "$f" ] || continue
            n=$(basename "$f" .json)
            MKV_TUNING=$f run 120 "bench q4_0 $n" sh -c "mekivk bench --model '$models/q4_0/model.gguf' \
                --bank '$models/q4_0/bank.mkb' --ctx ${CTX:-128,1024,10240} -n 32 --reps 5 --prompt 128 --profile --json > '$out/bench-q4_0-$n.json'"
        done ;;
    sweep)
        [ -f "$models/q4_0/bank.mkb" ] || run 60 "synth q4_0" mekivk synth --config 0.6b --wtype q4_0 --out "$models/q4_0"
        run 150 sweep sh -c "mekivk bench --sweep --json --model '$models/q4_0/model.gguf' \
            --out '$out/tuning.json' > '$out/sweep.json'" ;;
    *) echo "device_check: unknown step '$s' (tests tests-kernels probe kernels q4_0 sweep tuned kernels-tuned kernels-ab f16 q4_k_m q4_0-prev files)" ;;
    esac
done
# the tool returns at most 8 files: the JSONs travel as one archive beside log.txt
# (with an earlier run's archive in the same $OUT unpacked into it first: two runs in
# one call once left only the second's, empty)
ls -la "$out"
(cd "$out" && if ls -- *.json > /dev/null 2>&1; then
    [ -f results.tgz ] && tar xzf results.tgz
    tar czf results.tgz --remove-files -- *.json
fi)
sleep 1 # tee's last lines into log.txt before the tool collects $OUT
