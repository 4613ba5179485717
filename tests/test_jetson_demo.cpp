// mamba-jetson-demo: prompts on stdin, one per line, text streamed out; the memory budget line at
// start and the timing line of every turn on stderr. Its greedy text equals mamba-generate's for
// the same prompt. In a build without CUDA (or without a device) it prefills on the CPU and says
// so; with a GPU it prefills there. (The fixture model has a 512-token vocabulary: the prompts
// are chosen so that their NeoX ids fit in it.)
#include "mamba/gpu.h"
#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

std::string demo() {
  return program("mamba-jetson-demo") + " -t 1 -m " + fixture_dir("mamba1-tiny") +
         " --tokenizer " + tokenizer_data("mamba-130m-hf");
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1)
    out.push_back(s.substr(at, nl - at));
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(JetsonDemo, StreamsEachPromptAndReportsEachTurn) {
  ScratchDir dir;
  RunResult r = run(dir, demo() + " -n 12 --ignore-eos", "The\n\nin it is\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out).size(), 2u) << r.out;  // the empty line is skipped
  EXPECT_HAS_ALL(r.err, "memory budget", "host weights", "session", "prefill on the",
                 "ready: one prompt per line");
  EXPECT_EQ(count(r.err, "time to first token"), 2u) << r.err;
  EXPECT_EQ(count(r.err, "decode 12 tokens"), 2u) << r.err;
  EXPECT_EQ(count(r.err, "peak memory"), 2u) << r.err;
  if (!GpuPrefill::built()) EXPECT_HAS_ALL(r.err, "no GPU support");
}

TEST(JetsonDemo, GreedyTextEqualsGenerate) {
  ScratchDir dir;
  const std::vector<std::string> prompts = {"The", "in it is", "a b c"};
  std::string input;
  for (const auto& p : prompts) input += p + "\n";
  RunResult r = run(dir, demo() + " --cpu -n 20 --ignore-eos", input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto got = lines(r.out);
  ASSERT_EQ(got.size(), prompts.size()) << r.out;
  for (size_t i = 0; i < prompts.size(); ++i) {
    RunResult g = run(dir, program("mamba-generate") + " -t 1 -m " + fixture_dir("mamba1-tiny") +
                               " --tokenizer " + tokenizer_data("mamba-130m-hf") + " -p '" +
                               prompts[i] + "' -n 20 --ignore-eos");
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_EQ(got[i] + "\n", g.out) << "prompt " << prompts[i];
  }
}

// Every prompt through the GPU prefill (fp32) where there is one, else the CPU: the same text.
TEST(JetsonDemo, GpuPrefillGivesTheCpuText) {
  ScratchDir dir;
  const std::string input = "The\nin it is\na b c\n";
  RunResult gpu = run(dir, demo() + " --gpu-min-tokens 0 --precision fp32 --gpu-chunk 2 -n 20 "
                                    "--ignore-eos --keep-context", input);
  RunResult cpu = run(dir, demo() + " --cpu -n 20 --ignore-eos --keep-context", input);
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_EQ(gpu.out, cpu.out);
  if (GpuPrefill::device_count() > 0) EXPECT_EQ(count(gpu.err, "prefill on the GPU"), 3u) << gpu.err;
}

TEST(JetsonDemo, KeepContextContinuesTheConversation) {
  ScratchDir dir;
  // Two turns with --keep-context == one prompt of both turns' tokens: the second turn's text
  // differs from a fresh start.
  RunResult kept = run(dir, demo() + " --cpu -n 5 --ignore-eos --keep-context", "The\nThe\n");
  RunResult fresh = run(dir, demo() + " --cpu -n 5 --ignore-eos", "The\nThe\n");
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  const auto k = lines(kept.out), f = lines(fresh.out);
  ASSERT_EQ(k.size(), 2u);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(k[0], f[0]);
  EXPECT_EQ(f[0], f[1]);  // afresh: the same prompt gives the same text
  EXPECT_NE(k[1], f[1]);
}

TEST(JetsonDemo, RefusesAnExceededBudgetAndBadFlags) {
  ScratchDir dir;
  RunResult r = run(dir, demo() + " --budget-mib 0.5", "The\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_HAS_ALL(r.err, "mamba-jetson-demo: error:", "exceeds --budget-mib");
  r = run(dir, demo() + " --precision fp64", "The\n");
  EXPECT_NE(r.exit_code, 0);
  // A prompt the model cannot take fails that turn (named) and the exit status; the rest run.
  r = run(dir, demo() + " -n 3", "The\nto be or\nThe\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_HAS_ALL(r.err, "turn 2: prompt token id 936 at position 0", "outside the model's vocabulary");
  EXPECT_EQ(lines(r.out).size(), 2u) << r.out;
  r = run(dir, program("mamba-jetson-demo") + " -m " + fixture_dir("mamba1-tiny"), "The\n");
  EXPECT_EQ(r.exit_code, 1);  // no tokenizer in the fixture directory
  EXPECT_HAS_ALL(r.err, "--tokenizer");
}

}  // namespace
}  // namespace mamba::test
