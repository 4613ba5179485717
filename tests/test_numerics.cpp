// The non-finite policy (README "Hardening"): NaN/inf weights are refused at load, state blobs
// holding NaN/inf are refused by load_state, and logits that still come out non-finite (finite
// weights so large that fp32 overflows) make prefill/step fail naming slot, token and logit.
// And extreme but valid inputs stay finite: 20k tokens of one id, and of a short repeated cycle,
// on the fixtures and the bundled trained model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/state_blob.h"
#include "mamba/mamba.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

constexpr size_t npos = std::string::npos;

std::string bad(const std::string& name) { return data_dir() + "/bad/" + name; }

// Every value of the session's state (slot 0) and its logits are finite.
void expect_state_finite(const Session& s, const std::string& what) {
  const Config& c = s.model().config();
  const size_t conv = size_t(c.d_conv - 1) * size_t(c.conv_dim());
  const size_t ssm = c.arch == Architecture::mamba1 ? size_t(c.d_state) * size_t(c.d_inner)
                                                    : size_t(c.n_heads) * c.head_dim * c.d_state;
  for (int l = 0; l < c.n_layer; ++l) {
    EXPECT_TRUE(std::all_of(s.conv_state(l), s.conv_state(l) + conv, [](float v) { return std::isfinite(v); }))
        << what << ": layer " << l << " conv state";
    EXPECT_TRUE(std::all_of(s.ssm_state(l), s.ssm_state(l) + ssm, [](float v) { return std::isfinite(v); }))
        << what << ": layer " << l << " ssm state";
  }
  EXPECT_TRUE(std::all_of(s.logits(), s.logits() + c.vocab_size, [](float v) { return std::isfinite(v); }))
      << what << ": logits";
}

TEST(NonFinite, NanWeightIsRefusedAtLoad) {
  for (const char* name : {"st_nan_weight", "st_inf_weight", "st_bf16_neg_inf", "st_f16_nan"}) {
    auto m = Model::load(bad(name));
    ASSERT_FALSE(m.ok()) << name;
    EXPECT_NE(m.message().find("weights must be finite"), npos) << m.message();
    EXPECT_NE(m.message().find("model.safetensors: tensor '"), npos) << m.message();
  }
}

TEST(NonFinite, NanWeightIsRefusedFromMemoryForEveryWeightType) {
  const std::string cfg = read_bytes(bad("st_nan_weight") + "/config.json");
  const std::string st = read_bytes(bad("st_nan_weight") + "/model.safetensors");
  for (WeightType t : {WeightType::f32, WeightType::bf16, WeightType::f16, WeightType::q8, WeightType::q4}) {
    LoadOptions o;
    o.weights = t;
    auto m = Model::load_from_memory(cfg, {{st.data(), st.size()}}, o);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.message().find("safetensors region 0: tensor 'backbone.layers.0.mixer.in_proj.weight' "
                               "element 9 ([1, 1]) is NaN"), npos) << m.message();
  }
}

TEST(NonFinite, OverflowingLogitsAreReportedNotReturned) {
  auto m = Model::load(bad("st_huge_weights"));  // finite, but norm_f's weights are 3e38
  ASSERT_TRUE(m.ok()) << m.message();
  SessionLimits lim;
  lim.n_threads = 1;
  auto s = Session::create(*m, lim);
  ASSERT_TRUE(s.ok()) << s.message();
  const int32_t ids[3] = {1, 2, 3};
  auto r = (*s)->prefill(ids, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("prefill: non-finite logits after token 3 of slot 0 (logit "), npos) << r.message();
  EXPECT_NE(r.message().find("inf)"), npos) << r.message();
  EXPECT_NE(r.message().find("reset() or load_state()"), npos) << r.message();
  EXPECT_EQ((*s)->n_past(), 3);  // the state advanced and is kept
  auto st = (*s)->step(4);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("step: non-finite logits after token 4 of slot 0"), npos) << st.message();
  std::vector<float> all(3 * 16);
  auto a = (*s)->prefill(ids, 3, all.data());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.message().find("prefill: non-finite logits"), npos) << a.message();
#ifndef NDEBUG
  EXPECT_NE(a.message().find("first turned non-finite in layer"), npos) << a.message();
#endif
}

// Found by fuzz_safetensors (tests/fuzz/corpus/safetensors/regression-*): with q8/q4 weights an
// activation that overflowed to inf was converted to int8 (undefined behaviour, garbage logits).
// Now it carries a NaN scale into the product and the step reports the non-finite logits.
TEST(NonFinite, OverflowIsReportedForEveryWeightType) {
  for (WeightType t : {WeightType::f32, WeightType::bf16, WeightType::f16, WeightType::q8, WeightType::q4}) {
    LoadOptions o;
    o.weights = t;
    auto m = Model::load(bad("st_huge_weights"), o);
    ASSERT_TRUE(m.ok()) << m.message();
    SessionLimits lim;
    lim.n_threads = 1;
    lim.max_slots = 2;
    auto s = Session::create(*m, lim);
    ASSERT_TRUE(s.ok()) << s.message();
    const int32_t ids[3] = {1, 2, 3};
    auto r = (*s)->prefill(ids, 3);
    ASSERT_FALSE(r.ok()) << weight_type_name(t);
    EXPECT_NE(r.message().find("non-finite logits"), npos) << r.message();
    for (int k = 0; k < 3; ++k) {  // decode: the GEMV (and, for q8/q4, quantize_rows) path
      auto st = (*s)->step(1, 5);
      ASSERT_FALSE(st.ok()) << weight_type_name(t);
      EXPECT_NE(st.message().find("step: non-finite logits after token " + std::to_string(k + 1) +
                                  " of slot 1"), npos) << st.message();
    }
  }
}

