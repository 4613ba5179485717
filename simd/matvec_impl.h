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

// Integer dot products of one row's blocks [b0, b1) with the quantized activation, each block's
// sum scaled by s[b - b0] = weight scale * activation scale and added up in fp32. The weights'
// storage offset (128 for q8, 8 for q4) is left in: the caller takes off offset * sum(x).
template <class U>
struct QDot {
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
  // computed first, for a segment of up to kSegSteps steps of x (a step: 64 bytes of weights,
  // four blocks of q4 or two of q8): q4's x rearranged to match the weights' nibbles, and per
  // group of kGroup blocks x's block scales and -offset * x's block sums. A step is then two
  // integer dot products (one for q8), a conversion and a multiply-add with its blocks' scales,
  // which one permute takes from the group's: each group converts its weight scales at once,
  // and takes the storage offset off with one multiply-add (weight scales * x's sums) instead of
  // an integer start value per step. Two chains of steps, and sixteen rows reduced together
  // into one vector of y. From L2 this ran q8 1.2-1.4x and q4's longer rows 1.05-1.2x as fast as
  // scales converted and offsets loaded step by step with rows reduced four at a time (q4 with
  // in_proj's 768 columns about the same); from DRAM both run at the memory's pace. The last
  // step may hold fewer blocks: masked loads read only those (the other lanes are zeros, and so
  // are their products). Rows longer than a segment take its partial sums through y.
  static constexpr int64_t kSegSteps = 64;  // 8192 values of q4, 4096 of q8: < 14 KiB of stack
  static constexpr int64_t kGroup = 8;      // blocks whose scales convert together
  static void rows(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                   float* y) {
    if (W.type == WeightType::q8) return rows_of<2>(W, m0, m1, x, bias, y);
    return rows_of<4>(W, m0, m1, x, bias, y);
  }
  template <int64_t kPerStep>  // blocks per step: 2 (q8), 4 (q4)
  static void rows_of(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x,
                      const float* bias, float* y) {
    constexpr bool q8 = kPerStep == 2;
    constexpr int64_t kStepsPerGroup = kGroup / kPerStep;
    const int64_t nb = W.blocks();
    const int64_t n_steps = (nb + kPerStep - 1) / kPerStep;
    // Rows are adjacent: this far ahead in a row reaches into the next ones near its end.
    // (8 KiB beat 4 KiB by 1.09x (q8) and 1.3x (q4) on a 160 MB matrix with the earlier
    // four-row groups, side by side; 4 and 16 KiB within noise of it one row at a time.)
    constexpr int kPrefetchAhead = 8192;
    // The first n bytes (zeros after): a plain load for a whole step.
    const auto bytes = [](const void* p, int64_t n) __attribute__((always_inline)) {
      return n >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8((__mmask64(1) << n) - 1, p);
    };
    // Lane l of a step's int32 sums belongs to block l / (16 / kPerStep) of the step: step j of
    // a group takes its scales from lanes kPerStep * j + l / (16 / kPerStep) of the group's.
    __m512i pick[kStepsPerGroup];
    for (int64_t j = 0; j < kStepsPerGroup; ++j) {
      alignas(64) int32_t idx[16];
      for (int l = 0; l < 16; ++l) idx[l] = int32_t(kPerStep * j + l / (16 / kPerStep));
      pick[j] = _mm512_load_si512(idx);
    }
    // Per step of the segment, q4: x's bytes as the weights hold them (q8 reads x.q itself); per
    // group of 16 blocks: x's block scales, and -offset * x's block sums (the storage offset's
    // part of every block's sum, taken off with the weights' scales once per group).
    __m512i xlo[kSegSteps], xhi[kSegSteps];
    __m256 xd[kSegSteps / kStepsPerGroup], xs[kSegSteps / kStepsPerGroup];
    for (int64_t s0 = 0; s0 < n_steps; s0 += kSegSteps) {
      const int64_t s1 = std::min(n_steps, s0 + kSegSteps);
      for (int64_t s = s0; s < s1 && !q8; ++s) {
        // Block j's 16 bytes hold its values 0-15 (low nibbles) and 16-31 (high): x's first and
        // second halves of the four blocks go into two vectors to match; lanes 4j..4j+3 of the
        // int32 sums then belong to block b + j.
        const int64_t b = s * kPerStep, n = std::min(kPerStep, nb - b);
        const __m512i lo_idx = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
        const __m512i hi_idx = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
        const __m512i x0 = bytes(x.q + b * kBlock, std::min<int64_t>(n, 2) * kBlock);
        const __m512i x1 = bytes(x.q + b * kBlock + 64, std::max<int64_t>(n - 2, 0) * kBlock);
        xlo[s - s0] = _mm512_permutex2var_epi64(x0, lo_idx, x1);
        xhi[s - s0] = _mm512_permutex2var_epi64(x0, hi_idx, x1);
      }
      const __m256 minus_offset = _mm256_set1_ps(q8 ? -128.0f : -8.0f);
      for (int64_t g = 0; g * kStepsPerGroup < s1 - s0; ++g) {
        const int64_t b = (s0 + g * kStepsPerGroup) * kPerStep;
        xd[g] = _mm256_maskz_loadu_ps(group_mask(nb - b), x.d + b);
        xs[g] = _mm256_mul_ps(minus_offset, _mm256_maskz_loadu_ps(group_mask(nb - b), x.sum + b));
      }
      // The segment's steps: groups of whole steps, then a tail of fewer (or a short last step:
      // its bytes read with tail_mask, where the matrix ends).
      const int64_t rem = nb - (n_steps - 1) * kPerStep;  // blocks of the matrix's last step
      const bool short_last = s1 == n_steps && rem < kPerStep;
      const int64_t n_groups = (s1 - s0 - (short_last ? 1 : 0)) / kStepsPerGroup;
      const int64_t s_tail = s0 + n_groups * kStepsPerGroup;  // first step of the tail
      const __mmask64 tail_mask = short_last ? (__mmask64(1) << (rem * 64 / kPerStep)) - 1 : ~__mmask64(0);
      const __mmask8 tail_scales = group_mask(nb - s_tail * kPerStep);
      // Row m's sums over the segment, one fp32 lane vector.
      const auto row = [&](int64_t m) __attribute__((always_inline)) {
        const uint8_t* u = W.row<uint8_t>(m);
        const uint16_t* dw = W.scales + m * nb;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;  // even and odd steps
        __m256 a2 = _mm256_setzero_ps();              // the offsets' part
        // Step s, the j-th of its group, with the group's scales sc; `masked`: the short last.
        const auto step = [&](__m512& acc, int64_t s, const __m256& sc, int64_t j, bool masked)
                              __attribute__((always_inline)) {
          const uint8_t* w = u + s * 64;
          _mm_prefetch(reinterpret_cast<const char*>(w) + kPrefetchAhead, _MM_HINT_T0);
          const auto load = [&](const void* p) __attribute__((always_inline)) {
            return masked ? _mm512_maskz_loadu_epi8(tail_mask, p) : _mm512_loadu_si512(p);
          };
          __m512i p;
          if (q8) {
            p = dot(load(w), load(x.q + s * 64));
          } else {
            const __m512i low4 = _mm512_set1_epi8(0x0f);
            const __m512i v = load(w);
            p = dot_acc(dot(_mm512_and_si512(v, low4), xlo[s - s0]),
                        _mm512_and_si512(_mm512_srli_epi16(v, 4), low4), xhi[s - s0]);
          }
          acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(pick[j], _mm512_castps256_ps512(sc)), acc);
        };
        for (int64_t g = 0; g < n_groups; ++g) {
          const int64_t s = s0 + g * kStepsPerGroup;
          const __m256 dw8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dw + s * kPerStep)));
          const __m256 sc = _mm256_mul_ps(dw8, xd[g]);
          a2 = _mm256_fmadd_ps(dw8, xs[g], a2);
          for (int64_t j = 0; j < kStepsPerGroup; j += 2) {
            step(a0, s + j, sc, j, false);
            step(a1, s + j + 1, sc, j + 1, false);
          }
        }
        if (s_tail < s1) {
          const __m256 dw8 = _mm256_cvtph_ps(_mm_maskz_loadu_epi16(tail_scales, dw + s_tail * kPerStep));
          const __m256 sc = _mm256_mul_ps(dw8, xd[n_groups]);
          a2 = _mm256_fmadd_ps(dw8, xs[n_groups], a2);
          int64_t s = s_tail;
          for (; s + 1 < s1; ++s) step(a0, s, sc, s - s_tail, false);
          step(a1, s, sc, s - s_tail, short_last);
        }
        return _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_zextps256_ps512(a2));
      };
      const bool first = s0 == 0;
      int64_t m = m0;
      for (; m + 16 <= m1; m += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; ++i) r[i] = row(m + i);
        const __m512 sums = sum16(r);
        const __m512 start = first ? (bias ? _mm512_loadu_ps(bias + m) : _mm512_setzero_ps())
                                   : _mm512_loadu_ps(y + m);
        _mm512_storeu_ps(y + m, _mm512_add_ps(start, sums));
      }
      for (; m < m1; ++m) y[m] = (first ? (bias ? bias[m] : 0.0f) : y[m]) + _mm512_reduce_add_ps(row(m));
    }
  }
  static __mmask8 group_mask(int64_t n_blocks) {  // the first min(n, 8) lanes
    return n_blocks >= kGroup ? __mmask8(0xff) : __mmask8((1u << n_blocks) - 1);
  }
  // Lane i of the result: the sum of r[i]'s lanes. Halving steps that pair vectors, so that the
  // 16 reductions share their shuffles (45 instructions, where one reduction takes 8).
  static __m512 sum16(const __m512 r[16]) {
    // Within each 128-bit lane: [r0, r1, r2, r3] partial sums per group of four vectors.
    __m512 q[4];
    for (int i = 0; i < 4; ++i) {
      const __m512* v = r + 4 * i;
      const __m512 p01 = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
      const __m512 p23 = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
      // p01 lanes per 128 bits: [v0 a, v1 a, v0 b, v1 b]; the halves of each pair added:
      q[i] = _mm512_add_ps(_mm512_shuffle_ps(p01, p23, 0x44), _mm512_shuffle_ps(p01, p23, 0xee));
    }
    // 128-bit lanes c0..c3 of q[i] hold rows 4i..4i+3's partial sums; add c0 + c1 and c2 + c3,
    // then again, keeping the rows in order.
    const __m512 h01 = _mm512_add_ps(_mm512_shuffle_f32x4(q[0], q[1], 0x88), _mm512_shuffle_f32x4(q[0], q[1], 0xdd));
    const __m512 h23 = _mm512_add_ps(_mm512_shuffle_f32x4(q[2], q[3], 0x88), _mm512_shuffle_f32x4(q[2], q[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, 0x88), _mm512_shuffle_f32x4(h01, h23, 0xdd));
  }
};
#endif

