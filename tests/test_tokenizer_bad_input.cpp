// Bad tokenizer input of every kind must fail with a message naming the file / field / id and
// what was expected, and never crash: missing or malformed tokenizer.json, tokenizer_config.json
// and SentencePiece files, kinds we do not run, ids outside the vocabulary. Invalid UTF-8 text is
// not an error: it is replaced with U+FFFD (documented in include/mamba/tokenizer.h).
#include <climits>

#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

using detail::Json;

// A small valid byte-level BPE: bytes a, b, c, space; merges "a b", "Ġ a".
Json tiny_bpe() {
  return Json::parse(R"({
    "version": "1.0",
    "added_tokens": [{"id": 6, "content": "<eos>", "special": true}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "\u0120a": 5},
              "merges": ["a b", "\u0120 a"]}
  })");
}

Result<std::shared_ptr<const Tokenizer>> load_json(const ScratchDir& dir, const std::string& text) {
  write_bytes(dir / "tokenizer.json", text);
  return Tokenizer::load(dir.path());
}

#define EXPECT_LOAD_FAILS(result, ...)                         \
  do {                                                         \
    const auto& r_ = (result);                                 \
    ASSERT_FALSE(r_.ok()) << "loaded, but should have failed"; \
    EXPECT_HAS_ALL(r_.message(), __VA_ARGS__);                 \
  } while (0)

TEST(TokenizerBad, TinyTokenizerLoads) {  // the base every mutation below starts from
  ScratchDir dir;
  auto t = load_json(dir, tiny_bpe().dump());
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ((*t)->vocab_size(), 7);
  EXPECT_TRUE(same_ids(*(*t)->encode("ab a<eos>c"), {4, 5, 6, 2}));
  EXPECT_EQ(*(*t)->decode({4, 5, 6, 2}), "ab a<eos>c");
}

TEST(TokenizerBad, MissingPaths) {
  ScratchDir dir;
  EXPECT_LOAD_FAILS(Tokenizer::load(dir / "nowhere"), dir / "nowhere", "does not exist");
  EXPECT_LOAD_FAILS(Tokenizer::load(dir.path()), dir.path(), "no tokenizer in this directory",
                    "tokenizer.json", "tokenizer.model", "tokenizer.model.v3");
  EXPECT_LOAD_FAILS(Tokenizer::load(""), "does not exist");
}

TEST(TokenizerBad, MalformedJson) {
  ScratchDir dir;
  const std::string file = dir / "tokenizer.json";
  EXPECT_LOAD_FAILS(load_json(dir, ""), file, "invalid JSON");
  EXPECT_LOAD_FAILS(load_json(dir, "{ not json"), file, "invalid JSON");
  const std::string real = read_bytes(tokenizer_data("gpt-neox-20b_tokenizer.json"));
  EXPECT_LOAD_FAILS(load_json(dir, real.substr(0, 100000)), file, "invalid JSON");  // truncated
  EXPECT_LOAD_FAILS(load_json(dir, real.substr(0, real.size() - 2)), file, "invalid JSON");
  EXPECT_LOAD_FAILS(load_json(dir, "[]"), file, "expected a JSON object");
  EXPECT_LOAD_FAILS(load_json(dir, std::string(200000, '[')), file, "invalid JSON");
  EXPECT_LOAD_FAILS(load_json(dir, "{\"model\": " + std::string(100000, '[') +
                                       std::string(100000, ']') + "}"),
                    file, "model", "expected an object");
  EXPECT_LOAD_FAILS(load_json(dir, "{\"model\": {\"vocab\": {\"\\ud800\": 0}}}"), file, "invalid JSON");
}

// Each mutation of tiny_bpe() and the words its message must contain.
struct Mutation {
  const char* what;
  void (*apply)(Json&);
  std::vector<std::string> parts;
};

