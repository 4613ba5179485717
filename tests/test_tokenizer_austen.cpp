// The whole of Jane Austen's six novels (4,025,039 bytes) as one string: encodes to exactly the
// 995,775 ids Hugging Face tokenizers gives (austen_novels.neox20b.u16le) and decodes back to the
// text. Prints encode and decode speed (one thread); the README quotes these lines.
#include <chrono>
#include <cstdio>

#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

std::vector<int32_t> reference_ids() {
  const std::string raw = read_bytes(tokenizer_data("austen_novels.neox20b.u16le"));
  std::vector<int32_t> ids(raw.size() / 2);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = int32_t(uint8_t(raw[2 * i]) | (uint32_t(uint8_t(raw[2 * i + 1])) << 8));
  return ids;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class Austen : public ::testing::TestWithParam<std::string> {};

TEST_P(Austen, WholeCorpusEncodesAndDecodesExactly) {
  auto tok = cached_tokenizer(GetParam());
  ASSERT_TRUE(tok);
  const std::string text = read_bytes(tokenizer_data("austen_novels.txt"));
  ASSERT_EQ(text.size(), 4025039u);
  const std::vector<int32_t> want = reference_ids();
  ASSERT_EQ(want.size(), 995775u);

  auto t0 = std::chrono::steady_clock::now();
  auto ids = tok->encode(text);
  const double encode_s = seconds_since(t0);
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_TRUE(same_ids(*ids, want));

  t0 = std::chrono::steady_clock::now();
  auto back = tok->decode(want);
  const double decode_s = seconds_since(t0);
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_TRUE(*back == text) << "decoded text differs (" << back->size() << " vs " << text.size()
                             << " bytes)";

  const double mb = double(text.size()) / 1e6;
  std::printf("austen (%s): encode %.3f s = %.1f MB/s (%.0f tokens/s); decode %.3f s = %.1f MB/s\n",
              GetParam().substr(GetParam().find_last_of('/') + 1).c_str(), encode_s, mb / encode_s,
              double(want.size()) / encode_s, decode_s, mb / decode_s);
}

INSTANTIATE_TEST_SUITE_P(BothFiles, Austen, ::testing::ValuesIn(neox_tokenizers()),
                         [](const auto& info) { return info.index == 0 ? "original" : "mamba130m"; });

}  // namespace
}  // namespace mamba::test
