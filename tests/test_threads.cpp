// One Model shared by 8 threads, each with its own Session (both architectures): every thread's
// logits, over a prefill and greedy decode steps, are bit-identical to the same work run one
// after another. Built once more with -fsanitize=thread in CI (.ci/run).
//
// Each session uses 2 OpenMP threads, except under ThreadSanitizer: libgomp is not built with
// TSan, so the hand-off of a session's buffers between its OpenMP workers is invisible to TSan
// and would be reported as races that are not there. With n_threads = 1 a session never starts a
// worker, so every access TSan sees is made by the std::thread that owns the session and the
// test checks exactly what it is about: Sessions sharing one Model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mamba/mamba.h"
#include "tests/sanitizer.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

#ifdef MAMBA_TEST_TSAN
constexpr int kSessionThreads = 1;
#else
constexpr int kSessionThreads = 2;
#endif
constexpr int kThreads = 8;
constexpr int kSteps = 24;

// Thread i's work: a prompt of its own, then greedy steps; every logit it saw, in order.
std::vector<float> work(const std::shared_ptr<const Model>& model, int i) {
  SessionLimits lim;
  lim.n_threads = kSessionThreads;
  lim.prefill_chunk = 8;  // several chunks
  auto s = Session::create(model, lim);
  if (!s.ok()) {
    ADD_FAILURE() << s.message();
    return {};
  }
  const int V = model->config().vocab_size;
  std::vector<int32_t> prompt;
  for (int t = 0; t < 19 + i; ++t) prompt.push_back(int32_t((t * 37 + i * 101) % V));
  std::vector<float> seen;
  auto r = (*s)->prefill(prompt.data(), prompt.size());
  for (int k = 0; r.ok() && k <= kSteps; ++k) {
    seen.insert(seen.end(), *r, *r + V);
    if (k == kSteps) break;
    r = (*s)->step(int32_t(std::max_element(*r, *r + V) - *r));
  }
  if (!r.ok()) ADD_FAILURE() << r.message();
  return seen;
}

class Threads : public ::testing::TestWithParam<std::string> {};

TEST_P(Threads, EightSessionsOnOneModelMatchSequentialRuns) {
  auto model = Model::load(fixture_dir(GetParam()));
  ASSERT_TRUE(model.ok()) << model.message();
  std::vector<std::vector<float>> sequential(kThreads), parallel(kThreads);
  for (int i = 0; i < kThreads; ++i) sequential[size_t(i)] = work(*model, i);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] { parallel[size_t(i)] = work(*model, i); });
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_EQ(parallel[size_t(i)].size(), sequential[size_t(i)].size()) << "thread " << i;
    ASSERT_FALSE(parallel[size_t(i)].empty());
    EXPECT_EQ(0, std::memcmp(parallel[size_t(i)].data(), sequential[size_t(i)].data(),
                             parallel[size_t(i)].size() * sizeof(float)))
        << "thread " << i << "'s logits differ from the sequential run";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Threads, ::testing::Values("mamba1-tiny", "mamba2-tiny"),
                         fixture_param_name);

}  // namespace
}  // namespace mamba::test
