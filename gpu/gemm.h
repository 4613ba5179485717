// The one matrix product the GPU prefill asks for, described row-major (like every buffer here),
// and its translation into cuBLAS's column-major call. Kept free of CUDA so the translation, the
// argument checks and a CPU emulation of the product are tested in the ordinary build.
#pragma once

#include <cstdint>
#include <string>

#include "gpu/device_math.h"

namespace mamba::gpu {

// Y[b] = alpha * op(A[b]) op(B[b]) + beta * Y[b] for b < batch, every matrix row-major:
//   op(A) is [M, K]: A stored [M, K] (lda >= K), or with trans_a stored [K, M] (lda >= M);
//   op(B) is [K, N]: B stored [K, N] (ldb >= N), or with trans_b stored [N, K] (ldb >= K);
//   Y is [M, N] fp32 (ldy >= N). Matrix b starts at A + b * stride_a (elements), etc.
// A and B have element type `ab`; the product accumulates in fp32.
struct Gemm {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  DType ab = DType::f32;
  const void* A = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* B = nullptr;
  int64_t ldb = 0, stride_b = 0;
  float* Y = nullptr;
  int64_t ldy = 0, stride_y = 0;
  int64_t batch = 1;
  float alpha = 1.0f, beta = 0.0f;
};

// Elements of A, B and Y the product touches, from each matrix's start: the extent a buffer must
// have (last element + 1 of the last batch).
struct GemmExtent {
  int64_t a, b, y;
};
inline GemmExtent gemm_extent(const Gemm& g) {
  const int64_t a_rows = g.trans_a ? g.K : g.M, a_cols = g.trans_a ? g.M : g.K;
  const int64_t b_rows = g.trans_b ? g.N : g.K, b_cols = g.trans_b ? g.K : g.N;
  return {(g.batch - 1) * g.stride_a + (a_rows - 1) * g.lda + a_cols,
          (g.batch - 1) * g.stride_b + (b_rows - 1) * g.ldb + b_cols,
          (g.batch - 1) * g.stride_y + (g.M - 1) * g.ldy + g.N};
}

// An empty string, or what is wrong with g (what cuBLAS would refuse, and more).
inline std::string gemm_check(const Gemm& g) {
  constexpr int64_t kIntMax = 2147483647;  // cuBLAS takes int sizes and leading dimensions
  if (g.M < 1 || g.N < 1 || g.K < 1 || g.batch < 1) return "empty product";
  if (g.M > kIntMax || g.N > kIntMax || g.K > kIntMax || g.batch > kIntMax) return "size > INT_MAX";
  if (!g.A || !g.B || !g.Y) return "null operand";
  if (g.lda < (g.trans_a ? g.M : g.K)) return "lda too small";
  if (g.ldb < (g.trans_b ? g.K : g.N)) return "ldb too small";
  if (g.ldy < g.N) return "ldy too small";
  if (g.lda > kIntMax || g.ldb > kIntMax || g.ldy > kIntMax) return "leading dimension > INT_MAX";
  if (g.batch > 1 && (g.stride_a < 0 || g.stride_b < 0 || g.stride_y < 0)) return "negative stride";
  // Batches may share A or B (stride 0) but never write the same Y.
  if (g.batch > 1 && g.stride_y < (g.M - 1) * g.ldy + g.N) return "batches of Y overlap";
  return "";
}

// An empty string, or which operand of g reaches outside the device block [base, base + bytes):
// a planning mistake caught before the device would read or write out of bounds.
inline std::string gemm_bounds(const Gemm& g, const void* base, size_t bytes) {
  const GemmExtent e = gemm_extent(g);
  const size_t ab = dtype_size(g.ab);
  auto inside = [&](const void* p, int64_t elements, size_t size) {
    const auto* b = static_cast<const uint8_t*>(base);
    const auto* q = static_cast<const uint8_t*>(p);
    return q >= b && size_t(q - b) + size_t(elements) * size <= bytes;
  };
  if (!inside(g.A, e.a, ab)) return "A outside the device block";
  if (!inside(g.B, e.b, ab)) return "B outside the device block";
  if (!inside(g.Y, e.y, sizeof(float))) return "Y outside the device block";
  return "";
}

// cuBLAS computes C[m, n] = op(A') op(B') column-major. A row-major Y[M, N] is a column-major
// Y^T[N, M] with the same leading dimension, and Y^T = op(B)^T op(A)^T, so: swap the operands and
// the sizes M and N, and keep each operand's transposition flag (a row-major [r, c] matrix read
// column-major is already its transpose).
struct ColumnMajorGemm {
  bool trans_first, trans_second;  // cuBLAS transa, transb
  int64_t m, n, k;
  const void* first;   // cuBLAS A
  int64_t ld_first, stride_first;
  const void* second;  // cuBLAS B
  int64_t ld_second, stride_second;
  float* C;
  int64_t ldc, stride_c;
};
inline ColumnMajorGemm to_column_major(const Gemm& g) {
  return {g.trans_b, g.trans_a, g.N, g.M, g.K, g.B, g.ldb, g.stride_b,
          g.A, g.lda, g.stride_a, g.Y, g.ldy, g.stride_y};
}

}  // namespace mamba::gpu
