// Matrix products without hidden allocations, into buffers planned at init:
//   - linear(): projections y = x W^T (+ b) over a chunk of tokens, split across threads by
//     weight rows; a single token runs as the kernel set's matvec for the weight type instead.
//     q8/q4 go to the kernel set's integer GEMM where it has one (AVX-512 VNNI): the chunk's
//     activations quantized per token as decode does, the weights repacked a few rows at a time;
//     every other type (and q8/q4 elsewhere) to gemm_weights: the chunk's activations packed
//     once, token vectors times broadcast weights, f32 rows read in place, others dequantized a
//     strip of rows at a time (over a chunk of tokens the conversion is a small part of the work).
//   - gemm_acc(): Y += A B for any row/column-major A and B, on the calling thread (the SSD):
//     Eigen's blocked kernel built for the ISA (simd/gemm_impl.h), which would heap-allocate its
//     packing buffers through Eigen's product API.
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

// Weights [M, K] of a projection.
struct WeightShape {
  int64_t M, K;
};

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
  GemmScratch* scratch;    // [n_threads], with tiles of weight rows (gemm_weights)
  simd::QuantizedX xq;     // activation rows quantized (q8/q4 weights): [quantized_rows, padded K]
  float* tokens = nullptr;  // [cap_tokens] the activations packed for gemm_weights, all threads'
};

// What one thread's GemmScratch and the LinearCtx need for linear() with these weights of `type`
// over up to max_T tokens with kernel set k: floats of tile, bytes of repacked panel, floats of
// packed activations (one buffer, shared), and how many activation rows of how many values (the
// largest K) are quantized at once.
struct LinearNeeds {
  size_t cap_tile = 0, cap_panel = 0, cap_tokens = 0;
  int64_t quantized_rows = 0, quantized_k = 0;
};
LinearNeeds linear_needs(const simd::Kernels& k, const std::vector<WeightShape>& weights,
                         WeightType type, int64_t max_T);

// y[T, M] (row stride ldy) = x[T, K] (row stride ldx) W[M, K]^T + bias[M] (bias may be null).
// Its GemmShape is {T, M, K}.
void linear(const LinearCtx& ctx, float* y, int64_t ldy, const float* x, int64_t ldx,
            const simd::Matrix& W, const float* bias, int64_t T);

}  // namespace mamba::detail
