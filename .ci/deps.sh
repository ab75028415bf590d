#!/usr/bin/env bash
# Installs the Debian 12 packages mekivk needs, only those missing, plus any
# named as arguments.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libvulkan-dev glslang-tools spirv-tools
      mesa-vulkan-drivers vulkan-tools vulkan-validationlayers check
      libpcre2-dev libutf8proc-dev xz-utils)
pkgs+=("$@") # extra packages a caller needs (.ci/run: clang for the fuzzers)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
