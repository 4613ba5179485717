// The weight types: conversion at load (core/quantize.h), and every kernel set's typed matvec,
// tile dequantization and linear() against double-precision references over the values the
// stored weights stand for. Tolerances follow tests/test_kernels.cpp: a dot product of K terms
// gets tol = 2 sqrt(K + 1) u sum|terms|. For q8/q4 the kernels add up integer block products
// scaled per block and subtract the storage offset once per row (offset * scale * sum(q)), so the
// terms that round are |w| + offset * |scale| per weight: that is the magnitude used.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/linear.h"
#include "core/quantize.h"
#include "simd/half.h"
#include "simd/kernels.h"
#include "tests/kernel_check.h"

namespace mamba::test {
namespace {

using simd::Kernels;
using simd::Matrix;

constexpr WeightType kTypes[] = {WeightType::f32, WeightType::bf16, WeightType::f16, WeightType::q8,
                                 WeightType::q4};

// A matrix converted from fp32, owning its memory, with the fp32 values it stands for.
struct TestMatrix {
  std::vector<uint8_t> mem;
  Matrix m;
  std::vector<float> deq;  // [rows, cols]
  TestMatrix(WeightType type, const std::vector<float>& src, int64_t rows, int64_t cols,
             bool rows16 = false) {
    m = Matrix{type, rows, cols};
    m.rows16 = rows16;
    mem.assign(m.bytes() + 2, 0);  // +1: the data starts one byte in, unaligned
    m.data = mem.data() + 1;
    // The f16 scales keep their alignment (as in a Model, where they follow whole rows): the next
    // even byte after the rows.
    if (m.quantized())
      m.scales = reinterpret_cast<const uint16_t*>(
          mem.data() + ((1 + m.stored_rows() * int64_t(m.row_bytes()) + 1) & ~int64_t(1)));
    if (type != WeightType::q8 && type != WeightType::q4) {
      // 16-bit and fp32 rows need their natural alignment: start at an even offset past the base.
      m.data = mem.data();
    }
    EXPECT_EQ(detail::convert_matrix(src.data(), m), -1);
    deq.resize(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r) detail::dequantize_row(m, r, deq.data() + r * cols);
  }
  double offset() const { return m.type == WeightType::q8 ? 128 : m.type == WeightType::q4 ? 8 : 0; }
  double scale(int64_t r, int64_t j) const {
    return m.quantized() ? std::fabs(simd::f16_to_f32(m.scales[m.scale_index(r, j / simd::kBlock)])) : 0;
  }
};

// The layouts a type's matrices come in: q8/q4 also in rows16's 16-row groups (simd/matrix.h).
std::vector<bool> layouts(WeightType type) {
  const bool quantized = type == WeightType::q8 || type == WeightType::q4;
  return quantized ? std::vector<bool>{false, true} : std::vector<bool>{false};
}
std::string layout_name(WeightType type, bool rows16) {
  return std::string(weight_type_name(type)) + (rows16 ? " rows16" : "");
}

// Room for `rows` activation rows of K values quantized.
struct XqBuffer {
  std::vector<int8_t> q;
  std::vector<float> d, sum;
  std::vector<int32_t> isum;
  explicit XqBuffer(int64_t K, int64_t rows = 1)
      : q(static_cast<size_t>(rows * simd::padded_cols(K))), d(q.size() / simd::kBlock),
        sum(d.size()), isum(d.size()) {}
  simd::QuantizedX view() { return {q.data(), d.data(), sum.data(), isum.data(), 0}; }
};

// x as the q8/q4 products of kernel set k see it: quantized per block, then read back.
std::vector<float> quantized_x(const Kernels& k, const std::vector<float>& x, int64_t K) {
  XqBuffer b(K);
  k.quantize_rows(x.data(), K, 1, K, b.view());
  std::vector<float> xh(static_cast<size_t>(K));
  for (int64_t j = 0; j < K; ++j) xh[j] = float(b.q[j]) * b.d[j / simd::kBlock];
  return xh;
}

// Found by fuzz_safetensors under UBSan (tests/fuzz/corpus/safetensors/regression-*): activations
// that overflowed to inf/NaN, and blocks so small that 1 / scale overflows, went through
// float -> int conversion of a NaN (undefined behaviour). Now a tiny block quantizes to zero and a
// non-finite one gets a NaN scale, which carries it into the product (the session reports it).
TEST(QuantizeX, TinyAndNonFiniteBlocks) {
  const int64_t K = 3 * simd::kBlock;
  std::vector<float> x(static_cast<size_t>(K), 0.0f);
  x[1] = 1e-38f;    // block 0: 1 / (1e-38 / 127) overflows
  x[2] = -3e-39f;   //          (subnormal)
  x[40] = INFINITY;  // block 1: an overflowed activation ...
  x[41] = NAN;       //          ... and a NaN (std::max skips it: it must be seen anyway)
  x[42] = 2.0f;
  for (int64_t j = 2 * simd::kBlock; j < K; ++j) x[size_t(j)] = float(j % 7) - 3.0f;  // block 2
  for (const Kernels* k : simd::available_kernels()) {
    SCOPED_TRACE(k->name);
    XqBuffer b(K);
    k->quantize_rows(x.data(), K, 1, K, b.view());
    for (int64_t j = 0; j < 2 * simd::kBlock; ++j) EXPECT_EQ(b.q[size_t(j)], 0) << j;
    EXPECT_EQ(b.d[0], 0.0f);
    EXPECT_EQ(b.sum[0], 0.0f);
    EXPECT_TRUE(std::isnan(b.d[1]));
    EXPECT_TRUE(std::isnan(b.sum[1]));
    EXPECT_EQ(b.d[2], 3.0f / 127.0f);
    EXPECT_EQ(*std::max_element(b.q.begin() + 2 * simd::kBlock, b.q.end()), 127);
    EXPECT_EQ(*std::min_element(b.q.begin() + 2 * simd::kBlock, b.q.end()), -127);
    EXPECT_EQ(b.isum[0], 0);
    EXPECT_EQ(b.isum[1], 0);
  }
}

// Every set quantizes to the same bits as the scalar one (rows of any length, with a stride, the
// last block partial), and isum / sum are the block's integer sum and d times it.
TEST(QuantizeX, EverySetGivesTheSameBits) {
  Rng rng(36);
  const Kernels& scalar = *simd::available_kernels().back();
  for (int K : {1, 17, 31, 32, 33, 100, 1541}) {
    const int T = 3, ldx = K + 5;
    std::vector<float> x = rng.vec(size_t(T) * ldx, -4, 4);
    x[size_t(ldx + K / 2)] = 0.0f;
    XqBuffer want(K, T);
    const simd::QuantizedX w = scalar.quantize_rows(x.data(), ldx, T, K, want.view());
    ASSERT_EQ(w.kp, simd::padded_cols(K));
    for (int64_t b = 0; b < int64_t(want.d.size()); ++b) {
      int sum = 0;
      for (int j = 0; j < simd::kBlock; ++j) sum += want.q[size_t(b * simd::kBlock + j)];
      ASSERT_EQ(want.isum[size_t(b)], sum) << "K=" << K << " block " << b;
      ASSERT_EQ(want.sum[size_t(b)], want.d[size_t(b)] * float(sum)) << "K=" << K << " block " << b;
    }
    for (const Kernels* k : simd::available_kernels()) {
      XqBuffer got(K, T);
      k->quantize_rows(x.data(), ldx, T, K, got.view());
      EXPECT_EQ(got.q, want.q) << k->name << " K=" << K;
      EXPECT_EQ(got.isum, want.isum) << k->name << " K=" << K;
      for (size_t b = 0; b < want.d.size(); ++b) {
        ASSERT_TRUE(same_bits(got.d[b], want.d[b])) << k->name << " K=" << K << " block " << b;
        ASSERT_TRUE(same_bits(got.sum[b], want.sum[b])) << k->name << " K=" << K << " block " << b;
      }
    }
  }
}

class WeightTypesTest : public ::testing::TestWithParam<const Kernels*> {
 protected:
  const Kernels& k() const { return *GetParam(); }
};

TEST_P(WeightTypesTest, Matvec) {
  Rng rng(31);
  for (WeightType type : kTypes)
  for (bool rows16 : layouts(type)) {
    const std::string name = layout_name(type, rows16);
    Worst worst{name.c_str(), k().name};
    // 8192: one whole segment of the AVX-512 q4 rows, 8230 past it (and past a 256-block one);
    // M = 37: two whole 16-row groups and a part of one, cut by [m0, m1) as well
    for (int K : {1, 7, 31, 32, 33, 64, 65, 100, 1541, 8192, 8230})
      for (int M : {1, 5, 13, 37})
        for (bool with_bias : {false, true}) {
          std::vector<float> W = rng.vec(size_t(M) * K, -1, 1);
          const std::vector<float> x = rng.vec(size_t(K), -1, 1);
          const std::vector<float> bias = rng.vec(size_t(M), -1, 1);
          const TestMatrix tm(type, W, M, K, rows16);
          XqBuffer xb(K);
          const simd::QuantizedX xq = k().quantize_rows(x.data(), K, 1, K, xb.view());
          const std::vector<float> xs = tm.m.quantized() ? quantized_x(k(), x, K) : x;
          for (auto [m0, m1] : std::vector<std::pair<int, int>>{{0, M}, {1, M}, {M / 2, M}}) {
            std::vector<float> y(size_t(M) + 2, kSentinel);
            k().matvec(tm.m, y.data() + 1, x.data(), xq, with_bias ? bias.data() : nullptr, m0, m1);
            Check c(where("matvec %s%s K=%d M=%d bias=%d [%d, %d)", weight_type_name(type),
                          rows16 ? " rows16" : "", K, M, int(with_bias), m0, m1));
            for (int m = -1; m <= M; ++m) {
              if (m < m0 || m >= m1) {
                c.untouched(y[1 + m], kSentinel, m);
                continue;
              }
              double want = with_bias ? bias[m] : 0.0, mag = std::fabs(want);
              for (int j = 0; j < K; ++j) {
                want += double(tm.deq[size_t(m) * K + j]) * xs[j];
                mag += (std::fabs(tm.deq[size_t(m) * K + j]) + tm.offset() * tm.scale(m, j)) *
                       std::fabs(xs[j]);
              }
              c.close(y[1 + m], want, dot_tol(K, mag), m);
            }
            EXPECT_TRUE(c.result());
            worst.add(c);
          }
        }
  }
}

// Tiles are exactly the stored values, whatever the set, for any range of columns (within a
// block, across blocks, to the row's end).
TEST_P(WeightTypesTest, Dequantize) {
  Rng rng(32);
  for (WeightType type : kTypes)
  for (bool rows16 : layouts(type))
    for (int K : {1, 17, 32, 33, 100})
      for (auto [c0, c1] : {std::pair{0, K}, {0, std::min(K, 32)}, {K / 3, K}, {K / 5, K - K / 4},
                            {std::min(K, 32), K}}) {
        const int M = 9, n = c1 - c0;
        const TestMatrix tm(type, rng.vec(size_t(M) * K, -3, 3), M, K, rows16);
        std::vector<float> out(size_t(7) * n + 1, kSentinel);
        k().dequantize(tm.m, 2, 9, c0, c1, out.data());
        for (int r = 0; r < 7; ++r)
          for (int j = 0; j < n; ++j)
            ASSERT_TRUE(same_bits(out[size_t(r * n + j)], tm.deq[size_t((2 + r) * K + c0 + j)]))
                << weight_type_name(type) << (rows16 ? " rows16" : "") << " K=" << K << " columns " << c0 << ".." << c1
                << " row " << 2 + r << " column " << c0 + j;
        ASSERT_TRUE(same_bits(out.back(), kSentinel));
      }
}

// linear(): T = 1 is the matvec (quantized activations for q8/q4); T > 1 is gemm_quantized for
// q8/q4 where the set has it (quantized activations again, every token's), else gemm_weights,
// fp32 activations times dequantized panels. The shapes include a depth split into several slabs,
// more rows than one panel, rows that end inside a panel and token counts that end inside a tile;
// the planned buffers end in guards that must survive.
TEST_P(WeightTypesTest, Linear) {
  Rng rng(33);
  struct Shape {
    int T, M, K;
  };
  std::vector<Shape> shapes;
  for (int T : {1, 2, 11, 37})  // 11 and 37: 6-token tiles and a tail of 5 or 1
    for (int M : {5, 130, 16 * 3 + 7})
      for (int K : {7, 33, 100}) shapes.push_back({T, M, K});
  shapes.push_back({37, 300, 1000});  // several weight panels and strips
  shapes.push_back({9, 97, 3000});    // a long row, its last block partial
  shapes.push_back({300, 29, 3000});  // several depth slabs (one L2-sized slab of packed tokens)
  for (WeightType type : kTypes)
  for (bool rows16 : layouts(type)) {
    const std::string name = layout_name(type, rows16);
    Worst worst{name.c_str(), k().name};
    for (const auto [T, M, K] : shapes)
      for (int threads : {1, 2}) {
        const TestMatrix tm(type, rng.vec(size_t(M) * K, -1, 1), M, K, rows16);
        const std::vector<float> x = rng.vec(size_t(T) * K, -1, 1), bias = rng.vec(size_t(M), -1, 1);
        const detail::LinearNeeds need = detail::linear_needs(k(), {{M, K}}, type, T);
        GuardedScratch gs(need, threads);
        XqBuffer xb(need.quantized_k, need.quantized_rows);
        const detail::LinearCtx ctx{&k(), threads, gs.scratch.data(), xb.view(), gs.tokens};
        std::vector<float> y(size_t(T) * M);
        detail::linear(ctx, y.data(), M, x.data(), K, tm.m, bias.data(), T);
        Check c(where("linear %s%s T=%d M=%d K=%d threads=%d", weight_type_name(type),
                      rows16 ? " rows16" : "", T, M, K, threads));
        for (int t = 0; t < T; ++t) {
          const std::vector<float> row(x.begin() + t * K, x.begin() + (t + 1) * K);
          const bool xq = tm.m.quantized() && (T == 1 || k().gemm_quantized);
          const std::vector<float> xs = xq ? quantized_x(k(), row, K) : row;
          for (int m = 0; m < M; ++m) {
            double want = bias[m], mag = std::fabs(want);
            for (int j = 0; j < K; ++j) {
              want += double(tm.deq[size_t(m) * K + j]) * xs[j];
              mag += (std::fabs(tm.deq[size_t(m) * K + j]) +
                      (xq ? tm.offset() * tm.scale(m, j) : 0.0)) * std::fabs(xs[j]);
            }
            c.close(y[size_t(t) * M + m], want, dot_tol(K, mag), t, m);
          }
        }
        EXPECT_TRUE(gs.guards_intact()) << "a kernel wrote past its planned buffers";
        EXPECT_TRUE(c.result());
        worst.add(c);
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, WeightTypesTest, ::testing::ValuesIn(simd::available_kernels()),
                         [](const ::testing::TestParamInfo<const Kernels*>& info) {
                           return std::string(info.param->name);
                         });

// --- conversion ---------------------------------------------------------------------------------

// Every finite f16 survives f16 -> f32 -> f16; narrowing rounds to the nearest f16 (ties to even).
TEST(Conversion, HalfFloats) {
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;  // inf / NaN
    ASSERT_EQ(simd::f32_to_f16(simd::f16_to_f32(uint16_t(h))), h) << h;
  }
  EXPECT_EQ(simd::f16_to_f32(simd::f32_to_f16(1.0f + 0x1p-11f)), 1.0f);          // tie: to even
  EXPECT_EQ(simd::f16_to_f32(simd::f32_to_f16(1.0f + 3 * 0x1p-11f)), 1.0f + 0x1p-9f);
  EXPECT_EQ(simd::f32_to_f16(65520.0f), 0x7c00);                                 // rounds to inf
  EXPECT_EQ(simd::f16_to_f32(simd::f32_to_f16(65519.0f)), 65504.0f);
  EXPECT_EQ(simd::bf16_to_f32(simd::f32_to_bf16(1.0f + 0x1p-8f)), 1.0f);         // tie: to even
  EXPECT_EQ(simd::bf16_to_f32(simd::f32_to_bf16(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
  EXPECT_TRUE(std::isnan(simd::bf16_to_f32(simd::f32_to_bf16(std::nanf("")))));
}

// q8: |error| <= scale / 2 (scale = amax / 127 rounded to f16); q4: <= |scale| / 2, except the
// side opposite the block's extreme, where 8 levels up are clipped to 7: <= |scale|.
TEST(Conversion, BlockQuantizationError) {
  Rng rng(34);
  for (WeightType type : {WeightType::q8, WeightType::q4})
    for (int K : {1, 31, 32, 33, 100}) {
      const int M = 6;
      std::vector<float> W = rng.vec(size_t(M) * K, -2, 2);
      W[0] = 0.0f;                                  // zeros and a whole zero block still work
      if (K >= 32) std::fill(W.begin() + K, W.begin() + K + 32, 0.0f);
      const TestMatrix tm(type, W, M, K);
      for (int m = 0; m < M; ++m)
        for (int j = 0; j < K; ++j) {
          const double s = tm.scale(m, j);
          const double err = std::fabs(double(tm.deq[size_t(m) * K + j]) - W[size_t(m) * K + j]);
          ASSERT_LE(err, (type == WeightType::q8 ? 0.5 : 1.0) * s * (1 + 1e-6))
              << weight_type_name(type) << " K=" << K << " [" << m << ", " << j << "]";
        }
    }
}

// rows16 holds the same values as the row-major layout (q8 and q4), whatever the row count (a
// partial last group), converted in pieces as a Model does (slabs of rows); its padding rows stay
// zero.
TEST(Conversion, Rows16HoldsTheRowMajorValues) {
  Rng rng(37);
  for (WeightType type : {WeightType::q8, WeightType::q4})
  for (int M : {1, 16, 17, 40})
    for (int K : {1, 32, 100}) {
      SCOPED_TRACE(where("%s M=%d K=%d", weight_type_name(type), M, K));
      const std::vector<float> W = rng.vec(size_t(M) * K, -2, 2);
      const TestMatrix plain(type, W, M, K);
      const TestMatrix grouped(type, W, M, K, true);
      ASSERT_EQ(grouped.m.stored_rows(), (M + 15) / 16 * 16);
      EXPECT_EQ(grouped.deq, plain.deq) << "M=" << M << " K=" << K;
      Matrix pieces = grouped.m;
      std::vector<uint8_t> mem(pieces.bytes(), 0);
      pieces.place(mem.data());
      for (int r0 = 0; r0 < M; r0 += 7)
        ASSERT_EQ(detail::convert_rows(W.data() + size_t(r0) * K, pieces, r0, std::min(7, M - r0)), -1);
      const size_t values = size_t(pieces.stored_rows()) * pieces.row_bytes();
      EXPECT_EQ(std::memcmp(pieces.data, grouped.m.data, values), 0) << "M=" << M << " K=" << K;
      EXPECT_EQ(std::memcmp(pieces.scales, grouped.m.scales, pieces.scale_bytes()), 0)
          << "M=" << M << " K=" << K;
      for (int64_t r = M; r < pieces.stored_rows(); ++r)
        for (int64_t b = 0; b < pieces.blocks(); ++b) {
          EXPECT_EQ(pieces.scales[pieces.scale_index(r, b)], 0);
          for (int k = 0; k < pieces.chunks(); ++k)
            EXPECT_EQ(std::memcmp(pieces.chunk(r, b, k), "\0\0\0\0", 4), 0);
        }
    }
}

// The activation quantization rounds x / scale to nearest with ties to even (std::nearbyint),
// including exact ties, and pads the last block with zeros.
TEST(Conversion, ActivationQuantizationRoundsToNearestEven) {
  Rng rng(35);
  for (const Kernels* k : simd::available_kernels())
  for (int K : {1, 31, 32, 70}) {
    std::vector<float> x = rng.vec(size_t(K), -3, 3);
    x[0] = 127.0f;                                    // block 0's scale is exactly 1
    for (int j = 1; j < std::min(K, 32); j += 3) x[j] = float(j % 9) - 4.5f;  // ties
    XqBuffer b(K);
    k->quantize_rows(x.data(), K, 1, K, b.view());
    for (int64_t blk = 0; blk < simd::padded_cols(K) / simd::kBlock; ++blk) {
      float amax = 0.0f;
      for (int j = int(blk) * simd::kBlock; j < std::min<int>(K, int(blk + 1) * simd::kBlock); ++j)
        amax = std::max(amax, std::fabs(x[j]));
      const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
      ASSERT_EQ(b.d[blk], d);
      for (int j = int(blk) * simd::kBlock; j < int(blk + 1) * simd::kBlock; ++j)
        ASSERT_EQ(int(b.q[j]), j < K ? int(std::nearbyint(x[j] * id)) : 0)
            << k->name << " K=" << K << " j=" << j;
    }
    if (K > 2) EXPECT_EQ(int(b.q[1]), -4);  // -3.5 -> -4 (even), not -3
  }
}

// Values a type cannot hold are refused (the row is named), never clipped or turned into inf.
TEST(Conversion, UnrepresentableValuesAreRefused) {
  std::vector<float> W(64, 0.5f);
  std::vector<uint8_t> mem(1024);
  for (WeightType type : {WeightType::f16, WeightType::q8, WeightType::q4}) {
    for (float bad : {1e7f, std::numeric_limits<float>::infinity(), std::nanf("")}) {
      if (type == WeightType::f16 && !std::isfinite(bad)) continue;  // f16 holds inf and NaN
      std::vector<float> w = W;
      w[40] = bad;  // row 1 of [2, 32]
      Matrix m{type, 2, 32, mem.data()};
      if (m.quantized()) m.scales = reinterpret_cast<const uint16_t*>(mem.data() + 512);
      EXPECT_EQ(detail::convert_matrix(w.data(), m), 1) << weight_type_name(type) << " " << bad;
    }
  }
  // What counts is the block scale: 1e6 fits q8 (scale 1e6 / 127 = 7874 < 65504).
  std::vector<float> w = W;
  w[0] = 1e6f;
  Matrix m{WeightType::q8, 2, 32, mem.data(), reinterpret_cast<const uint16_t*>(mem.data() + 512)};
  EXPECT_EQ(detail::convert_matrix(w.data(), m), -1);
}

}  // namespace
}  // namespace mamba::test
