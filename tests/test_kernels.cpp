// Every kernel of every kernel set this CPU runs (simd::available_kernels()), and detail::linear,
// against the double-precision references in tests/reference.h on random data with fixed seeds:
// sizes that are not multiples of any vector width, channel/row ranges [c0, c1) with odd ends,
// row strides larger than the row, unaligned base pointers. Everything a kernel must not write
// (outside its range, the padding columns of strided rows, past the end of a row) is filled with a
// sentinel or keeps its input, and is checked bit for bit afterwards.
//
// Tolerances. u = 2^-24 is float's unit roundoff (round to nearest: |fl(a op b) - a op b| <= u
// |a op b|). Each check is |got - want| <= tol with tol derived per kernel from a standard error
// bound on the float computation (comments at each kernel), in terms of the *magnitude* of the
// terms the kernel added up (reference.h returns it) rather than of the result, since a sum of
// random-sign terms can cancel to almost nothing while its rounding error does not. An absolute
// floor of 1e-30 only covers results that underflow float (silu of very negative inputs); it is
// far below anything the random data here produces otherwise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/linear.h"
#include "simd/kernels.h"
#include "tests/kernel_check.h"
#include "tests/reference.h"

namespace mamba::test {
namespace {

using simd::Kernels;

class KernelsTest : public ::testing::TestWithParam<const Kernels*> {
 protected:
  const Kernels& k() const { return *GetParam(); }
};

// ---------------------------------------------------------------------------------------------
// sum (the bandwidth probe's read loop). A float sum of n terms has error below (n - 1) u times
// the sum of their magnitudes in the worst case, whatever the order of the partial sums.
TEST_P(KernelsTest, Sum) {
  Rng rng(10);
  for (int n : kSizes)
    for (int off : {0, 3}) {  // unaligned base pointers
      const std::vector<float> x = rng.vec(size_t(n) + off, -2, 2);
      double want = 0, mag = 0;
      for (int i = 0; i < n; ++i) want += x[off + i], mag += std::fabs(x[off + i]);
      EXPECT_NEAR(k().sum(x.data() + off, n), want, (n + 1) * kU * mag) << "n=" << n;
    }
  EXPECT_EQ(k().sum(nullptr, 0), 0.0f);
}

// ---------------------------------------------------------------------------------------------
// rmsnorm. The sum of n squares (all positive) has relative rounding error below n u in the worst
// case and about sqrt(n / 3) u in practice (random-sign roundings of partial sums that grow
// linearly); the rms halves it; mean, +eps, sqrt, division, two multiplications add at most 6 u.
// tol = (8 + 2 sqrt(n)) u |want| sits several times above the practical figure.
TEST_P(KernelsTest, Rmsnorm) {
  Worst worst{"rmsnorm", k().name};
  Rng rng(11);
  for (int n : kSizes)
    for (float scale : {1.0f, 1e-3f}) {  // 1e-3: mean(x^2) comparable to eps
      const int off = 3;                  // unaligned base pointers
      std::vector<float> x = rng.vec(size_t(n) + off, -2 * scale, 2 * scale);
      std::vector<float> w = rng.vec(size_t(n) + off, 0.5f, 1.5f);
      std::vector<float> y(size_t(n) + 2 * off, kSentinel);
      std::vector<double> want(static_cast<size_t>(n));
      const float eps = 1e-5f;
      k().rmsnorm(y.data() + off, x.data() + off, w.data() + off, n, eps);
      ref::rmsnorm(want.data(), x.data() + off, w.data() + off, n, eps);
      Check c(where("rmsnorm n=%d", n));
      for (int i = 0; i < n; ++i)
        c.close(y[off + i], want[i], (8 + 2 * std::sqrt(double(n))) * kU * std::fabs(want[i]), i);
      for (int i = 0; i < off; ++i) {
        c.untouched(y[i], kSentinel, i - off);
        c.untouched(y[off + n + i], kSentinel, n + i);
      }
      EXPECT_TRUE(c.result()) << "scale " << scale;
      worst.add(c);
    }
}

// ---------------------------------------------------------------------------------------------
// gemv. A float dot product of K terms (vector partial sums, horizontal add, scalar tail, bias) has
// a worst-case error of about K u sum|terms|; with round-to-nearest the roundings behave like
// independent random signs and the error is a few sqrt(K) u sum|terms| at most (Higham, Accuracy
// and Stability of Numerical Algorithms, 2nd ed., sec. 2.8/3.1). tol = 2 sqrt(K + 1) u sum|terms|
// (+1 for the bias). Row ranges [m0, m1) cover the 4-row blocks and the leftover rows.

TEST_P(KernelsTest, Gemv) {
  Worst worst{"gemv", k().name};
  Rng rng(12);
  for (int K : kSizes)
    for (int M : {1, 5, 13, 37})
      for (bool with_bias : {false, true}) {
        std::vector<float> W = rng.vec(size_t(M) * K + 1, -1, 1);  // +1: unaligned base
        std::vector<float> x = rng.vec(size_t(K) + 1, -1, 1);
        std::vector<float> bias = rng.vec(size_t(M), -1, 1);
        std::vector<double> want(static_cast<size_t>(M)), mag(static_cast<size_t>(M));
        const float* Wp = W.data() + 1;
        const float* xp = x.data() + 1;
        const float* bp = with_bias ? bias.data() : nullptr;
        ref::gemv(want.data(), mag.data(), Wp, xp, bp, K, 0, M);
        for (auto [m0, m1] : ranges(M)) {
          std::vector<float> y(size_t(M) + 2, kSentinel);  // y[1 + m]; one sentinel each side
          k().gemv(y.data() + 1, Wp, xp, bp, K, m0, m1);
          Check c(where("gemv K=%d M=%d bias=%d range [%d, %d)", K, M, int(with_bias), m0, m1));
          for (int m = -1; m <= M; ++m) {
            if (m >= m0 && m < m1) c.close(y[1 + m], want[m], dot_tol(K, mag[m]), m);
            else c.untouched(y[1 + m], kSentinel, m);
          }
          EXPECT_TRUE(c.result());
          worst.add(c);
        }
      }
}

// ---------------------------------------------------------------------------------------------
// conv1d_silu. The pre-activation b + sum of K products (K <= 4) has error at most (K + 1) u
// sum|terms| (worst case, first order); SiLU's slope is below 1.1 in magnitude, so that passes
// through almost unchanged; SiLU itself (exp within 2 ulp = 4 u, one add, one division) adds at
// most 7 u |result|. tol = 1.1 (K + 2) u sum|terms| + 16 u |want|.
TEST_P(KernelsTest, Conv1dSilu) {
  Worst worst{"conv1d_silu", k().name};
  Rng rng(13);
  for (int d : kSizes)
    for (int K = 1; K <= 4; ++K)
      for (int T : {1, 3, 10})
        for (bool with_bias : {false, true}) {
          const int ldx = d + 5, ldu = d + 3;  // strided rows
          const int rows = K - 1 + T;
          std::vector<float> xpad = rng.vec(size_t(rows) * ldx + 1, -1, 1);
          std::vector<float> w = rng.vec(size_t(K) * d + 1, -1, 1);
          std::vector<float> b = rng.vec(size_t(d) + 1, -1, 1);
          const float* xp = xpad.data() + 1;
          const float* wp = w.data() + 1;
          const float* bp = with_bias ? b.data() + 1 : nullptr;
          std::vector<double> want(size_t(T) * ldu), mag(size_t(T) * ldu);
          ref::conv1d_silu(want.data(), mag.data(), ldu, xp, ldx, wp, bp, T, K, d, 0, d);
          for (auto [c0, c1] : ranges(d)) {
            std::vector<float> u(size_t(T) * ldu + 1, kSentinel);
            k().conv1d_silu(u.data() + 1, ldu, xp, ldx, wp, bp, T, K, d, c0, c1);
            Check c(where("conv1d_silu d=%d K=%d T=%d bias=%d range [%d, %d)", d, K, T,
                          int(with_bias), c0, c1));
            c.untouched(u[0], kSentinel, -1);
            for (int t = 0; t < T; ++t)
              for (int ch = 0; ch < ldu; ++ch) {
                const size_t i = size_t(t) * ldu + ch;
                if (ch >= c0 && ch < c1)
                  c.close(u[1 + i], want[i],
                          kFloor + 1.1 * (K + 2) * kU * mag[i] + 16 * kU * std::fabs(want[i]), t, ch);
                else c.untouched(u[1 + i], kSentinel, t, ch);
              }
            EXPECT_TRUE(c.result());
            worst.add(c);
          }
        }
}

// ---------------------------------------------------------------------------------------------
// softplus_bias, in place. x = dt + bias is rounded once (u |x|); softplus has slope
// sigmoid(x) <= 1 and, for x <= 20, is within a few u of log1p(exp(x)) when exp and log1p are
// within 2 ulp; the rounding of x moves the result by sigmoid(x) u |x|, which is <= u |x| |want|
// for x < 0 (softplus(x) >= sigmoid(x) there) and for x > 0.55 (softplus(x) >= 1), and < u |want|
// in between.
// tol = (16 + 2 |x|) u |want|. Inputs range over [-40, 40] and hit the threshold's neighbourhood.
TEST_P(KernelsTest, SoftplusBias) {
  Worst worst{"softplus_bias", k().name};
  Rng rng(14);
  for (int d : kSizes)
    for (int T : {1, 3, 10}) {
      const int ld = d + 5;
      std::vector<float> dt0 = rng.vec(size_t(T) * ld + 1, -35, 35);
      std::vector<float> bias = rng.vec(size_t(d) + 1, -5, 5);
      // A few exact points: around the threshold 20 and 0.
      const float specials[] = {20.0f, 19.99f, 20.01f, 0.0f, -20.0f, 25.0f, -40.0f};
      for (int i = 0; i < int(sizeof specials / sizeof *specials) && i < d; ++i) {
        dt0[1 + size_t(i)] = specials[i];
        bias[1 + size_t(i)] = 0.0f;
      }
      const float* bp = bias.data() + 1;
      std::vector<double> want(size_t(T) * ld);
      ref::softplus_bias(want.data(), dt0.data() + 1, ld, bp, T, 0, d);
      for (auto [c0, c1] : ranges(d)) {
        std::vector<float> dt = dt0;
        k().softplus_bias(dt.data() + 1, ld, bp, T, c0, c1);
        Check c(where("softplus_bias d=%d T=%d range [%d, %d)", d, T, c0, c1));
        c.untouched(dt[0], dt0[0], -1);
        for (int t = 0; t < T; ++t)
          for (int ch = 0; ch < ld; ++ch) {
            const size_t i = 1 + size_t(t) * ld + ch;
            if (ch >= c0 && ch < c1) {
              const double x = double(dt0[i]) + double(bp[ch]);
              c.close(dt[i], want[i - 1], (16 + 2 * std::fabs(x)) * kU * std::fabs(want[i - 1]), t, ch);
            } else {
              c.untouched(dt[i], dt0[i], t, ch);
            }
          }
        EXPECT_TRUE(c.result());
        worst.add(c);
      }
    }
}

// ---------------------------------------------------------------------------------------------
// selective_scan. reference.h computes, next to the double result, a first-order bound on the
// rounding error of a float evaluation (in units of u; derivation there): the error carried from
// earlier tokens, exp's argument and result, the products and sums of each token. tol = 2 u bound,
// the factor 2 for second-order terms. Two regimes: moderate (dt in (0, 1], A in [-8, -0.05]) and
// stiff like the real model (dt up to 15, A down to -3e5, so exp(dt A) spans 1 to an underflow to
// 0). A non-zero starting state; B and C interleaved in one buffer like x_proj's output.
TEST_P(KernelsTest, SelectiveScan) {
  Worst worst{"selective_scan", k().name};
  Rng rng(15);
  for (bool stiff : {false, true})
    for (int d : kSizes)
      for (int N : {1, 5, 16})
        for (int T : {1, 3, 10}) {
          const int ldy = d + 3, ldu = d + 5, lddt = d + 7, ldbc = 2 * N + 3;
          std::vector<float> u = rng.vec(size_t(T) * ldu, -1, 1);
          std::vector<float> dt = rng.vec(size_t(T) * lddt, 1e-3f, stiff ? 15.0f : 1.0f);
          std::vector<float> A = rng.vec(size_t(N) * d, stiff ? -3.0f : std::log(0.05f),
                                         stiff ? 12.6f : std::log(8.0f));
          for (float& x : A) x = -std::exp(x);
          std::vector<float> bc = rng.vec(size_t(T) * ldbc, -1, 1);  // row t: B[N], pad, C[N], pad
          std::vector<float> D = rng.vec(size_t(d), -1, 1);
          std::vector<float> h0 = rng.vec(size_t(N) * d, -1, 1);
          simd::ScanArgs a{nullptr, nullptr, u.data(), dt.data(), A.data(), bc.data(),
                           bc.data() + N + 1, D.data(), T, d, N, ldy, ldu, lddt, ldbc};
          std::vector<double> href(h0.begin(), h0.end()), hbound(h0.size(), 0.0);
          std::vector<double> yref(size_t(T) * ldy), ybound(size_t(T) * ldy);
          ref::selective_scan(a, href.data(), yref.data(), hbound.data(), ybound.data(), 0, d);
          for (auto [c0, c1] : ranges(d)) {
            std::vector<float> h = h0, y(size_t(T) * ldy, kSentinel);
            a.h = h.data();
            a.y = y.data();
            k().selective_scan(a, c0, c1);
            Check c(where("selective_scan stiff=%d d=%d N=%d T=%d range [%d, %d)", int(stiff), d, N,
                          T, c0, c1));
            for (int n = 0; n < N; ++n)
              for (int ch = 0; ch < d; ++ch) {
                const size_t i = size_t(n) * d + ch;
                if (ch >= c0 && ch < c1) c.close(h[i], href[i], kFloor + 2 * kU * hbound[i], n, ch);
                else c.untouched(h[i], h0[i], n, ch);
              }
            for (int t = 0; t < T; ++t)
              for (int ch = 0; ch < ldy; ++ch) {
                const size_t i = size_t(t) * ldy + ch;
                if (ch >= c0 && ch < c1) c.close(y[i], yref[i], kFloor + 2 * kU * ybound[i], t, ch);
                else c.untouched(y[i], kSentinel, t, ch);
              }
            EXPECT_TRUE(c.result());
            worst.add(c);
          }
        }
}

// Two calls over T1 then T2 tokens equal one call over T1 + T2 (the state carries the sequence),
// bit for bit: same operations in the same order.
TEST_P(KernelsTest, SelectiveScanSplitsInTime) {
  Rng rng(16);
  const int d = 37, N = 5, T = 7, T1 = 3;
  std::vector<float> u = rng.vec(size_t(T) * d, -1, 1), dt = rng.vec(size_t(T) * d, 1e-3f, 1);
  std::vector<float> A = rng.vec(size_t(N) * d, -8, -0.05f), B = rng.vec(size_t(T) * N, -1, 1);
  std::vector<float> C = rng.vec(size_t(T) * N, -1, 1), D = rng.vec(size_t(d), -1, 1);
  std::vector<float> h_whole(size_t(N) * d, 0.0f), h_split = h_whole;
  std::vector<float> y_whole(size_t(T) * d), y_split(size_t(T) * d);
  simd::ScanArgs a{h_whole.data(), y_whole.data(), u.data(), dt.data(), A.data(), B.data(),
                   C.data(), D.data(), T, d, N, d, d, d, N};
  k().selective_scan(a, 0, d);
  for (int part = 0; part < 2; ++part) {
    const int t0 = part == 0 ? 0 : T1, n = part == 0 ? T1 : T - T1;
    simd::ScanArgs b{h_split.data(), y_split.data() + size_t(t0) * d, u.data() + size_t(t0) * d,
                     dt.data() + size_t(t0) * d, A.data(), B.data() + size_t(t0) * N,
                     C.data() + size_t(t0) * N, D.data(), n, d, N, d, d, d, N};
    k().selective_scan(b, 0, d);
  }
  EXPECT_EQ(0, std::memcmp(h_whole.data(), h_split.data(), h_whole.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(y_whole.data(), y_split.data(), y_whole.size() * sizeof(float)));
}

// ---------------------------------------------------------------------------------------------
// mul_silu, in place. silu(z) = z / (1 + exp(-z)): exp within 4 u relative, which the division
// damps (d log(1 + e) / d log e = e / (1 + e) <= 1), one add, one division, then the product with
// y: at most 7 u relative. tol = 16 u |want|. z includes +-30 and +-90 (exp overflow to inf must
// give -0, not NaN, below -88).
TEST_P(KernelsTest, MulSilu) {
  Worst worst{"mul_silu", k().name};
  Rng rng(17);
  for (int d : kSizes)
    for (int T : {1, 3, 10}) {
      const int ldy = d + 3, ldz = 2 * d + 1;
      std::vector<float> y0 = rng.vec(size_t(T) * ldy + 1, -3, 3);
      std::vector<float> z = rng.vec(size_t(T) * ldz + 1, -12, 12);
      const float specials[] = {30.0f, -30.0f, 90.0f, -90.0f, 0.0f};
      for (int i = 0; i < int(sizeof specials / sizeof *specials) && i < d; ++i) z[1 + size_t(i)] = specials[i];
      const float* zp = z.data() + 1;
      std::vector<double> want(size_t(T) * ldy);
      ref::mul_silu(want.data(), y0.data() + 1, ldy, zp, ldz, T, 0, d);
      for (auto [c0, c1] : ranges(d)) {
        std::vector<float> y = y0;
        k().mul_silu(y.data() + 1, ldy, zp, ldz, T, c0, c1);
        Check c(where("mul_silu d=%d T=%d range [%d, %d)", d, T, c0, c1));
        c.untouched(y[0], y0[0], -1);
        for (int t = 0; t < T; ++t)
          for (int ch = 0; ch < ldy; ++ch) {
            const size_t i = 1 + size_t(t) * ldy + ch;
            if (ch >= c0 && ch < c1) c.close(y[i], want[i - 1], kFloor + 16 * kU * std::fabs(want[i - 1]), t, ch);
            else c.untouched(y[i], y0[i], t, ch);
          }
        EXPECT_TRUE(c.result());
        worst.add(c);
      }
    }
}

// ---------------------------------------------------------------------------------------------
// detail::linear: T = 1 runs the kernel set's gemv split over threads; T > 1 runs Eigen's GEMM with
// packing buffers planned by gemm_scratch_floats, split over threads by weight rows. Same error
// model as gemv (Eigen's kernel is a blocked sum of products), same tolerance. The packing
// buffers are allocated at exactly the planned size plus a sentinel guard that must survive.
struct LinearCase {
  int T, M, K;
};

void run_linear(const Kernels& k, Worst& worst, Rng& rng, const LinearCase& lc, int threads,
                bool with_bias, int64_t plan_T, const std::vector<detail::WeightShape>& plan) {
  const int T = lc.T, M = lc.M, K = lc.K;
  const int64_t ldx = K + 3, ldy = M + 5;
  std::vector<float> x = rng.vec(size_t(T) * ldx, -1, 1);
  std::vector<float> W = rng.vec(size_t(M) * K, -1, 1);
  std::vector<float> bias = rng.vec(size_t(M), -1, 1);
  const float* bp = with_bias ? bias.data() : nullptr;

  GuardedScratch gs(detail::linear_needs(k, plan, WeightType::f32, plan_T), threads);
  std::vector<float> y(size_t(T) * ldy, kSentinel);
  detail::LinearCtx ctx{&k, threads, gs.scratch.data(), {}, gs.tokens};
  detail::linear(ctx, y.data(), ldy, x.data(), ldx, simd::f32_matrix(W.data(), M, K), bp, T);

  std::vector<double> want(size_t(T) * ldy), mag(size_t(T) * ldy);
  ref::linear(want.data(), mag.data(), ldy, x.data(), ldx, W.data(), bp, T, M, K);
  Check c(where("linear T=%d M=%d K=%d threads=%d bias=%d", T, M, K, threads, int(with_bias)));
  for (int t = 0; t < T; ++t)
    for (int m = 0; m < ldy; ++m) {
      const size_t i = size_t(t) * ldy + m;
      if (m < M) c.close(y[i], want[i], dot_tol(K, mag[i]), t, m);
      else c.untouched(y[i], kSentinel, t, m);
    }
  for (size_t j = 0; j < gs.bufs.size(); ++j)
    for (size_t g = gs.bufs[j].size() - gs.kGuard; g < gs.bufs[j].size(); ++g)
      c.untouched(gs.bufs[j][g], kSentinel, int(j), int(g));  // packing stayed within its plan
  EXPECT_TRUE(c.result());
  worst.add(c);
}

TEST_P(KernelsTest, Linear) {
  Worst worst{"linear", k().name};
  Rng rng(18);
  for (int T : {1, 2, 3, 10, 37})
    for (int M : {1, 5, 17, 48, 100})
      for (int K : {1, 7, 33, 48, 1541})
        for (int threads : {1, 2})
          for (bool with_bias : {false, true})
            run_linear(k(), worst, rng, {T, M, K}, threads, with_bias, T, {{M, K}});
}

// Shapes big enough for Eigen to block in every dimension (kc < K, mc < M, nc < T), one buffer
// plan for several shapes as a session makes it (here mamba-130m's four projections, at a
// prefill chunk of 64), used with fewer tokens than planned too.
TEST_P(KernelsTest, LinearPlannedForSeveralShapes) {
  Worst worst{"linear (130m shapes)", k().name};
  Rng rng(19);
  const std::vector<detail::WeightShape> plan = {{3072, 768}, {80, 1536}, {1536, 48}, {768, 1536}};
  const LinearCase cases[] = {{64, 3072, 768}, {64, 80, 1536}, {64, 1536, 48}, {64, 768, 1536},
                              {5, 3072, 768}, {1, 768, 1536}};
  for (const LinearCase& lc : cases) run_linear(k(), worst, rng, lc, 2, lc.M == 3072, 64, plan);
}

// A session plans the packing buffers for its largest chunk and then often runs fewer tokens,
// for which Eigen's heuristic may choose a taller or wider block than it did for the planned
// shape (it blocks rows differently for small problems): PlannedBlocking then shrinks mc or nc
// to fit. These shapes need that (checked against Eigen 3.4's heuristic on a 32 KiB L1); the
// guards behind the buffers show the packing stayed within the plan.
TEST_P(KernelsTest, LinearFewerTokensThanPlanned) {
  Worst worst{"linear (fewer tokens than planned)", k().name};
  Rng rng(20);
  const LinearCase shapes[] = {{0, 17, 1}, {0, 48, 100}, {0, 5, 100}, {0, 100, 1541}, {0, 1536, 100}};
  for (int64_t plan_T : {64, 512})
    for (LinearCase lc : shapes)
      for (int T : {2, 10, 37, 300}) {
        if (T > plan_T) continue;
        lc.T = T;
        for (int threads : {1, 2})
          run_linear(k(), worst, rng, lc, threads, threads == 2, plan_T, {{lc.M, lc.K}});
      }
}

INSTANTIATE_TEST_SUITE_P(Isa, KernelsTest, ::testing::ValuesIn(simd::available_kernels()),
                         [](const ::testing::TestParamInfo<const Kernels*>& info) {
                           return std::string(info.param->name);
                         });

// The sets themselves: scalar always last, each name once, kernels() one of them.
TEST(KernelSets, Available) {
  const auto sets = simd::available_kernels();
  ASSERT_FALSE(sets.empty());
  EXPECT_STREQ(sets.back()->name, "scalar");
  for (size_t i = 0; i < sets.size(); ++i)
    for (size_t j = i + 1; j < sets.size(); ++j) EXPECT_STRNE(sets[i]->name, sets[j]->name);
  EXPECT_NE(std::find(sets.begin(), sets.end(), &simd::kernels()), sets.end());
}

}  // namespace
}  // namespace mamba::test
