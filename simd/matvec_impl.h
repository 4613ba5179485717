// The typed matrix-vector products (decode's GEMV for bf16, f16, q8 and q4 weights) and the
// dequantization of weight tiles (prefill's GEMM runs on fp32 tiles), written once against the
// vector trait of simd/kernels_impl.h. What differs per instruction set lives in two traits:
//   Widen<U>: 16-bit floats -> a vector of fp32 (one instruction where the ISA has it);
//   QDot<U>:  the integer dot products of q8/q4 blocks with the quantized activation
//             (VNNI vpdpbusd, else vpmaddubsw + vpmaddwd, else plain integer loops).
// Include only from kernels_impl.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "simd/half.h"
#include "simd/matrix.h"

namespace mamba::simd {
namespace {

template <class U>
struct Widen {  // any vector type: through a small buffer
  using T = typename U::type;
  static T bf16(const uint16_t* p) {
    alignas(64) float t[U::width];
    for (int i = 0; i < U::width; ++i) t[i] = bf16_to_f32(p[i]);
    return U::load(t);
  }
  static T f16(const uint16_t* p) {
    alignas(64) float t[U::width];
    for (int i = 0; i < U::width; ++i) t[i] = f16_to_f32(p[i]);
    return U::load(t);
  }
  static T u8(const uint8_t* p) {  // bytes -> fp32, exact
    alignas(64) float t[U::width];
    for (int i = 0; i < U::width; ++i) t[i] = float(p[i]);
    return U::load(t);
  }
  static T u4(const uint8_t* p, int shift) {  // the nibbles (p[i] >> shift) & 15 -> fp32
    alignas(64) float t[U::width];
    for (int i = 0; i < U::width; ++i) t[i] = float((p[i] >> shift) & 15);
    return U::load(t);
  }
};

template <>
struct Widen<Scalar> {
  static float bf16(const uint16_t* p) { return bf16_to_f32(*p); }
  static float f16(const uint16_t* p) { return f16_to_f32(*p); }
  static float u8(const uint8_t* p) { return float(*p); }
  static float u4(const uint8_t* p, int shift) { return float((*p >> shift) & 15); }
};

#if defined(__AVX512BW__)
template <>
struct Widen<Vec<xsimd::avx512bw>> {
  using T = Vec<xsimd::avx512bw>::type;
  static T bf16(const uint16_t* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  static T f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static T u8(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static T u4(const uint8_t* p, int shift) {
    const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srlv_epi32(b, _mm512_set1_epi32(shift)),
                                               _mm512_set1_epi32(15)));
  }
};
#endif
#if defined(__AVX2__) && defined(__F16C__)
template <>
struct Widen<Vec<xsimd::fma3<xsimd::avx2>>> {
  using T = Vec<xsimd::fma3<xsimd::avx2>>::type;
  static T bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static T f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static T u8(const uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static T u4(const uint8_t* p, int shift) {
    const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(b, _mm256_set1_epi32(shift)),
                                               _mm256_set1_epi32(15)));
  }
};
#endif
#if defined(__aarch64__)
template <>
struct Widen<Vec<xsimd::neon64>> {
  using T = Vec<xsimd::neon64>::type;
  static T bf16(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
  static T f16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static T u8(const uint8_t* p) {  // four bytes, read as one 32-bit lane
    uint32_t w;
    std::memcpy(&w, p, sizeof w);
    return vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(w))))));
  }
  static T u4(const uint8_t* p, int shift) {
    uint32_t w;
    std::memcpy(&w, p, sizeof w);
    const uint32x4_t b = vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(w)))));
    return vcvtq_f32_u32(vandq_u32(vshlq_u32(b, vdupq_n_s32(-shift)), vdupq_n_u32(15)));
  }
};
#endif

// Rows of a matrix as fp32 vectors, for the shared GEMV body; kBytes per stored value.
struct F32Rows {
  static constexpr int kBytes = 4;
  const float* W;
  template <class U> typename U::type load(size_t i) const { return U::load(W + i); }
  const void* at(size_t i) const { return W + i; }
};
struct Bf16Rows {
  static constexpr int kBytes = 2;
  const uint16_t* W;
  template <class U> typename U::type load(size_t i) const { return Widen<U>::bf16(W + i); }
  const void* at(size_t i) const { return W + i; }
};
struct F16Rows {
  static constexpr int kBytes = 2;
  const uint16_t* W;
  template <class U> typename U::type load(size_t i) const { return Widen<U>::f16(W + i); }
  const void* at(size_t i) const { return W + i; }
};

