#!/usr/bin/env bash
# Installs what is missing, builds mekivk (warnings are errors) and runs the
# whole test suite with ctest. GPU tests run on every Vulkan device the
# loader picks first (lavapipe in CI) at three subgroup sizes, with the
# Khronos validation layer on.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/deps.sh
cmake -S . -B build -DMKV_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
