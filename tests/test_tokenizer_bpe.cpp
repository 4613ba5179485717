// The GPT-NeoX-20B byte-level BPE against Hugging Face tokenizers' own output: every case of
// neox_tokenizer_cases.json (ids, token strings, decode with and without special tokens) and
// llama.cpp's 44 MPT cases, with both spellings of the tokenizer file.
#include <map>

#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

class NeoxCases : public ::testing::TestWithParam<std::string> {};

TEST_P(NeoxCases, EveryCaseMatchesHuggingFace) {
  auto tok = cached_tokenizer(GetParam());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), TokenizerKind::byte_level_bpe);
  EXPECT_EQ(tok->vocab_size(), 50277);
  const detail::Json cases = read_json(tokenizer_data("neox_tokenizer_cases.json"))["cases"];
  ASSERT_EQ(cases.size(), 192u);
  int checked = 0;
  for (const auto& c : cases) {
    const std::string id = c["id"], text = c["text"];
    const std::vector<int32_t> want = c["ids"];
    SCOPED_TRACE(id + " (" + std::string(c["category"]) + "): \"" + escaped(text) + "\"");
    auto got = tok->encode(text);
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_TRUE(same_ids(*got, want));

    const std::vector<std::string> tokens = c["tokens"];
    ASSERT_EQ(tokens.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      auto piece = tok->token_to_piece(want[i]);
      ASSERT_TRUE(piece.ok()) << piece.message();
      EXPECT_EQ(*piece, tokens[i]) << "token " << i;
      EXPECT_EQ(tok->piece_to_token(tokens[i]), want[i]) << "token " << i;
    }

    auto decoded = tok->decode(want);
    ASSERT_TRUE(decoded.ok()) << decoded.message();
    EXPECT_EQ(*decoded, std::string(c["decoded"]));
    DecodeOptions skip;
    skip.skip_special_tokens = true;
    auto skipped = tok->decode(want, skip);
    ASSERT_TRUE(skipped.ok()) << skipped.message();
    EXPECT_EQ(*skipped, std::string(c["decoded_skip_special"]));
    if (c["roundtrip_exact"]) EXPECT_EQ(*decoded, text);
    ++checked;
  }
  EXPECT_EQ(checked, 192);
}

TEST_P(NeoxCases, LlamaCppMptCases) {
  auto tok = cached_tokenizer(GetParam());
  ASSERT_TRUE(tok);
  const detail::Json cases = read_json(tokenizer_data("neox_llamacpp_mpt_cases.json"))["cases"];
  ASSERT_EQ(cases.size(), 44u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i]["text"];
    SCOPED_TRACE("case " + std::to_string(i) + ": \"" + escaped(text) + "\"");
    auto got = tok->encode(text);
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_TRUE(same_ids(*got, cases[i]["ids"].get<std::vector<int32_t>>()));
  }
}

TEST_P(NeoxCases, SpecialTokens) {
  auto tok = cached_tokenizer(GetParam());
  ASSERT_TRUE(tok);
  const SpecialTokens& s = tok->special();
  // Both: <|endoftext|> (id 0) is bos, eos and unk; the directory also names it as pad.
  EXPECT_EQ(s.bos, 0);
  EXPECT_EQ(s.eos, 0);
  EXPECT_EQ(s.unk, 0);
  EXPECT_FALSE(s.add_bos);
  EXPECT_FALSE(s.add_eos);
  EXPECT_TRUE(tok->is_special(0));
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_FALSE(tok->is_special(50276));  // a run of two spaces: added, not special
  EXPECT_FALSE(tok->is_special(12092));
  EXPECT_EQ(tok->piece_to_token("<|padding|>"), 1);
  EXPECT_EQ(tok->piece_to_token("no such token"), -1);
  EXPECT_EQ(*tok->token_to_piece(50254), std::string(24, ' '));
}

INSTANTIATE_TEST_SUITE_P(BothFiles, NeoxCases, ::testing::ValuesIn(neox_tokenizers()),
                         [](const auto& info) { return info.index == 0 ? "original" : "mamba130m"; });

TEST(NeoxDirectory, ReadsTokenizerConfig) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->special().pad, 0);  // pad_token <|endoftext|>
  EXPECT_TRUE(tok->clean_up_tokenization_spaces());
  auto plain = cached_tokenizer(tokenizer_data("gpt-neox-20b_tokenizer.json"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->special().pad, -1);
  EXPECT_FALSE(plain->clean_up_tokenization_spaces());
  EXPECT_EQ(tok->source(), tokenizer_data("mamba-130m-hf") + "/tokenizer.json");
}

}  // namespace
}  // namespace mamba::test
