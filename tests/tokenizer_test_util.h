// Helpers shared by the tokenizer tests: the bundled tokenizer files and reference cases
// (tests/data/tokenizer/, see tests/data/README.md), and readable diffs of id lists.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/json.h"
#include "mamba/tokenizer.h"
#include "tests/test_util.h"

namespace mamba::test {

inline std::string tokenizer_data(const std::string& name = "") {
  return data_dir() + "/tokenizer" + (name.empty() ? "" : "/" + name);
}


inline detail::Json read_json(const std::string& path) {
  return detail::Json::parse(read_bytes(path));
}

// Loads once per process (the NeoX files take a few hundred ms to parse).
inline std::shared_ptr<const Tokenizer> cached_tokenizer(const std::string& path) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  auto& t = cache[path];
  if (!t) {
    auto r = Tokenizer::load(path);
    EXPECT_TRUE(r.ok()) << r.message();
    if (r.ok()) t = r.value();
  }
  return t;
}

// The two spellings of the GPT-NeoX-20B tokenizer: the original file ("a b" merges) and
// mamba-130m-hf's re-saved directory (["a", "b"] merges, tokenizer_config.json).
inline std::vector<std::string> neox_tokenizers() {
  return {tokenizer_data("gpt-neox-20b_tokenizer.json"), tokenizer_data("mamba-130m-hf")};
}

inline std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

// Printable form of text for failure messages (escapes control and non-ASCII bytes).
inline std::string escaped(const std::string& s, size_t max = 200) {
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < max; ++i) {
    const auto c = uint8_t(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += char(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

inline ::testing::AssertionResult same_ids(const std::vector<int32_t>& got,
                                           const std::vector<int32_t>& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure() << "first difference at " << i << " of " << want.size()
                                       << " ids\n  got:  " << ids_str(got)
                                       << "\n  want: " << ids_str(want);
}

// EXPECT that `msg` contains every one of `parts`, printing the whole message on failure.
#define EXPECT_HAS_ALL(msg, ...)                                                                \
  do {                                                                                          \
    const std::string m_ = (msg);                                                               \
    for (const std::string& p_ : std::vector<std::string>{__VA_ARGS__})                         \
      EXPECT_NE(m_.find(p_), std::string::npos) << "expected \"" << p_ << "\" in:\n" << m_; \
  } while (0)

// A program's run (RunResult) that succeeded; one that failed with exit status 1 and a message
// on stderr holding every one of the parts.
#define EXPECT_RUN_OK(r) EXPECT_EQ((r).exit_code, 0) << "stderr:\n" << (r).err
#define EXPECT_RUN_FAILS(r, ...)                         \
  do {                                                   \
    const RunResult& r_ = (r);                           \
    EXPECT_EQ(r_.exit_code, 1) << "stderr:\n" << r_.err; \
    EXPECT_HAS_ALL(r_.err, __VA_ARGS__);                 \
  } while (0)


}  // namespace mamba::test
