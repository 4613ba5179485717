// Several sequences in one session: slots prefilled one at a time while the others idle, decode
// steps batched over whichever slots are active (one GEMM per projection), results equal to
// separate single-sequence sessions; slots not in a batch are untouched; bad slot input refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "mamba/mamba.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

constexpr size_t npos = std::string::npos;
constexpr int kSlots = 4;

std::shared_ptr<const Model> load(const std::string& fixture) {
  auto m = Model::load(fixture_dir(fixture));
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? m.value() : nullptr;
}

std::unique_ptr<Session> session(std::shared_ptr<const Model> m, int slots, int threads,
                                 int chunk = 16) {
  SessionLimits lim;
  lim.n_threads = threads;
  lim.prefill_chunk = chunk;
  lim.max_slots = slots;
  auto s = Session::create(std::move(m), lim);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(s.value()) : nullptr;
}

std::vector<int32_t> prompt(int V, size_t n, int salt) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = int32_t((i * 61 + size_t(salt) * 17 + 5) % size_t(V));
  return v;
}

std::vector<uint8_t> blob(const Session& s, int slot) {
  std::vector<uint8_t> b(s.state_bytes());
  EXPECT_TRUE(s.save_state(slot, b.data(), b.size()).ok());
  return b;
}

bool same_floats(const float* a, const float* b, int n) {
  return std::memcmp(a, b, size_t(n) * sizeof(float)) == 0;
}

struct Case {
  const char* fixture;
  int threads;
};

class Slots : public ::testing::TestWithParam<Case> {};

// The batched session against kSlots separate sessions fed the same tokens: prefill bit-exact
// (same code path), batched decode within the fixtures' tolerance, idle slots untouched.
TEST_P(Slots, BatchedDecodeEqualsOneByOne) {
  auto m = load(GetParam().fixture);
  const int V = m->config().vocab_size;
  auto batched = session(m, kSlots, GetParam().threads);
  std::vector<std::unique_ptr<Session>> single;
  for (int k = 0; k < kSlots; ++k) single.push_back(session(m, 1, GetParam().threads));

  const size_t lengths[kSlots] = {5, 17, 1, 33};  // one prompt per slot, others idle meanwhile
  for (int k = 0; k < kSlots; ++k) {
    const std::vector<int32_t> p = prompt(V, lengths[k], k);
    const float* a = batched->prefill(k, p.data(), p.size()).value();
    const float* b = single[size_t(k)]->prefill(p.data(), p.size()).value();
    ASSERT_TRUE(same_floats(a, b, V)) << "prefill of slot " << k << " not bit-exact";
  }
  for (int round = 0; round < 24; ++round) {
    // Which slots decode this round: a changing subset, sometimes one, sometimes all.
    std::vector<int32_t> active, ids;
    for (int k = 0; k < kSlots; ++k)
      if ((round + k) % 3 != 0 || round % 5 == 0) {
        active.push_back(k);
        ids.push_back(int32_t((round * 31 + k * 7 + 2) % V));
      }
    if (round % 4 == 1) std::swap(active.front(), active.back()), std::swap(ids.front(), ids.back());
    std::vector<std::vector<uint8_t>> idle_before(kSlots);
    for (int k = 0; k < kSlots; ++k) idle_before[size_t(k)] = blob(*batched, k);
    ASSERT_TRUE(batched->step_batch(active.data(), ids.data(), active.size()).ok());
    for (size_t i = 0; i < active.size(); ++i) {
      const float* want = single[size_t(active[i])]->step(ids[i]).value();
      ASSERT_TRUE(all_close(batched->logits(active[i]), want, size_t(V)))
          << "round " << round << ", slot " << active[i] << " of " << active.size();
    }
    for (int k = 0; k < kSlots; ++k)
      if (std::find(active.begin(), active.end(), k) == active.end())
        ASSERT_EQ(blob(*batched, k), idle_before[size_t(k)]) << "idle slot " << k << " changed";
    if (round == 11) {  // a new prompt for slot 2 mid-way, the others idle
      const std::vector<int32_t> p = prompt(V, 20, 9);
      ASSERT_TRUE(batched->reset(2).ok());
      single[2]->reset();
      ASSERT_TRUE(batched->prefill(2, p.data(), p.size()).ok());
      ASSERT_TRUE(single[2]->prefill(p.data(), p.size()).ok());
      ASSERT_TRUE(all_close(batched->logits(2), single[2]->logits(), size_t(V)));
    }
  }
  for (int k = 0; k < kSlots; ++k) EXPECT_EQ(batched->n_past(k), single[size_t(k)]->n_past());
}

