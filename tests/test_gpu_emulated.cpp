// The GPU prefill without a GPU: gpu/engine.h (every kernel body, every GEMM's shapes and
// strides, the buffer plan, the state hand-off) run on tests/host_exec.h, the CPU stand-in for
// the device, against the fixtures and the CPU path. Also the pieces that are plain functions: the
// bf16/f16 conversions, the row-major -> cuBLAS translation, the plan; and GpuPrefill in a build
// without CUDA. What this cannot check is CUDA itself (launches, cuBLAS's results): that is
// tests/test_gpu.cpp, on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "gpu/engine.h"
#include "simd/kernels.h"
#include "tests/gpu_checks.h"
#include "tests/host_exec.h"

#include "tests/alloc_hook.h"

namespace mamba::test {
namespace {

using Engine = gpu::Engine<HostExec>;

class EmulatedPrefiller : public Prefiller {
 public:
  explicit EmulatedPrefiller(std::unique_ptr<Engine> e) : e_(std::move(e)) {}
  Result<const float*> prefill(Session& s, int slot, const int32_t* ids, size_t n,
                               float* all) override {
    auto r = e_->prefill(s, slot, ids, n, all);
    const int64_t bad = e_->exec().first_guard_overwritten(e_->plan().guards);
    EXPECT_EQ(bad, -1) << "a kernel wrote past a planned buffer, at byte " << bad;
    return r;
  }
  Engine& engine() { return *e_; }

 private:
  std::unique_ptr<Engine> e_;
};

Result<std::unique_ptr<Engine>> make_engine(std::shared_ptr<const Model> m, const GpuLimits& lim,
                                            int scan_segment) {
  gpu::PlanOptions o;
  o.scan_segment = scan_segment;
  o.guard_bytes = 256;
  o.workspace_bytes = 0;
  return Engine::create(std::move(m), lim, o, std::make_unique<HostExec>());
}

const MakePrefiller kEmulated = [](std::shared_ptr<const Model> m, const GpuLimits& lim,
                                   const GpuCase& g) -> Result<std::unique_ptr<Prefiller>> {
  auto e = make_engine(std::move(m), lim, g.scan_segment);
  if (!e.ok()) return e.status();
  return std::unique_ptr<Prefiller>(new EmulatedPrefiller(std::move(e.value())));
};

// ---- the scalar pieces ------------------------------------------------------------------------

// bf16 by a different route: of the two neighbours (truncated and one up), the nearer; ties even.
uint16_t bf16_reference(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  float flo, fhi;
  std::memcpy(&flo, &lo, 4);
  std::memcpy(&fhi, &hi, 4);
  // One up from the largest finite bf16 is infinity; IEEE rounds as if it were 2^128.
  const double up = std::isinf(fhi) ? std::copysign(0x1p128, double(f)) : double(fhi);
  const double dlo = std::fabs(double(f) - double(flo)), dhi = std::fabs(up - double(f));
  if (dlo < dhi || (dlo == dhi && ((lo >> 16) & 1) == 0)) return uint16_t(lo >> 16);
  return uint16_t(hi >> 16);
}

TEST(GpuMath, Bf16RoundsToNearestEven) {
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 9973) {  // ~430k patterns, all exponents
    float f;
    const uint32_t bits = uint32_t(u);
    std::memcpy(&f, &bits, 4);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(gpu::bf16_float(gpu::bf16_bits(f))));
      continue;
    }
    if (std::isinf(f)) {
      EXPECT_EQ(gpu::bf16_float(gpu::bf16_bits(f)), f);
      continue;
    }
    const uint16_t want = bf16_reference(f);
    ASSERT_EQ(gpu::bf16_bits(f), want) << std::hexfloat << f;
  }
  EXPECT_EQ(gpu::bf16_bits(1.0f), 0x3f80);
  EXPECT_EQ(gpu::bf16_bits(1.0f + 0x1p-8f), 0x3f80);            // tie: to even
  EXPECT_EQ(gpu::bf16_bits(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);  // just above the tie
  EXPECT_EQ(gpu::bf16_bits(-2.5f), 0xc020);
}

