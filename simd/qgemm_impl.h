// Prefill's integer GEMM for q8/q4 weights (AVX-512 with VNNI): y[T, m0:m1] += x W^T with x
// quantized per token in blocks of 32 (simd/matrix.h), the same block products matvec computes
// for one token, for a chunk of tokens at once. Include only from simd/gemm_impl.h.
//
// matvec's layout puts a block's 32 values of one row in a vector, so its int32 sums have to be
// scaled block by block, lane group by lane group. Here the weights are repacked, 16 rows at a
// time, so that the lanes are rows:
//   panel values: uint8 [blocks][8 quads][16 rows][4 values]  (q4's nibbles widened to 0..15)
//   panel scales: fp32  [blocks][16 rows]
// One vpdpbusd then adds 4 values of 16 rows times the same 4 values of one token (broadcast)
// into 16 int32 sums; after a block's 8 of them the sums are converted and scaled once (weight
// scales of the 16 rows times the token's block scale). A tile of 2 panels x 6 tokens keeps 12
// int32 and 12 fp32 accumulators in registers. The weights' storage offset (128 for q8, 8 for
// q4) comes off by starting each block's sums at -offset * (the token's integer block sum).
// Rows past m1 in the last panel are zeros, computed and never stored.
#pragma once

#if !defined(__AVX512BW__) || !defined(__AVX512VNNI__)
#error "simd/qgemm_impl.h is the AVX-512 VNNI kernel"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "simd/half.h"
#include "simd/kernels.h"

namespace mamba::simd {
namespace {

constexpr int kPanelRows = 16;  // one vector of int32 sums
constexpr int kQuads = kBlock / 4;
constexpr int kTileTokens = 6;  // 2 panels x 6 tokens x (int32 + fp32) = 24 of 32 registers
constexpr size_t kPanelAlign = 64;

// Bytes of one packed panel of 16 rows for K columns (values, then scales).
size_t panel_bytes(int64_t K) {
  const int64_t kp = padded_cols(K);
  return size_t(kp) * kPanelRows + size_t(kp / kBlock) * kPanelRows * sizeof(float);
}

// Scratch one thread's gemm_quantized needs: two panels, aligned.
size_t gemm_quantized_bytes(int64_t K) { return 2 * panel_bytes(K) + kPanelAlign; }

// One block's 32 values of rows r and r + 8 as bytes: [r: 0-15 | r: 16-31 | r+8: 0-15 | r+8: 16-31].
inline __m512i block_pair(const Matrix& W, const uint8_t* r, const uint8_t* r8, bool live,
                          bool live8, int64_t b) {
  if (W.type == WeightType::q8) {
    const __m256i lo = live ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + b * kBlock))
                            : _mm256_setzero_si256();
    const __m256i hi = live8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r8 + b * kBlock))
                             : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  }
  // q4: 16 bytes a row, values 0-15 in the low nibbles and 16-31 in the high ones.
  const __m128i lo = live ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + b * (kBlock / 2)))
                          : _mm_setzero_si128();
  const __m128i hi = live8 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(r8 + b * (kBlock / 2)))
                           : _mm_setzero_si128();
  const __m512i twice = _mm512_permutexvar_epi64(  // [lo, lo, hi, hi]
      _mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0),
      _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1)));
  constexpr long long k4 = 0x0004000400040004;  // the high nibbles: shift every 16-bit lane by 4
  const __m512i shift = _mm512_set_epi64(k4, k4, 0, 0, k4, k4, 0, 0);
  return _mm512_and_si512(_mm512_srlv_epi16(twice, shift), _mm512_set1_epi8(0x0f));
}

// Rows [r0, r0 + rows) of W (rows <= 16) into a panel; rows beyond are zeros. Per block, the 16
// rows' 8 words of 4 values are transposed in registers (an 8x8 transpose of 32-bit words in each
// 256-bit half, rows r and r + 8 sharing a vector), reading W row by row.
void pack_panel_rows16(const Matrix& W, int64_t r0, int64_t rows, uint8_t* vals, float* scales);

