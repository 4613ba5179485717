// Prefill's integer GEMM for q8/q4 weights without VNNI (the AVX2 set, with ymm; the AVX-512 set,
// for AVX-512 CPUs without VNNI, with zmm): y[T, m0:m1] += x W^T with x quantized per token in
// blocks of 32 (simd/matrix.h), the block products decode's matvec computes, for a chunk of tokens
// at once. Include only from simd/gemm_impl.h.
//
// As in simd/qgemm_impl.h the lanes are rows: 16 weight rows at a time are repacked into a panel
// of S = 16 / L sub-panels, L rows a vector (8 in a ymm, 16 in a zmm):
//   values: int8 / uint8 [S][blocks][8 quads][L rows][4 values]
//   scales: fp32         [S][blocks][L rows]
// so that one vpmaddubsw of a quad (L rows x 4 values) against 4 of a token's bytes, broadcast,
// gives each row two 16-bit partial sums, and one vpmaddwd against ones makes them L int32 sums.
// vpmaddubsw saturates a pair's sum at 16 bits, hence two encodings:
//   q4: values 0..15 (the stored nibbles), |pair| <= 2 * 15 * 127, so a block's 8 quads add up in
//       16 bits (<= 30480) and are widened once; the offset 8 comes off as -8 * the token's
//       integer block sum.
//   q8: values q = u - 128 (signed), multiplied as |q| x sign(x, q) (|pair| <= 2 * 128 * 127),
//       widened every quad; no offset.
// A tile is L rows (one vector) x 4 tokens: 4 integer and 4 fp32 accumulators in registers.
// Rows past the matrix's end get zero values and scales: computed, never stored.
#pragma once

#if !defined(__AVX2__)
#error "simd/qgemm_avx2_impl.h is the AVX2 / AVX-512BW kernel"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "simd/half.h"
#include "simd/kernels.h"

