// Prefill's integer GEMM for q8/q4 weights without VNNI (AVX2; also the AVX-512 set without
// VNNI): y[T, m0:m1] += x W^T with x quantized per token in blocks of 32 (simd/matrix.h), the
// block products decode's matvec computes, for a chunk of tokens at once. Include only from
// simd/gemm_impl.h.
//
// As in simd/qgemm_impl.h the lanes are rows: 16 weight rows at a time are repacked into a panel
//   values: int8 / uint8 [2 halves][blocks][8 quads][8 rows][4 values]
//   scales: fp32         [2 halves][blocks][8 rows]
// so that one vpmaddubsw of a quad (8 rows x 4 values) against 4 of a token's bytes, broadcast,
// gives each row two 16-bit partial sums, and one vpmaddwd against ones makes them 8 int32 sums.
// vpmaddubsw saturates a pair's sum at 16 bits, hence two encodings:
//   q4: values 0..15 (the stored nibbles), |pair| <= 2 * 15 * 127, so a block's 8 quads add up in
//       16 bits (<= 30480) and are widened once; the offset 8 comes off as -8 * the token's
//       integer block sum.
//   q8: values q = u - 128 (signed), multiplied as |q| x sign(x, q) (|pair| <= 2 * 128 * 127),
//       widened every quad; no offset.
// A tile is 8 rows (one vector) x 4 tokens: 4 integer and 4 fp32 accumulators in registers.
// Rows past the matrix's end get zero values and scales: computed, never stored.
#pragma once

#if !defined(__AVX2__)
#error "simd/qgemm_avx2_impl.h is the AVX2 kernel"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "simd/half.h"
#include "simd/kernels.h"

namespace mamba::simd {
namespace {

constexpr int kHalfRows = 8;  // one vector of int32 sums
constexpr int kGroupRows = 2 * kHalfRows;
constexpr int kQuads = kBlock / 4;
constexpr int kTileTokens = 4;
constexpr size_t kPanelAlign = 32;

// Bytes of the 16-row panel for K columns (values, then scales).
size_t panel_bytes(int64_t K) {
  const int64_t kp = padded_cols(K);
  return size_t(kp) * kGroupRows + size_t(kp / kBlock) * kGroupRows * sizeof(float);
}

size_t gemm_quantized_bytes(int64_t K) { return panel_bytes(K) + kPanelAlign; }

// Rows [r0, r0 + rows) of W (rows <= 16) into the panel (q8 as signed values, q4's nibbles
// widened to bytes); rows beyond are zeros. From a whole rows16 group, chunk (b, k) is a quad
// of 16 rows already: its two halves are copied as they stand (q4: the low nibbles make quad k,
// the high ones quad 4 + k). Otherwise row by row through the layout's accessors.
void pack_panel(const Matrix& W, int64_t r0, int64_t rows, uint8_t* vals, float* scales) {
  const int64_t nb = W.blocks();
  const bool q8 = W.type == WeightType::q8;
  const size_t half_vals = size_t(nb) * kQuads * kHalfRows * 4;
  const auto at = [&](int h, int64_t b, int q) {  // [8 rows][4 values] of half h, block b, quad q
    return vals + h * half_vals + size_t(b * kQuads + q) * kHalfRows * 4;
  };
  if (W.rows16 && r0 % kGroupRows == 0) {
    const __m256i flip = _mm256_set1_epi8(char(0x80)), low4 = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < nb; ++b)
      for (int k = 0; k < W.chunks(); ++k)
        for (int h = 0; h < 2; ++h) {
          const __m256i v =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W.chunk(r0, b, k) + h * 32));
          if (q8) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(at(h, b, k)), _mm256_xor_si256(v, flip));
          } else {
            _mm256_store_si256(reinterpret_cast<__m256i*>(at(h, b, k)), _mm256_and_si256(v, low4));
            _mm256_store_si256(reinterpret_cast<__m256i*>(at(h, b, 4 + k)),
                               _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
          }
        }
  } else {
    for (int64_t b = 0; b < nb; ++b)
      for (int i = 0; i < kGroupRows; ++i)
        for (int k = 0; k < W.chunks(); ++k) {
          uint8_t four[4] = {0, 0, 0, 0};
          if (i < rows) std::memcpy(four, W.chunk(r0 + i, b, k), 4);
          uint8_t* lo = at(i / kHalfRows, b, k) + (i % kHalfRows) * 4;
          for (int j = 0; j < 4; ++j) {
            if (q8) {
              lo[j] = i < rows ? uint8_t(four[j] ^ 0x80) : 0;
            } else {
              lo[j] = four[j] & 0x0f;
              at(i / kHalfRows, b, 4 + k)[(i % kHalfRows) * 4 + j] = uint8_t(four[j] >> 4);
            }
          }
        }
  }
  for (int i = 0; i < kGroupRows; ++i)
    for (int64_t b = 0; b < nb; ++b)
      scales[(i / kHalfRows) * nb * kHalfRows + b * kHalfRows + i % kHalfRows] =
          i < rows ? f16_to_f32(W.scales[W.scale_index(r0 + i, b)]) : 0.0f;
}