// Decode's GEMVs read the matrix once, from DRAM, in the order it is stored: one row after the
// other, each prefetched this far ahead (the rows are adjacent, so near a row's end this reaches
// into the next ones). Four rows at a time, sharing each load of x, made four interleaved streams
// a row apart, which the hardware prefetcher followed at ~77% of one plain stream's rate; one row
// at a time reads at 89% (f32) and 92% (f16) of it over mamba-130m's decode weights, side by side
// (medians of 7). A load of x from L1 per vector is cheap.
constexpr int kGemvPrefetchAhead = 4096;

// y[m] = dot(W[m, :K], x) (+ bias[m]) for m in [m0, m1). Four accumulators: enough FMA chains
// in flight for a row served from the caches (x_proj, dt_proj) with 4-lane vectors too.
template <class V, class Rows>
void gemv_rows(float* y, const Rows& W, const float* x, const float* bias, int64_t K, int64_t m0,
               int64_t m1) {
  using T = typename V::type;
  constexpr int kStep = 4 * V::width;          // values per step
  constexpr int kSpan = kStep * Rows::kBytes;  // bytes of W per step
  for (int64_t m = m0; m < m1; ++m) {
    const size_t r = size_t(m) * K;
    T a0 = V::set(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + kStep <= K; k += kStep) {
      const char* ahead = static_cast<const char*>(W.at(r + k)) + kGemvPrefetchAhead;
      for (int b = 0; b < kSpan; b += 64) __builtin_prefetch(ahead + b);
      a0 = V::fma(W.template load<V>(r + k), V::load(x + k), a0);
      a1 = V::fma(W.template load<V>(r + k + V::width), V::load(x + k + V::width), a1);
      a2 = V::fma(W.template load<V>(r + k + 2 * V::width), V::load(x + k + 2 * V::width), a2);
      a3 = V::fma(W.template load<V>(r + k + 3 * V::width), V::load(x + k + 3 * V::width), a3);
    }
    for (; k + V::width <= K; k += V::width) a0 = V::fma(W.template load<V>(r + k), V::load(x + k), a0);
    float s = V::sum((a0 + a1) + (a2 + a3));
    for (; k < K; ++k) s += W.template load<Scalar>(r + k) * x[k];
    y[m] = s + (bias ? bias[m] : 0.0f);
  }
}

// Bytes 4c..4c+3 of an activation block, as one int32 (rows16's loops broadcast it).
inline int32_t x_word(const int8_t* xb, int c) {
  int32_t four;
  std::memcpy(&four, xb + 4 * c, 4);
  return four;
}

// Integer dot products of one row's blocks [b0, b1) with the quantized activation, each block's
// sum scaled by s[b - b0] = weight scale * activation scale and added up in fp32. The weights'
// storage offset (128 for q8, 8 for q4) is left in: the caller takes off offset * sum(x).
// kRows16: whether the set has a loop over rows16 groups (simd/matrix.h), rows16<Q8>().
template <class U>
struct QDot {
  static constexpr bool kRows16 = false;
  static float q8(const uint8_t* u, const int8_t* x, const float* s, int64_t b0, int64_t b1) {
    float acc = 0.0f;
    for (int64_t b = b0; b < b1; ++b) {
      int32_t t = 0;
      for (int j = 0; j < kBlock; ++j) t += int32_t(u[b * kBlock + j]) * x[b * kBlock + j];
      acc += s[b - b0] * float(t);
    }
    return acc;
  }
  static float q4(const uint8_t* u, const int8_t* x, const float* s, int64_t b0, int64_t b1) {
    float acc = 0.0f;
    for (int64_t b = b0; b < b1; ++b) {
      const uint8_t* ub = u + b * (kBlock / 2);
      const int8_t* xb = x + b * kBlock;
      int32_t t = 0;
      for (int j = 0; j < kBlock / 2; ++j)
        t += int32_t(ub[j] & 15) * xb[j] + int32_t(ub[j] >> 4) * xb[j + kBlock / 2];
      acc += s[b - b0] * float(t);
    }
    return acc;
  }
};

#if defined(__AVX512BW__)
// Whole rows at a time (rows() below), so the single-row q8/q4 of the generic QDot are not needed.
template <>
struct QDot<Vec<xsimd::avx512bw>> {
  static constexpr bool kRows16 = true;
  static __m512i dot(__m512i u, __m512i x) {  // u unsigned bytes, x signed; no saturation
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, x);
#else
    // vpmaddubsw saturates at 16 bits, and 2 * 255 * 127 would: take u as (u & 127) + 128 * top bit.
    const __m512i ones = _mm512_set1_epi16(1);
    const __m512i lo = _mm512_and_si512(u, _mm512_set1_epi8(0x7f));
    const __m512i top = _mm512_srli_epi16(_mm512_and_si512(u, _mm512_set1_epi8(char(0x80))), 7);
    const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(lo, x), ones);
    const __m512i h = _mm512_madd_epi16(_mm512_maddubs_epi16(top, x), ones);
    return _mm512_add_epi32(p, _mm512_slli_epi32(h, 7));
