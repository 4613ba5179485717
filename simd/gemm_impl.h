// The GEMMs, compiled once per instruction set: gemm() for fp32 operands is Eigen's blocked
// kernel (the SSD's products); gemm_weights() multiplies a chunk of tokens by a weight matrix of
// any type (our tile, below); with_gemm<V>() assembles the ISA's whole kernel set
// (simd/kernels_impl.h) with them and, on x86 from AVX2 up, the integer GEMM of q8/q4 weights
// (simd/qgemm_impl.h with VNNI, simd/qgemm_avx2_impl.h without). Each per-ISA translation unit
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
#include <type_traits>

#include <Eigen/Core>

#include "simd/kernels.h"
#include "simd/kernels_impl.h"
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include "simd/qgemm_impl.h"
#elif defined(__AVX2__)
#include "simd/qgemm_avx2_impl.h"
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
//
// y[T, M] += x[T, K] W[M, K]^T with the vector lanes along tokens: x is packed once per product
// into panels of V::width tokens, so one load gives a k step of `width` tokens, and each weight
// W[m, k] is broadcast and multiplied into them. W is read as it is stored (row-major, f32 in
// place; other types a strip of rows dequantized first), so nothing repacks the weights: Eigen's
// product of f32 weights spent a fifth of a Mamba-2 prefill packing W. One AVX-512 core, mamba2-
// 130m's in_proj over 128 tokens, weights from DRAM: this 6-row x 64-token tile 242 GFLOP/s with
// the next strip prefetched (203 without), Eigen's product 183; bf16 243 here (190 without the
// prefetch), 193 through Eigen's micro-kernel on dequantized panels (as before).

// Registers of the tile: `rows` weight rows times `panels` token vectors of sums.
template <int Rows, int Panels>
struct Tile {
  static constexpr int rows = Rows, panels = Panels;
};
// 16 vector registers: 8 sums, the token vectors and a broadcast (SSE2, scalar).
template <class V>
struct TileShape : Tile<4, 2> {};
#if defined(__AVX512F__)
template <>
struct TileShape<Vec<xsimd::avx512bw>> : Tile<6, 4> {};  // 32 registers: 24 sums
#endif
#if defined(__aarch64__)
template <>
struct TileShape<Vec<xsimd::neon64>> : Tile<6, 4> {};  // 32 registers: 24 sums
#endif
#if defined(__AVX2__)
template <>
struct TileShape<Vec<xsimd::fma3<xsimd::avx2>>> : Tile<6, 2> {};  // 16 registers: 12 sums
#endif

#if defined(__AVX512F__)
// dst[k * 16 + l] = rows[l][k] for k < 16: a 16 x 16 transpose in registers.
inline void transpose16(const float* const rows[16], float* dst) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(rows[i]);
  for (int i = 0; i < 16; i += 2) {  // pairs of rows interleaved
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // then pairs of pairs
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[4q + j] holds, in its 128-bit lane c, column 4c + j of rows 4q..4q+3: column 4c + j is
  // lane c of r[j], r[4 + j], r[8 + j] and r[12 + j].
  for (int j = 0; j < 4; ++j) {
    const __m512 a = _mm512_shuffle_f32x4(r[j], r[4 + j], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 b = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 c = _mm512_shuffle_f32x4(r[j], r[4 + j], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 d = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], _MM_SHUFFLE(3, 1, 3, 1));
    t[j] = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0));       // lanes 0
    t[4 + j] = _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(2, 0, 2, 0));   // lanes 1
    t[8 + j] = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1));   // lanes 2
    t[12 + j] = _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 1, 3, 1));  // lanes 3
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * 16, t[i]);
}
#endif

