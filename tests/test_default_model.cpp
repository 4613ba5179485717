// The bundled default model (models/mamba2-austen, trained by tools/train_austen.py): the C++
// forward reproduces the training script's own held-out evaluation (the strongest end-to-end
// check that it computes what PyTorch computed), and the README's main job writes English.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace mamba::test {
namespace {

std::string model_dir() { return std::string(MAMBA_SOURCE_DIR) + "/models/mamba2-austen"; }

std::string run(const std::string& cmd) {
  std::string out;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << cmd;
  return out;
}

// The excerpt's NLL as tools/eval_austen.py computed it (recorded in training.json) vs
// mamba-perplexity over the same ids: within 1% (in practice they agree to about 1e-5).
TEST(DefaultModel, PerplexityMatchesTheTrainingEvaluation) {
  std::ifstream f(model_dir() + "/training.json");
  ASSERT_TRUE(f) << model_dir();
  const auto card = nlohmann::json::parse(f);
  const auto& ex = card.at("excerpt");
  const double want = ex.at("mean_nll").get<double>();
  const std::string out =
      run(program("mamba-perplexity") + " -m " + model_dir() + " --ids-u16 " + data_dir() +
          "/tokenizer/austen_novels.neox20b.u16le --begin-fraction 0.95 --count " +
          std::to_string(ex.at("ids").get<int>()) + " --window " +
          std::to_string(ex.at("window").get<int>()) + " 2>&1");
  const size_t at = out.find("mean NLL: ");
  ASSERT_NE(at, std::string::npos) << out;
  const double got = std::stod(out.substr(at + 10));
  EXPECT_NEAR(got, want, 0.01 * want) << out;
  EXPECT_NEAR(got, want, 1e-3) << "float32 vs PyTorch float32 should agree far closer than 1%";
}

// -f FILE scores the text through the model's tokenizer: the same as its ids.
TEST(DefaultModel, PerplexityOfTextEqualsThatOfItsIds) {
  const ScratchDir dir;
  const std::string file = dir.path() + "/excerpt.txt";
  {
    std::ifstream in(data_dir() + "/tokenizer/austen_novels.txt");
    std::string text(1500, '\0');
    in.seekg(1500);
    in.read(text.data(), std::streamsize(text.size()));
    std::ofstream(file) << text;
  }
  std::string ids = run(program("mamba-tokenize") + " -m " + model_dir() + " -f " + file);
  while (!ids.empty() && (ids.back() == '\n' || ids.back() == ' ')) ids.pop_back();
  const std::string a = run(program("mamba-perplexity") + " -f " + file + " 2>&1");
  const std::string b = run(program("mamba-perplexity") + " --ids " + ids + " 2>&1");
  ASSERT_NE(a.find("mean NLL: "), std::string::npos) << a;
  EXPECT_EQ(a, b);
}

TEST(DefaultModel, MainJobWritesEnglish) {
  const std::string text =
      run(program("mamba-generate") + " -p 'It is a truth universally acknowledged' -n 40 "
                      "--temp 0 2>/dev/null");
  ASSERT_GT(text.size(), 60u) << text;
  size_t letters = 0, spaces = 0;
  for (unsigned char c : text) {
    letters += std::isalpha(c) != 0;
    spaces += c == ' ';
  }
  EXPECT_GT(letters, text.size() / 2) << text;  // words, not symbols
  EXPECT_GT(spaces, 5u) << text;
}

}  // namespace
}  // namespace mamba::test