#endif
  }
  static __m512i dot_acc(__m512i acc, __m512i u, __m512i x) {  // acc + dot(u, x), lane by lane
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, u, x);
#else
    return _mm512_add_epi32(acc, dot(u, x));
#endif
  }
  // Rows [m0, m1), every block, into y (+ bias). The matrix is read in the order it is stored,
  // one row after the other (one stream from DRAM, as gemv_rows), so what the rows share is
  // computed first, for a segment of up to kSegSteps steps of x (four blocks of q4, two of q8):
  // x rearranged to match the weights' bytes, each step's integer sums' starting value
  // -offset * x's sums in the same lanes (a dot product with ones; the products accumulate onto
  // it, which takes the storage offset off), and x's block scales. A row then costs a dozen
  // instructions per 64 bytes of weights and no per-block scalar work: loops that set up each
  // block's scale and reduced every row alone were bound by that, not by memory. The last
  // step may hold fewer blocks: masked loads read only those (the other lanes are zeros, and so
  // are their products), so short rows (dt_proj's 48 columns) stay vectorised too. Rows longer
  // than a segment take its partial sums through y.
  static constexpr int64_t kSegSteps = 64;  // 8192 values of q4, 4096 of q8: < 14 KiB of stack
  static void rows(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                   float* y) {
    const bool q8 = W.type == WeightType::q8;
    const int64_t nb = W.blocks();
    const int64_t per_step = q8 ? 2 : 4;  // blocks
    const int64_t n_steps = (nb + per_step - 1) / per_step;
    // Rows of one or two q4 blocks: several to a step (their x repeated to match), see below.
    // A short row alone left most of the step's lanes empty and cost as much as a full one.
    const bool packed = !q8 && nb <= 2;
    const __m512i ones = _mm512_set1_epi8(1);
    // Rows are adjacent: this far ahead in a row reaches into the next ones near its end.
    // (8 KiB beat 4 KiB by 1.09x (q8) and 1.3x (q4) on a 160 MB matrix with the earlier
    // four-row groups, side by side; 4 and 16 KiB within noise of it one row at a time.)
    constexpr int kPrefetchAhead = 8192;
    // The first n bytes (zeros after), and n f16 scales or fp32 floats (n <= 4): plain loads for
    // a whole step, where n is a constant once the step is inlined.
    const auto bytes = [](const void* p, int64_t n) __attribute__((always_inline)) {
      return n >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8((__mmask64(1) << n) - 1, p);
    };
    const auto halves = [](const uint16_t* p, int64_t n) __attribute__((always_inline)) {
      if (n == 4) return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      int32_t two;
      if (n == 2) return std::memcpy(&two, p, sizeof two), _mm_cvtsi32_si128(two);
      alignas(16) uint16_t t[8] = {};
      std::copy_n(p, n, t);
      return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
    };
    const auto floats = [](const float* p, int64_t n) __attribute__((always_inline)) {
      if (n == 4) return _mm_loadu_ps(p);
      if (n == 2) return _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p)));
      alignas(16) float t[4] = {};
      std::copy_n(p, n, t);
      return _mm_load_ps(t);
    };
    // Per step of the segment: x's bytes as the weights hold them (q8: x.q itself), the offset
    // sums, x's block scales.
    __m512i xlo[kSegSteps], xhi[kSegSteps], off[kSegSteps];
    __m128 xd[kSegSteps];
    for (int64_t s0 = 0; s0 < n_steps; s0 += kSegSteps) {
      const int64_t s1 = std::min(n_steps, s0 + kSegSteps);
      for (int64_t s = s0; s < s1; ++s) {
        const int64_t b = s * per_step, n = std::min(per_step, nb - b);
        xd[s - s0] = floats(x.d + b, n);
        if (packed) xd[0] = nb == 1 ? _mm_set1_ps(x.d[0]) : _mm_movelh_ps(xd[0], xd[0]);
        if (q8) {
          // -128 * sum of x, per lane (lanes 8j..8j+7 of the int32 sums belong to block b + j)
          const __m512i xv = bytes(x.q + b * kBlock, n * kBlock);
          off[s - s0] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(dot(ones, xv), 7));
        } else {
          // Block j's 16 bytes hold its values 0-15 (low nibbles) and 16-31 (high): x's first
          // and second halves of the four blocks go into two vectors to match; lanes
          // 4j..4j+3 of the int32 sums then belong to block b + j.
          const __m512i lo_idx = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
          const __m512i hi_idx = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
          __m512i x0 = bytes(x.q + b * kBlock, std::min<int64_t>(n, 2) * kBlock);
          __m512i x1 = bytes(x.q + b * kBlock + 64, std::max<int64_t>(n - 2, 0) * kBlock);
          if (packed) {  // x's nb blocks repeated 4 / nb times, as 4 / nb rows' blocks lie
            if (nb == 1) x0 = _mm512_shuffle_i64x2(x0, x0, 0x44);
            x1 = x0;
          }
          xlo[s - s0] = _mm512_permutex2var_epi64(x0, lo_idx, x1);
          xhi[s - s0] = _mm512_permutex2var_epi64(x0, hi_idx, x1);
          off[s - s0] = _mm512_sub_epi32(  // -8 * sum of x, per lane
              _mm512_setzero_si512(), _mm512_slli_epi32(dot_acc(dot(ones, xlo[s - s0]), ones, xhi[s - s0]), 3));
        }
      }
      const bool last = s1 == n_steps, first = s0 == 0;
      const int64_t rem = nb - (n_steps - 1) * per_step;  // blocks of the matrix's last step
      const int64_t tail = last && rem < per_step ? rem : 0;  // a short last step in this segment
      // acc + the products of q4 weights w (n blocks, scales dw) with step i of the segment's x.
      const __m512i quad = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
      const __m512i low4 = _mm512_set1_epi8(0x0f);
      const auto q4_step = [&](const uint8_t* w, const uint16_t* dw, int64_t i, int64_t n,
                               __m512 acc) __attribute__((always_inline)) {
        _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetchAhead, _MM_HINT_T0);
        const __m512i v = bytes(w, n * (kBlock / 2));
        const __m512i p = dot_acc(dot_acc(off[i], _mm512_and_si512(v, low4), xlo[i]),
                                  _mm512_and_si512(_mm512_srli_epi16(v, 4), low4), xhi[i]);
        const __m128 sc = _mm_mul_ps(_mm_cvtph_ps(halves(dw, n)), xd[i]);
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(quad, _mm512_castps128_ps512(sc)), acc);
      };
      // Row m's sums over the segment, one fp32 lane vector.
      const auto row = [&](int64_t m) __attribute__((always_inline)) {
        const uint8_t* u = W.row<uint8_t>(m);
        const uint16_t* dw = W.scales + m * nb;
        __m512 a = _mm512_setzero_ps();
        if (q8) {
          const __m512i pair = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
          const auto step = [&](int64_t s, int64_t n) __attribute__((always_inline)) {
            const int64_t b = s * 2;
            const uint8_t* w = u + b * kBlock;
            _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetchAhead, _MM_HINT_T0);
            const __m512i p = dot_acc(off[s - s0], bytes(w, n * kBlock), bytes(x.q + b * kBlock, n * kBlock));
            const __m128 sc = _mm_mul_ps(_mm_cvtph_ps(halves(dw + b, n)), xd[s - s0]);
            a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(pair, _mm512_castps128_ps512(sc)), a);
          };
          int64_t s = s0;
          for (; s < s1 - (tail ? 1 : 0); ++s) step(s, 2);
          if (tail) step(s, tail);
        } else {
          const auto step = [&](int64_t s, int64_t n) __attribute__((always_inline)) {
            a = q4_step(u + s * 4 * (kBlock / 2), dw + s * 4, s - s0, n, a);
          };
          int64_t s = s0;
          for (; s < s1 - (tail ? 1 : 0); ++s) step(s, 4);
          if (tail) step(s, tail);
        }
        return a;
      };
      const auto put = [&](int64_t m, float r) {
        y[m] = (first ? (bias ? bias[m] : 0.0f) : y[m]) + r;
      };
      // Four rows one after the other, then their reductions together (short rows, dt_proj's
      // one step, were bound by them).
      int64_t m = m0;
      const auto put4 = [&](int64_t m, const __m512 a[4]) __attribute__((always_inline)) {
        alignas(16) float r[4];
        _mm_store_ps(r, sum4(a));
        for (int i = 0; i < 4; ++i) put(m + i, r[i]);
      };
      if (packed) {
        // q4 rows of one or two blocks (dt_proj's): 4 / nb adjacent rows fill one step, with x
        // repeated to match (above); each row's lanes are then masked out into its own vector.
        const auto step = [&](int64_t m) __attribute__((always_inline)) {  // rows m .. m + 4/nb - 1
          return q4_step(W.row<uint8_t>(m), W.scales + m * nb, 0, 4, _mm512_setzero_ps());
        };
        for (; m + 4 <= m1; m += 4) {
          __m512 a[4];
          if (nb == 2) {
            const __m512 s0 = step(m), s1 = step(m + 2);
            a[0] = _mm512_maskz_mov_ps(0x00ff, s0), a[1] = _mm512_maskz_mov_ps(0xff00, s0);
            a[2] = _mm512_maskz_mov_ps(0x00ff, s1), a[3] = _mm512_maskz_mov_ps(0xff00, s1);
          } else {
            const __m512 s0 = step(m);
            for (int i = 0; i < 4; ++i) a[i] = _mm512_maskz_mov_ps(__mmask16(0xf << (4 * i)), s0);
          }
          put4(m, a);
        }
      }
      for (; m + 4 <= m1; m += 4) {
        const __m512 a[4] = {row(m), row(m + 1), row(m + 2), row(m + 3)};
        put4(m, a);
      }
      for (; m < m1; ++m) put(m, _mm512_reduce_add_ps(row(m)));
    }
  }
  // Rows [m0, m1) of a rows16 q8/q4 matrix (simd/matrix.h) into y (+ bias), a group of 16 rows
  // at a time: per block, a vector of 4 columns x 16 rows per chunk against x's 4 matching bytes
  // broadcast, the int32 sums starting at -offset * (x's block sum) to take the storage offset
  // off, then scaled by the 16 rows' block scales times x's at once. No horizontal sums, no
  // per-row work; a group that [m0, m1) cuts is computed whole and stored in part.
  template <bool Q8>
  static void rows16(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                     float* y) {
    constexpr int kChunks = Q8 ? 8 : 4, kOffset = Q8 ? 128 : 8;
    const int64_t nb = W.blocks();
    const uint8_t* data = static_cast<const uint8_t*>(W.data);
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    constexpr int kPrefetchAhead = 8192;  // bytes: the group stream is read in order
    for (int64_t g = m0 / 16; g * 16 < m1; ++g) {
      const uint8_t* w = data + size_t(g) * size_t(nb) * (kChunks * 64);
      const uint16_t* dw = W.scales + g * nb * 16;
      __m512 acc = _mm512_setzero_ps();
      for (int64_t b = 0; b < nb; ++b, w += kChunks * 64) {
        const int8_t* xb = x.q + b * kBlock;
        const auto word = [&](int c) { return _mm512_set1_epi32(x_word(xb, c)); };  // in every lane
        // Two chains of sums (q4: the low and the high nibbles).
        __m512i s0 = _mm512_set1_epi32(-kOffset * x.isum[b]), s1 = _mm512_setzero_si512();
        for (int k = 0; k < kChunks; ++k) {
          _mm_prefetch(reinterpret_cast<const char*>(w) + 64 * k + kPrefetchAhead, _MM_HINT_T0);
          const __m512i v = _mm512_loadu_si512(w + 64 * k);
          if constexpr (Q8) {
            if (k % 2 == 0) s0 = dot_acc(s0, v, word(k));
            else s1 = dot_acc(s1, v, word(k));
          } else {
#if defined(__AVX512VNNI__)
            // The high nibbles in place (16 times their value; 4 * 240 * 127 fits int32): one
            // shift per block instead of one per vector.
            s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(v, low4), word(k));
            s1 = _mm512_dpbusd_epi32(s1, _mm512_andnot_si512(low4, v), word(4 + k));
#else
            // vpmaddubsw of nibbles (<= 15) cannot saturate 16 bits: 2 * 15 * 127 < 32767.
            const __m512i ones = _mm512_set1_epi16(1);
            s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_and_si512(v, low4), word(k)), ones));
            s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(_mm512_maddubs_epi16(
                                          _mm512_and_si512(_mm512_srli_epi16(v, 4), low4), word(4 + k)), ones));