// The compiler's IEEE binary16: GCC 12's C++ has _Float16 on x86 only; on aarch64 its __fp16 is
// the same format. Clang 14 on x86-64 (the sanitizer/fuzz build) has neither in C++.
#if defined(__aarch64__)
#define MAMBA_HAVE_COMPILER_HALF 1
using CompilerHalf = __fp16;
#elif defined(__FLT16_MAX__)
#define MAMBA_HAVE_COMPILER_HALF 1
using CompilerHalf = _Float16;
#endif

TEST(GpuMath, F16MatchesTheCompilersHalf) {
  // The compiler's half conversion (round to nearest even, subnormals, overflow to inf) is the
  // oracle.
#if !defined(MAMBA_HAVE_COMPILER_HALF)
  GTEST_SKIP() << "this compiler has no IEEE half type in C++ here (Clang 14 on x86-64); GCC has";
#else
  int checked = 0;
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 997) {  // ~4.3M patterns
    float f;
    const uint32_t bits = uint32_t(u);
    std::memcpy(&f, &bits, 4);
    const CompilerHalf h = static_cast<CompilerHalf>(f);
    uint16_t want;
    std::memcpy(&want, &h, 2);
    const uint16_t got = gpu::f16_bits(f);
    if (std::isnan(f)) {
      EXPECT_EQ(got & 0x7c00, 0x7c00);
      EXPECT_NE(got & 0x03ff, 0);
      continue;
    }
    ASSERT_EQ(got, want) << std::hexfloat << f;
    // And back: exact widening.
    const float back = gpu::f16_float(got);
    ASSERT_EQ(back, float(h)) << std::hexfloat << f;
    ++checked;
  }
  EXPECT_GT(checked, 4000000);
  EXPECT_EQ(gpu::f16_bits(65504.0f), 0x7bff);
  EXPECT_EQ(gpu::f16_bits(65519.0f), 0x7bff);
  EXPECT_EQ(gpu::f16_bits(65520.0f), 0x7c00);
  EXPECT_EQ(gpu::f16_bits(0x1p-24f), 0x0001);
  EXPECT_EQ(gpu::f16_bits(0x1p-25f), 0x0000);  // tie: to even (zero)
  EXPECT_EQ(gpu::f16_bits(0x1.8p-25f), 0x0001);
#endif
}

TEST(GpuMath, ScalarFunctionsMatchTheCpuKernels) {
  for (float x : {-30.0f, -5.0f, -0.5f, 0.0f, 0.3f, 4.0f, 19.9f, 20.0f, 20.1f, 50.0f}) {
    EXPECT_NEAR(gpu::softplus(x), x > 20 ? x : std::log1p(std::exp(double(x))), 1e-6 * (1 + std::fabs(x)));
    EXPECT_NEAR(gpu::silu(x), x / (1 + std::exp(-double(x))), 1e-6 * (1 + std::fabs(x)));
  }
  EXPECT_EQ(gpu::clampf(5.0f, 0.0f, INFINITY), 5.0f);
  EXPECT_EQ(gpu::clampf(-1.0f, 0.0f, INFINITY), 0.0f);
  EXPECT_EQ(gpu::clampf(0.5f, 0.01f, 0.1f), 0.1f);
}

// cuBLAS's column-major product, as its documentation defines it: C = op(A) op(B), op(X) = X or
// X^T, element (i, j) of a column-major X at X[i + j * ld].
void column_major_reference(const gpu::ColumnMajorGemm& c, const float* A, const float* B,
                            float* C) {
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < c.k; ++k) {
        const float a = c.trans_first ? A[k + i * c.ld_first] : A[i + k * c.ld_first];
        const float b = c.trans_second ? B[j + k * c.ld_second] : B[k + j * c.ld_second];
        acc += double(a) * double(b);
      }
      C[i + j * c.ldc] = float(acc);
    }
}

