// Projections y = x W^T (+ b), the bulk of the arithmetic. Over a chunk of tokens they run as
// Eigen's blocked GEMM kernel with packing buffers planned at init (Eigen's own product API would
// heap-allocate them), split across threads by weight rows; a single token runs as the xsimd GEMV.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd/kernels.h"

namespace mamba::detail {

struct GemmShape {
  int64_t M, K;  // weight [M, K]
};

// Per-thread packing buffers for Eigen's GEMM kernel.
struct GemmScratch {
  float* a = nullptr;  // packed weight panel, cap_a floats
  float* b = nullptr;  // packed activations panel, cap_b floats
  size_t cap_a = 0, cap_b = 0;
};

// Floats of packing buffer one thread needs for these weight shapes and up to max_T rows.
void gemm_scratch_floats(const std::vector<GemmShape>& shapes, int64_t max_T, size_t* cap_a,
                         size_t* cap_b);

struct LinearCtx {
  const simd::Kernels* k;
  int n_threads;
  GemmScratch* scratch;  // [n_threads]
};

// y[T, M] (row stride ldy) = x[T, K] (row stride ldx) W[M, K]^T + bias[M] (bias may be null).
void linear(const LinearCtx& ctx, float* y, int64_t ldy, const float* x, int64_t ldx,
            const float* W, const float* bias, int64_t T, int64_t M, int64_t K);

}  // namespace mamba::detail