// Tokens [t0, t1) of x [T, K] (row stride ldx) into xp, panels of w = V::width tokens:
// xp[(p * K + k) * w + l] = x[p * w + l, k], zeros for tokens past T. t0 is a multiple of w.
template <class V>
void pack_tokens(const float* x, int64_t ldx, int64_t T, int64_t K, int64_t t0, int64_t t1,
                 float* xp) {
  constexpr int w = V::width;
  for (int64_t p = t0 / w; p * w < t1; ++p) {
    float* dst = xp + p * K * w;
    const int64_t n = std::min<int64_t>(w, T - p * w);  // real tokens of this panel
    int64_t k = 0;
#if defined(__AVX512F__)
    if constexpr (w == 16) {
      alignas(64) static const float zeros[16] = {};  // the rows of tokens past T
      const float* rows[16];
      for (; k + 16 <= K; k += 16) {
        for (int l = 0; l < 16; ++l) rows[l] = l < n ? x + (p * w + l) * ldx + k : zeros;
        transpose16(rows, dst + k * w);
      }
    }
#endif
    for (int64_t l = 0; l < w; ++l) {
      const float* src = x + (p * w + l) * ldx;
      for (int64_t j = k; j < K; ++j) dst[j * w + l] = l < n ? src[j] : 0.0f;
    }
  }
}

// Depth slab of one pass: the slab of every token's packed x (T x kc floats) stays in half the
// L2 cache while the weight strips pass over it; a multiple of kBlock, so a slab of q8/q4 weights
// starts on a quantization block.
int64_t depth_slab(int64_t T, int64_t K) {
  const int64_t fit = int64_t(Eigen::l2CacheSize()) / 2 / int64_t(sizeof(float)) / std::max<int64_t>(T, 1);
  const int64_t kc = std::max<int64_t>(4 * kBlock, fit / kBlock * kBlock);
  return std::min(K, kc);
}

// The stored weights of the strip after this one, fetched into cache while this strip's first
// tile computes: from DRAM the weight rows are six streams the hardware prefetcher starts late
// (the figures above; with the weights already in cache the tile reaches 244-249 GFLOP/s).
struct Prefetch {
  const char* at = nullptr;  // the next strip's first stored element of this slab, or null
  int64_t ld = 0, size = 0;  // bytes between its rows, bytes per element
};

// y[t, m + r] += sum_k W[r, k] xp[panel j, k, lane] for r < nr, the P panels' tokens t < nt:
// kc depth steps, W[R, kc] with row stride ldw (rows past nr are zeros or never read: only nr
// rows are stored), xp panel j at xp + j * pstride.
template <class V, int R, int P>
void weight_tile(const float* W, int64_t ldw, int nr, const float* xp, int64_t pstride,
                 int64_t kc, float* y, int64_t ldy, int64_t nt, const Prefetch& next) {
  using T = typename V::type;
  constexpr int w = V::width;
  T acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < P; ++j) acc[r][j] = V::set(0.0f);
  const auto step = [&](int64_t k) {
    T xv[P];
    for (int j = 0; j < P; ++j) xv[j] = V::load(xp + j * pstride + k * w);
    for (int r = 0; r < R; ++r) {
      const T wv = V::set(W[r * ldw + k]);
      for (int j = 0; j < P; ++j) acc[r][j] = V::fma(wv, xv[j], acc[r][j]);
    }
  };
  int64_t k = 0;
  if (next.at)  // a line of each of the next strip's rows per 16 steps (16 f32 or 32 16-bit)
    for (; k + 16 <= kc; k += 16) {
      for (int r = 0; r < R; ++r) __builtin_prefetch(next.at + r * next.ld + k * next.size, 0, 3);
      for (int i = 0; i < 16; ++i) step(k + i);
    }
  for (; k < kc; ++k) step(k);
  alignas(64) float sums[R][P * w];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < P; ++j) V::store(sums[r] + j * w, acc[r][j]);
  for (int64_t t = 0; t < nt; ++t)
    for (int r = 0; r < nr; ++r) y[t * ldy + r] += sums[r][t];
}

