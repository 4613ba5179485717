// TextStream allocates only in create(): push() and finish() over a whole text, and a 1,000-token
// generation loop of prefill + sample + push + step, allocate nothing. Every heap entry point of the process is
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

// The whole generation loop of mamba-generate -p over 1,000 tokens: prefill (several chunks),
// then sample (every option on), accept, detokenize and step -- in a session that lives in the
// caller's buffer. Both architectures, one thread (test_alloc runs prefill/step/sample on two).
TEST(GenerationAlloc, ThousandTokenGenerationAllocatesNothing) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  ASSERT_TRUE(tok);
  // The fixtures' vocabulary is 512: their ids are NeoX ids too.
  for (const char* fixture : {"mamba1-tiny", "mamba2-tiny"}) {
    SCOPED_TRACE(fixture);
    auto model = Model::load(fixture_dir(fixture));
    ASSERT_TRUE(model.ok()) << model.message();
    SessionLimits lim;
    lim.prefill_chunk = 16;
    lim.n_threads = 1;
    const size_t need = Session::required_bytes(**model, lim);
    AlignedBuffer arena = aligned_buffer(need);
    auto session = Session::create(model.value(), lim, arena.get(), need);
    ASSERT_TRUE(session.ok()) << session.message();
    auto sampler = Sampler::create(model.value()->config().vocab_size, every_sampler_option(3));
    ASSERT_TRUE(sampler.ok());
    DecodeOptions o;
    o.skip_special_tokens = true;
    auto stream = TextStream::create(tok, o);
    ASSERT_TRUE(stream.ok());
    const std::vector<int32_t> prompt =
        *tok->encode("It is a truth universally acknowledged, that a single man in possession of "
                     "a good fortune, must be in want of a wife.");
    std::vector<int32_t> fitting;  // keep the prompt inside the fixtures' 512 ids
    for (int32_t id : prompt) fitting.push_back(id % 512);
    size_t bytes = 0;
    int generated = 0;
    long allocations;
    {
      Counting c;
      for (int32_t id : fitting) sampler->accept(id);
      auto logits = (*session)->prefill(fitting.data(), fitting.size());
      const float* l = logits.ok() ? logits.value() : nullptr;
      for (; l && generated < 1000; ++generated) {
        const int32_t id = sampler->sample(l);
        sampler->accept(id);
        auto chunk = stream->push(id);
        if (!chunk.ok()) break;
        bytes += chunk->size();
        auto next = (*session)->step(id);
        l = next.ok() ? next.value() : nullptr;
      }
      bytes += stream->finish().size();
      allocations = c.count();
    }
    EXPECT_EQ(generated, 1000);
    EXPECT_EQ(allocations, 0);
    EXPECT_GT(bytes, 1000u);
  }
}

}  // namespace
}  // namespace mamba::test