#endif
          }
        }
#if defined(__AVX512VNNI__)
        if constexpr (!Q8) s1 = _mm512_srai_epi32(s1, 4);
#endif
        const __m512 sc = _mm512_mul_ps(
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(dw + b * 16))),
            _mm512_set1_ps(x.d[b]));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), sc, acc);
      }
      // Rows of this group inside [m0, m1).
      const int64_t r0 = std::max(m0, g * 16), r1 = std::min(m1, g * 16 + 16);
      const __mmask16 keep = __mmask16(((1u << (r1 - r0)) - 1) << (r0 - g * 16));
      if (bias) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(keep, bias + g * 16));
      _mm512_mask_storeu_ps(y + g * 16, keep, acc);
    }
  }
  // The four vectors' sums: their reductions share the shuffles, and the chain is 5 steps
  // instead of four chains of 8.
  static __m128 sum4(const __m512 a[4]) {
    __m256 h[4];
    for (int r = 0; r < 4; ++r)
      h[r] = _mm256_add_ps(_mm512_castps512_ps256(a[r]), _mm512_extractf32x8_ps(a[r], 1));
    // Per 128-bit half: [r0, r0, r1, r1] pair sums, then [r0, r1, r2, r3].
    const __m256 q = _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
    return _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1));
  }
};
#endif