TEST(GpuGemm, RowMajorToCublasTranslation) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      gpu::Gemm g;
      g.trans_a = ta;
      g.trans_b = tb;
      g.M = 5; g.N = 7; g.K = 3;
      g.lda = (ta ? g.M : g.K) + 2;  // padded leading dimensions
      g.ldb = (tb ? g.K : g.N) + 1;
      g.ldy = g.N + 3;
      std::vector<float> A(size_t((ta ? g.K : g.M) * g.lda)), B(size_t((tb ? g.N : g.K) * g.ldb));
      for (float& v : A) v = dist(rng);
      for (float& v : B) v = dist(rng);
      std::vector<float> Y(size_t(g.M * g.ldy), 0.0f), Yc = Y;
      g.A = A.data();
      g.B = B.data();
      g.Y = Y.data();
      ASSERT_EQ(gpu::gemm_check(g), "");
      // The row-major definition, directly.
      for (int64_t i = 0; i < g.M; ++i)
        for (int64_t j = 0; j < g.N; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < g.K; ++k)
            acc += double(ta ? A[size_t(k * g.lda + i)] : A[size_t(i * g.lda + k)]) *
                   double(tb ? B[size_t(j * g.ldb + k)] : B[size_t(k * g.ldb + j)]);
          Y[size_t(i * g.ldy + j)] = float(acc);
        }
      const gpu::ColumnMajorGemm c = gpu::to_column_major(g);
      column_major_reference(c, static_cast<const float*>(c.first),
                             static_cast<const float*>(c.second), Yc.data());
      EXPECT_TRUE(all_close(Yc, Y)) << "trans_a " << ta << " trans_b " << tb;
      // cuBLAS's own argument rules hold for the translated call.
      EXPECT_GE(c.ld_first, c.trans_first ? c.k : c.m);
      EXPECT_GE(c.ld_second, c.trans_second ? c.n : c.k);
      EXPECT_GE(c.ldc, c.m);
    }
}

TEST(GpuGemm, ChecksRefuseBadProducts) {
  float buf[64] = {};
  gpu::Gemm g;
  g.M = 2; g.N = 3; g.K = 4;
  g.A = g.B = buf;
  g.Y = buf;
  g.lda = 4; g.ldb = 3; g.ldy = 3;
  EXPECT_EQ(gpu::gemm_check(g), "");
  EXPECT_EQ(gpu::gemm_bounds(g, buf, sizeof buf), "");
  g.lda = 3;
  EXPECT_EQ(gpu::gemm_check(g), "lda too small");
  g.lda = 4;
  g.ldy = 2;
  EXPECT_EQ(gpu::gemm_check(g), "ldy too small");
  g.ldy = 3;
  g.batch = 2;
  g.stride_y = 2;
  EXPECT_EQ(gpu::gemm_check(g), "batches of Y overlap");
  g.stride_y = 6;
  g.stride_a = 8;
  g.stride_b = 60;
  EXPECT_EQ(gpu::gemm_bounds(g, buf, sizeof buf), "B outside the device block");
}

// ---- the plan and GpuPrefill in this build --------------------------------------------------

TEST(GpuPlan, PlanMatchesWhatTheEngineAllocates) {
  for (const char* f : {"mamba1-tiny", "mamba2-groups2", "generated/mamba2-mlp"}) {
    auto m = Model::load(fixture_dir(f));
    ASSERT_TRUE(m.ok());
    GpuLimits lim;
    lim.max_chunk = 100;
    auto mem = GpuPrefill::plan(*m.value(), lim);
    ASSERT_TRUE(mem.ok()) << mem.message();
    auto p = gpu::make_plan(*m.value(), lim);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(mem->total(), p->total) << f;
    EXPECT_GT(mem->weights, 0u);
    EXPECT_GT(mem->state, 0u);
    EXPECT_GT(mem->scratch, 0u);
    // bf16 weights take half the bytes of fp32 ones (the fp32 parameters aside).
    lim.precision = GpuPrecision::fp32;
    auto mem32 = GpuPrefill::plan(*m.value(), lim);
    ASSERT_TRUE(mem32.ok());
    EXPECT_GT(mem32->weights, mem->weights * 3 / 2) << f;
  }
}

