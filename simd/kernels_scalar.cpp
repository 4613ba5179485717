// One lane at a time: runs anywhere, and shows what the vector sets gain.
#include "simd/kernels_impl.h"

namespace mamba::simd {
Kernels kernels_scalar() { return make_kernels<Scalar>("scalar"); }
}  // namespace mamba::simd
