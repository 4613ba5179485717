// The programs with text: mamba-tokenize (encode / --decode, arguments or stdin), mamba-generate
// -p / -f streaming text (checked against --ids plus decode, on the bundled random checkpoint
// whose 512 ids are NeoX ids too), mamba-logits -p, and their error messages.
#include <sys/wait.h>

#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {


std::string tokenize() { return program("mamba-tokenize"); }
// One thread: these runs are about text, and a tiny model gains nothing from a team.
std::string generate() { return program("mamba-generate") + " -t 1"; }
std::string logits() { return program("mamba-logits") + " -t 1"; }
std::string neox() { return tokenizer_data("mamba-130m-hf"); }
std::string mistral() { return tokenizer_data("mistral_v3_tokenizer.model"); }
std::string tiny() { return fixture_dir("mamba1-tiny"); }

std::string csv(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

TEST(TokenizeCli, EncodesLikeTheLibrary) {
  ScratchDir dir;
  // A few reference cases of each kind, through -p, -f and stdin.
  for (const auto& [tok, cases_file] : {std::pair{neox(), "neox_tokenizer_cases.json"},
                                        std::pair{mistral(), "mistral_v3_tokenizer_cases.json"}}) {
    const detail::Json cases = read_json(tokenizer_data(cases_file))["cases"];
    for (const int i : {0, 40, 77, 120, 150}) {
      const std::string text = cases[size_t(i)]["text"];
      const std::string want = csv(cases[size_t(i)]["ids"].get<std::vector<int32_t>>()) + "\n";
      SCOPED_TRACE(std::string(cases_file) + " " + std::to_string(i) + ": " + escaped(text));
      write_bytes(dir / "in.txt", text);
      RunResult f = run(dir, tokenize() + " --tokenizer " + tok + " -f " + (dir / "in.txt"));
      EXPECT_RUN_OK(f);
      EXPECT_EQ(f.out, want);
      RunResult in = run(dir, tokenize() + " --tokenizer " + tok, text);
      EXPECT_RUN_OK(in);
      EXPECT_EQ(in.out, want);
      EXPECT_TRUE(in.err.empty()) << in.err;
    }
  }
  RunResult p = run(dir, tokenize() + " -m " + neox() + " -p 'Hello world'");
  EXPECT_RUN_OK(p);
  EXPECT_EQ(p.out, "12092,1533\n");
  RunResult empty = run(dir, tokenize() + " -m " + neox(), "");
  EXPECT_RUN_OK(empty);
  EXPECT_EQ(empty.out, "\n");
}

TEST(TokenizeCli, DecodesExactly) {
  ScratchDir dir;
  const detail::Json cases = read_json(tokenizer_data("neox_tokenizer_cases.json"))["cases"];
  for (const int i : {0, 33, 70, 99, 140, 191}) {
    const auto& c = cases[size_t(i)];
    const std::string ids = csv(c["ids"].get<std::vector<int32_t>>());
    SCOPED_TRACE(std::to_string(i) + ": " + ids);
    RunResult arg = run(dir, tokenize() + " --tokenizer " + neox() + " --decode " + (ids.empty() ? "''" : ids));
    EXPECT_RUN_OK(arg);
    EXPECT_EQ(arg.out, std::string(c["decoded"]));  // no newline added
    RunResult in = run(dir, tokenize() + " --tokenizer " + neox() + " --decode --skip-special", ids + "\n");
    EXPECT_RUN_OK(in);
    EXPECT_EQ(in.out, std::string(c["decoded_skip_special"]));
  }
  RunResult clean = run(dir, tokenize() + " --tokenizer " + neox() + " --decode --clean-up",
                  csv(*cached_tokenizer(neox())->encode("Hi , you !")));
  EXPECT_EQ(clean.out, "Hi, you!");
  for (const std::string& list : {"12092 1533", "12092\n1533\n", "[12092, 1533]", " 12092 ,\t1533 "}) {
    RunResult any = run(dir, tokenize() + " --tokenizer " + neox() + " --decode", list);
    EXPECT_RUN_OK(any);
    EXPECT_EQ(any.out, "Hello world") << list;
  }
  RunResult spm = run(dir, tokenize() + " --tokenizer " + mistral() + " --decode 1,17930,1678,1228,1136,3316,29572");
  EXPECT_RUN_OK(spm);
  EXPECT_EQ(spm.out, "Hey how are you doing?");
}

TEST(TokenizeCli, Errors) {
  ScratchDir dir;
  EXPECT_RUN_FAILS(run(dir, tokenize() + " -p hi"), "mamba-tokenize: error:", "-m/--model", "--tokenizer");
  EXPECT_RUN_FAILS(run(dir, tokenize() + " --tokenizer " + (dir / "none") + " -p hi"),
                   "mamba-tokenize: error:", dir / "none", "does not exist");
  EXPECT_RUN_FAILS(run(dir, tokenize() + " -m " + tiny() + " -p hi"), "no tokenizer in this directory");
  EXPECT_RUN_FAILS(run(dir, tokenize() + " --tokenizer " + neox() + " --decode 1,99999"),
                   "token id 99999", "(position 1)", "outside the vocabulary [0, 50277)");
  EXPECT_RUN_FAILS(run(dir, tokenize() + " --tokenizer " + neox() + " --decode 1,x"), "--decode", "\"x\"", "item 2");
  EXPECT_RUN_FAILS(run(dir, tokenize() + " --tokenizer " + neox() + " --decode", "1,-2"), "--decode", "\"-2\"");
  EXPECT_RUN_FAILS(run(dir, tokenize() + " --tokenizer " + neox() + " -f " + (dir / "missing.txt")),
                   dir / "missing.txt", "cannot open");
  EXPECT_NE(run(dir, tokenize() + " --tokenizer " + neox() + " -p a --decode 1").exit_code, 0);
  // Invalid UTF-8: a warning, then the ids of the repaired text.
  RunResult bad = run(dir, tokenize() + " --tokenizer " + neox(), "a\xFF" "b");
  EXPECT_RUN_OK(bad);
  EXPECT_HAS_ALL(bad.err, "warning", "not valid UTF-8", "offset 1", "U+FFFD");
  EXPECT_EQ(bad.out, csv(*cached_tokenizer(neox())->encode("a\xEF\xBF\xBD" "b")) + "\n");
}

// Greedy text generation == the ids generation decoded; the stream prints whole characters only.
TEST(GenerateCli, StreamsTextOfTheGreedyIds) {
  ScratchDir dir;
  auto tok = cached_tokenizer(neox());
  ASSERT_TRUE(tok);
  for (const std::string& prompt : {"a", "The"}) {
    const std::vector<int32_t> prompt_ids = *tok->encode(prompt);
    for (int32_t id : prompt_ids) ASSERT_LT(id, 512) << "prompt must fit the 512-token fixture";
    RunResult ids = run(dir, generate() + " -m " + tiny() + " --ids " + csv(prompt_ids) + " -n 40");
    EXPECT_RUN_OK(ids);
    std::vector<int32_t> generated;
    for (const std::string& x : {ids.out.substr(0, ids.out.find('\n'))}) {
      std::stringstream ss(x);
      for (std::string item; std::getline(ss, item, ',');) generated.push_back(std::stoi(item));
    }
    ASSERT_FALSE(generated.empty());
    DecodeOptions skip;
    skip.skip_special_tokens = true;
    const std::string want = *tok->decode(generated, skip) + "\n";

    RunResult text = run(dir, generate() + " -m " + tiny() + " --tokenizer " + neox() + " -p '" + prompt + "' -n 40");
    EXPECT_RUN_OK(text);
    EXPECT_EQ(text.out, want);
    write_bytes(dir / "prompt.txt", prompt);
    RunResult file = run(dir, generate() + " -m " + tiny() + " --tokenizer " + neox() + " -f " + (dir / "prompt.txt") + " -n 40");
    EXPECT_RUN_OK(file);
    EXPECT_EQ(file.out, want);
    RunResult ids_text = run(dir, generate() + " -m " + tiny() + " --tokenizer " + neox() + " --ids " + csv(prompt_ids) + " -n 40");
    EXPECT_EQ(ids_text.out, want);  // --ids with --tokenizer: text out
  }
}

// --stop: the text ends right before the first occurrence of the stop string; the timings line
// goes to stderr.
TEST(GenerateCli, StopStringEndsTheText) {
  ScratchDir dir;
  const std::string base = generate() + " -m " + tiny() + " --tokenizer " + neox() + " -p The -n 40";
  RunResult full = run(dir, base);
  EXPECT_RUN_OK(full);
  EXPECT_HAS_ALL(full.err, "load:", "prefill:", "decode:", "peak memory");
  const std::string text = full.out.substr(0, full.out.size() - 1);  // without the newline
  ASSERT_GT(text.size(), 12u);
  std::string stop;  // 3 bytes from the middle that survive shell quoting
  for (size_t at = text.size() / 2; at + 3 <= text.size() && stop.empty(); ++at) {
    const std::string c = text.substr(at, 3);
    if (c.find_first_of("'\\\n") == std::string::npos) stop = c;
  }
  ASSERT_FALSE(stop.empty());
  const size_t first = text.find(stop);
  RunResult cut = run(dir, base + " --stop '" + stop + "' --stop 'zzzzzz'");
  EXPECT_RUN_OK(cut);
  EXPECT_EQ(cut.out, text.substr(0, first) + "\n") << "stop \"" << stop << "\"";
  RunResult never = run(dir, base + " --stop 'zzzzzz'");
  EXPECT_EQ(never.out, full.out);  // held-back text is released at the end
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,2 --stop x"), "--stop");
}

TEST(GenerateCli, Errors) {
  ScratchDir dir;
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " -p hello"), "mamba-generate: error:", tiny(),
                   "no tokenizer in this directory", "--tokenizer", "--ids");
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny()), "no prompt", "--ids", "-p/--prompt", "-f/--file");
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " -p a --ids 1"), "only one of");
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " --tokenizer " + neox() + " -p ''"),
                   "-p", "the prompt is empty");
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " --tokenizer " + neox() + " -p 'Hello world'"),
                   "prompt token id 12092 at position 0", "vocabulary 50277", "[0, 512)",
                   "is this the model's tokenizer");
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " --tokenizer " + (dir / "nope") + " -p a"),
                   dir / "nope", "does not exist");
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " --tokenizer " + neox() + " -f " + (dir / "nope.txt")),
                   dir / "nope.txt", "cannot open");
  // Mistral puts BOS (id 1) first; "a" is id 1032, beyond the fixture.
  EXPECT_RUN_FAILS(run(dir, generate() + " -m " + tiny() + " --tokenizer " + mistral() + " -p a"),
                   "prompt token id 1032 at position 1");
  write_bytes(dir / "bad.txt", "a\xFF");
  RunResult bad = run(dir, generate() + " -m " + tiny() + " --tokenizer " + neox() + " -f " + (dir / "bad.txt") + " -n 2");
  EXPECT_HAS_ALL(bad.err, "warning", "not valid UTF-8");
}

TEST(LogitsCli, TextPromptGivesTheSameLogits) {
  ScratchDir dir;
  auto tok = cached_tokenizer(neox());
  const std::vector<int32_t> ids = *tok->encode("a b");
  RunResult a = run(dir, logits() + " -m " + tiny() + " --ids " + csv(ids) + " --out " + (dir / "ids.npy"));
  EXPECT_RUN_OK(a);
  RunResult b = run(dir, logits() + " -m " + tiny() + " --tokenizer " + neox() + " -p 'a b' --out " + (dir / "text.npy"));
  EXPECT_RUN_OK(b);
  EXPECT_EQ(read_bytes(dir / "ids.npy"), read_bytes(dir / "text.npy"));
  EXPECT_FALSE(read_bytes(dir / "ids.npy").empty());
}

}  // namespace
}  // namespace mamba::test