TEST(GpuPlan, BadLimitsAreRefused) {
  auto m = Model::load(fixture_dir("mamba1-tiny"));
  ASSERT_TRUE(m.ok());
  for (int chunk : {0, -1, 65537}) {
    GpuLimits lim;
    lim.max_chunk = chunk;
    auto r = GpuPrefill::plan(*m.value(), lim);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("max_chunk"), std::string::npos) << r.message();
  }
  RandomCheckpoint rc;  // Mamba-1 with a d_state the register scan does not take
  rc.d_state = 300;
  rc.n_layer = 1;
  ScratchDir tmp;
  const std::string dir = rc.write(tmp);
  auto big = Model::load(dir);
  ASSERT_TRUE(big.ok()) << big.message();
  auto r = GpuPrefill::plan(*big.value(), GpuLimits{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("d_state = 300"), std::string::npos) << r.message();
}

TEST(GpuPrefillApi, WithoutCudaCreateSaysSo) {
  if (GpuPrefill::built()) GTEST_SKIP() << "built with CUDA: tests/test_gpu.cpp covers it";
  EXPECT_EQ(GpuPrefill::device_count(), 0);
  auto m = Model::load(fixture_dir("mamba1-tiny"));
  ASSERT_TRUE(m.ok());
  auto g = GpuPrefill::create(m.value());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.message().find("MAMBA_CUDA"), std::string::npos) << g.message();
}

// ---- the engine on the emulated device --------------------------------------------------------

class EmulatedFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(EmulatedFixture, Fp32MatchesTheFixture) {
  check_fixture(GetParam(), kEmulated, {GpuPrecision::fp32, 128, 64});
}

// Pass and chunk boundaries: GPU passes of 1, 5, 8 and 16 tokens (Mamba-2: SSD chunks of up to
// chunk_size inside each, the last one padded); Mamba-1 scan segments of 1, 3 and 4 tokens.
TEST_P(EmulatedFixture, Fp32AtPassAndSegmentBoundaries) {
  for (GpuCase g : {GpuCase{GpuPrecision::fp32, 1, 1}, GpuCase{GpuPrecision::fp32, 5, 3},
                    GpuCase{GpuPrecision::fp32, 8, 4}, GpuCase{GpuPrecision::fp32, 16, 3}})
    check_fixture(GetParam(), kEmulated, g);
}

TEST_P(EmulatedFixture, Fp32ContinuesAnyState) {
  check_fixture_pieces(GetParam(), kEmulated, {GpuPrecision::fp32, 7, 2});
}

TEST_P(EmulatedFixture, HalfPrecisionWithinItsBound) {
  check_fixture(GetParam(), kEmulated, {GpuPrecision::bf16, 128, 64});
  check_fixture(GetParam(), kEmulated, {GpuPrecision::f16, 9, 5});
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EmulatedFixture, ::testing::ValuesIn(gpu_fixtures()),
                         fixture_param_name);

// Real widths (mamba-130m's and mamba2-130m's d_model, d_state, head_dim) with two layers, a small
// vocabulary and short prompts, so the CPU stand-in stays quick; odd lengths over several passes,
// Mamba-2 with several SSD chunks per pass (chunk_size 8 here; the GPU test runs 256).
TEST(EmulatedRandom, RealWidths) {
  RandomCheckpoint m1;
  m1.d_model = 768;
  m1.n_layer = 2;
  m1.vocab_size = 300;
  check_random(m1, "gpu_emu_m1", {45}, kEmulated, {{GpuPrecision::fp32, 32, 16}});
  RandomCheckpoint m2;
  m2.mamba2 = true;
  m2.d_model = 768;
  m2.n_layer = 2;
  m2.vocab_size = 300;
  m2.d_state = 128;
  m2.head_dim = 64;
  m2.chunk_size = 8;
  check_random(m2, "gpu_emu_m2", {45}, kEmulated,
               {{GpuPrecision::fp32, 20, 64}, {GpuPrecision::bf16, 45, 64}});
}

