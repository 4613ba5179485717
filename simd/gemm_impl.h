// Eigen's blocked GEMM kernel, compiled once per instruction set. Each per-ISA translation unit
// defines the macro `Eigen` to a name of its own before including this header, so every Eigen
// symbol it instantiates lives in that TU's own namespace: the linker can never merge an AVX-512
// instantiation into code that runs on a CPU without it (and each ISA gets Eigen's kernel for it,
// not the baseline SSE2 one). Two drivers over it: gemm() for fp32 operands (Eigen's own loops)
// and gemm_weights() for weight matrices of any type (our loops, dequantizing panels), and
// with_gemm<V>(), which assembles the ISA's whole kernel set (simd/kernels_impl.h) with them and,
// with VNNI, the integer GEMM of q8/q4 weights (simd/qgemm_impl.h).
#pragma once

#ifndef Eigen
#error "define Eigen to a per-ISA namespace name before including simd/gemm_impl.h"
#endif

#include <algorithm>
#include <cstdint>

#include <Eigen/Core>

#include "simd/kernels.h"
#include "simd/kernels_impl.h"
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include "simd/qgemm_impl.h"
#endif

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

// Capacity was planned from the same blocking rule at the largest shapes; the rule can still ask
// for a taller panel when a product is smaller in another dimension (or the plan was made for
// another kernel set), so fit kc, then mc (panels of kc x mc in cap_a floats) and nc (kc x nc in
// cap_b) to it.
void fit_blocking(size_t cap_a, size_t cap_b, Index* kc, Index* mc, Index* nc) {
  *kc = std::max<Index>(1, std::min<Index>(*kc, Index(std::min(cap_a, cap_b))));
  if (size_t(*kc * *mc) > cap_a) *mc = std::max<Index>(1, Index(cap_a) / *kc);
  if (size_t(*kc * *nc) > cap_b) *nc = std::max<Index>(1, Index(cap_b) / *kc);
}

// Eigen's blocking descriptor pointed at planned buffers: with blockA/blockB set, the sequential
// GEMM kernel packs into them instead of allocating.
class PlannedBlocking : public Eigen::internal::level3_blocking<float, float> {
 public:
  PlannedBlocking(const PackBuffers& s, Index M, Index N, Index K) {
    blocking_sizes(M, N, K, &m_kc, &m_mc, &m_nc);
    size_t cap_a = s.cap_a, cap_b = s.cap_b;
    m_blockA = align_up(s.a, &cap_a);
    m_blockB = align_up(s.b, &cap_b);
    fit_blocking(cap_a, cap_b, &m_kc, &m_mc, &m_nc);
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

// --- weights of any type (prefill's projections) ------------------------------------------------

// gemm_weights' blocks: Eigen's depth slab kc (a multiple of kBlock when the depth is split, so a
// slab starts on a quantization block) and token block nc, and mc weight rows per panel such that
// a panel's fp32 tile and its packed copy take half the L2 cache together (Eigen's own mc is sized
// for the packed copy alone, and can reach the L3 size).
struct WeightsBlocking {
  Index kc, mc, nc;
};

WeightsBlocking weights_blocking(int64_t rows, int64_t T, int64_t K) {
  WeightsBlocking b;
  blocking_sizes(T, rows, K, &b.kc, &b.mc, &b.nc);
  if (b.kc < K && b.kc >= kBlock) b.kc = b.kc / kBlock * kBlock;
  constexpr Index mr = Eigen::internal::gebp_traits<float, float>::mr;
  const Index fit = Index(Eigen::l2CacheSize()) / Index(2 * 2 * sizeof(float)) / b.kc;
  b.mc = std::min(b.mc, std::max(mr, fit / mr * mr));
  return b;
}

void gemm_weights_floats(int64_t rows, int64_t T, int64_t K, size_t* cap_a, size_t* cap_b,
                         size_t* cap_tile) {
  const WeightsBlocking b = weights_blocking(rows, T, K);
  *cap_a = size_t(b.kc * b.mc) + kPackAlignFloats;
  *cap_b = size_t(b.kc * b.nc) + kPackAlignFloats;
  *cap_tile = size_t(b.kc * b.mc);
}

// The loops of Eigen's general_matrix_matrix_product (GotoBLAS order: depth slab, token block,
// weight panel) with the weights' panel dequantized just before it is packed. In Eigen's
// column-major view the product is y^T[rows, T] += W[rows, K] x^T[K, T]: W is its row-major lhs,
// x^T its column-major rhs and y^T its column-major result with stride ldy.
template <class V>
void gemm_weights(const PackBuffers& s, const Matrix& W, int64_t m0, int64_t m1, const float* x,
                  int64_t ldx, int64_t T, float* y, int64_t ldy) {
  const Index K = W.cols;
  if (m1 <= m0 || T <= 0 || K <= 0) return;
  namespace ei = Eigen::internal;
  using Traits = ei::gebp_traits<float, float>;
  using LhsMapper = ei::const_blas_data_mapper<float, Index, Eigen::RowMajor>;
  using RhsMapper = ei::const_blas_data_mapper<float, Index, Eigen::ColMajor>;
  using ResMapper = ei::blas_data_mapper<float, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  ei::gemm_pack_lhs<float, Index, LhsMapper, Traits::mr, Traits::LhsProgress,
                    typename Traits::LhsPacket4Packing, Eigen::RowMajor> pack_lhs;
  ei::gemm_pack_rhs<float, Index, RhsMapper, Traits::nr, Eigen::ColMajor> pack_rhs;
  ei::gebp_kernel<float, float, Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;

  WeightsBlocking b = weights_blocking(m1 - m0, T, K);
  size_t cap_a = s.cap_a, cap_b = s.cap_b;
  float* blockA = align_up(s.a, &cap_a);
  float* blockB = align_up(s.b, &cap_b);
  // A weight panel [mc, kc] goes into the tile and, packed, into blockA.
  fit_blocking(std::min(cap_a, s.cap_tile), cap_b, &b.kc, &b.mc, &b.nc);

  for (Index k2 = 0; k2 < K; k2 += b.kc) {
    const Index kc = std::min(b.kc, K - k2);
    for (Index j2 = 0; j2 < T; j2 += b.nc) {
      const Index nc = std::min(b.nc, Index(T) - j2);
      pack_rhs(blockB, RhsMapper(x + j2 * ldx + k2, ldx), kc, nc);
      for (Index i2 = m0; i2 < m1; i2 += b.mc) {
        const Index mc = std::min(b.mc, Index(m1) - i2);
        dequantize<V>(W, i2, i2 + mc, k2, k2 + kc, s.tile);  // [mc, kc]
        pack_lhs(blockA, LhsMapper(s.tile, kc), kc, mc);
        gebp(ResMapper(y + j2 * ldy + i2, ldy), blockA, blockB, mc, kc, nc, 1.0f);
      }
    }
  }
}

// This ISA's kernel set (simd/kernels_impl.h) with its GEMMs.
template <class V>
Kernels with_gemm(const char* name) {
  Kernels k = make_kernels<V>(name);
  k.gemm = &gemm;
  k.gemm_pack_floats = &gemm_pack_floats;
  k.gemm_weights = &gemm_weights<V>;
  k.gemm_weights_floats = &gemm_weights_floats;
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
  k.gemm_quantized = &gemm_quantized;
  k.gemm_quantized_bytes = &gemm_quantized_bytes;
#endif
  return k;
}

}  // namespace
}  // namespace mamba::simd
