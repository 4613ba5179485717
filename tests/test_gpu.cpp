// The GPU prefill on a real GPU (CUDA builds only), through the public GpuPrefill: the checks of
// tests/gpu_checks.h on every fixture (fp32 at the fixtures' tolerance, bf16 and f16 at the
// fixtures' 16-bit rule), random checkpoints at the released models' shapes with prompts that
// cross pass and SSD-chunk boundaries, bad input, and no device allocation after create().
// Every test skips where no CUDA device (or driver) is present.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include "tests/gpu_checks.h"

namespace mamba::test {
namespace {

class RealPrefiller : public Prefiller {
 public:
  explicit RealPrefiller(std::unique_ptr<GpuPrefill> g) : g_(std::move(g)) {}
  Result<const float*> prefill(Session& s, int slot, const int32_t* ids, size_t n,
                               float* all) override {
    return g_->prefill(s, slot, ids, n, all);
  }

 private:
  std::unique_ptr<GpuPrefill> g_;
};

// (The Mamba-1 scan segment is fixed at 64 tokens here; prompts longer than that use several.)
const MakePrefiller kGpu = [](std::shared_ptr<const Model> m, const GpuLimits& lim,
                              const GpuCase&) -> Result<std::unique_ptr<Prefiller>> {
  auto g = GpuPrefill::create(std::move(m), lim);
  if (!g.ok()) return g.status();
  return std::unique_ptr<Prefiller>(new RealPrefiller(std::move(g.value())));
};

#define SKIP_WITHOUT_GPU()                                                          \
  do {                                                                              \
    if (GpuPrefill::device_count() == 0) GTEST_SKIP() << "no CUDA device or driver"; \
  } while (0)

TEST(Gpu, BuiltWithCuda) {
  EXPECT_TRUE(GpuPrefill::built());
  SKIP_WITHOUT_GPU();
  auto m = Model::load(fixture_dir("mamba1-tiny"));
  ASSERT_TRUE(m.ok());
  auto g = GpuPrefill::create(m.value());
  ASSERT_TRUE(g.ok()) << g.message();
  std::printf("device: %s, plan %zu bytes\n", (*g)->device_name().c_str(), (*g)->memory().total());
  auto plan = GpuPrefill::plan(*m.value());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*g)->memory().total(), plan->total());
}

class GpuFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(GpuFixture, Fp32MatchesTheFixture) {
  SKIP_WITHOUT_GPU();
  for (int chunk : {128, 1, 5, 8, 16}) check_fixture(GetParam(), kGpu, {GpuPrecision::fp32, chunk});
  check_fixture_pieces(GetParam(), kGpu, {GpuPrecision::fp32, 7});
}

TEST_P(GpuFixture, HalfPrecisionWithinItsBound) {
  SKIP_WITHOUT_GPU();
  check_fixture(GetParam(), kGpu, {GpuPrecision::bf16, 128});
  check_fixture(GetParam(), kGpu, {GpuPrecision::f16, 9});
  check_fixture_pieces(GetParam(), kGpu, {GpuPrecision::bf16, 6});
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GpuFixture, ::testing::ValuesIn(gpu_fixtures()),
                         fixture_param_name);

// The released shapes (all layers, full vocabulary), prompts that end mid pass, mid SSD chunk
// (chunk_size 256) and mid scan segment.
TEST(GpuRandom, ReleasedShapes) {
  SKIP_WITHOUT_GPU();
  for (const char* preset : {"mamba-130m", "mamba2-130m"}) {
    RandomCheckpoint rc;
    ASSERT_TRUE(rc.set_preset(preset));
    check_random(rc, std::string("gpu_") + preset, {1, 200, 777}, kGpu,
                 {{GpuPrecision::fp32, 512}, {GpuPrecision::bf16, 300}, {GpuPrecision::f16, 2048}});
  }
}

TEST(GpuRandom, GroupsBiasesClampAndBigState) {
  SKIP_WITHOUT_GPU();
  RandomCheckpoint rc;
  rc.mamba2 = true;
  rc.d_model = 512;
  rc.head_dim = 32;
  rc.n_groups = 8;
  rc.d_state = 64;
  rc.chunk_size = 100;
  rc.use_bias = true;
  rc.dt_limit_max = 0.05f;
  rc.tie_word_embeddings = false;
  check_random(rc, "gpu_groups", {333}, kGpu, {{GpuPrecision::fp32, 128}});
  RandomCheckpoint m1;
  m1.d_model = 256;
  m1.d_state = 100;
  m1.d_conv = 3;
  m1.use_bias = true;
  check_random(m1, "gpu_m1_n100", {150}, kGpu, {{GpuPrecision::fp32, 100}});
}

TEST(GpuErrors, BadInputLeavesTheSessionAlone) {
  SKIP_WITHOUT_GPU();
  check_bad_input(kGpu);
}

// Everything on the device is allocated in create(): a prefill leaves the free memory as it was.
TEST(GpuMemory, PrefillAllocatesNoDeviceMemory) {
  SKIP_WITHOUT_GPU();
  RandomCheckpoint rc;
  ASSERT_TRUE(rc.set_preset("mamba2-130m"));
  rc.n_layer = 4;
  ScratchDir tmp;
  const std::string dir = rc.write(tmp);
  auto m = Model::load(dir);
  ASSERT_TRUE(m.ok()) << m.message();
  auto g = GpuPrefill::create(m.value());
  ASSERT_TRUE(g.ok()) << g.message();
  auto s = new_session(m.value());
  ASSERT_TRUE(s);
  std::vector<int32_t> ids(3000, 7);
  ASSERT_TRUE((*g)->prefill(*s, ids.data(), ids.size()).ok());  // warm-up (lazy library state)
  size_t free0 = 0, free1 = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free0, &total), cudaSuccess);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*g)->prefill(*s, ids.data(), ids.size()).ok());
  ASSERT_EQ(cudaMemGetInfo(&free1, &total), cudaSuccess);
  EXPECT_EQ(free0, free1);
  std::filesystem::remove_all(dir);
}

TEST(GpuSlots, PrefillIntoOneSlotOfSeveral) {
  SKIP_WITHOUT_GPU();
  check_slots(kGpu);
}

TEST(GpuErrors, DeviceOutOfRange) {
  SKIP_WITHOUT_GPU();
  auto m = Model::load(fixture_dir("mamba1-tiny"));
  ASSERT_TRUE(m.ok());
  GpuLimits lim;
  lim.device = GpuPrefill::device_count();
  auto g = GpuPrefill::create(m.value(), lim);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.message().find("GpuLimits.device"), std::string::npos) << g.message();
}

}  // namespace
}  // namespace mamba::test