#if defined(__AVX2__)
// One block (32 values) per step.
template <>
struct QDot<Vec<xsimd::fma3<xsimd::avx2>>> {
  static constexpr bool kRows16 = true;
  static __m256i dot(__m256i u, __m256i x) {  // as the AVX-512 version without VNNI
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i lo = _mm256_and_si256(u, _mm256_set1_epi8(0x7f));
    const __m256i top = _mm256_srli_epi16(_mm256_and_si256(u, _mm256_set1_epi8(char(0x80))), 7);
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x), ones);
    const __m256i h = _mm256_madd_epi16(_mm256_maddubs_epi16(top, x), ones);
    return _mm256_add_epi32(p, _mm256_slli_epi32(h, 7));
  }
  static float q8(const uint8_t* u, const int8_t* x, const float* s, int64_t b0, int64_t b1) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = b0; b < b1; ++b) {
      const __m256i p = dot(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u + b * kBlock)),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b * kBlock)));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(s[b - b0]), acc);
    }
    return Vec<xsimd::fma3<xsimd::avx2>>::sum(acc);
  }
  static float q4(const uint8_t* u, const int8_t* x, const float* s, int64_t b0, int64_t b1) {
    __m256 acc = _mm256_setzero_ps();
    const __m128i low4 = _mm_set1_epi8(0x0f);
    for (int64_t b = b0; b < b1; ++b) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + b * (kBlock / 2)));
      const __m256i w = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low4), _mm_and_si128(v, low4));
      const __m256i ones = _mm256_set1_epi16(1);  // values < 16: vpmaddubsw cannot saturate
      const __m256i p = _mm256_madd_epi16(
          _mm256_maddubs_epi16(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b * kBlock))), ones);
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(s[b - b0]), acc);
    }
    return Vec<xsimd::fma3<xsimd::avx2>>::sum(acc);
  }
  // Rows [m0, m1) of a rows16 q8/q4 matrix (simd/matrix.h) into y (+ bias): the AVX-512 loop
  // with each 16-row chunk in two vectors of 8 rows. q8 takes vpmaddubsw's operands as |q| and
  // x with q's sign (|q| <= 128, so a pair of products stays within 16 bits), so its sums are of
  // q itself; q4's nibbles go in as they are and the sums start at -8 * (x's block sum).
  template <bool Q8>
  static void rows16(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                     float* y) {
    constexpr int kChunks = Q8 ? 8 : 4;
    const int64_t nb = W.blocks();
    const uint8_t* data = static_cast<const uint8_t*>(W.data);
    const __m256i low4 = _mm256_set1_epi8(0x0f), top = _mm256_set1_epi8(char(0x80));
    const __m256i ones = _mm256_set1_epi16(1);
    constexpr int kPrefetchAhead = 8192;
    // lanes + the products of u's 32 bytes (8 rows x 4) with x's 4 bytes in every lane
    const auto dot = [&](__m256i acc, __m256i u, __m256i xv) __attribute__((always_inline)) {
      __m256i p;
      if constexpr (Q8) {
        const __m256i q = _mm256_xor_si256(u, top);  // u - 128 as int8
        p = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(xv, q));
      } else {
        p = _mm256_maddubs_epi16(u, xv);  // nibbles <= 15: 2 * 15 * 127 < 32767
      }
      return _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
    };
    for (int64_t g = m0 / 16; g * 16 < m1; ++g) {
      const uint8_t* w = data + size_t(g) * size_t(nb) * (kChunks * 64);
      const uint16_t* dw = W.scales + g * nb * 16;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();  // rows 0-7, 8-15
      for (int64_t b = 0; b < nb; ++b, w += kChunks * 64) {
        const int8_t* xb = x.q + b * kBlock;
        const auto word = [&](int c) { return _mm256_set1_epi32(x_word(xb, c)); };  // in every lane
        const __m256i start = _mm256_set1_epi32(Q8 ? 0 : -8 * x.isum[b]);
        __m256i s0 = start, s1 = start;
        for (int k = 0; k < kChunks; ++k) {
          _mm_prefetch(reinterpret_cast<const char*>(w) + 64 * k + kPrefetchAhead, _MM_HINT_T0);
          const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 * k));
          const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 * k + 32));
          if constexpr (Q8) {
            s0 = dot(s0, v0, word(k));
            s1 = dot(s1, v1, word(k));
          } else {
            const __m256i xl = word(k), xh = word(4 + k);
            s0 = dot(dot(s0, _mm256_and_si256(v0, low4), xl), _mm256_and_si256(_mm256_srli_epi16(v0, 4), low4), xh);
            s1 = dot(dot(s1, _mm256_and_si256(v1, low4), xl), _mm256_and_si256(_mm256_srli_epi16(v1, 4), low4), xh);
          }
        }
        const __m256 d = _mm256_set1_ps(x.d[b]);
        const __m256 sc0 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dw + b * 16))), d);
        const __m256 sc1 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dw + b * 16 + 8))), d);
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), sc0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), sc1, acc1);
      }
      alignas(32) float r[16];
      _mm256_store_ps(r, acc0);
      _mm256_store_ps(r + 8, acc1);
      for (int64_t m = std::max(m0, g * 16); m < std::min(m1, g * 16 + 16); ++m)
        y[m] = r[m - g * 16] + (bias ? bias[m] : 0.0f);
    }
  }
};
#endif

