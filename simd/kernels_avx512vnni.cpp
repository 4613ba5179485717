// Compiled with the AVX-512 flags plus -mavx512vnni (see CMakeLists.txt): the q8/q4 products use
// vpdpbusd. Its own Eigen namespace, as every kernel set has.
#define Eigen mamba_eigen_avx512vnni
#include "simd/gemm_impl.h"

namespace mamba::simd {
Kernels kernels_avx512vnni() {
  return with_gemm<Vec<xsimd::avx512bw>>("avx512vnni");
}
}  // namespace mamba::simd