#if defined(__AVX2__)
// One block (32 values) per step.
template <>
struct QDot<Vec<xsimd::fma3<xsimd::avx2>>> {
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

// q8/q4 rows [m0, m1) into y (+ bias): one by one, or the set's row loop where it has one.
template <class U>
struct QRows {
  static void run(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                  float* y) {
    for (int64_t m = m0; m < m1; ++m) y[m] = row_dot<U>(W, m, x) + (bias ? bias[m] : 0.0f);
  }
};
#if defined(__AVX512BW__)
template <>
struct QRows<Vec<xsimd::avx512bw>> {
  static void run(const Matrix& W, int64_t m0, int64_t m1, const QuantizedX& x, const float* bias,
                  float* y) {
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
  const int64_t n = c1 - c0, nb = W.blocks();
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
        const uint8_t* u = W.row<uint8_t>(r);
        const uint16_t* dw = W.scales + r * nb;
        for (int64_t b = c0 / kBlock; b * kBlock < c1; ++b) {
          const float d = f16_to_f32(dw[b]);
          // q8 stores a block's 32 columns as 32 bytes; q4 as 16, columns 0-15 in the low
          // nibbles and 16-31 in the high ones: runs of `span` columns read the same way.
          const int span = q8 ? kBlock : kBlock / 2;
          for (int h = 0; h < kBlock / span; ++h) {
            const int64_t first = b * kBlock + h * span;  // column of this run's first value
            const int64_t lo = std::max(c0, first), hi = std::min(c1, first + span);
            const uint8_t* p = u + (q8 ? b * kBlock : b * (kBlock / 2)) + (lo - first);
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