// The combined scales s[b - b0] = weight scale * activation scale of one row's blocks [b0, b1),
// vectorised over blocks; returns the row's share of the offset term, sum_b d_w[b] * x.sum[b].
template <class V>
float block_scales(const uint16_t* dw, const QuantizedX& x, int64_t b0, int64_t b1, float* s) {
  typename V::type cv = V::set(0.0f);
  int64_t b = b0;
  if constexpr (V::width > 1)
    for (; b + V::width <= b1; b += V::width) {
      const typename V::type d = Widen<V>::f16(dw + b);
      V::store(s + (b - b0), d * V::load(x.d + b));
      cv = V::fma(d, V::load(x.sum + b), cv);
    }
  float corr = V::sum(cv);
  for (; b < b1; ++b) {
    const float d = f16_to_f32(dw[b]);
    s[b - b0] = d * x.d[b];
    corr += d * x.sum[b];
  }
  return corr;
}

// One q8/q4 row's dot product with x, blocks in segments whose combined scales fit on the stack.
// The weights' storage offset (128 for q8, 8 for q4) comes back out as offset * corr.
template <class V>
float row_dot(const Matrix& W, int64_t m, const QuantizedX& x) {
  constexpr int64_t kSeg = 256;
  const int64_t nb = W.blocks();
  const bool q8 = W.type == WeightType::q8;
  const uint8_t* u = W.row<uint8_t>(m);
  float s[kSeg];
  float acc = 0.0f, corr = 0.0f;
  for (int64_t b0 = 0; b0 < nb; b0 += kSeg) {
    const int64_t b1 = std::min(nb, b0 + kSeg);
    corr += block_scales<V>(W.scales + m * nb, x, b0, b1, s);
    acc += q8 ? QDot<V>::q8(u, x.q, s, b0, b1) : QDot<V>::q4(u, x.q, s, b0, b1);
  }
  return acc - (q8 ? 128.0f : 8.0f) * corr;
}

