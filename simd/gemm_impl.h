// Eigen's blocked GEMM kernel, compiled once per instruction set. Each per-ISA translation unit
// defines the macro `Eigen` to a name of its own before including this header, so every Eigen
// symbol it instantiates lives in that TU's own namespace: the linker can never merge an AVX-512
// instantiation into code that runs on a CPU without it (and each ISA gets Eigen's kernel for it,
// not the baseline SSE2 one).
#pragma once

#ifndef Eigen
#error "define Eigen to a per-ISA namespace name before including simd/gemm_impl.h"
#endif

#include <algorithm>
#include <cstdint>

#include <Eigen/Core>

#include "simd/kernels.h"

namespace mamba::simd {
namespace {

using Index = Eigen::Index;

// Eigen's kernel computes column-major results, so Y[M, N] row-major runs as the column-major
// Y^T[N, M] = B^T A^T: its "rows" are N, its "cols" M. These are the blocking sizes it uses.
void blocking_sizes(Index M, Index N, Index K, Index* kc, Index* mc, Index* nc) {
  *kc = K;
  *mc = N;
  *nc = M;
  Eigen::internal::computeProductBlockingSizes<float, float>(*kc, *mc, *nc, Index(1));
}

// The packed panels are read with aligned vector loads (64 bytes for AVX-512): buffers are
// aligned up inside what they were given, so each gets that much slack.
constexpr size_t kPackAlignFloats = 64 / sizeof(float);

float* align_up(float* p, size_t* cap) {
  const size_t skip = (kPackAlignFloats - (reinterpret_cast<uintptr_t>(p) / sizeof(float)) %
                                              kPackAlignFloats) % kPackAlignFloats;
  *cap = *cap > skip ? *cap - skip : 0;
  return p + skip;
}

void gemm_pack_floats(int64_t M, int64_t N, int64_t K, size_t* cap_a, size_t* cap_b) {
  Index kc, mc, nc;
  blocking_sizes(M, N, K, &kc, &mc, &nc);
  *cap_a = size_t(kc * mc) + kPackAlignFloats;
  *cap_b = size_t(kc * nc) + kPackAlignFloats;
}

// Eigen's blocking descriptor pointed at planned buffers: with blockA/blockB set, the sequential
// GEMM kernel packs into them instead of allocating.
class PlannedBlocking : public Eigen::internal::level3_blocking<float, float> {
 public:
  PlannedBlocking(const PackBuffers& s, Index M, Index N, Index K) {
    Index kc, mc, nc;
    blocking_sizes(M, N, K, &kc, &mc, &nc);
    size_t cap_a = s.cap_a, cap_b = s.cap_b;
    m_blockA = align_up(s.a, &cap_a);
    m_blockB = align_up(s.b, &cap_b);
    // Capacity was planned from the same rule at the largest shapes; the rule can still ask for
    // a taller panel when a product is smaller in another dimension (or the plan was made for
    // another kernel set), so fit kc, mc and nc to it.
    kc = std::max<Index>(1, std::min<Index>(kc, Index(std::min(cap_a, cap_b))));
    if (size_t(kc * mc) > cap_a) mc = std::max<Index>(1, Index(cap_a) / kc);
    if (size_t(kc * nc) > cap_b) nc = std::max<Index>(1, Index(cap_b) / kc);
    m_kc = kc;
    m_mc = mc;
    m_nc = nc;
  }
};

// Y^T[N, M] += B^T[N, K] A^T[K, M], all column-major; a row-major operand of the row-major
// product is a column-major one of the transposed product.
template <int AtOrder, int BtOrder>
void gemm_t(const PackBuffers& s, Index M, Index N, Index K, const float* A, Index lda,
            const float* B, Index ldb, float* Y, Index ldy) {
  PlannedBlocking blocking(s, M, N, K);
  Eigen::internal::general_matrix_matrix_product<Index, float, BtOrder, false, float, AtOrder,
                                                 false, Eigen::ColMajor, 1>::run(
      N, M, K, B, ldb, A, lda, Y, 1, ldy, 1.0f, blocking, nullptr);
}

void gemm(const PackBuffers& s, bool a_row_major, bool b_row_major, int64_t M, int64_t N,
          int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* Y,
          int64_t ldy) {
  if (M == 0 || N == 0 || K == 0) return;
  constexpr int CM = Eigen::ColMajor, RM = Eigen::RowMajor;
  if (a_row_major && b_row_major) gemm_t<CM, CM>(s, M, N, K, A, lda, B, ldb, Y, ldy);
  else if (a_row_major) gemm_t<CM, RM>(s, M, N, K, A, lda, B, ldb, Y, ldy);
  else if (b_row_major) gemm_t<RM, CM>(s, M, N, K, A, lda, B, ldb, Y, ldy);
  else gemm_t<RM, RM>(s, M, N, K, A, lda, B, ldb, Y, ldy);
}

// The kernel set with this ISA's GEMM added.
Kernels with_gemm(Kernels k) {
  k.gemm = &gemm;
  k.gemm_pack_floats = &gemm_pack_floats;
  return k;
}

}  // namespace
}  // namespace mamba::simd