void pack_panel(const Matrix& W, int64_t r0, int64_t rows, uint8_t* vals, float* scales) {
  if (W.rows16) return pack_panel_rows16(W, r0, rows, vals, scales);
  const int64_t nb = W.blocks();
  const uint8_t* u[kPanelRows];
  for (int r = 0; r < kPanelRows; ++r) u[r] = r < rows ? W.row<uint8_t>(r0 + r) : nullptr;
  const __m512i half0 = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
  const __m512i half1 = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  for (int64_t b = 0; b < nb; ++b) {
    __m512i z[8], a[8], c[8];
    for (int i = 0; i < 8; ++i) z[i] = block_pair(W, u[i], u[i + 8], i < rows, i + 8 < rows, b);
    for (int i = 0; i < 8; i += 2) {
      a[i] = _mm512_unpacklo_epi32(z[i], z[i + 1]);
      a[i + 1] = _mm512_unpackhi_epi32(z[i], z[i + 1]);
    }
    for (int g = 0; g < 8; g += 4)  // c[g + k]: words 4l + k of rows g..g+3 in each 128-bit lane l
      for (int k = 0; k < 2; ++k) {
        c[g + 2 * k] = _mm512_unpacklo_epi64(a[g + k], a[g + 2 + k]);
        c[g + 2 * k + 1] = _mm512_unpackhi_epi64(a[g + k], a[g + 2 + k]);
      }
    // Word q = 4h + k of the block: rows 0-3 / 4-7 from lane h of c[k] / c[4 + k], rows 8-15
    // from lane 2 + h.
    __m512i* dst = reinterpret_cast<__m512i*>(vals + b * (kQuads * kPanelRows * 4));
    for (int k = 0; k < 4; ++k) {
      dst[k] = _mm512_permutex2var_epi64(c[k], half0, c[4 + k]);
      dst[4 + k] = _mm512_permutex2var_epi64(c[k], half1, c[4 + k]);
    }
  }
  for (int r = 0; r < kPanelRows; ++r)
    for (int64_t b = 0; b < nb; ++b)
      scales[b * kPanelRows + r] = r < rows ? f16_to_f32(W.scales[(r0 + r) * nb + b]) : 0.0f;
}

// The same from a rows16 matrix (simd/matrix.h), whose chunks already are [16 rows][4 bytes]:
// from a whole group, q8's chunk k is quad k as it stands, q4's low nibbles are quad k and its
// high ones quad 4 + k (rows past `rows` get zero scales, so they add nothing). r0 starts a
// group: gemm_quantized steps by whole panels from m0, and linear() slices rows by 16.
void pack_panel_rows16(const Matrix& W, int64_t r0, int64_t rows, uint8_t* vals, float* scales) {
  const int64_t nb = W.blocks();
  const bool q8 = W.type == WeightType::q8;
  if (rows <= 0) {  // the second panel past the matrix's last row
    std::memset(vals, 0, size_t(nb) * kQuads * kPanelRows * 4);
    std::memset(scales, 0, size_t(nb) * kPanelRows * sizeof(float));
    return;
  }
  const uint8_t* group = W.chunk(r0, 0, 0);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b) {
    __m512i* dst = reinterpret_cast<__m512i*>(vals + b * (kQuads * kPanelRows * 4));
    if (q8) {
      for (int k = 0; k < kQuads; ++k) dst[k] = _mm512_loadu_si512(group + (b * kQuads + k) * 64);
    } else {
      for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_loadu_si512(group + (b * 4 + k) * 64);
        dst[k] = _mm512_and_si512(v, low4);
        dst[4 + k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
    }
    const __m512 s = _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W.scales + W.scale_index(r0, b))));
    _mm512_storeu_ps(scales + b * kPanelRows, _mm512_maskz_mov_ps(__mmask16((1u << rows) - 1), s));
  }
}

