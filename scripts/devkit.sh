#!/usr/bin/env bash
# Packs what a lent GPU machine needs to test and benchmark mekivk, into
# .devkit/ (ignored by git): the lent machine can fetch nothing, has no
# glslang, Check or Vulkan loader, and each session gets 15 minutes of it,
# so everything is built here and one call there runs it all
# (scripts/device_check.sh says what it runs and writes).
#
#   scripts/devkit.sh            # here, on the Debian 12 development machine
#   PREV=f2eb548 scripts/devkit.sh   # the same, with a baseline build
#   device run, carry [".devkit"], timeout_s 560:
#     bash scripts/device_check.sh
#
# .devkit/bin   mekivk and the GPU tests, built Release (-Werror) and stripped
# .devkit/gl    the Vulkan loader and the GL/EGL dispatch libraries the
#               NVIDIA driver's Vulkan ICD loads, as .debs (unpacked into /
#               there, as the device tool's README says)
# .devkit/debs  the libraries the binaries link (PCRE2, utf8proc, subunit)
#               and the Khronos validation layer, as .debs (unpacked into a
#               private root there, never into /)
# .devkit/bin/mekivk_prev   (PREV=COMMIT in the environment) mekivk built at
#               an earlier commit, the baseline of device_check.sh's
#               q4_0-prev and kernels-ab steps: a change and what it
#               replaced, timed in one call of the device
# About 41 MiB (46 with mekivk_prev); the device tool carries at most 64 MiB.
# The tests step takes 83 s on lavapipe (2-core VM; run here as a check of
# the kit itself).
set -euo pipefail
cd "$(dirname "$0")/.."
kit=.devkit
build=build-devkit
tests=(kernels e2e prefill overlap state embed probe)

cmake -S . -B "$build" -DMKV_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target mekivk $(printf 'test_%s ' "${tests[@]}")

rm -rf "$kit"
mkdir -p "$kit/bin" "$kit/gl" "$kit/debs"
install -m 755 -s "$build/hosttools/mekivk" "$kit/bin/"
for t in "${tests[@]}"; do install -m 755 -s "$build/tests/test_$t" "$kit/bin/"; done

# apt-get download writes into the current folder; it needs no root.
(cd "$kit/gl" && apt-get download -q libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
(cd "$kit/debs" && apt-get download -q libpcre2-8-0 libutf8proc2 libsubunit0 vulkan-validationlayers >/dev/null)
git rev-parse --short HEAD > "$kit/commit"
if [ -n "${PREV:-}" ]; then
    # the baseline: PREV's tree in a temporary worktree, built the same way
    src=$(mktemp -d /tmp/mkv_prev.XXXXXX)
    git worktree add -q --detach "$src" "$PREV"
    cmake -S "$src" -B "$src/build" -DMKV_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$src/build" -j"$(nproc)" --target mekivk
    install -m 755 -s "$src/build/hosttools/mekivk" "$kit/bin/mekivk_prev"
    git rev-parse --short "$PREV" > "$kit/prev_commit"
    git worktree remove --force "$src"
fi
du -sh "$kit"
echo "now: device run with carry [\"$kit\"] and command: bash scripts/device_check.sh"
