// Compiled with -mavx2 -mfma (see CMakeLists.txt).
#include "simd/kernels_impl.h"

namespace mamba::simd {
Kernels kernels_avx2() { return make_kernels<Vec<xsimd::fma3<xsimd::avx2>>>("avx2"); }
}  // namespace mamba::simd