// y rows t0..t0+NT-1, columns m..m+31 (masks k0/k1 for the two panels) += the tile's products.
template <int NT>
void qgemm_tile(const uint8_t* v0, const float* s0, const uint8_t* v1, const float* s1,
                int64_t nb, const QuantizedX& x, int64_t t0, int offset, float* y, int64_t ldy,
                __mmask16 k0, __mmask16 k1) {
  __m512 f0[NT], f1[NT];
  const int8_t* xq[NT];
  const float* xd[NT];
  const int32_t* xs[NT];
#pragma GCC unroll 8
  for (int j = 0; j < NT; ++j) {
    f0[j] = f1[j] = _mm512_setzero_ps();
    const QuantizedX r = x.row(t0 + j);
    xq[j] = r.q, xd[j] = r.d, xs[j] = r.isum;
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512i a0[NT], a1[NT];
#pragma GCC unroll 8
    for (int j = 0; j < NT; ++j) a0[j] = a1[j] = _mm512_set1_epi32(-offset * xs[j][b]);
    const uint8_t* p0 = v0 + b * (kQuads * 64);
    const uint8_t* p1 = v1 + b * (kQuads * 64);
#pragma GCC unroll 8
    for (int q = 0; q < kQuads; ++q) {
      const __m512i w0 = _mm512_load_si512(p0 + q * 64), w1 = _mm512_load_si512(p1 + q * 64);
#pragma GCC unroll 8
      for (int j = 0; j < NT; ++j) {
        int32_t four;
        std::memcpy(&four, xq[j] + b * kBlock + 4 * q, sizeof four);
        const __m512i xv = _mm512_set1_epi32(four);
        a0[j] = _mm512_dpbusd_epi32(a0[j], w0, xv);
        a1[j] = _mm512_dpbusd_epi32(a1[j], w1, xv);
      }
    }
    const __m512 sc0 = _mm512_load_ps(s0 + b * kPanelRows), sc1 = _mm512_load_ps(s1 + b * kPanelRows);
#pragma GCC unroll 8
    for (int j = 0; j < NT; ++j) {
      const __m512 d = _mm512_set1_ps(xd[j][b]);
      f0[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[j]), _mm512_mul_ps(sc0, d), f0[j]);
      f1[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[j]), _mm512_mul_ps(sc1, d), f1[j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < NT; ++j) {
    float* row = y + (t0 + j) * ldy;
    _mm512_mask_storeu_ps(row, k0, _mm512_add_ps(_mm512_maskz_loadu_ps(k0, row), f0[j]));
    _mm512_mask_storeu_ps(row + kPanelRows, k1,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(k1, row + kPanelRows), f1[j]));
  }
}

// y[T, m0:m1] (row stride ldy) += x W[m0:m1]^T, x quantized (rows 0..T-1); 32 rows of W packed
// into p.panel at a time, then every token against them.
void gemm_quantized(const PackBuffers& p, const Matrix& W, int64_t m0, int64_t m1,
                    const QuantizedX& x, int64_t T, float* y, int64_t ldy) {
  if (m1 <= m0 || T <= 0) return;
  const int64_t K = W.cols, nb = W.blocks();
  const int offset = W.type == WeightType::q8 ? 128 : 8;
  uint8_t* base = p.panel + (kPanelAlign - reinterpret_cast<uintptr_t>(p.panel) % kPanelAlign) % kPanelAlign;
  const size_t vals = size_t(padded_cols(K)) * kPanelRows;
  uint8_t* v0 = base;
  float* s0 = reinterpret_cast<float*>(v0 + vals);
  uint8_t* v1 = v0 + panel_bytes(K);
  float* s1 = reinterpret_cast<float*>(v1 + vals);
  for (int64_t m = m0; m < m1; m += 2 * kPanelRows) {
    const int64_t n0 = std::min<int64_t>(kPanelRows, m1 - m);
    const int64_t n1 = std::clamp<int64_t>(m1 - m - kPanelRows, 0, kPanelRows);
    pack_panel(W, m, n0, v0, s0);
    pack_panel(W, m + kPanelRows, n1, v1, s1);
    const __mmask16 k0 = __mmask16((1u << n0) - 1), k1 = __mmask16((1u << n1) - 1);
    int64_t t = 0;
    for (; t + kTileTokens <= T; t += kTileTokens)
      qgemm_tile<kTileTokens>(v0, s0, v1, s1, nb, x, t, offset, y + m, ldy, k0, k1);
    switch (T - t) {
      case 1: qgemm_tile<1>(v0, s0, v1, s1, nb, x, t, offset, y + m, ldy, k0, k1); break;
      case 2: qgemm_tile<2>(v0, s0, v1, s1, nb, x, t, offset, y + m, ldy, k0, k1); break;
      case 3: qgemm_tile<3>(v0, s0, v1, s1, nb, x, t, offset, y + m, ldy, k0, k1); break;
      case 4: qgemm_tile<4>(v0, s0, v1, s1, nb, x, t, offset, y + m, ldy, k0, k1); break;
      case 5: qgemm_tile<5>(v0, s0, v1, s1, nb, x, t, offset, y + m, ldy, k0, k1); break;
      default: break;
    }
  }
}

}  // namespace
}  // namespace mamba::simd
