// One lane at a time: runs anywhere, and shows what the vector sets gain.
#define EIGEN_DONT_VECTORIZE  // the scalar set: Eigen without SIMD too
#define Eigen mamba_eigen_scalar
#include "simd/gemm_impl.h"

namespace mamba::simd {
Kernels kernels_scalar() { return with_gemm<Scalar>("scalar"); }
}  // namespace mamba::simd
