// Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c (see CMakeLists.txt).
#define Eigen mamba_eigen_avx512
#include "simd/gemm_impl.h"

namespace mamba::simd {
Kernels kernels_avx512() { return with_gemm<Vec<xsimd::avx512bw>>("avx512"); }
}  // namespace mamba::simd
