// TextStream allocates only in create(): push() and finish() over a whole text, and a generation
// loop of step + sample + push, allocate nothing. Every heap entry point of the process is
// counted while they run (the same hook as test_alloc.cpp, in its own binary).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>

#include "mamba/mamba.h"
#include "tests/tokenizer_test_util.h"

#include "tests/alloc_hook.h"

namespace mamba::test {
namespace {

TEST(TokenizerAlloc, CounterSeesAllocations) {
  long n;
  {
    Counting c;
    std::string* s = new std::string(100, 'x');
    delete s;
    n = c.count();
  }
  EXPECT_GE(n, 1);
}

class StreamAlloc : public ::testing::TestWithParam<std::string> {};

TEST_P(StreamAlloc, PushAndFinishAllocateNothing) {
  auto tok = cached_tokenizer(GetParam());
  ASSERT_TRUE(tok);
  // A real text, then random ids (invalid UTF-8, specials, byte pieces), then finish and reset.
  const detail::Json cases = read_json(tokenizer_data(
      GetParam().find("mistral") != std::string::npos ? "mistral_v3_tokenizer_cases.json"
                                                       : "neox_tokenizer_cases.json"))["cases"];
  std::vector<int32_t> ids;
  for (const auto& c : cases)
    for (int32_t id : c["ids"]) ids.push_back(id);
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) ids.push_back(int32_t(rng() % uint32_t(tok->vocab_size())));
  for (bool skip : {false, true}) {
    DecodeOptions o;
    o.skip_special_tokens = skip;
    auto s = TextStream::create(tok, o);
    ASSERT_TRUE(s.ok()) << s.message();
    size_t bytes = 0;
    long allocations;
    {
      Counting c;
      for (int32_t id : ids) {
        auto chunk = s->push(id);
        if (!chunk.ok()) break;
        bytes += chunk->size();
      }
      bytes += s->finish().size();
      s->reset();
      allocations = c.count();
    }
    EXPECT_EQ(allocations, 0) << "over " << ids.size() << " pushes";
    EXPECT_GT(bytes, ids.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Both, StreamAlloc,
                         ::testing::Values(tokenizer_data("mamba-130m-hf"),
                                           tokenizer_data("mistral_v3_tokenizer.model")),
                         [](const auto& info) { return info.index == 0 ? "neox" : "mistral"; });

// The whole generation loop of mamba-generate -p: step, sample, detokenize.
TEST(GenerationAlloc, StepSamplePushAllocatesNothing) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  ASSERT_TRUE(tok);
  auto model = Model::load(fixture_dir("mamba1-tiny"));  // vocab 512: its ids are NeoX ids too
  ASSERT_TRUE(model.ok()) << model.message();
  auto session = Session::create(model.value());
  ASSERT_TRUE(session.ok()) << session.message();
  SamplerParams sp;
  sp.temperature = 0.9f;
  sp.top_k = 50;
  sp.seed = 3;
  auto sampler = Sampler::create(model.value()->config().vocab_size, sp);
  ASSERT_TRUE(sampler.ok());
  DecodeOptions o;
  o.skip_special_tokens = true;
  auto stream = TextStream::create(tok, o);
  ASSERT_TRUE(stream.ok());
  const std::vector<int32_t> prompt = *tok->encode("a");
  auto logits = (*session)->prefill(prompt.data(), prompt.size());
  ASSERT_TRUE(logits.ok());
  size_t bytes = 0;
  long allocations;
  {
    Counting c;
    const float* l = logits.value();
    for (int i = 0; i < 200; ++i) {
      const int32_t id = sampler->sample(l);
      auto chunk = stream->push(id);
      if (!chunk.ok()) break;
      bytes += chunk->size();
      l = (*session)->step(id).value();
    }
    bytes += stream->finish().size();
    allocations = c.count();
  }
  EXPECT_EQ(allocations, 0);
  EXPECT_GT(bytes, 0u);
}

}  // namespace
}  // namespace mamba::test