// y[T, m0:m1] (row stride ldy) += x W[m0:m1, :K]^T, x packed by pack_tokens. Per depth slab,
// strips of R weight rows (f32 read in place when a whole strip; else dequantized into p.tile,
// the last strip padded with zero rows) times every panel group of the tokens.
template <class V>
void gemm_weights(const PackBuffers& p, const Matrix& W, int64_t m0, int64_t m1, const float* xp,
                  int64_t T, float* y, int64_t ldy) {
  constexpr int R = TileShape<V>::rows, P = TileShape<V>::panels, w = V::width;
  const int64_t K = W.cols, pstride = K * w, n_panels = (T + w - 1) / w;
  if (m1 <= m0 || T <= 0 || K <= 0) return;
  // A smaller tile than planned for these T and K (a plan for another shape) cuts the slab.
  const int64_t kc_max = std::max<int64_t>(1, std::min<int64_t>(depth_slab(T, K), int64_t(p.cap_tile) / R));
  for (int64_t k0 = 0; k0 < K; k0 += kc_max) {
    const int64_t kc = std::min(kc_max, K - k0);
    for (int64_t m = m0; m < m1; m += R) {
      const int nr = int(std::min<int64_t>(R, m1 - m));
      const float* strip;
      int64_t ldw;
      if (W.type == WeightType::f32 && nr == R) {
        strip = static_cast<const float*>(W.data) + m * K + k0;
        ldw = K;
      } else {
        dequantize<V>(W, m, m + nr, k0, k0 + kc, p.tile);  // [nr, kc]
        std::fill(p.tile + nr * kc, p.tile + R * kc, 0.0f);
        strip = p.tile;
        ldw = kc;
      }
      // Not for q8/q4 (here only in sets without an integer GEMM): their rows are values plus
      // separate scales.
      Prefetch next;
      if (!W.quantized() && m + 2 * R <= m1) {
        next.ld = int64_t(W.row_bytes());
        next.size = next.ld / K;
        next.at = static_cast<const char*>(W.data) + (m + R) * next.ld + k0 * next.size;
      }
      // Groups of P token panels, then of two, then one.
      const auto tiles = [&](auto panels, int64_t& j) {
        constexpr int n = decltype(panels)::value;
        for (; j + n <= n_panels; j += n)
          weight_tile<V, R, n>(strip, ldw, nr, xp + j * pstride + k0 * w, pstride, kc,
                               y + j * w * ldy + m, ldy, std::min<int64_t>(n * w, T - j * w),
                               j == 0 ? next : Prefetch{});
      };
      int64_t j = 0;
      tiles(std::integral_constant<int, P>(), j);
      if constexpr (P > 2) tiles(std::integral_constant<int, 2>(), j);
      tiles(std::integral_constant<int, 1>(), j);
    }
  }
}

// What gemm_weights wants: the packed tokens (shared by every thread) and one thread's tile.
template <class V>
void gemm_weights_floats(int64_t T, int64_t K, size_t* cap_tokens, size_t* cap_tile) {
  constexpr int w = V::width;
  *cap_tokens = size_t((T + w - 1) / w * w * K);
  *cap_tile = size_t(TileShape<V>::rows * depth_slab(T, K));
}

// This ISA's kernel set (simd/kernels_impl.h) with its GEMMs.
template <class V>
Kernels with_gemm(const char* name) {
  Kernels k = make_kernels<V>(name);
  k.gemm = &gemm;
  k.gemm_pack_floats = &gemm_pack_floats;
  k.pack_tokens = &pack_tokens<V>;
  k.gemm_weights = &gemm_weights<V>;
  k.gemm_weights_floats = &gemm_weights_floats<V>;
#if defined(__AVX2__)  // one of the two integer GEMMs above
  k.gemm_quantized = &gemm_quantized;
  k.gemm_quantized_bytes = &gemm_quantized_bytes;
#endif
  return k;
}

}  // namespace
}  // namespace mamba::simd