TEST_P(Slots, BatchOfOneIsStepAndForkContinuesExactly) {
  auto m = load(GetParam().fixture);
  const int V = m->config().vocab_size;
  auto a = session(m, 3, GetParam().threads);
  auto b = session(m, 1, GetParam().threads);
  const std::vector<int32_t> p = prompt(V, 9, 1);
  ASSERT_TRUE(a->prefill(1, p.data(), p.size()).ok());
  ASSERT_TRUE(b->prefill(p.data(), p.size()).ok());
  const int32_t slot = 1, id = 42 % V;
  ASSERT_TRUE(a->step_batch(&slot, &id, 1).ok());
  EXPECT_TRUE(same_floats(a->logits(1), b->step(id).value(), V));
  // Fork slot 1 into slot 2 of the same session: both continue identically.
  ASSERT_TRUE(a->copy_state_from(*a, 1, 2).ok());
  EXPECT_EQ(a->n_past(2), a->n_past(1));
  const int32_t both[2] = {1, 2}, same_ids[2] = {7 % V, 7 % V};
  ASSERT_TRUE(a->step_batch(both, same_ids, 2).ok());
  EXPECT_TRUE(same_floats(a->logits(1), a->logits(2), V));
  // A slot's blob loads into slot 0 of a single-sequence session and continues there.
  const std::vector<uint8_t> st = blob(*a, 2);
  ASSERT_TRUE(b->load_state(st.data(), st.size()).ok());
  EXPECT_TRUE(same_floats(b->step(3 % V).value(), a->step(2, 3 % V).value(), V));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Slots,
                         ::testing::Values(Case{"mamba1-tiny", 1}, Case{"mamba1-tiny", 2},
                                           Case{"mamba2-tiny", 1},
                                           Case{"mamba2-groups2", 1},
                                           Case{"generated/mamba1-bias-k3", 1}, Case{"generated/mamba2-mlp", 1},
                                           Case{"generated/mamba2-groups4-clamp", 2}),
                         [](const auto& info) {
                           std::string n = info.param.fixture;
                           for (char& ch : n) if (!isalnum(ch)) ch = '_';
                           return n + "_t" + std::to_string(info.param.threads);
                         });

TEST(SlotsRefused, BadSlotsIdsAndLimits) {
  auto m = load("mamba1-tiny");
  const int V = m->config().vocab_size;
  auto s = session(m, 3, 1);
  const std::vector<int32_t> p = prompt(V, 4, 0);
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(s->prefill(k, p.data(), p.size()).ok());
  std::vector<std::vector<uint8_t>> before;
  for (int k = 0; k < 3; ++k) before.push_back(blob(*s, k));

  struct Bad {
    std::vector<int32_t> slots, ids;
    std::string expect;
  };
  const std::vector<Bad> bad = {
      {{0, 3}, {1, 1}, "step_batch: slot 3 is out of range [0, 3) (SessionLimits.max_slots) at position 1"},
      {{-1}, {1}, "slot -1 is out of range"},
      {{2, 0, 2}, {1, 1, 1}, "step_batch: slot 2 appears twice (positions 0 and 2)"},
      {{0, 1}, {1, V}, "step_batch: token id 512 at position 1 is out of range [0, 512)"},
      {{0, 1, 2, 0}, {1, 1, 1, 1}, "step_batch: 4 slots, more than max_slots = 3"},
      {{}, {}, "step_batch: no slots"},
  };
  for (const Bad& b : bad) {
    const Status st = s->step_batch(b.slots.data(), b.ids.data(), b.slots.size());
    ASSERT_FALSE(st.ok()) << b.expect;
    EXPECT_NE(st.message().find(b.expect), npos) << st.message();
  }
  EXPECT_FALSE(s->step_batch(nullptr, p.data(), 1).ok());
  for (int k = 0; k < 3; ++k) EXPECT_EQ(blob(*s, k), before[size_t(k)]) << "slot " << k << " changed";

  EXPECT_NE(s->prefill(3, p.data(), p.size()).message().find("prefill: slot 3 is out of range"), npos);
  EXPECT_NE(s->step(-2, 1).message().find("step: slot -2 is out of range"), npos);
  EXPECT_NE(s->reset(7).message().find("reset: slot 7"), npos);
  std::vector<uint8_t> b(s->state_bytes());
  EXPECT_FALSE(s->save_state(3, b.data(), b.size()).ok());
  EXPECT_FALSE(s->load_state(3, before[0].data(), before[0].size()).ok());
  EXPECT_FALSE(s->copy_state_from(*s, 0, 3).ok());
  EXPECT_EQ(s->logits(3), nullptr);
  EXPECT_EQ(s->n_past(3), -1);
  EXPECT_EQ(s->conv_state(0, 3), nullptr);
  EXPECT_EQ(s->max_slots(), 3);

  SessionLimits lim;
  lim.max_slots = 0;
  auto none = Session::create(m, lim);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.message().find("SessionLimits.max_slots = 0 is out of range [1, 4096]"), npos)
      << none.message();
  EXPECT_EQ(Session::required_bytes(*m, lim), 0u);
  // Each slot costs its state and logits (and a row of batch logits), planned up front.
  lim.max_slots = 1;
  const size_t one = Session::required_bytes(*m, lim);
  lim.max_slots = 8;
  EXPECT_GE(Session::required_bytes(*m, lim), one + 7 * s->state_bytes());
}

}  // namespace
}  // namespace mamba::test
