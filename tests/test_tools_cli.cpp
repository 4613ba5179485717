// The benchmark programs: mamba-bench runs on a fixture and prints its table; it and
// mamba-gemv-bench refuse bad flags with a message naming the flag and exit status 1. (A real
// mamba-gemv-bench run builds a released model's every matrix: too slow for the suite.)
#include <gtest/gtest.h>

#include "tests/test_util.h"
#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

std::string bench() { return program("mamba-bench"); }
std::string gemv_bench() { return program("mamba-gemv-bench"); }

TEST(BenchCli, RunsOnAFixture) {
  ScratchDir dir;
  const RunResult r = run(dir, bench() + " -m " + fixture_dir("mamba1-tiny") +
                                   " --types f32,q4 --threads-list 1 --prompts 4 --decode 4 --reps 1"
                                   " --json " + (dir / "out.json"));
  ASSERT_EQ(r.exit_code, 0) << "stderr:\n" << r.err;
  EXPECT_HAS_ALL(r.out, "tg t/s", "%bw", "\nf32 ", "\nq4 ");
  EXPECT_HAS_ALL(read_bytes(dir / "out.json"), "\"q4\"", "\"f32\"");
}

TEST(BenchCli, RejectsBadFlags) {
  ScratchDir dir;
  const std::string tiny = " -m " + fixture_dir("mamba1-tiny");
  EXPECT_RUN_FAILS(run(dir, bench() + tiny + " --types q9"), "--types", "q9");
  EXPECT_RUN_FAILS(run(dir, bench() + tiny + " --threads-list 0,x"), "--threads-list", "0,x");
  EXPECT_RUN_FAILS(run(dir, bench() + " -m " + (dir / "missing")), "missing", "does not exist");
}

TEST(GemvBenchCli, RejectsBadFlags) {
  ScratchDir dir;
  EXPECT_RUN_FAILS(run(dir, gemv_bench() + " --preset mamba-7b"), "--preset", "mamba-7b");
  EXPECT_RUN_FAILS(run(dir, gemv_bench() + " --types q5"), "--types", "q5");
  EXPECT_RUN_FAILS(run(dir, gemv_bench() + " --threads-list 0"), "--threads-list", "'0'");
  const RunResult r = run(dir, gemv_bench() + " --reps 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_HAS_ALL(r.err, "--reps");
}

}  // namespace
}  // namespace mamba::test
