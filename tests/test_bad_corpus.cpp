// The bad-input corpus (tests/data/bad/, written by tools/make_hardening_data.py; its README
// lists every case): each case runs a program on a broken checkpoint, shard index, tokenizer,
// state blob or command line, which must exit with status 1 and print
// "<program>: error: <message>" with the expected text in the message -- no crash, no sanitizer
// report, no success with garbage. Cases marked OK are the good inputs the others break, and
// must succeed.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace mamba::test {
namespace {

struct Case {
  std::string name, program, args;
  std::vector<std::string> expect;  // each must be in the message; {"OK"}: must succeed
  bool ok() const { return expect.size() == 1 && expect[0] == "OK"; }
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::ifstream in(data_dir() + "/bad/cases.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    size_t at = 0;
    for (size_t tab; (tab = line.find('\t', at)) != std::string::npos; at = tab + 1)
      f.push_back(line.substr(at, tab - at));
    f.push_back(line.substr(at));
    if (f.size() >= 4) cases.push_back({f[0], f[1], f[2], {f.begin() + 3, f.end()}});
    else cases.push_back({"malformed_line_" + std::to_string(cases.size()), "", line, {}});
  }
  return cases;
}

std::string substitute(std::string s, const std::string& key, const std::string& value) {
  for (size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
  return s;
}

class BadCorpus : public ::testing::TestWithParam<Case> {};

TEST(BadCorpusFile, HasTheCases) {
  const std::vector<Case> cases = load_cases();
  size_t bad = 0;
  for (const Case& c : cases) bad += !c.ok();
  EXPECT_GE(bad, 50u) << "tests/data/bad/cases.tsv: run tools/make_hardening_data.py";
}

TEST_P(BadCorpus, FailsClearly) {
  const Case& c = GetParam();
  ASSERT_FALSE(c.program.empty()) << "malformed line in cases.tsv: " << c.args;
  ScratchDir dir;
  std::string args = substitute(c.args, "{bad}", data_dir() + "/bad");
  args = substitute(args, "{tok}", data_dir() + "/tokenizer/mamba-130m-hf");
  args = substitute(args, "{tmp}", dir.path());
  const RunResult r = run(dir, "OMP_NUM_THREADS=1 " + program(c.program) + " " + args);
  EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << r.err;
  if (c.ok()) {
    EXPECT_EQ(r.exit_code, 0) << c.program << " " << args << "\nstderr:\n" << r.err;
    return;
  }
  EXPECT_EQ(r.exit_code, 1) << c.program << " " << args << "\nstderr:\n" << r.err;
  const std::string prefix = c.program + ": error: ";
  const size_t at = r.err.find(prefix);
  ASSERT_NE(at, std::string::npos) << "no \"" << prefix << "\" in stderr:\n" << r.err;
  for (const std::string& e : c.expect)
    EXPECT_NE(r.err.find(e, at), std::string::npos) << "expected \"" << e << "\" in the error:\n" << r.err;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadCorpus, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace mamba::test
