// AArch64 (Jetson's Cortex-A78AE): NEON is part of the baseline.
#define Eigen mamba_eigen_neon64
#include "simd/gemm_impl.h"

namespace mamba::simd {
Kernels kernels_neon64() { return with_gemm<Vec<xsimd::neon64>>("neon64"); }
}  // namespace mamba::simd
