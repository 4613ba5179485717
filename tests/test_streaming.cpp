// Streaming forever: 100,000 generated tokens (sampled, detokenized) in constant memory -- no heap
// allocation after the first 1,000 tokens, and the peak resident set after 1,000 tokens is the
// peak after 100,000 -- with finite logits at every step; and mamba-generate -n -1 streams until
// SIGINT, then ends cleanly with its timings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <string>

#include "mamba/mamba.h"
#include "tests/alloc_hook.h"
#include "tests/sanitizer.h"
#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

constexpr size_t npos = std::string::npos;
constexpr bool kEmulated = sizeof(MAMBA_RUN_PREFIX) > 1;  // programs run under qemu (aarch64)

// A field of /proc/self/status in kB ("VmHWM": the peak resident set), or -1.
long proc_status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.compare(0, field.size() + 1, field + ":") == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

void stream_forever(const std::string& fixture) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));  // fixture ids are NeoX ids
  ASSERT_TRUE(tok);
  auto model = Model::load(fixture_dir(fixture));
  ASSERT_TRUE(model.ok()) << model.message();
  SessionLimits lim;
  lim.n_threads = 1;
  auto s = Session::create(model.value(), lim);
  ASSERT_TRUE(s.ok()) << s.message();
  const int V = model.value()->config().vocab_size;
  SamplerParams sp;
  sp.temperature = 1.0f;  // wander through the vocabulary rather than settle into a loop
  sp.seed = 11;
  auto sampler = Sampler::create(V, sp);
  ASSERT_TRUE(sampler.ok());
  auto stream = TextStream::create(tok);
  ASSERT_TRUE(stream.ok());

  // Start the peak from here (clear_refs "5" resets VmHWM), so it measures this generation.
  std::ofstream("/proc/self/clear_refs") << "5";
  const int32_t prompt[] = {12, 7, 301};
  const float* l = (*s)->prefill(prompt, 3).value();
  constexpr int64_t kTokens = 100000;
  long peak_1k = -1;
  std::optional<Counting> counting;  // from token 1,000 on
  size_t bytes = 0;
  int64_t i = 0, not_finite_at = -1;
  for (; i < kTokens; ++i) {
    for (int v = 0; v < V && not_finite_at < 0; ++v)
      if (!std::isfinite(l[v])) not_finite_at = i;
    if (not_finite_at >= 0) break;
    const int32_t id = sampler->sample(l);
    bytes += stream->push(id).value().size();
    l = (*s)->step(id).value();
    if (i + 1 == 1000) {
      peak_1k = proc_status_kb("VmHWM");
      counting.emplace();
    }
  }
  const long allocations = counting ? counting->count() : -1;
  counting.reset();
  bytes += stream->finish().size();
  const long peak_100k = proc_status_kb("VmHWM");
  EXPECT_EQ(not_finite_at, -1) << "non-finite logits after " << not_finite_at << " tokens";
  EXPECT_EQ(i, kTokens);
  EXPECT_EQ((*s)->n_past(), 3 + kTokens);
  EXPECT_EQ(allocations, 0) << "heap allocations between 1,000 and 100,000 tokens";
  ASSERT_GT(peak_1k, 0) << "no VmHWM in /proc/self/status";
  // Under ASan its shadow memory and bookkeeping are resident too; under an emulator (the aarch64
  // build runs in qemu-aarch64) VmHWM is the emulator's, whose translated-code cache grows as the
  // program reaches new code. There the allocation count above is the proof.
#ifndef MAMBA_TEST_ASAN
  if (!kEmulated) EXPECT_EQ(peak_100k, peak_1k) << "peak RSS grew (kB) between 1,000 and 100,000 tokens";
#endif
  EXPECT_GT(bytes, size_t(kTokens));
  const Config& c = model.value()->config();
  for (int layer = 0; layer < c.n_layer; ++layer) {  // the state itself stays finite
    const float* h = (*s)->ssm_state(layer);
    for (int64_t k = 0; k < int64_t(c.d_state) * c.d_inner; ++k)
      ASSERT_TRUE(std::isfinite(h[k])) << "layer " << layer << " ssm_state[" << k << "]";
  }
}

TEST(StreamForever, Mamba1HundredThousandTokensInConstantMemory) { stream_forever("mamba1-tiny"); }
TEST(StreamForever, Mamba2HundredThousandTokensInConstantMemory) { stream_forever("mamba2-tiny"); }

// -n -1 --ignore-eos runs until interrupted; SIGINT (sent by timeout after a second) ends it
// cleanly: exit status 0, the ids so far on stdout, the timings line on stderr.
TEST(StreamForever, GenerateRunsUntilSigint) {
  ScratchDir dir;
  const RunResult r = run(dir, "timeout --preserve-status -s INT 1 " + program("mamba-generate") +
                                   " -m " + fixture_dir("mamba1-tiny") +
                                   " --ids 1,2,3 -n -1 --ignore-eos -t 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("interrupted; load:"), npos) << r.err;
  EXPECT_NE(r.err.find("decode:"), npos) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_GT(std::count(r.out.begin(), r.out.end(), ','), 100) << "too few ids before the signal";
}

TEST(StreamForever, GenerateRefusesNBelowMinusOne) {
  ScratchDir dir;
  const RunResult r = run(dir, program("mamba-generate") + " -m " + fixture_dir("mamba1-tiny") +
                                   " --ids 1,2,3 -n -2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("-n"), npos) << r.err;
}

}  // namespace
}  // namespace mamba::test
