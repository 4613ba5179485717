// The GPU prefill checks, written once for anything that prefills a Session the way GpuPrefill
// does: tests/test_gpu_emulated.cpp runs them on gpu/engine.h over the CPU stand-in for the device
// (every build), tests/test_gpu.cpp on a real GPU through the public GpuPrefill (CUDA builds).
//
// Tolerances. fp32 mode must meet the fixtures' fp32 rule (tests/data/fixtures/README.md:
// |got - want| <= 2e-4 + 1e-4 |want|) against the fixtures and against the CPU path. bf16 / f16
// modes round the projection weights and their inputs to 16 bits:
//   - on the fixtures they are held to that README's rule for "bf16 activations / GEMM outputs":
//     logits max abs error <= 0.75 and every row's cosine similarity >= 0.999, states max abs error
//     <= 5% of the tensor's max abs, the same top token wherever the reference's top-1/top-2
//     margin is >= 1, greedy ids equal up to the first step whose expected margin is below 1;
//   - on deep random checkpoints at released shapes (24 layers; logits up to ~100) the README's
//     absolute 0.75 does not scale, so the same rule is taken relative to the logits' size: max
//     abs error <= 5% of the largest |logit| (bf16 measured 2-3% on the CPU emulation of 24-layer
//     mamba-130m / mamba2-130m shapes), row cosine >= 0.999 (measured >= 0.9996), states within
//     10% of their max abs (measured up to 7.5%), the same top token where the margin is >= 5% of
//     the largest |logit|.
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

// A rule for the 16-bit modes (see above): bounds are abs + rel * (largest |reference value|).
struct HalfRule {
  double logits_abs, logits_rel, min_cosine, state_fraction, top1_abs, top1_rel;
  double logits_bound(double scale) const { return logits_abs + logits_rel * scale; }
  double top1_margin(double scale) const { return top1_abs + top1_rel * scale; }
};
inline constexpr HalfRule kFixtureHalfRule{0.75, 0.0, 0.999, 0.05, 1.0, 0.0};
inline constexpr HalfRule kDeepHalfRule{0.0, 0.05, 0.999, 0.10, 0.0, 0.05};

inline bool is_half(GpuPrecision p) { return p != GpuPrecision::fp32; }

inline double max_abs(const float* v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(v[i])));
  return m;
}

// Logits [rows, V]: the fp32 rule, or for 16-bit modes the half rule.
inline ::testing::AssertionResult logits_close(const float* got, const float* want, size_t rows,
                                               size_t V, GpuPrecision p,
                                               const HalfRule& rule = kFixtureHalfRule) {
  if (!is_half(p)) return all_close(got, want, rows * V);
  const double scale = max_abs(want, rows * V), bound = rule.logits_bound(scale);
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
  auto r = worst <= bound && min_cos >= rule.min_cosine ? ::testing::AssertionSuccess()
                                                         : ::testing::AssertionFailure();
  return r << "max abs diff " << worst << " (bound " << bound << "), min row cosine " << min_cos
           << " (bound " << rule.min_cosine << "), max |logit| " << scale;
}

// A state tensor: the fp32 rule, or max abs error <= state_fraction of the reference's max abs.
inline ::testing::AssertionResult state_close(const float* got, const float* want, size_t n,
                                              GpuPrecision p,
                                              const HalfRule& rule = kFixtureHalfRule) {
  if (!is_half(p)) return all_close(got, want, n);
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
    if (std::isnan(got[i])) worst = INFINITY;
  }
  const double scale = max_abs(want, n);
  if (worst <= rule.state_fraction * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs diff " << worst << " > "
                                       << rule.state_fraction << " x max abs " << scale;
}

