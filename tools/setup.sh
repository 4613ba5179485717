#!/usr/bin/env bash
# Installs the Debian packages the build and tests need (only those missing). Debian 12, as root
# (or with sudo available).
set -euo pipefail
pkgs=(g++ cmake make pkg-config libeigen3-dev libxsimd-dev nlohmann-json3-dev libcli11-dev libgtest-dev
      libutf8proc-dev libsentencepiece-dev)
# --hardening: also Clang with its sanitizer and libFuzzer runtimes and LLVM's OpenMP (the
# sanitizer and fuzz builds, README "Hardening").
[ "${1:-}" != "--hardening" ] || pkgs+=(clang libclang-rt-dev libomp-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