// Row m of a rows16 q8/q4 matrix (simd/matrix.h), plainly: the sets without a loop for that
// layout (it is loaded only for those with one) read it so in tests or when one is forced.
inline float rows16_dot(const Matrix& W, int64_t m, const QuantizedX& x) {
  const bool q8 = W.type == WeightType::q8;
  float acc = 0.0f;
  for (int64_t b = 0; b < W.blocks(); ++b) {
    const int8_t* xb = x.q + b * kBlock;
    int32_t t = 0;
    for (int k = 0; k < W.chunks(); ++k) {
      const uint8_t* c = W.chunk(m, b, k);
      for (int i = 0; i < 4; ++i)
        t += q8 ? (int32_t(c[i]) - 128) * xb[4 * k + i]
                : (int32_t(c[i] & 15) - 8) * xb[4 * k + i] + (int32_t(c[i] >> 4) - 8) * xb[16 + 4 * k + i];
    }
    acc += f16_to_f32(W.scales[W.scale_index(m, b)]) * x.d[b] * float(t);
  }
  return acc;
}

// A set's rows16 loop (QDot<U>::rows16<Q8>, where kRows16) for W's type.
template <class U>
void rows16_rows(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                 float* y) {
  if (W.type == WeightType::q8) return QDot<U>::template rows16<true>(W, m0, m1, x, bias, y);
  QDot<U>::template rows16<false>(W, m0, m1, x, bias, y);
}