inline __m256i broadcast4(const int8_t* p) {
  int32_t four;
  std::memcpy(&four, p, sizeof four);
  return _mm256_set1_epi32(four);
}

// y rows t0..t0+NT-1, columns m..m+7 (the first `live` of them) += one half panel's products.
template <bool Q8, int NT>
void qgemm_tile(const uint8_t* v, const float* s, int64_t nb, const QuantizedX& x, int64_t t0,
                float* y, int64_t ldy, int live) {
  __m256 f[NT];
  const int8_t* xq[NT];
  const float* xd[NT];
  const int32_t* xs[NT];
#pragma GCC unroll 4
  for (int j = 0; j < NT; ++j) {
    f[j] = _mm256_setzero_ps();
    const QuantizedX r = x.row(t0 + j);
    xq[j] = r.q, xd[j] = r.d, xs[j] = r.isum;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = v + b * (kQuads * 32);
    __m256i a[NT];
    if constexpr (Q8) {
#pragma GCC unroll 4
      for (int j = 0; j < NT; ++j) a[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int q = 0; q < kQuads; ++q) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + q * 32));
        const __m256i wa = _mm256_abs_epi8(w);
#pragma GCC unroll 4
        for (int j = 0; j < NT; ++j) {
          const __m256i xv = _mm256_sign_epi8(broadcast4(xq[j] + b * kBlock + 4 * q), w);
          a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_maddubs_epi16(wa, xv), ones));
        }
      }
    } else {
      __m256i a16[NT];
#pragma GCC unroll 4
      for (int j = 0; j < NT; ++j) a16[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int q = 0; q < kQuads; ++q) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + q * 32));
#pragma GCC unroll 4
        for (int j = 0; j < NT; ++j)
          a16[j] = _mm256_add_epi16(a16[j],
                                    _mm256_maddubs_epi16(w, broadcast4(xq[j] + b * kBlock + 4 * q)));
      }
#pragma GCC unroll 4
      for (int j = 0; j < NT; ++j)
        a[j] = _mm256_sub_epi32(_mm256_madd_epi16(a16[j], ones), _mm256_set1_epi32(8 * xs[j][b]));
    }
    const __m256 sc = _mm256_load_ps(s + b * kHalfRows);
#pragma GCC unroll 4
    for (int j = 0; j < NT; ++j)
      f[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[j]), _mm256_mul_ps(sc, _mm256_set1_ps(xd[j][b])),
                             f[j]);
  }
  const __m256i mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(live), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 4
  for (int j = 0; j < NT; ++j) {
    float* row = y + (t0 + j) * ldy;
    if (live == kHalfRows) {
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), f[j]));
    } else {
      _mm256_maskstore_ps(row, mask, _mm256_add_ps(_mm256_maskload_ps(row, mask), f[j]));
    }
  }
}

// Every token against one half panel, in tiles of 4 tokens.
template <bool Q8>
void qgemm_half(const uint8_t* v, const float* s, int64_t nb, const QuantizedX& x, int64_t T,
                float* y, int64_t ldy, int live) {
  int64_t t = 0;
  for (; t + kTileTokens <= T; t += kTileTokens) qgemm_tile<Q8, kTileTokens>(v, s, nb, x, t, y, ldy, live);
  switch (T - t) {
    case 1: qgemm_tile<Q8, 1>(v, s, nb, x, t, y, ldy, live); break;
    case 2: qgemm_tile<Q8, 2>(v, s, nb, x, t, y, ldy, live); break;
    case 3: qgemm_tile<Q8, 3>(v, s, nb, x, t, y, ldy, live); break;
    default: break;
  }
}

// y[T, m0:m1] (row stride ldy) += x W[m0:m1]^T, x quantized (rows 0..T-1); 16 rows of W packed
// into p.panel at a time, then every token against each half of them.
void gemm_quantized(const PackBuffers& p, const Matrix& W, int64_t m0, int64_t m1,
                    const QuantizedX& x, int64_t T, float* y, int64_t ldy) {
  if (m1 <= m0 || T <= 0) return;
  const int64_t nb = W.blocks();
  uint8_t* vals = p.panel + (kPanelAlign - reinterpret_cast<uintptr_t>(p.panel) % kPanelAlign) % kPanelAlign;
  float* scales = reinterpret_cast<float*>(vals + size_t(W.kp()) * kGroupRows);
  const size_t half_vals = size_t(nb) * kQuads * kHalfRows * 4;
  for (int64_t m = m0; m < m1; m += kGroupRows) {
    const int64_t rows = std::min<int64_t>(kGroupRows, m1 - m);
    pack_panel(W, m, rows, vals, scales);
    for (int h = 0; h * kHalfRows < rows; ++h) {
      const int live = int(std::min<int64_t>(kHalfRows, rows - h * kHalfRows));
      const uint8_t* v = vals + h * half_vals;
      const float* s = scales + h * nb * kHalfRows;
      if (W.type == WeightType::q8) qgemm_half<true>(v, s, nb, x, T, y + m + h * kHalfRows, ldy, live);
      else qgemm_half<false>(v, s, nb, x, T, y + m + h * kHalfRows, ldy, live);
    }
  }
}

}  // namespace
}  // namespace mamba::simd
