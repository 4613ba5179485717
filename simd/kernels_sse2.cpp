// The x86-64 baseline: no extra flags.
#include "simd/kernels_impl.h"

namespace mamba::simd {
Kernels kernels_sse2() { return make_kernels<Vec<xsimd::sse2>>("sse2"); }
}  // namespace mamba::simd
