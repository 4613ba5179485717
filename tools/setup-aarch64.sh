#!/usr/bin/env bash
# Installs what the aarch64 cross build (cmake/aarch64-linux-gnu.cmake) and its tests under
# qemu need, only what is missing. Debian 12 amd64, as root (or with sudo available).
#  - the native packages (tools/setup.sh): cmake, pkg-config and the header-only libraries
#    (Eigen, nlohmann-json, CLI11), which the cross build takes from the amd64 packages;
#  - the cross compiler and qemu-user (the tests run under qemu-aarch64; no binfmt_misc needed);
#  - arm64 packages through multiarch: utf8proc, GoogleTest and xsimd (header-only, but its
#    CMake files are under the architecture's libdir), and the runtime the tests run on under
#    qemu (libstdc++6, libgomp1; libc6 comes with them);
#  - SentencePiece: Debian's libsentencepiece0/-dev are not Multi-Arch: same, so installing the
#    arm64 ones would remove the amd64 ones. Their arm64 .debs are unpacked into $spm_root
#    instead (outside dpkg's database), with the .pc file's libdir pointed there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
pkgs=(g++-aarch64-linux-gnu qemu-user libutf8proc-dev:arm64 libgtest-dev:arm64 libxsimd-dev:arm64
      libstdc++6:arm64 libgomp1:arm64)
missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
updated=0
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq && updated=1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

spm_root=/opt/aarch64-sentencepiece  # also in cmake/aarch64-linux-gnu.cmake
spm_pc=$spm_root/usr/lib/aarch64-linux-gnu/pkgconfig/sentencepiece.pc
if [ ! -f "$spm_pc" ]; then
  echo "unpacking libsentencepiece0:arm64 and libsentencepiece-dev:arm64 into $spm_root"
  ((updated)) || $sudo apt-get update -qq
  tmp=$(mktemp -d) && chmod 755 "$tmp"  # apt's _apt user downloads into it
  (cd "$tmp" && apt-get download -qq libsentencepiece0:arm64 libsentencepiece-dev:arm64)
  $sudo mkdir -p "$spm_root"
  for deb in "$tmp"/*.deb; do $sudo dpkg-deb -x "$deb" "$spm_root"; done
  rm -rf "$tmp"
  # The headers are the amd64 package's (the same files); only the libraries move.
  $sudo sed -i "s|^libdir=.*|libdir=$spm_root/usr/lib/aarch64-linux-gnu|" "$spm_pc"
fi