TEST(NonFinite, StepBatchReportsTheSlot) {
  auto m = Model::load(bad("st_huge_weights"));
  ASSERT_TRUE(m.ok()) << m.message();
  SessionLimits lim;
  lim.n_threads = 1;
  lim.max_slots = 3;
  auto s = Session::create(*m, lim);
  ASSERT_TRUE(s.ok()) << s.message();
  const int32_t slots[2] = {2, 0}, ids[2] = {5, 6};
  const Status st = (*s)->step_batch(slots, ids, 2);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("step_batch: non-finite logits after token 1 of slot 2"), npos) << st.message();
}

TEST(NonFinite, StateBlobWithNanIsRefused) {
  for (const char* fixture : {"mamba1-tiny", "mamba2-tiny"}) {
    auto m = Model::load(fixture_dir(fixture));
    ASSERT_TRUE(m.ok()) << m.message();
    SessionLimits lim;
    lim.n_threads = 1;
    auto s = Session::create(*m, lim);
    ASSERT_TRUE(s.ok());
    const int32_t ids[4] = {1, 2, 3, 4};
    ASSERT_TRUE((*s)->prefill(ids, 4).ok());
    std::vector<uint8_t> blob((*s)->state_bytes()), before(blob.size()), after(blob.size());
    ASSERT_TRUE((*s)->save_state(blob.data(), blob.size()).ok());
    before = blob;
    const Config& c = (*m)->config();
    const size_t conv = size_t(c.d_conv - 1) * size_t(c.conv_dim());
    struct Poke { size_t float_index; float value; std::string where; };
    const float nan = std::nanf(""), inf = INFINITY;
    const size_t n_floats = (blob.size() - detail::kStateBlobHeader) / 4;
    for (const Poke& p : {Poke{5, nan, "(nan) at layer 0 conv_state[5]"},
                          Poke{conv + 2, -inf, "(inf) at layer 0 ssm_state[2]"},
                          Poke{n_floats - 1, inf, "(inf) at logit " + std::to_string(c.vocab_size - 1)}}) {
      std::vector<uint8_t> b = before;
      std::memcpy(b.data() + detail::kStateBlobHeader + 4 * p.float_index, &p.value, 4);
      const uint64_t sum = detail::hash64(b.data() + detail::kStateBlobHeader,
                                          b.size() - detail::kStateBlobHeader, detail::hash64(b.data(), 88));
      std::memcpy(b.data() + 88, &sum, 8);  // intact, so the values themselves are checked
      const Status st = (*s)->load_state(b.data(), b.size());
      ASSERT_FALSE(st.ok()) << fixture;
      EXPECT_NE(st.message().find("state blob: holds a non-finite value " + p.where), npos) << st.message();
      ASSERT_TRUE((*s)->save_state(after.data(), after.size()).ok());
      EXPECT_EQ(after, before) << "a refused blob changed the session";
    }
  }
}

// 20k tokens of one id (and on the fixtures of a cycle of three), then 16 greedy steps: every
// state value and logit stays finite (and bounded) on every architecture, including the trained
// bundled model.
class LongPrompt : public ::testing::TestWithParam<std::string> {};

TEST_P(LongPrompt, TwentyThousandRepeatedTokensStayFinite) {
  const std::string dir = GetParam() == "default" ? std::string(MAMBA_SOURCE_DIR) + "/models/mamba2-austen"
                                                  : fixture_dir(GetParam());
  auto m = Model::load(dir);
  ASSERT_TRUE(m.ok()) << m.message();
  SessionLimits lim;
  lim.prefill_chunk = 512;
  auto s = Session::create(*m, lim);
  ASSERT_TRUE(s.ok()) << s.message();
  const int V = (*m)->config().vocab_size;
  // The bundled model: 20k newlines (id 187), the commonest repeated token of real text.
  const std::vector<std::vector<int32_t>> patterns =
      GetParam() == "default" ? std::vector<std::vector<int32_t>>{{187}}
                              : std::vector<std::vector<int32_t>>{{V - 1}, {7, 7, 9}};
  for (const std::vector<int32_t>& pattern : patterns) {
    (*s)->reset();
    std::vector<int32_t> ids(20000);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = pattern[i % pattern.size()];
    auto r = (*s)->prefill(ids.data(), ids.size());
    ASSERT_TRUE(r.ok()) << r.message();
    expect_state_finite(**s, "after the prompt");
    for (int k = 0; k < 16; ++k) {
      r = (*s)->step(int32_t(std::max_element(*r, *r + V) - *r));
      ASSERT_TRUE(r.ok()) << r.message();
    }
    expect_state_finite(**s, "after 16 steps");
    const float peak = *std::max_element(*r, *r + V, [](float a, float b) { return std::fabs(a) < std::fabs(b); });
    EXPECT_LT(std::fabs(peak), 1e4f);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, LongPrompt,
                         ::testing::Values("mamba1-tiny", "mamba2-tiny", "mamba2-groups2", "default"),
                         fixture_param_name);

}  // namespace
}  // namespace mamba::test
