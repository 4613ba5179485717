// The GPU prefill checks, written once for anything that prefills a Session the way GpuPrefill
// does: tests/test_gpu_emulated.cpp runs them on gpu/engine.h over the CPU stand-in for the device
// (every build), tests/test_gpu.cpp on a real GPU through the public GpuPrefill (CUDA builds).
//
// Tolerances, from tests/data/fixtures/README.md: fp32 mode must meet the fp32 rule
// (|got - want| <= 2e-4 + 1e-4 |want|) against the fixtures and the CPU path. bf16 / f16 modes round
// the projection weights and their inputs to 16 bits, so they are held to that README's rule for
// "bf16 activations / GEMM outputs": logits max abs error <= 0.75 and every row's cosine similarity
// >= 0.999, states max abs error <= 5% of the tensor's max abs, the same top token wherever the
// reference's top-1/top-2 margin is >= 1, and greedy ids equal up to the first step whose
// expected margin is below 1.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mamba/gpu.h"
#include "mamba/mamba.h"
#include "tests/random_checkpoint.h"
#include "tests/test_util.h"

namespace mamba::test {

// The README's rule for 16-bit arithmetic (see above).
inline constexpr double kHalfLogitsMaxAbs = 0.75, kHalfMinCosine = 0.999, kHalfStateFraction = 0.05,
                        kHalfTop1Margin = 1.0;

inline bool is_half(GpuPrecision p) { return p != GpuPrecision::fp32; }

// Logits [rows, V]: the fp32 rule, or for 16-bit modes the README's logits rule.
inline ::testing::AssertionResult logits_close(const float* got, const float* want, size_t rows,
                                               size_t V, GpuPrecision p) {
  if (!is_half(p)) return all_close(got, want, rows * V);
  double worst = 0, min_cos = 1;
  for (size_t r = 0; r < rows; ++r) {
    double gw = 0, gg = 0, ww = 0;
    for (size_t i = r * V; i < (r + 1) * V; ++i) {
      worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
      if (std::isnan(got[i])) worst = INFINITY;
      gw += double(got[i]) * want[i];
      gg += double(got[i]) * got[i];
      ww += double(want[i]) * want[i];
    }
    min_cos = std::min(min_cos, gw / std::sqrt(gg * ww));
  }
  if (worst <= kHalfLogitsMaxAbs && min_cos >= kHalfMinCosine)
    return ::testing::AssertionSuccess() << "max abs diff " << worst << ", min cosine " << min_cos;
  return ::testing::AssertionFailure() << "max abs diff " << worst << " (bound "
                                       << kHalfLogitsMaxAbs << "), min row cosine " << min_cos
                                       << " (bound " << kHalfMinCosine << ")";
}

// A state tensor: the fp32 rule, or max abs error <= 5% of the reference's max abs.
inline ::testing::AssertionResult state_close(const float* got, const float* want, size_t n,
                                              GpuPrecision p) {
  if (!is_half(p)) return all_close(got, want, n);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
    if (std::isnan(got[i])) worst = INFINITY;
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  if (worst <= kHalfStateFraction * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs diff " << worst << " > "
                                       << kHalfStateFraction << " x max abs " << scale;
}

class Prefiller {
 public:
  virtual ~Prefiller() = default;
  virtual Result<const float*> prefill(Session& s, const int32_t* ids, size_t n,
                                       float* all_logits) = 0;
};

struct GpuCase {
  GpuPrecision precision = GpuPrecision::fp32;
  int max_chunk = 128;
  int scan_segment = 64;  // Mamba-1 scan segment (only the emulation can change it)
};

using MakePrefiller = std::function<Result<std::unique_ptr<Prefiller>>(
    std::shared_ptr<const Model>, const GpuLimits&, const GpuCase&)>;

inline std::string describe(const GpuCase& g) {
  return std::string(to_string(g.precision)) + ", max_chunk " + std::to_string(g.max_chunk) +
         ", scan_segment " + std::to_string(g.scan_segment);
}

inline std::unique_ptr<Session> new_session(const std::shared_ptr<const Model>& m, int chunk = 64) {
  SessionLimits lim;
  lim.prefill_chunk = chunk;
  auto s = Session::create(m, lim);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(s.value()) : nullptr;
}

inline std::unique_ptr<Prefiller> new_prefiller(const MakePrefiller& make,
                                                const std::shared_ptr<const Model>& m,
                                                const GpuCase& g) {
  GpuLimits lim;
  lim.max_chunk = g.max_chunk;
  lim.precision = g.precision;
  lim.all_logits = true;
  auto p = make(m, lim, g);
  EXPECT_TRUE(p.ok()) << p.message();
  return p.ok() ? std::move(p.value()) : nullptr;
}

// The margin of the top token over the runner-up.
inline double top_margin(const float* logits, size_t V) {
  float a = -INFINITY, b = -INFINITY;
  for (size_t i = 0; i < V; ++i)
    if (logits[i] > a) { b = a; a = logits[i]; }
    else if (logits[i] > b) b = logits[i];
  return double(a) - double(b);
}

// Every row's top token agrees with the reference's, except where the reference's margin is
// below `min_margin` (a near tie that rounding may break either way).
inline ::testing::AssertionResult same_top1(const float* got, const float* want, size_t rows,
                                            size_t V, double min_margin) {
  for (size_t r = 0; r < rows; ++r) {
    const float* g = got + r * V;
    const float* w = want + r * V;
    const size_t ig = size_t(std::max_element(g, g + V) - g);
    const size_t iw = size_t(std::max_element(w, w + V) - w);
    if (ig != iw && top_margin(w, V) >= min_margin)
      return ::testing::AssertionFailure() << "row " << r << ": top token " << ig << " vs " << iw
                                           << " (reference margin " << top_margin(w, V) << ")";
  }
  return ::testing::AssertionSuccess();
}

inline double top1_margin_needed(GpuPrecision p) { return is_half(p) ? kHalfTop1Margin : 0.0; }

inline void expect_same_states(const Session& got, const Session& want, GpuPrecision p,
                               const std::string& what) {
  const Config& c = want.model().config();
  const size_t conv_n = size_t(c.d_conv - 1) * c.conv_dim(), ssm_n = size_t(c.d_state) * c.d_inner;
  for (int l = 0; l < c.n_layer; ++l) {
    EXPECT_TRUE(state_close(got.conv_state(l), want.conv_state(l), conv_n, p))
        << what << ": conv_state of layer " << l;
    EXPECT_TRUE(state_close(got.ssm_state(l), want.ssm_state(l), ssm_n, p))
        << what << ": ssm_state of layer " << l;
  }
}

// A model, a prefiller for it and two sessions: one for the GPU prefill, one for the CPU path.
struct GpuRun {
  std::shared_ptr<const Model> model;
  size_t V = 0;
  std::unique_ptr<Prefiller> gpu;
  std::unique_ptr<Session> s, cpu;

  // False (with a failure recorded) if any of them cannot be made.
  bool open(const std::string& dir, const MakePrefiller& make, const GpuCase& g) {
    auto m = Model::load(dir);
    EXPECT_TRUE(m.ok()) << m.message();
    if (!m.ok()) return false;
    model = m.value();
    V = size_t(model->config().vocab_size);
    gpu = new_prefiller(make, model, g);
    s = new_session(model);
    cpu = new_session(model);
    return gpu && s && cpu;
  }
};

// A fixture through the GPU prefill: every position's logits against the fixture (and the top
// token), the states against the CPU path's, then CPU decode from the handed-over state: the
// fixture's decode logits and greedy ids.
inline void check_fixture(const std::string& fixture, const MakePrefiller& make, const GpuCase& g) {
  SCOPED_TRACE(fixture + ", " + describe(g));
  const Expected e(fixture);
  GpuRun fx;
  ASSERT_TRUE(fx.open(fixture_dir(fixture), make, g));
  const size_t V = fx.V;
  const GpuPrecision p = g.precision;
  auto& gpu = fx.gpu;
  auto &s = fx.s, &cpu = fx.cpu;

  const auto ids = e.ids("input_ids");
  const size_t T = ids.size();
  const auto want = e.f32("prefill_logits");
  std::vector<float> logits(T * V);
  auto r = gpu->prefill(*s, ids.data(), T, logits.data());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(logits_close(logits.data(), want.data(), T, V, p)) << "prefill logits";
  EXPECT_TRUE(same_top1(logits.data(), want.data(), T, V, top1_margin_needed(p)));
  EXPECT_TRUE(logits_close(r.value(), want.data() + (T - 1) * V, 1, V, p)) << "last logits";
  EXPECT_EQ(r.value(), s->logits());
  EXPECT_EQ(s->n_past(), int64_t(T));
  ASSERT_TRUE(cpu->prefill(ids.data(), T).ok());
  expect_same_states(*s, *cpu, p, "after the GPU prefill");

  // CPU decode continues from the GPU's state.
  const auto dec = e.ids("decode_ids");
  const auto want_dec = e.f32("decode_logits");
  for (size_t j = 0; j < dec.size(); ++j) {
    auto d = s->step(dec[j]);
    ASSERT_TRUE(d.ok()) << d.message();
    EXPECT_TRUE(logits_close(d.value(), want_dec.data() + j * V, 1, V, p)) << "decode step " << j;
  }
  // Greedy: all ids (fp32), or up to the first step with an expected margin below 1 (16-bit).
  s->reset();
  auto sampler = Sampler::create(int(V), SamplerParams{});
  ASSERT_TRUE(sampler.ok());
  const auto want_ids = e.ids("greedy_ids");
  const auto greedy_logits = e.f32("greedy_logits");
  r = gpu->prefill(*s, ids.data(), T, nullptr);
  for (size_t j = 0; j < want_ids.size(); ++j) {
    ASSERT_TRUE(r.ok()) << r.message();
    if (is_half(p) && top_margin(greedy_logits.data() + j * V, V) < kHalfTop1Margin) break;
    const int32_t id = sampler->sample(r.value());
    ASSERT_EQ(id, want_ids[j]) << "greedy step " << j << " after the GPU prefill";
    r = s->step(id);
  }
}

// The short prompt (fewer tokens than d_conv - 1: the conv state keeps zero rows) and a prompt
// continued on the GPU after a CPU prefill of its first k tokens, and in uneven GPU pieces.
inline void check_fixture_pieces(const std::string& fixture, const MakePrefiller& make,
                                 const GpuCase& g) {
  SCOPED_TRACE(fixture + ", " + describe(g));
  const Expected e(fixture);
  GpuRun fx;
  ASSERT_TRUE(fx.open(fixture_dir(fixture), make, g));
  const size_t V = fx.V;
  const GpuPrecision p = g.precision;
  auto& gpu = fx.gpu;
  auto &s = fx.s, &cpu = fx.cpu;

  const auto short_ids = e.ids("short_input_ids");
  std::vector<float> logits(short_ids.size() * V);
  ASSERT_TRUE(gpu->prefill(*s, short_ids.data(), short_ids.size(), logits.data()).ok());
  EXPECT_TRUE(logits_close(logits.data(), e.f32("short_prefill_logits").data(), short_ids.size(),
                           V, p))
      << "short prompt";
  ASSERT_TRUE(cpu->prefill(short_ids.data(), short_ids.size()).ok());
  expect_same_states(*s, *cpu, p, "short prompt");

  const auto ids = e.ids("input_ids");
  const size_t T = ids.size();
  const auto want = e.f32("prefill_logits");
  for (size_t k : {size_t(1), size_t(5), T - 1}) {
    s->reset();
    std::vector<float> rest((T - k) * V);
    ASSERT_TRUE(s->prefill(ids.data(), k).ok());  // CPU
    auto r = gpu->prefill(*s, ids.data() + k, T - k, rest.data());
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(logits_close(rest.data(), want.data() + k * V, T - k, V, p))
        << "CPU prefill(" << k << ") then GPU prefill of the rest";
    EXPECT_EQ(s->n_past(), int64_t(T));
  }
  s->reset();
  std::vector<float> all(T * V);
  size_t at = 0;
  for (size_t piece : {size_t(2), size_t(9), T - 11}) {
    ASSERT_TRUE(gpu->prefill(*s, ids.data() + at, piece, all.data() + at * V).ok());
    at += piece;
  }
  EXPECT_TRUE(logits_close(all.data(), want.data(), T, V, p)) << "GPU prefill in pieces 2, 9, rest";
}

// A random checkpoint: GPU vs CPU on every position's logits, the states, then a few CPU steps.
inline void check_random(const RandomCheckpoint& rc, const std::string& tag, size_t n_tokens,
                         const MakePrefiller& make, const GpuCase& g) {
  SCOPED_TRACE(tag + ", " + std::to_string(n_tokens) + " tokens, " + describe(g));
  const std::string dir = rc.write(tag);
  GpuRun fx;
  ASSERT_TRUE(fx.open(dir, make, g));
  const size_t V = fx.V;
  const GpuPrecision p = g.precision;
  auto& gpu = fx.gpu;
  auto &s = fx.s, &cpu = fx.cpu;
  std::vector<int32_t> ids(n_tokens);
  for (size_t i = 0; i < n_tokens; ++i) ids[i] = int32_t((i * 7919 + 13) % V);
  std::vector<float> got(n_tokens * V), want(n_tokens * V);
  auto r = gpu->prefill(*s, ids.data(), ids.size(), got.data());
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_TRUE(cpu->prefill(ids.data(), ids.size(), want.data()).ok());
  EXPECT_TRUE(logits_close(got.data(), want.data(), n_tokens, V, p)) << "prefill logits";
  EXPECT_TRUE(same_top1(got.data(), want.data(), n_tokens, V, top1_margin_needed(p)));
  expect_same_states(*s, *cpu, p, "after the prefill");
  for (int32_t id : {1, 2, 3}) {
    auto a = s->step(id);
    auto b = cpu->step(id);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(logits_close(a.value(), b.value(), 1, V, p)) << "step after the hand-off";
  }
  std::filesystem::remove_all(dir);
}

// Bad input: an id out of range, a session of another model, all_logits not planned. Each fails
// with a message and leaves the session as it was.
inline void check_bad_input(const MakePrefiller& make) {
  auto model = Model::load(fixture_dir("mamba1-tiny"));
  auto other = Model::load(fixture_dir("mamba1-tiny"));
  ASSERT_TRUE(model.ok() && other.ok());
  const auto& m = model.value();
  GpuCase g;
  auto gpu = new_prefiller(make, m, g);
  auto s = new_session(m);
  ASSERT_TRUE(gpu && s);
  const int32_t good[3] = {1, 2, 3};
  ASSERT_TRUE(s->prefill(good, 3).ok());
  const std::vector<float> before(s->ssm_state(0), s->ssm_state(0) + 16 * 128);

  const int32_t bad[3] = {1, 512, 3};
  auto r = gpu->prefill(*s, bad, 3, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("token id 512 at position 1"), std::string::npos) << r.message();
  r = gpu->prefill(*s, good, 0, nullptr);
  EXPECT_FALSE(r.ok());
  r = gpu->prefill(*s, nullptr, 3, nullptr);
  EXPECT_FALSE(r.ok());
  auto s_other = new_session(other.value());
  r = gpu->prefill(*s_other, good, 3, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("another Model"), std::string::npos) << r.message();
  EXPECT_EQ(s->n_past(), 3);
  EXPECT_EQ(std::vector<float>(s->ssm_state(0), s->ssm_state(0) + 16 * 128), before);

  GpuLimits lim;  // all_logits not planned
  lim.precision = GpuPrecision::fp32;
  auto plain = make(m, lim, g);
  ASSERT_TRUE(plain.ok()) << plain.message();
  std::vector<float> all(3 * 512);
  r = (*plain)->prefill(*s, good, 3, all.data());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("all_logits"), std::string::npos) << r.message();

  lim.max_chunk = 0;
  auto zero = make(m, lim, g);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.message().find("max_chunk"), std::string::npos) << zero.message();
}

// "generated/mamba1-odd" -> "generated_mamba1_odd": a test name for a fixture parameter.
inline std::string fixture_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& ch : n)
    if (ch == '-' || ch == '/') ch = '_';
  return n;
}

// The fixtures every check runs on.
inline const std::vector<std::string>& gpu_fixtures() {
  static const std::vector<std::string> f = {
      "mamba1-tiny", "mamba1-tiny-bf16", "mamba1-tiny-sharded", "generated/mamba1-bias-k3",
      "generated/mamba1-odd", "generated/mamba1-k1", "mamba1-tiny-fp16", "mamba2-tiny",
      "mamba2-groups2", "generated/mamba2-groups4-clamp", "generated/mamba2-odd",
      "generated/mamba2-mlp"};
  return f;
}

}  // namespace mamba::test
