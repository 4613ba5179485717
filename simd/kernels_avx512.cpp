// Compiled with -mavx512f -mavx512bw -mavx512dq -mfma (see CMakeLists.txt).
#include "simd/kernels_impl.h"

namespace mamba::simd {
Kernels kernels_avx512() { return make_kernels<Vec<xsimd::avx512bw>>("avx512"); }
}  // namespace mamba::simd