// q8/q4 rows [m0, m1) into y (+ bias): one by one, or the set's row loop where it has one.
template <class U>
struct QRows {
  static void run(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                  float* y) {
    if constexpr (QDot<U>::kRows16)
      if (W.rows16) return rows16_rows<U>(W, m0, m1, x, bias, y);
    for (int64_t m = m0; m < m1; ++m)
      y[m] = (W.rows16 ? rows16_dot(W, m, x) : row_dot<U>(W, m, x)) + (bias ? bias[m] : 0.0f);
  }
};
#if defined(__AVX512BW__)
template <>
struct QRows<Vec<xsimd::avx512bw>> {
  static void run(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                  float* y) {
    if (W.rows16) return rows16_rows<Vec<xsimd::avx512bw>>(W, m0, m1, x, bias, y);
    QDot<Vec<xsimd::avx512bw>>::rows(W, m0, m1, x, bias, y);
  }
};
#endif

template <class V>
void matvec(const Matrix& W, float* y, const float* x, const QuantizedX& xq, const float* bias,
            int64_t m0, int64_t m1) {
  switch (W.type) {
    case WeightType::f32:
      return gemv_rows<V>(y, F32Rows{static_cast<const float*>(W.data)}, x, bias, W.cols, m0, m1);
    case WeightType::bf16:
      return gemv_rows<V>(y, Bf16Rows{static_cast<const uint16_t*>(W.data)}, x, bias, W.cols, m0, m1);
    case WeightType::f16:
      return gemv_rows<V>(y, F16Rows{static_cast<const uint16_t*>(W.data)}, x, bias, W.cols, m0, m1);
    case WeightType::q8:
    case WeightType::q4:
      return QRows<V>::run(W, m0, m1, xq, bias, y);
  }
}

// Rows [r0, r1) and columns [c0, c1) of W as fp32 into out [r1 - r0, c1 - c0] (row-major). Each
// q8/q4 value is (u - offset) * scale rounded once, as simd/matrix.h defines it.
template <class V>
void dequantize(const Matrix& W, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float* out) {
  const int64_t n = c1 - c0;
  for (int64_t r = r0; r < r1; ++r, out += n) {
    switch (W.type) {
      case WeightType::f32:
        std::copy_n(W.row<float>(r) + c0, n, out);
        break;
      case WeightType::bf16:
      case WeightType::f16: {
        const uint16_t* w = W.row<uint16_t>(r) + c0;
        const bool bf = W.type == WeightType::bf16;
        int64_t k = 0;
        if constexpr (V::width > 1)
          for (; k + V::width <= n; k += V::width)
            V::store(out + k, bf ? Widen<V>::bf16(w + k) : Widen<V>::f16(w + k));
        for (; k < n; ++k) out[k] = bf ? bf16_to_f32(w[k]) : f16_to_f32(w[k]);
        break;
      }
      case WeightType::q8:
      case WeightType::q4: {
        const bool q8 = W.type == WeightType::q8;
        const float off = q8 ? 128.0f : 8.0f;
        for (int64_t b = c0 / kBlock; b * kBlock < c1; ++b) {
          const float d = f16_to_f32(W.scales[W.scale_index(r, b)]);
          // The block's bytes; rows16 spreads a row's block over its chunks: gathered first.
          alignas(32) uint8_t gathered[kBlock];
          const uint8_t* ub = W.chunk(r, b, 0);
          if (W.rows16) {
            for (int k = 0; k < W.chunks(); ++k) std::memcpy(gathered + 4 * k, W.chunk(r, b, k), 4);
            ub = gathered;
          }
          // q8 stores a block's 32 columns as 32 bytes; q4 as 16, columns 0-15 in the low
          // nibbles and 16-31 in the high ones: runs of `span` columns read the same way.
          const int span = q8 ? kBlock : kBlock / 2;
          for (int h = 0; h < kBlock / span; ++h) {
            const int64_t first = b * kBlock + h * span;  // column of this run's first value
            const int64_t lo = std::max(c0, first), hi = std::min(c1, first + span);
            const uint8_t* p = ub + (lo - first);
            float* o = out + (lo - c0);  // p[i] and o[i] are column lo + i
            const int shift = 4 * h;
            const int64_t n_run = hi - lo;
            int64_t i = 0;
            if constexpr (V::width > 1)
              for (; i + V::width <= n_run; i += V::width) {
                const auto w = q8 ? Widen<V>::u8(p + i) : Widen<V>::u4(p + i, shift);
                V::store(o + i, (w - V::set(off)) * V::set(d));
              }
            for (; i < n_run; ++i) o[i] = (float(q8 ? p[i] : (p[i] >> shift) & 15) - off) * d;
          }
        }
        break;
      }
    }
  }
}

}  // namespace
}  // namespace mamba::simd
