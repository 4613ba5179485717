// AArch64 (Jetson's Cortex-A78AE): NEON is part of the baseline.
#include "simd/kernels_impl.h"

namespace mamba::simd {
Kernels kernels_neon64() { return make_kernels<Vec<xsimd::neon64>>("neon64"); }
}  // namespace mamba::simd
