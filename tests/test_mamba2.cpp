// Mamba-2 beyond the fixtures: the chunked SSD prefill equals the plain recurrence (the decode
// path) at lengths around chunk_size, whatever the session's prefill chunk; and the two SSD
// kernels equal a double-precision reference on every kernel set.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "mamba/mamba.h"
#include "simd/kernels.h"
#include "tests/random_checkpoint.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

std::shared_ptr<const Model> random_mamba2() {
  static std::shared_ptr<const Model> model = [] {
    RandomCheckpoint rc;
    rc.mamba2 = true;
    rc.d_model = 128;
    rc.head_dim = 16;  // 16 heads
    rc.n_groups = 2;
    rc.d_state = 32;
    rc.chunk_size = 16;
    rc.vocab_size = 300;
    rc.dt_limit_max = 0.08f;
    ScratchDir tmp;  // the weights are copied at load: the files may go
    auto m = Model::load(rc.write(tmp));
    EXPECT_TRUE(m.ok()) << m.message();
    return m.ok() ? m.value() : nullptr;
  }();
  return model;
}

std::unique_ptr<Session> session(int chunk, int threads) {
  SessionLimits lim;
  lim.prefill_chunk = chunk;
  lim.n_threads = threads;
  auto s = Session::create(random_mamba2(), lim);
  EXPECT_TRUE(s.ok()) << s.message();
  return std::move(s.value());
}

// chunk_size is 16: lengths 1, 15, 16, 17 and a long one that crosses many chunk boundaries.
TEST(Mamba2Ssd, ChunkedPrefillEqualsRecurrence) {
  ASSERT_TRUE(random_mamba2());
  const Config& c = random_mamba2()->config();
  const size_t V = size_t(c.vocab_size);
  std::mt19937 rng(5);
  for (int threads : {1, 2})
    for (size_t T : {1, 15, 16, 17, 100}) {
      std::vector<int32_t> ids(T);
      for (auto& id : ids) id = int32_t(rng() % V);
      // The recurrence, one token at a time.
      auto rec = session(1, threads);
      std::vector<float> want(T * V);
      for (size_t t = 0; t < T; ++t) {
        auto r = rec->step(ids[t]);
        ASSERT_TRUE(r.ok());
        std::copy(r.value(), r.value() + V, want.begin() + t * V);
      }
      // Chunked SSD with SSD chunks cut by the session's prefill chunk in different places.
      for (int chunk : {7, 16, 33, 128}) {
        auto ssd = session(chunk, threads);
        std::vector<float> got(T * V);
        ASSERT_TRUE(ssd->prefill(ids.data(), T, got.data()).ok());
        EXPECT_TRUE(all_close(got, want)) << "T=" << T << " prefill_chunk=" << chunk;
        for (int l = 0; l < c.n_layer; ++l) {
          const size_t n = size_t(c.n_heads) * c.head_dim * c.d_state;
          EXPECT_TRUE(all_close(ssd->ssm_state(l), rec->ssm_state(l), n)) << "ssm layer " << l;
          EXPECT_TRUE(all_close(ssd->conv_state(l), rec->conv_state(l),
                                size_t(c.d_conv - 1) * c.conv_dim()))
              << "conv layer " << l;
        }
      }
    }
}

// --- kernels against double precision ----------------------------------------------------

class SsdKernels : public ::testing::TestWithParam<const simd::Kernels*> {};

TEST_P(SsdKernels, StepMatchesReference) {
  const simd::Kernels& k = *GetParam();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int N : {1, 5, 16, 17, 33, 128})
    for (int G : {1, 2}) {
      const int H = 4, P = 3, T = 3, ldx = H * P + 3, ldbc = 2 * G * N + 1, ldy = H * P + 2;
      std::vector<float> h(size_t(H) * P * N), x(size_t(T) * ldx), dt(size_t(T) * H),
          A(H), D(H), BC(size_t(T) * ldbc), y(size_t(T) * ldy, -7.0f);
      for (auto* v : {&h, &x, &BC, &D}) for (float& f : *v) f = u(rng);
      for (float& f : dt) f = 0.5f * (u(rng) + 1);
      for (float& f : A) f = -1.0f - 3.0f * (u(rng) + 1);
      std::vector<double> hr(h.begin(), h.end());
      const simd::SsdArgs a{h.data(), y.data(), x.data(), dt.data(), A.data(), BC.data(),
                            BC.data() + G * N, D.data(), T, H, P, N, G, ldy, ldx, H, ldbc};
      k.ssd_step(a, 0, H);
      for (int t = 0; t < T; ++t)
        for (int hd = 0; hd < H; ++hd) {
          const int g = hd / (H / G);
          const double d = dt[size_t(t) * H + hd], dA = std::exp(d * A[size_t(hd)]);
          for (int p = 0; p < P; ++p) {
            const double xp = x[size_t(t) * ldx + hd * P + p];
            double acc = 0, mag = 0;
            for (int n = 0; n < N; ++n) {
              double& s = hr[(size_t(hd) * P + p) * N + n];
              s = dA * s + d * xp * BC[size_t(t) * ldbc + g * N + n];
              acc += s * BC[size_t(t) * ldbc + G * N + g * N + n];
              mag += std::fabs(s * BC[size_t(t) * ldbc + G * N + g * N + n]);
            }
            const double want = acc + D[size_t(hd)] * xp;
            // float rounding of N products and sums: a few ulps of the magnitude.
            EXPECT_NEAR(y[size_t(t) * ldy + hd * P + p], want, 1e-6 * (mag + 1) * std::sqrt(N))
                << k.name << " N=" << N << " t=" << t << " h=" << hd << " p=" << p;
          }
        }
      for (size_t i = 0; i < h.size(); ++i) EXPECT_NEAR(h[i], hr[i], 1e-5) << k.name << " state";
      for (int t = 0; t < T; ++t)  // padding columns untouched
        for (int j = H * P; j < ldy; ++j) EXPECT_EQ(y[size_t(t) * ldy + j], -7.0f);
    }
}

TEST_P(SsdKernels, DecayMaskMatchesReference) {
  const simd::Kernels& k = *GetParam();
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(0, 1);
  for (int L : {1, 2, 5, 16, 17, 33}) {
    std::vector<float> G(size_t(L) * L), cs(static_cast<size_t>(L)), dt(static_cast<size_t>(L)),
        M(size_t(L) * L, 9.0f);
    for (float& f : G) f = 2 * u(rng) - 1;
    float acc = 0;
    for (int t = 0; t < L; ++t) {
      dt[size_t(t)] = u(rng);
      cs[size_t(t)] = acc -= 2 * u(rng);  // a cumulative sum of negative dt * A
    }
    k.ssd_decay_mask(M.data(), G.data(), cs.data(), dt.data(), L);
    for (int t = 0; t < L; ++t)
      for (int s = 0; s < L; ++s) {
        const double want = s <= t ? double(G[size_t(t) * L + s]) *
                                         std::exp(double(cs[size_t(t)]) - cs[size_t(s)]) * dt[size_t(s)]
                                   : 0.0;
        EXPECT_NEAR(M[size_t(t) * L + s], want, 1e-6 * std::fabs(want) + 1e-7)
            << k.name << " L=" << L << " t=" << t << " s=" << s;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(AllKernelSets, SsdKernels,
                         ::testing::ValuesIn(simd::available_kernels()),
                         [](const auto& info) { return std::string(info.param->name); });

}  // namespace
}  // namespace mamba::test
