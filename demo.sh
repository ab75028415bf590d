#!/usr/bin/env bash
# The main job: installs what is missing, builds mekivk, synthesizes the
# small MeKi model and decodes with it, printing tokens and tok/s.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mekivk=build/hosttools/mekivk
$mekivk devices
[ -f demo/small/bank.mkb ] || $mekivk synth --config small --out demo/small
$mekivk generate --model demo/small/model.gguf --bank demo/small/bank.mkb --tokens 1,2,3,4 -n 16
$mekivk bench --model demo/small/model.gguf --bank demo/small/bank.mkb --ctx 256 -n 16 --reps 3
