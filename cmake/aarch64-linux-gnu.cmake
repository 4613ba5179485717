# Cross-compiling for aarch64 on Debian amd64 (packages: tools/setup-aarch64.sh); ctest runs the
# tests, and the tests the programs they call, under qemu-aarch64.
#   cmake -S . -B build-aarch64 --toolchain cmake/aarch64-linux-gnu.cmake   (or --preset aarch64)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)  # selects simd/kernels_neon64.cpp
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# The guest runs on the multiarch arm64 runtime (libc6:arm64, libstdc++6:arm64, ...), root "/".
# Not -L /usr/aarch64-linux-gnu: the linker's cross glibc there is another build than
# libc6:arm64, and its ld.so finds the latter through /etc/ld.so.cache; the mix hangs.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;/")

# Libraries and their CMake packages only for the target: multiarch arm64 packages live under
# /usr/lib/aarch64-linux-gnu (found from the root "/" by the library architecture), the unpacked
# SentencePiece under its own root. Header-only packages (Eigen, xsimd, nlohmann-json, CLI11)
# are the amd64 ones, found under the same root "/"; programs (pkg-config) from the host.
set(MAMBA_AARCH64_SENTENCEPIECE /opt/aarch64-sentencepiece)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu ${MAMBA_AARCH64_SENTENCEPIECE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config sees only arm64 .pc files (and arch-independent ones), never the amd64 ones.
set(ENV{PKG_CONFIG_LIBDIR}
    "${MAMBA_AARCH64_SENTENCEPIECE}/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
