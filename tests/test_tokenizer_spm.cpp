// The Mistral v3 SentencePiece tokenizer (Mamba-Codestral's family) behind mamba::Tokenizer: all
// 251 reference cases (ids, pieces, decoded text), the special ids, and how a model directory
// picks it (tokenizer.model.v3 / tokenizer.model).
#include <filesystem>

#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

namespace fs = std::filesystem;

std::string mistral_model() { return tokenizer_data("mistral_v3_tokenizer.model"); }

TEST(Mistral, EveryCaseMatchesSentencePiece) {
  auto tok = cached_tokenizer(mistral_model());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), TokenizerKind::sentencepiece);
  EXPECT_EQ(tok->vocab_size(), 32768);
  const detail::Json cases = read_json(tokenizer_data("mistral_v3_tokenizer_cases.json"))["cases"];
  ASSERT_EQ(cases.size(), 251u);
  for (const auto& c : cases) {
    const std::string id = c["id"], text = c["text"];
    const std::vector<int32_t> want = c["ids"];
    SCOPED_TRACE(id + ": \"" + escaped(text) + "\"");
    auto got = tok->encode(text);
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_TRUE(same_ids(*got, want));
    const std::vector<std::string> pieces = c["pieces"];
    ASSERT_EQ(pieces.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      auto piece = tok->token_to_piece(want[i]);
      ASSERT_TRUE(piece.ok()) << piece.message();
      EXPECT_EQ(*piece, pieces[i]) << "piece " << i;
      EXPECT_EQ(tok->piece_to_token(pieces[i]), want[i]) << "piece " << i;
    }
    auto decoded = tok->decode(want);
    ASSERT_TRUE(decoded.ok()) << decoded.message();
    EXPECT_EQ(*decoded, std::string(c["decoded"]));
  }
}

TEST(Mistral, SpecialTokens) {
  auto tok = cached_tokenizer(mistral_model());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->special().unk, 0);
  EXPECT_EQ(tok->special().bos, 1);
  EXPECT_EQ(tok->special().eos, 2);
  EXPECT_TRUE(tok->special().add_bos);
  EXPECT_FALSE(tok->special().add_eos);
  EXPECT_EQ(*tok->token_to_piece(3), "[INST]");
  EXPECT_EQ(*tok->token_to_piece(4), "[/INST]");
  for (int32_t id : {0, 1, 2, 3, 4, 13}) EXPECT_TRUE(tok->is_special(id)) << id;
  EXPECT_FALSE(tok->is_special(23325));
  EXPECT_EQ(tok->piece_to_token("\xE2\x96\x81Hello"), 23325);
  EXPECT_EQ(tok->piece_to_token("no such piece"), -1);  // not the unk id

  // Control pieces decode to nothing; skip_special_tokens also drops <unk>.
  const std::vector<int32_t> ids = {1, 3, 23325, 2294, 4, 0, 2};
  EXPECT_EQ(*tok->decode(ids), "Hello world \xE2\x81\x87 ");
  DecodeOptions skip;
  skip.skip_special_tokens = true;
  EXPECT_EQ(*tok->decode(ids, skip), "Hello world");
}

TEST(Mistral, PickedFromModelDirectory) {
  const fs::path dir = fs::temp_directory_path() / ("mamba_spm_dir_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* name : {"tokenizer.model.v3", "tokenizer.model"}) {
    fs::copy_file(mistral_model(), dir / name, fs::copy_options::overwrite_existing);
    auto tok = Tokenizer::load(dir.string());
    ASSERT_TRUE(tok.ok()) << tok.message();
    EXPECT_EQ((*tok)->kind(), TokenizerKind::sentencepiece);
    EXPECT_EQ((*tok)->source(), (dir / name).string());
    EXPECT_TRUE(same_ids(*(*tok)->encode("Hey how are you doing?"),
                         {17930, 1678, 1228, 1136, 3316, 29572}));
    fs::remove(dir / name);
  }
  // tokenizer.json is preferred when both are there.
  fs::copy_file(mistral_model(), dir / "tokenizer.model.v3");
  fs::copy_file(tokenizer_data("mamba-130m-hf/tokenizer.json"), dir / "tokenizer.json");
  auto both = Tokenizer::load(dir.string());
  ASSERT_TRUE(both.ok()) << both.message();
  EXPECT_EQ((*both)->kind(), TokenizerKind::byte_level_bpe);
  // ...unless it is a kind we do not run (a SentencePiece-style tokenizer.json).
  std::ofstream(dir / "tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
             "pre_tokenizer": {"type": "Metaspace"}, "decoder": {"type": "Metaspace"}})";
  auto fallback = Tokenizer::load(dir.string());
  ASSERT_TRUE(fallback.ok()) << fallback.message();
  EXPECT_EQ((*fallback)->kind(), TokenizerKind::sentencepiece);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mamba::test
