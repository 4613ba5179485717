// Fixed memory: after Session::create, prefill, step and sample allocate nothing. Every heap entry
// point of the process (malloc and friends, hence operator new too, and libgomp's own calls) is
// counted while the hot loop runs.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <vector>

#include "mamba/mamba.h"
#include "tests/random_checkpoint.h"
#include "tests/test_util.h"

#include "tests/alloc_hook.h"

namespace mamba::test {
namespace {

TEST(Alloc, CounterSeesAllocations) {  // the hook itself works
  long n;
  {
    Counting c;
    // (Through volatile pointers: Clang elides a new/delete or malloc/free pair it can see.)
    static std::vector<int>* volatile v;
    static void* volatile p;
    v = new std::vector<int>(100);
    p = std::malloc(10);
    std::free(p);
    delete v;
    n = c.count();
  }
  EXPECT_GE(n, 3);
}

void run_hot_loop(const std::string& dir, int threads, int chunk,
                  WeightType type = WeightType::f32) {
  LoadOptions options;
  options.weights = type;
  auto model = Model::load(dir, options);
  ASSERT_TRUE(model.ok()) << model.message();
  SessionLimits lim;
  lim.n_threads = threads;
  lim.prefill_chunk = chunk;
  auto s = Session::create(model.value(), lim);
  ASSERT_TRUE(s.ok()) << s.message();
  const int V = model.value()->config().vocab_size;
  auto sampler = Sampler::create(V, every_sampler_option());
  ASSERT_TRUE(sampler.ok());
  std::vector<int32_t> prompt(size_t(3 * chunk + 5));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919) % size_t(V));
  std::vector<float> all_logits(prompt.size() * size_t(V));
  long allocations;
  bool ok = true;
  {
    Counting c;
    ok &= (*s)->prefill(prompt.data(), prompt.size()).ok();
    ok &= (*s)->prefill(prompt.data(), prompt.size(), all_logits.data()).ok();
    const float* logits = (*s)->logits();
    for (int i = 0; i < 200 && ok; ++i) {
      const int32_t id = sampler->sample(logits);
      sampler->accept(id);
      auto r = (*s)->step(id);
      ok &= r.ok();
      logits = r.value();
    }
    (*s)->reset();
    ok &= (*s)->prefill(prompt.data(), 1).ok();
    allocations = c.count();
  }
  EXPECT_TRUE(ok);
  EXPECT_EQ(allocations, 0) << "heap allocations in prefill/step/sample, " << threads
                            << " thread(s), prefill_chunk " << chunk << ", weights "
                            << weight_type_name(type);
}

TEST(Alloc, FixtureHotLoopAllocatesNothing) {
  for (int threads : {1, 2})
    for (int chunk : {1, 8, 128}) run_hot_loop(fixture_dir("mamba1-tiny"), threads, chunk);
}

// Larger projections, where Eigen's own product API would heap-allocate its packing buffers.
TEST(Alloc, LargeShapesAllocateNothing) {
  RandomCheckpoint rc;
  rc.d_model = 384;
  rc.n_layer = 2;
  rc.vocab_size = 2000;
  ScratchDir tmp;
  const std::string dir = rc.write(tmp);
  for (int threads : {1, 2}) run_hot_loop(dir, threads, 256);
}

// Every weight type: their products (quantized activations, dequantized tiles) use planned memory.
TEST(Alloc, EveryWeightTypeAllocatesNothing) {
  for (WeightType type : {WeightType::bf16, WeightType::f16, WeightType::q8, WeightType::q4})
    for (const char* fixture : {"mamba1-tiny", "mamba2-tiny"})
      for (int threads : {1, 2}) run_hot_loop(fixture_dir(fixture), threads, 8, type);
}

TEST(Alloc, Mamba2AllocatesNothing) {
  for (const char* fixture : {"mamba2-tiny", "mamba2-groups2"})
    for (int threads : {1, 2})
      for (int chunk : {1, 8, 128}) run_hot_loop(fixture_dir(fixture), threads, chunk);
  RandomCheckpoint rc;  // SSD chunks of 256 at real head/state sizes
  rc.mamba2 = true;
  rc.d_model = 256;
  rc.head_dim = 64;
  rc.d_state = 128;
  rc.n_groups = 2;
  rc.vocab_size = 1000;
  ScratchDir tmp;
  const std::string dir = rc.write(tmp);
  for (int threads : {1, 2}) run_hot_loop(dir, threads, 256);
}

// Several slots: prefill of one slot while others idle, batched decode over changing subsets.
TEST(Alloc, BatchedSlotsAllocateNothing) {
  for (const char* fixture : {"mamba1-tiny", "mamba2-tiny"})
    for (int threads : {1, 2}) {
      auto model = Model::load(fixture_dir(fixture));
      ASSERT_TRUE(model.ok()) << model.message();
      SessionLimits lim;
      lim.n_threads = threads;
      lim.prefill_chunk = 8;
      lim.max_slots = 4;
      auto s = Session::create(model.value(), lim);
      ASSERT_TRUE(s.ok()) << s.message();
      const int V = model.value()->config().vocab_size;
      auto sampler = Sampler::create(V, every_sampler_option());
      ASSERT_TRUE(sampler.ok());
      const int32_t prompt[] = {5, 17, 301, 44, 9, 120, 7, 7, 256, 3, 1};
      int32_t slots[4], ids[4];
      long allocations;
      bool ok = true;
      {
        Counting c;
        for (int k = 0; k < 4; ++k) ok &= (*s)->prefill(k, prompt, size_t(3 + 2 * k)).ok();
        for (int round = 0; round < 100 && ok; ++round) {
          size_t n = 0;
          for (int k = 0; k < 4; ++k)
            if ((round + k) % 4 != 0) {
              slots[n] = k;
              ids[n++] = sampler->sample((*s)->logits(k));
            }
          ok &= (*s)->step_batch(slots, ids, n).ok();
        }
        allocations = c.count();
      }
      EXPECT_TRUE(ok);
      EXPECT_EQ(allocations, 0) << fixture << ", " << threads << " thread(s)";
    }
}

}  // namespace
}  // namespace mamba::test
