// Matrix products without hidden allocations: the kernel set's GEMM (Eigen's blocked kernel built
// for that ISA, simd/gemm_impl.h) with packing buffers planned at init, since Eigen's own product
// API would heap-allocate them.
//   - linear(): projections y = x W^T (+ b) over a chunk of tokens, split across threads by
//     weight rows; a single token runs as the xsimd GEMV instead.
//   - gemm_acc(): Y += A B for any row/column-major A and B, on the calling thread (the SSD).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd/kernels.h"

namespace mamba::detail {

using GemmScratch = simd::PackBuffers;  // one thread's packing buffers

// A product Y[rows, cols] = A[rows, depth] B[depth, cols] that a session will run.
struct GemmShape {
  int64_t rows, cols, depth;
};

// Floats of packing buffer one thread needs for every product in `shapes` (or smaller ones),
// with the kernel set simd::kernels() chose.
void gemm_scratch_floats(const std::vector<GemmShape>& shapes, size_t* cap_a, size_t* cap_b);

// The same for linear() with these weights [M, K] over up to max_T tokens.
struct WeightShape {
  int64_t M, K;
};
void gemm_scratch_floats(const std::vector<WeightShape>& weights, int64_t max_T, size_t* cap_a,
                         size_t* cap_b);

enum class Order { row_major, col_major };

// Y[M, N] (row-major, row stride ldy) += A[M, K] B[K, N]; A and B in the given storage orders
// with leading dimensions lda, ldb.
template <Order AOrder, Order BOrder>
void gemm_acc(const simd::Kernels& k, const GemmScratch& s, int64_t M, int64_t N, int64_t K,
              const float* A, int64_t lda, const float* B, int64_t ldb, float* Y, int64_t ldy) {
  k.gemm(s, AOrder == Order::row_major, BOrder == Order::row_major, M, N, K, A, lda, B, ldb, Y,
         ldy);
}

struct LinearCtx {
  const simd::Kernels* k;
  int n_threads;
  GemmScratch* scratch;  // [n_threads]
};

// y[T, M] (row stride ldy) = x[T, K] (row stride ldx) W[M, K]^T + bias[M] (bias may be null).
// Its GemmShape is {T, M, K}.
void linear(const LinearCtx& ctx, float* y, int64_t ldy, const float* x, int64_t ldx,
            const float* W, const float* bias, int64_t T, int64_t M, int64_t K);

}  // namespace mamba::detail