class Prefiller {
 public:
  virtual ~Prefiller() = default;
  virtual Result<const float*> prefill(Session& s, int slot, const int32_t* ids, size_t n,
                                       float* all_logits) = 0;
  Result<const float*> prefill(Session& s, const int32_t* ids, size_t n, float* all_logits) {
    return prefill(s, 0, ids, n, all_logits);
  }
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

// The reference margin above which the top token must agree: 0 (always) in fp32.
inline double top1_margin_needed(GpuPrecision p, const float* want, size_t n,
                                 const HalfRule& rule = kFixtureHalfRule) {
  return is_half(p) ? rule.top1_margin(max_abs(want, n)) : 0.0;
}

inline void expect_same_states(const Session& got, const Session& want, GpuPrecision p,
                               const std::string& what, const HalfRule& rule = kFixtureHalfRule) {
  const Config& c = want.model().config();
  const size_t conv_n = size_t(c.d_conv - 1) * c.conv_dim(), ssm_n = size_t(c.d_state) * c.d_inner;
  for (int l = 0; l < c.n_layer; ++l) {
    EXPECT_TRUE(state_close(got.conv_state(l), want.conv_state(l), conv_n, p, rule))
        << what << ": conv_state of layer " << l;
    EXPECT_TRUE(state_close(got.ssm_state(l), want.ssm_state(l), ssm_n, p, rule))
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
  EXPECT_TRUE(same_top1(logits.data(), want.data(), T, V, top1_margin_needed(p, want.data(), T * V)));
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
    if (is_half(p) && top_margin(greedy_logits.data() + j * V, V) < kFixtureHalfRule.top1_abs)
      break;
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

// A random checkpoint (written once): for each prompt length and each case, GPU vs CPU on every
// position's logits and the states, then CPU steps from the handed-over state.
inline void check_random(const RandomCheckpoint& rc, const std::string& tag,
                         const std::vector<size_t>& lengths, const MakePrefiller& make,
                         const std::vector<GpuCase>& cases) {
  ScratchDir tmp;  // tag names the case in failures
  const std::string dir = rc.write(tmp);
  auto model = Model::load(dir);
  ASSERT_TRUE(model.ok()) << model.message();
  const auto& m = model.value();
  const size_t V = size_t(m->config().vocab_size);
  const std::vector<int32_t> step_ids = {1, 2, 3};
  for (size_t n : lengths) {
    std::vector<int32_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = int32_t((i * 7919 + 13) % V);
    // The CPU path: every position's logits, the state after the prompt, then the steps' logits.
    auto cpu = new_session(m), cpu_steps = new_session(m);
    ASSERT_TRUE(cpu && cpu_steps);
    std::vector<float> want(n * V), want_steps;
    ASSERT_TRUE(cpu->prefill(ids.data(), n, want.data()).ok());
    ASSERT_TRUE(cpu_steps->prefill(ids.data(), n).ok());
    for (int32_t id : step_ids) {
      auto r = cpu_steps->step(id);
      ASSERT_TRUE(r.ok());
      want_steps.insert(want_steps.end(), r.value(), r.value() + V);
    }
    for (const GpuCase& g : cases) {
      SCOPED_TRACE(tag + ", " + std::to_string(n) + " tokens, " + describe(g));
      const GpuPrecision p = g.precision;
      auto gpu = new_prefiller(make, m, g);
      auto s = new_session(m);
      ASSERT_TRUE(gpu && s);
      std::vector<float> got(n * V);
      auto r = gpu->prefill(*s, ids.data(), n, got.data());
      ASSERT_TRUE(r.ok()) << r.message();
      const HalfRule& rule = kDeepHalfRule;
      EXPECT_TRUE(logits_close(got.data(), want.data(), n, V, p, rule)) << "prefill logits";
      EXPECT_TRUE(same_top1(got.data(), want.data(), n, V,
                            top1_margin_needed(p, want.data(), n * V, rule)));
      expect_same_states(*s, *cpu, p, "after the prefill", rule);
      for (size_t j = 0; j < step_ids.size(); ++j) {
        auto st = s->step(step_ids[j]);
        ASSERT_TRUE(st.ok());
        EXPECT_TRUE(logits_close(st.value(), want_steps.data() + j * V, 1, V, p, rule))
            << "step " << j << " after the hand-off";
      }
    }
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

  r = gpu->prefill(*s, 1, good, 3, nullptr);  // a one-slot session
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("slot 1 is out of range [0, 1)"), std::string::npos) << r.message();

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

// A multi-sequence session: a GPU prefill into slot 2 gives that slot the CPU's logits and state
// and leaves the other slots as they were.
inline void check_slots(const MakePrefiller& make) {
  auto model = Model::load(fixture_dir("mamba2-groups2"));
  ASSERT_TRUE(model.ok());
  const auto& m = model.value();
  const size_t V = size_t(m->config().vocab_size);
  SessionLimits lim;
  lim.max_slots = 3;
  auto s = Session::create(m, lim), cpu = Session::create(m, lim);
  ASSERT_TRUE(s.ok() && cpu.ok());
  auto gpu = new_prefiller(make, m, GpuCase{});
  ASSERT_TRUE(gpu);
  const Expected e("mamba2-groups2");
  const auto ids = e.ids("input_ids");
  ASSERT_TRUE((*s)->prefill(0, ids.data(), 4).ok());  // slot 0 holds another sequence
  const size_t ssm_n = size_t(m->config().d_state) * size_t(m->config().d_inner);
  const std::vector<float> before((*s)->ssm_state(1, 0), (*s)->ssm_state(1, 0) + ssm_n);
  auto r = gpu->prefill(**s, 2, ids.data(), ids.size(), nullptr);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_TRUE((*cpu)->prefill(2, ids.data(), ids.size()).ok());
  EXPECT_TRUE(all_close((*s)->logits(2), (*cpu)->logits(2), V));
  EXPECT_EQ(r.value(), (*s)->logits(2));
  EXPECT_EQ((*s)->n_past(2), int64_t(ids.size()));
  EXPECT_EQ((*s)->n_past(0), 4);
  EXPECT_EQ((*s)->n_past(1), 0);
  EXPECT_EQ(std::vector<float>((*s)->ssm_state(1, 0), (*s)->ssm_state(1, 0) + ssm_n), before);
  const Config& c = m->config();
  for (int l = 0; l < c.n_layer; ++l)
    EXPECT_TRUE(all_close((*s)->ssm_state(l, 2), (*cpu)->ssm_state(l, 2), ssm_n))
        << "layer " << l;
  auto a = (*s)->step(2, 7), b = (*cpu)->step(2, 7);  // CPU decode of that slot continues
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(all_close(a.value(), b.value(), V));
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