namespace mamba::simd {
namespace {

// The few operations the kernel needs, on the widest vectors the set has.
#if defined(__AVX512BW__)
struct Lanes {
  static constexpr int rows = 16;
  using I = __m512i;
  using F = __m512;
  using Sign = __mmask64;  // the lanes where q < 0
  static I load(const uint8_t* p) { return _mm512_load_si512(p); }
  static I loadu(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static void store(uint8_t* p, I v) { _mm512_store_si512(p, v); }
  static I set1_8(int v) { return _mm512_set1_epi8(char(v)); }
  static I set1_16(int v) { return _mm512_set1_epi16(short(v)); }
  static I set1_32(int32_t v) { return _mm512_set1_epi32(v); }
  static I zero() { return _mm512_setzero_si512(); }
  static I bxor(I a, I b) { return _mm512_xor_si512(a, b); }
  static I band(I a, I b) { return _mm512_and_si512(a, b); }
  static I srli16(I a, int n) { return _mm512_srli_epi16(a, unsigned(n)); }
  static I abs8(I a) { return _mm512_abs_epi8(a); }
  static Sign sign_of(I q) { return _mm512_movepi8_mask(q); }
  // x where q > 0, -x where q < 0 (where q = 0 the product with |q| is 0 either way)
  static I apply_sign(I x, Sign neg) { return _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x); }
  static I maddubs(I u, I s) { return _mm512_maddubs_epi16(u, s); }
  static I madd16(I a, I b) { return _mm512_madd_epi16(a, b); }
  static I add16(I a, I b) { return _mm512_add_epi16(a, b); }
  static I add32(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub32(I a, I b) { return _mm512_sub_epi32(a, b); }
  static F zero_ps() { return _mm512_setzero_ps(); }
  static F load_ps(const float* p) { return _mm512_load_ps(p); }
  static F set1_ps(float v) { return _mm512_set1_ps(v); }
  static F to_ps(I a) { return _mm512_cvtepi32_ps(a); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  // row[0..live) += f
  static void add_to(float* row, F f, int live) {
    const __mmask16 k = __mmask16((1u << live) - 1);
    _mm512_mask_storeu_ps(row, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, row), f));
  }
};
#else
struct Lanes {
  static constexpr int rows = 8;
  using I = __m256i;
  using F = __m256;
  using Sign = __m256i;  // q itself: vpsignb takes its signs
  static I load(const uint8_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
  static I loadu(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static void store(uint8_t* p, I v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
  static I set1_8(int v) { return _mm256_set1_epi8(char(v)); }
  static I set1_16(int v) { return _mm256_set1_epi16(short(v)); }
  static I set1_32(int32_t v) { return _mm256_set1_epi32(v); }
  static I zero() { return _mm256_setzero_si256(); }
  static I bxor(I a, I b) { return _mm256_xor_si256(a, b); }
  static I band(I a, I b) { return _mm256_and_si256(a, b); }
  static I srli16(I a, int n) { return _mm256_srli_epi16(a, n); }
  static I abs8(I a) { return _mm256_abs_epi8(a); }
  static Sign sign_of(I q) { return q; }
  static I apply_sign(I x, Sign q) { return _mm256_sign_epi8(x, q); }
  static I maddubs(I u, I s) { return _mm256_maddubs_epi16(u, s); }
  static I madd16(I a, I b) { return _mm256_madd_epi16(a, b); }
  static I add16(I a, I b) { return _mm256_add_epi16(a, b); }
  static I add32(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub32(I a, I b) { return _mm256_sub_epi32(a, b); }
  static F zero_ps() { return _mm256_setzero_ps(); }
  static F load_ps(const float* p) { return _mm256_load_ps(p); }
  static F set1_ps(float v) { return _mm256_set1_ps(v); }
  static F to_ps(I a) { return _mm256_cvtepi32_ps(a); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static void add_to(float* row, F f, int live) {
    if (live == rows) {
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), f));
      return;
    }
    const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32(live), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(row, k, _mm256_add_ps(_mm256_maskload_ps(row, k), f));
  }
};
#endif

constexpr int kLaneRows = Lanes::rows;     // one vector of int32 sums
constexpr int kGroupRows = 16;             // a rows16 group: one packed panel
constexpr int kSubs = kGroupRows / kLaneRows;
constexpr int kQuadBytes = kLaneRows * 4;  // one quad of a sub-panel: one vector
constexpr int kQuads = kBlock / 4;
constexpr int kTileTokens = 4;
constexpr size_t kPanelAlign = 64;

// Bytes of the 16-row panel for K columns (values, then scales).
size_t panel_bytes(int64_t K) {
  const int64_t kp = padded_cols(K);
  return size_t(kp) * kGroupRows + size_t(kp / kBlock) * kGroupRows * sizeof(float);
}

size_t gemm_quantized_bytes(int64_t K) { return panel_bytes(K) + kPanelAlign; }

// Rows [r0, r0 + rows) of W (rows <= 16) into the panel (q8 as signed values, q4's nibbles
// widened to bytes); rows beyond are zeros. From a whole rows16 group, chunk (b, k) is a quad
// of 16 rows already, copied as it stands in vectors of L rows (q4: the low nibbles make quad
// k, the high ones quad 4 + k). Otherwise row by row through the layout's accessors.
void pack_panel(const Matrix& W, int64_t r0, int64_t rows, uint8_t* vals, float* scales) {
  using L = Lanes;
  const int64_t nb = W.blocks();
  const bool q8 = W.type == WeightType::q8;
  const size_t sub_vals = size_t(nb) * kQuads * kQuadBytes;
  const auto at = [&](int h, int64_t b, int q) {  // [L rows][4 values] of sub-panel h, block b, quad q
    return vals + h * sub_vals + size_t(b * kQuads + q) * kQuadBytes;
  };
  if (W.rows16 && r0 % kGroupRows == 0) {
    const L::I flip = L::set1_8(0x80), low4 = L::set1_8(0x0f);
    for (int64_t b = 0; b < nb; ++b)
      for (int k = 0; k < W.chunks(); ++k)
        for (int h = 0; h < kSubs; ++h) {
          const L::I v = L::loadu(W.chunk(r0, b, k) + h * kQuadBytes);
          if (q8) {
            L::store(at(h, b, k), L::bxor(v, flip));
          } else {
            L::store(at(h, b, k), L::band(v, low4));
            L::store(at(h, b, 4 + k), L::band(L::srli16(v, 4), low4));
          }
        }
  } else {
    for (int64_t b = 0; b < nb; ++b)
      for (int i = 0; i < kGroupRows; ++i)
        for (int k = 0; k < W.chunks(); ++k) {
          uint8_t four[4] = {0, 0, 0, 0};
          if (i < rows) std::memcpy(four, W.chunk(r0 + i, b, k), 4);
          const int h = i / kLaneRows, lane = (i % kLaneRows) * 4;
          for (int j = 0; j < 4; ++j) {
            if (q8) {
              at(h, b, k)[lane + j] = i < rows ? uint8_t(four[j] ^ 0x80) : 0;
            } else {
              at(h, b, k)[lane + j] = four[j] & 0x0f;
              at(h, b, 4 + k)[lane + j] = uint8_t(four[j] >> 4);
            }
          }
        }
  }
  for (int i = 0; i < kGroupRows; ++i)
    for (int64_t b = 0; b < nb; ++b)
      scales[(i / kLaneRows) * nb * kLaneRows + b * kLaneRows + i % kLaneRows] =
          i < rows ? f16_to_f32(W.scales[W.scale_index(r0 + i, b)]) : 0.0f;
}

inline Lanes::I broadcast4(const int8_t* p) {
  int32_t four;
  std::memcpy(&four, p, sizeof four);
  return Lanes::set1_32(four);
}

// y rows t0..t0+NT-1, columns m..m+L-1 (the first `live` of them) += one sub-panel's products.
template <bool Q8, int NT>
void qgemm_tile(const uint8_t* v, const float* s, int64_t nb, const QuantizedX& x, int64_t t0,
                float* y, int64_t ldy, int live) {
  using L = Lanes;
  L::F f[NT];
  const int8_t* xq[NT];
  const float* xd[NT];
  const int32_t* xs[NT];
#pragma GCC unroll 4
  for (int j = 0; j < NT; ++j) {
    f[j] = L::zero_ps();
    const QuantizedX r = x.row(t0 + j);
    xq[j] = r.q, xd[j] = r.d, xs[j] = r.isum;
  }
  const L::I ones = L::set1_16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = v + b * (kQuads * kQuadBytes);
    L::I a[NT];
    if constexpr (Q8) {
#pragma GCC unroll 4
      for (int j = 0; j < NT; ++j) a[j] = L::zero();
#pragma GCC unroll 8
      for (int q = 0; q < kQuads; ++q) {
        const L::I w = L::load(p + q * kQuadBytes);
        const L::I wa = L::abs8(w);
        const L::Sign sw = L::sign_of(w);
#pragma GCC unroll 4
        for (int j = 0; j < NT; ++j) {
          const L::I xv = L::apply_sign(broadcast4(xq[j] + b * kBlock + 4 * q), sw);
          a[j] = L::add32(a[j], L::madd16(L::maddubs(wa, xv), ones));
        }
      }
    } else {
      L::I a16[NT];
#pragma GCC unroll 4
      for (int j = 0; j < NT; ++j) a16[j] = L::zero();
#pragma GCC unroll 8
      for (int q = 0; q < kQuads; ++q) {
        const L::I w = L::load(p + q * kQuadBytes);
#pragma GCC unroll 4
        for (int j = 0; j < NT; ++j)
          a16[j] = L::add16(a16[j], L::maddubs(w, broadcast4(xq[j] + b * kBlock + 4 * q)));
      }
#pragma GCC unroll 4
      for (int j = 0; j < NT; ++j) a[j] = L::sub32(L::madd16(a16[j], ones), L::set1_32(8 * xs[j][b]));
    }
    const L::F sc = L::load_ps(s + b * kLaneRows);
#pragma GCC unroll 4
    for (int j = 0; j < NT; ++j) f[j] = L::fmadd(L::to_ps(a[j]), L::mul(sc, L::set1_ps(xd[j][b])), f[j]);
  }
#pragma GCC unroll 4
  for (int j = 0; j < NT; ++j) L::add_to(y + (t0 + j) * ldy, f[j], live);
}

// Every token against one sub-panel, in tiles of 4 tokens.
template <bool Q8>
void qgemm_sub(const uint8_t* v, const float* s, int64_t nb, const QuantizedX& x, int64_t T,
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
// into p.panel at a time, then every token against each sub-panel of them.
void gemm_quantized(const PackBuffers& p, const Matrix& W, int64_t m0, int64_t m1,
                    const QuantizedX& x, int64_t T, float* y, int64_t ldy) {
  if (m1 <= m0 || T <= 0) return;
  const int64_t nb = W.blocks();
  uint8_t* vals = p.panel + (kPanelAlign - reinterpret_cast<uintptr_t>(p.panel) % kPanelAlign) % kPanelAlign;
  float* scales = reinterpret_cast<float*>(vals + size_t(W.kp()) * kGroupRows);
  const size_t sub_vals = size_t(nb) * kQuads * kQuadBytes;
  for (int64_t m = m0; m < m1; m += kGroupRows) {
    const int64_t rows = std::min<int64_t>(kGroupRows, m1 - m);
    pack_panel(W, m, rows, vals, scales);
    for (int h = 0; h * kLaneRows < rows; ++h) {
      const int live = int(std::min<int64_t>(kLaneRows, rows - h * kLaneRows));
      const uint8_t* v = vals + h * sub_vals;
      const float* s = scales + h * nb * kLaneRows;
      float* yh = y + m + h * kLaneRows;
      if (W.type == WeightType::q8) qgemm_sub<true>(v, s, nb, x, T, yh, ldy, live);
      else qgemm_sub<false>(v, s, nb, x, T, yh, ldy, live);
    }
  }
}

}  // namespace
}  // namespace mamba::simd
