#!/usr/bin/env bash
# Packs what a lent GPU machine needs to test and benchmark mekivk, into
# .devkit/ (ignored by git): the lent machine can fetch nothing, has no
# glslang, Check or Vulkan loader, and each session gets 15 minutes of it,
# so everything is built here and one call there runs it all
# (scripts/device_check.sh says what it runs and writes).
#
#   scripts/devkit.sh            # here, on the Debian 12 development machine
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
# About 39 MiB; the device tool carries at most 64 MiB. The tests step takes
# 83 s on lavapipe (2-core VM; run here as a check of the kit itself).
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
du -sh "$kit"
echo "now: device run with carry [\"$kit\"] and command: bash scripts/device_check.sh"
