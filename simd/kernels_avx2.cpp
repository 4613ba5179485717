// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt).
#define Eigen mamba_eigen_avx2
#include "simd/gemm_impl.h"

namespace mamba::simd {
Kernels kernels_avx2() { return with_gemm<Vec<xsimd::fma3<xsimd::avx2>>>("avx2"); }
}  // namespace mamba::simd
