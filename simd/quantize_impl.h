// The quantization of activations for the q8/q4 products (simd/matrix.h): per block of 32
// values, d = amax / 127 and q = x / d rounded to nearest even, clamped to [-127, 127]; the last
// block of a row is padded with zeros. Every set computes the same bits: the vector version
// (AVX-512) does the same IEEE operations as the scalar one, lanes at a time. Include only from
// kernels_impl.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "simd/half.h"
#include "simd/matrix.h"

namespace mamba::simd {
namespace {

// The scale of a block whose largest |x| is amax (finite): d, and the factor 1 / d that
// quantizes it. |x| < ~1e-36 makes 1 / d overflow (and 0 * inf would be NaN): such a block is 0.
inline void block_quant_scale(float amax, float* d, float* id) {
  *d = amax / 127.0f;
  *id = *d > 0.0f ? 1.0f / *d : 0.0f;
  if (std::isinf(*id)) *d = *id = 0.0f;
}

// A block with an activation that overflowed: no int8 stands for it (converting it would be
// undefined); a NaN scale carries it into the product, whose logits the session reports.
inline void non_finite_block(const QuantizedX& out, int64_t b) {
  std::fill(out.q + b * kBlock, out.q + (b + 1) * kBlock, int8_t(0));
  out.d[b] = out.sum[b] = std::numeric_limits<float>::quiet_NaN();
  out.isum[b] = 0;
}

// Block b quantized with scale d, its values summing to `sum`.
inline void finish_block(const QuantizedX& out, int64_t b, float d, int sum) {
  out.d[b] = d;
  out.sum[b] = d * float(sum);
  out.isum[b] = sum;
}

template <class V>
struct QuantizeRow {  // any set: value by value
  static void run(const float* x, int64_t cols, const QuantizedX& out) {
    for (int64_t b = 0; b * kBlock < out.kp; ++b) {
      const int64_t j0 = b * kBlock, j1 = std::min<int64_t>(cols, j0 + kBlock);
      float amax = 0.0f;
      bool finite = true;
      for (int64_t j = j0; j < j1; ++j) {
        amax = std::max(amax, std::fabs(x[j]));
        finite &= std::isfinite(x[j]);
      }
      if (!finite) {
        non_finite_block(out, b);
        continue;
      }
      float d, id;
      block_quant_scale(amax, &d, &id);
      int sum = 0;
      for (int64_t j = j0; j < j0 + kBlock; ++j) {
        const int q = j < j1 ? std::clamp(int(round_even(x[j] * id)), -127, 127) : 0;
        out.q[j] = int8_t(q);
        sum += q;
      }
      finish_block(out, b, d, sum);
    }
  }
};

#if defined(__AVX512BW__)
template <>
struct QuantizeRow<Vec<xsimd::avx512bw>> {  // a block as two vectors; the row's end masked
  static void run(const float* x, int64_t cols, const QuantizedX& out) {
    const __m512 max_finite = _mm512_set1_ps(std::numeric_limits<float>::max());
    for (int64_t b = 0; b * kBlock < out.kp; ++b) {
      const int64_t j0 = b * kBlock, n = std::min<int64_t>(cols - j0, kBlock);
      const __mmask16 m0 = n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
      const __mmask16 m1 = n >= 32 ? __mmask16(0xffff) : n > 16 ? __mmask16((1u << (n - 16)) - 1) : 0;
      const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + j0), x1 = _mm512_maskz_loadu_ps(m1, x + j0 + 16);
      const __m512 a0 = _mm512_abs_ps(x0), a1 = _mm512_abs_ps(x1);
      // |x| <= FLT_MAX is false for inf and NaN (and true for the zeros past the end).
      if (_mm512_cmp_ps_mask(a0, max_finite, _CMP_LE_OQ) != 0xffff ||
          _mm512_cmp_ps_mask(a1, max_finite, _CMP_LE_OQ) != 0xffff) {
        non_finite_block(out, b);
        continue;
      }
      float d, id;
      block_quant_scale(_mm512_reduce_max_ps(_mm512_max_ps(a0, a1)), &d, &id);
      const __m512 v = _mm512_set1_ps(id), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
      const auto quant = [&](__m512 xv) {  // round to nearest even, then clamp (exact integers)
        const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(xv, v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(r, lo), hi));
      };
      const __m512i q0 = quant(x0), q1 = quant(x1);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out.q + j0), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out.q + j0 + 16), _mm512_cvtepi32_epi8(q1));
      finish_block(out, b, d, _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)));
    }
  }
};
#endif

// x [T, cols] (row stride ldx) into buf, each row's kp = padded_cols(cols); returns buf with it.
template <class V>
QuantizedX quantize_rows(const float* x, int64_t ldx, int64_t T, int64_t cols, const QuantizedX& buf) {
  QuantizedX out = buf;
  out.kp = padded_cols(cols);
  for (int64_t t = 0; t < T; ++t) QuantizeRow<V>::run(x + t * ldx, cols, out.row(t));
  return out;
}

}  // namespace
}  // namespace mamba::simd