TEST(EmulatedRandom, GroupsBiasesAndClamp) {
  RandomCheckpoint rc;
  rc.mamba2 = true;
  rc.d_model = 96;
  rc.head_dim = 16;
  rc.n_groups = 4;
  rc.d_state = 24;
  rc.chunk_size = 11;
  rc.use_bias = true;
  rc.dt_limit_max = 0.05f;
  rc.tie_word_embeddings = false;
  check_random(rc, "gpu_emu_groups", {50}, kEmulated, {{GpuPrecision::fp32, 23, 64}});
  RandomCheckpoint m1;
  m1.d_model = 80;
  m1.d_state = 40;  // the 64-register scan
  m1.d_conv = 2;
  m1.use_bias = true;
  m1.dt_rank = 7;
  check_random(m1, "gpu_emu_m1_n40", {50}, kEmulated, {{GpuPrecision::fp32, 19, 6}});
  m1.d_state = 100;  // the 256-register scan
  check_random(m1, "gpu_emu_m1_n100", {30}, kEmulated, {{GpuPrecision::fp32, 30, 7}});
}

// A model held in any weight type: the GPU reads each matrix back as the fp32 values it stands for,
// as the CPU prefill's GEMM tiles do, so in fp32 mode both prefills agree to the fp32 rule. A CPU
// set with an integer GEMM (AVX-512 VNNI) quantizes the activations of q8/q4 prefills instead, as
// its decode does: those two types are compared where the tiles run, the ctest entry
// gpu_emulated_isa_avx512 (this test with MAMBA_ISA=avx512).
TEST(EmulatedWeightTypes, Fp32PrefillMatchesTheCpuForEveryWeightType) {
  const bool quantized_activations = simd::kernels().gemm_quantized != nullptr;
  for (const char* f : {"mamba1-tiny", "mamba2-groups2"})
    for (WeightType t : {WeightType::bf16, WeightType::f16, WeightType::q8, WeightType::q4}) {
      if (quantized_activations && (t == WeightType::q8 || t == WeightType::q4)) continue;
      SCOPED_TRACE(std::string(f) + " held as " + weight_type_name(t));
      LoadOptions lo;
      lo.weights = t;
      auto m = Model::load(fixture_dir(f), lo);
      ASSERT_TRUE(m.ok()) << m.message();
      auto gpu = new_prefiller(kEmulated, m.value(), GpuCase{GpuPrecision::fp32, 8, 3});
      auto s = new_session(m.value()), cpu = new_session(m.value());
      ASSERT_TRUE(gpu && s && cpu);
      const Expected e(f);
      const auto ids = e.ids("input_ids");  // one CPU chunk of 21 tokens: the GEMMs
      const size_t V = size_t(m.value()->config().vocab_size);
      std::vector<float> got(ids.size() * V), want(ids.size() * V);
      ASSERT_TRUE(gpu->prefill(*s, ids.data(), ids.size(), got.data()).ok());
      ASSERT_TRUE(cpu->prefill(ids.data(), ids.size(), want.data()).ok());
      EXPECT_TRUE(all_close(got, want));
      expect_same_states(*s, *cpu, GpuPrecision::fp32, "after the prefill");
    }
}

TEST(EmulatedErrors, BadInputLeavesTheSessionAlone) { check_bad_input(kEmulated); }

TEST(EmulatedSlots, PrefillIntoOneSlotOfSeveral) { check_slots(kEmulated); }

// The host side of a prefill (checks, passes, hand-off) allocates nothing.
TEST(EmulatedAlloc, PrefillAllocatesNothing) {
  for (const char* f : {"mamba1-tiny", "mamba2-groups2"}) {
    auto m = Model::load(fixture_dir(f));
    ASSERT_TRUE(m.ok());
    GpuLimits lim;
    lim.max_chunk = 8;
    lim.precision = GpuPrecision::bf16;
    auto e = make_engine(m.value(), lim, 3);
    ASSERT_TRUE(e.ok()) << e.message();
    auto s = new_session(m.value());
    ASSERT_TRUE(s);
    std::vector<int32_t> ids(30);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i * 17 % 512);
    long n;
    bool ok;
    {
      Counting c;
      ok = (*e)->prefill(*s, 0, ids.data(), ids.size(), nullptr).ok();
      ok &= s->step(1).ok();
      n = c.count();
    }
    EXPECT_TRUE(ok);
    EXPECT_EQ(n, 0) << f;
  }
}

}  // namespace
}  // namespace mamba::test
