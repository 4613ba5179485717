// Determinism: the same seed gives the same tokens, run twice and at 1 and 2 threads, with every
// sampling option on (temperature, top-k, top-p, min-p, repetition penalty), for both
// architectures -- through the library and through mamba-generate.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mamba/mamba.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

std::vector<int32_t> generate(const std::shared_ptr<const Model>& model, int threads,
                              uint64_t seed, int n) {
  SessionLimits lim;
  lim.n_threads = threads;
  lim.prefill_chunk = 16;
  auto s = Session::create(model, lim);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  const int V = model->config().vocab_size;
  SamplerParams sp = every_sampler_option(seed);
  sp.temperature = 1.2f;  // flat enough that the tokens really depend on the random stream
  auto sampler = Sampler::create(V, sp);
  EXPECT_TRUE(sampler.ok()) << sampler.message();
  std::vector<int32_t> prompt;
  for (int t = 0; t < 40; ++t) prompt.push_back(int32_t((t * 29 + 3) % V));
  std::vector<int32_t> out;
  auto r = (*s)->prefill(prompt.data(), prompt.size());
  for (int k = 0; k < n && r.ok(); ++k) {
    out.push_back(sampler->sample(*r));
    r = (*s)->step(out.back());
  }
  EXPECT_TRUE(r.ok()) << r.message();
  return out;
}

class Determinism : public ::testing::TestWithParam<std::string> {};

TEST_P(Determinism, SameSeedSameTokensAtOneAndTwoThreads) {
  auto model = Model::load(fixture_dir(GetParam()));
  ASSERT_TRUE(model.ok()) << model.message();
  for (uint64_t seed : {1u, 7u, 12345u}) {
    const std::vector<int32_t> one = generate(*model, 1, seed, 96);
    ASSERT_EQ(one.size(), 96u);
    EXPECT_EQ(one, generate(*model, 1, seed, 96)) << "seed " << seed << ", twice at 1 thread";
    EXPECT_EQ(one, generate(*model, 2, seed, 96)) << "seed " << seed << ", 1 vs 2 threads";
    // Not a constant sequence: sampling really happened.
    EXPECT_GT(std::count_if(one.begin(), one.end(), [&](int32_t t) { return t != one[0]; }), 0);
  }
  // Another seed gives other tokens (96 samples from a flat distribution).
  EXPECT_NE(generate(*model, 1, 1, 96), generate(*model, 1, 2, 96));
}

TEST_P(Determinism, CliSameSeedSameTokensAtOneAndTwoThreads) {
  ScratchDir dir;
  const std::string cmd = program("mamba-generate") + " -m " + fixture_dir(GetParam()) +
                          " --ids 5,6,7,8,9 -n 48 --ignore-eos --temp 1.1 --top-k 50 --top-p 0.95"
                          " --min-p 0.01 --repeat-penalty 1.1 --seed 42 -t ";
  const RunResult one = run(dir, cmd + "1"), two = run(dir, cmd + "2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(one.out, two.out);
  EXPECT_EQ(std::count(one.out.begin(), one.out.end(), ','), 47) << one.out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Determinism,
                         ::testing::Values("mamba1-tiny", "mamba2-tiny", "mamba2-groups2"),
                         fixture_param_name);

}  // namespace
}  // namespace mamba::test