TEST(TokenizerBad, MalformedFields) {
  const std::vector<Mutation> mutations = {
      {"no model", [](Json& j) { j.erase("model"); }, {"no \"model\""}},
      {"model not an object", [](Json& j) { j["model"] = 3; }, {"model", "expected an object, got 3"}},
      {"model type", [](Json& j) { j["model"]["type"] = "WordPiece"; },
       {"model.type", "\"WordPiece\"", "not supported", "BPE"}},
      {"no vocab", [](Json& j) { j["model"].erase("vocab"); }, {"model.vocab", "expected an object", "nothing"}},
      {"vocab list", [](Json& j) { j["model"]["vocab"] = Json::array({"a"}); }, {"model.vocab", "expected an object"}},
      {"negative id", [](Json& j) { j["model"]["vocab"]["a"] = -1; }, {"model.vocab[\"a\"]", "expected an id", "-1"}},
      {"string id", [](Json& j) { j["model"]["vocab"]["b"] = "1"; }, {"model.vocab[\"b\"]", "\"1\""}},
      {"huge id", [](Json& j) { j["model"]["vocab"]["c"] = 1 << 30; }, {"token id 1073741824", "too large"}},
      {"no merges", [](Json& j) { j["model"].erase("merges"); }, {"model.merges", "expected an array"}},
      {"merge not a string", [](Json& j) { j["model"]["merges"][1] = 5; }, {"model.merges[1]", "got 5"}},
      {"merge with two spaces", [](Json& j) { j["model"]["merges"][0] = "a  b"; },
       {"model.merges[0]", "\"a  b\"", "one space"}},
      {"merge with no space", [](Json& j) { j["model"]["merges"][0] = "ab"; }, {"model.merges[0]", "\"ab\""}},
      {"merge triple", [](Json& j) { j["model"]["merges"][0] = Json::array({"a", "b", "c"}); }, {"model.merges[0]"}},
      {"merge token unknown", [](Json& j) { j["model"]["merges"][1] = Json::array({"a", "zz"}); },
       {"model.merges[1]", "\"zz\"", "not in model.vocab"}},
      {"merged token unknown", [](Json& j) { j["model"]["vocab"].erase("ab"); },
       {"model.merges[0]", "\"ab\"", "not in model.vocab"}},
      {"dropout", [](Json& j) { j["model"]["dropout"] = 0.1; }, {"model.dropout", "0.1", "not supported"}},
      {"suffix", [](Json& j) { j["model"]["end_of_word_suffix"] = "</w>"; }, {"end_of_word_suffix", "not supported"}},
      {"byte fallback", [](Json& j) { j["model"]["byte_fallback"] = true; }, {"byte_fallback", "not supported"}},
      {"ignore_merges type", [](Json& j) { j["model"]["ignore_merges"] = "no"; },
       {"ignore_merges", "expected true or false", "\"no\""}},
      {"normalizer", [](Json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, {"normalizer", "\"NFKC\"", "not supported"}},
      {"normalizer untyped", [](Json& j) { j["normalizer"] = {{"kind", "NFC"}}; }, {"normalizer.type", "expected a string"}},
      {"pre-tokenizer", [](Json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; },
       {"pre_tokenizer", "\"Metaspace\"", "not supported", "ByteLevel"}},
      {"no pre-tokenizer", [](Json& j) { j.erase("pre_tokenizer"); }, {"pre_tokenizer", "null", "not supported"}},
      {"use_regex type", [](Json& j) { j["pre_tokenizer"]["use_regex"] = 1; }, {"pre_tokenizer.use_regex", "expected true or false"}},
      {"no decoder", [](Json& j) { j.erase("decoder"); }, {"decoder", "not supported"}},
      {"added not a list", [](Json& j) { j["added_tokens"] = 1; }, {"added_tokens", "expected an array"}},
      {"added without content", [](Json& j) { j["added_tokens"][0].erase("content"); },
       {"added_tokens[0].content", "expected a non-empty string"}},
      {"added empty content", [](Json& j) { j["added_tokens"][0]["content"] = ""; }, {"added_tokens[0].content"}},
      {"added bad id", [](Json& j) { j["added_tokens"][0]["id"] = "x"; }, {"added_tokens[0].id", "\"x\""}},
      {"added bad flag", [](Json& j) { j["added_tokens"][0]["lstrip"] = "yes"; },
       {"added_tokens[0].lstrip", "expected true or false", "\"yes\""}},
  };
  for (const Mutation& m : mutations) {
    SCOPED_TRACE(m.what);
    ScratchDir dir;
    Json j = tiny_bpe();
    m.apply(j);
    auto r = load_json(dir, j.dump());
    ASSERT_FALSE(r.ok()) << "loaded, but should have failed";
    EXPECT_HAS_ALL(r.message(), dir / "tokenizer.json");
    for (const std::string& p : m.parts) EXPECT_HAS_ALL(r.message(), p);
  }
}

TEST(TokenizerBad, MalformedSideFiles) {
  ScratchDir dir;
  write_bytes(dir / "tokenizer.json", tiny_bpe().dump());
  write_bytes(dir / "tokenizer_config.json", "{\"bos_token\": 5}");
  EXPECT_LOAD_FAILS(Tokenizer::load(dir.path()), dir / "tokenizer_config.json", "bos_token",
                    "expected a string", "got 5");
  write_bytes(dir / "tokenizer_config.json", "{\"clean_up_tokenization_spaces\": \"yes\"}");
  EXPECT_LOAD_FAILS(Tokenizer::load(dir.path()), "clean_up_tokenization_spaces", "expected true or false");
  write_bytes(dir / "tokenizer_config.json", "{\"add_bos_token\": tru");
  EXPECT_LOAD_FAILS(Tokenizer::load(dir.path()), dir / "tokenizer_config.json", "invalid JSON");
  write_bytes(dir / "tokenizer_config.json", "{\"eos_token\": {\"content\": \"<eos>\"}}");
  write_bytes(dir / "special_tokens_map.json", "{\"pad_token\": [1]}");
  EXPECT_LOAD_FAILS(Tokenizer::load(dir.path()), dir / "special_tokens_map.json", "pad_token");
  write_bytes(dir / "special_tokens_map.json", "{\"pad_token\": \"c\", \"eos_token\": \"a\"}");
  auto t = Tokenizer::load(dir.path());
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ((*t)->special().eos, 6);  // tokenizer_config.json wins over the map
  EXPECT_EQ((*t)->special().pad, 2);
  EXPECT_EQ((*t)->special().bos, -1);  // no <|endoftext|> to default to
}

TEST(TokenizerBad, MalformedSentencePiece) {
  ScratchDir dir;
  const std::string file = dir / "tokenizer.model";
  const std::string real = read_bytes(tokenizer_data("mistral_v3_tokenizer.model"));
  for (const std::string& bytes : {std::string(), std::string("hello, not a model"), real.substr(0, 1000),
                                   real.substr(0, real.size() / 2), std::string(4096, '\xFF')}) {
    write_bytes(file, bytes);
    EXPECT_LOAD_FAILS(Tokenizer::load(dir.path()), file, "not a SentencePiece model");
    EXPECT_LOAD_FAILS(Tokenizer::load(file), file, "not a SentencePiece model");
  }
}

TEST(TokenizerBad, IdsOutsideTheVocabulary) {
  for (const std::string& path : {tokenizer_data("mamba-130m-hf"), tokenizer_data("mistral_v3_tokenizer.model")}) {
    auto tok = cached_tokenizer(path);
    ASSERT_TRUE(tok);
    const std::string v = std::to_string(tok->vocab_size());
    for (int32_t bad : {-1, tok->vocab_size(), INT32_MAX, INT32_MIN}) {
      const std::vector<int32_t> ids = {5, bad, 7};
      auto d = tok->decode(ids);
      ASSERT_FALSE(d.ok());
      EXPECT_HAS_ALL(d.message(), "decode", "token id " + std::to_string(bad), "(position 1)",
                     "outside the vocabulary [0, " + v + ")", tok->source());
      auto p = tok->token_to_piece(bad);
      ASSERT_FALSE(p.ok());
      EXPECT_HAS_ALL(p.message(), "token_to_piece", "token id " + std::to_string(bad), "[0, " + v + ")");
      EXPECT_FALSE(tok->is_special(bad));
    }
  }
}

TEST(TokenizerBad, IdWithNoToken) {
  ScratchDir dir;
  Json j = tiny_bpe();
  j["added_tokens"][0]["id"] = 9;  // ids 7 and 8 are nobody's
  auto t = load_json(dir, j.dump());
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ((*t)->vocab_size(), 10);
  auto d = (*t)->decode({0, 8});
  ASSERT_FALSE(d.ok());
  EXPECT_HAS_ALL(d.message(), "token id 8", "(position 1)", "has no token", dir / "tokenizer.json");
  auto s = TextStream::create(*t);
  ASSERT_TRUE(s.ok());
  auto r = s->push(7);
  ASSERT_FALSE(r.ok());
  EXPECT_HAS_ALL(r.message(), "token id 7", "has no token");
  EXPECT_EQ(*(*t)->decode({9}), "<eos>");
}

// Invalid UTF-8 is replaced with U+FFFD before tokenizing, one per maximal invalid part (like
// Python's errors="replace"), for both kinds.
TEST(TokenizerBad, InvalidUtf8IsReplaced) {
  const std::string R = "\xEF\xBF\xBD";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a\xFF" "b", "a" + R + "b"},
      {"end \xE2\x82", "end " + R},                         // truncated 3-byte sequence: one
      {"\xC0\xAF", R + R},                                  // overlong: C0 can never start one
      {"\xED\xA0\x80x", R + R + R + "x"},                   // a surrogate
      {"\xF4\x90\x80\x80", R + R + R + R},                  // above U+10FFFF
      {"\xF0\x9F\x98 ok", R + " ok"},                        // 3 of 4 bytes
      {"\x80\x80", R + R},                                   // lone continuation bytes
      {"caf\xC3\xA9 \xE9t\xE9", "caf\xC3\xA9 " + R + "t" + R},  // Latin-1 inside UTF-8
  };
  for (const std::string& path : {tokenizer_data("mamba-130m-hf"), tokenizer_data("mistral_v3_tokenizer.model")}) {
    auto tok = cached_tokenizer(path);
    ASSERT_TRUE(tok);
    for (const auto& [bad, repaired] : cases) {
      SCOPED_TRACE(path + ": \"" + escaped(bad) + "\"");
      auto got = tok->encode(bad);
      ASSERT_TRUE(got.ok()) << got.message();
      EXPECT_TRUE(same_ids(*got, *tok->encode(repaired)));
      EXPECT_EQ(*tok->decode(*got), repaired);
    }
  }
}

TEST(TokenizerBad, EmptyInput) {
  for (const std::string& path : {tokenizer_data("mamba-130m-hf"), tokenizer_data("mistral_v3_tokenizer.model")}) {
    auto tok = cached_tokenizer(path);
    ASSERT_TRUE(tok);
    EXPECT_TRUE(tok->encode("")->empty());
    EXPECT_EQ(*tok->decode(std::vector<int32_t>{}), "");
    EXPECT_EQ(*tok->decode(nullptr, 0), "");
  }
}

}  // namespace
}  // namespace mamba::test
