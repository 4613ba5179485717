// Sampling: greedy is argmax; a seed fixes the draws; top-k / top-p restrict the candidates; the
// empirical distribution follows softmax(logits / temperature).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mamba/sampler.h"

namespace mamba {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f};

Sampler make(float temp, int top_k, float top_p, uint64_t seed) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = top_k;
  p.top_p = top_p;
  p.seed = seed;
  auto s = Sampler::create(int(kLogits.size()), p);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.value();
}

TEST(Sampler, GreedyIsArgmaxFirstOnTies) {
  Sampler s = make(0.0f, 0, 1.0f, 0);
  EXPECT_EQ(s.sample(kLogits.data()), 1);
}

TEST(Sampler, SameSeedSameDraws) {
  Sampler a = make(1.0f, 0, 1.0f, 42), b = make(1.0f, 0, 1.0f, 42), c = make(1.0f, 0, 1.0f, 43);
  std::vector<int> da, db, dc;
  for (int i = 0; i < 200; ++i) {
    da.push_back(a.sample(kLogits.data()));
    db.push_back(b.sample(kLogits.data()));
    dc.push_back(c.sample(kLogits.data()));
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(Sampler, TopKAndTopPRestrictCandidates) {
  Sampler k1 = make(1.0f, 1, 1.0f, 1), k2 = make(1.0f, 2, 1.0f, 1), p = make(1.0f, 0, 0.5f, 1);
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(k1.sample(kLogits.data()), 1);  // ties broken by the lower id
    const int t = k2.sample(kLogits.data());
    EXPECT_TRUE(t == 1 || t == 3) << t;
    // softmax mass of ids 1 and 3 is ~0.33 each: the nucleus for 0.5 is {1, 3}.
    const int q = p.sample(kLogits.data());
    EXPECT_TRUE(q == 1 || q == 3) << q;
  }
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  const float temp = 0.7f;
  Sampler s = make(temp, 0, 1.0f, 7);
  std::vector<double> want(kLogits.size());
  double z = 0;
  for (size_t i = 0; i < want.size(); ++i) z += want[i] = std::exp(kLogits[i] / temp);
  std::vector<int> hits(kLogits.size());
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++hits[size_t(s.sample(kLogits.data()))];
  for (size_t i = 0; i < want.size(); ++i) {
    const double p = want[i] / z, sd = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(double(hits[i]) / n, p, 5 * sd + 1e-6) << "id " << i;  // 5 sigma
  }
}

TEST(Sampler, RejectsBadParameters) {
  SamplerParams p;
  p.temperature = -1;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.top_p = 0;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.top_k = -3;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  EXPECT_FALSE(Sampler::create(0, {}).ok());
}

}  // namespace
}  // namespace mamba

namespace mamba {
namespace {

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.min_p = 0.5f;  // keeps ids whose probability is >= half of the best: ids 1 and 3 (and 2 is e^-1)
  p.seed = 9;
  auto s = Sampler::create(int(kLogits.size()), p);
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 500; ++i) {
    const int t = s->sample(kLogits.data());
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplerParams p;  // greedy
  p.repetition_penalty = 2.0f;
  p.repeat_last_n = 2;
  auto s = Sampler::create(int(kLogits.size()), p);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->sample(kLogits.data()), 1);
  s->accept(1);  // 3.0 -> 1.5: id 3 (3.0) wins
  EXPECT_EQ(s->sample(kLogits.data()), 3);
  s->accept(3);  // both penalised to 1.5: id 2 (2.0) wins
  EXPECT_EQ(s->sample(kLogits.data()), 2);
  s->accept(2);  // the window of 2 forgets id 1: back to 1
  EXPECT_EQ(s->sample(kLogits.data()), 1);
  const std::vector<float> negative = {-1.0f, -0.6f};
  auto n = Sampler::create(2, p);
  n->accept(1);  // -0.6 * 2 = -1.2 < -1.0
  EXPECT_EQ(n->sample(negative.data()), 0);
}

TEST(Sampler, RejectsBadPenaltyAndMinP) {
  SamplerParams p;
  p.min_p = 1.5f;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.repetition_penalty = 0;
  EXPECT_FALSE(Sampler::create(10, p).ok());
  p = {};
  p.repeat_last_n = -1;
  EXPECT_FALSE(Sampler::create(10, p).ok());
}

}  // namespace
}  // namespace mamba
