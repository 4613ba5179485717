// The x86-64 baseline: no extra flags.
#define Eigen mamba_eigen_sse2
#include "simd/gemm_impl.h"

namespace mamba::simd {
Kernels kernels_sse2() { return with_gemm<Vec<xsimd::sse2>>("sse2"); }
}  // namespace mamba::simd
