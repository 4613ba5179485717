// Decode options on the real NeoX tokenizer (clean_up_tokenization_spaces, skip_special_tokens),
// and the tokenizer.json features the NeoX files do not use, on small hand-made tokenizers whose
// results follow from HF tokenizers' rules (AddedVocabulary, BPE, ByteLevel) by hand.
#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

using detail::Json;

// Expected strings from transformers' clean_up_tokenization (Python str.replace chain).
TEST(CleanUp, MatchesTransformers) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  ASSERT_TRUE(tok);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Hello , world !", "Hello, world!"},
      {"I do n't know . Is it ?", "I don't know. Is it?"},
      {"it ' s", "it's"},
      {"they 're here , we 've gone , I 'm off", "they're here, we've gone, I'm off"},
      {"John 's car", "John's car"},
      {"a  . b", "a . b"},
      {"  ' '  x", " ''  x"},
      {"no change here", "no change here"},
      {"...  . . .", "... ..."},
      {" ' s", "'s"},
      {"x ' ' y", "x'' y"},
      {"won't  n't", "won't n't"},
      {" .", "."},
      {"", ""},
  };
  DecodeOptions clean;
  clean.clean_up_tokenization_spaces = true;
  for (const auto& [text, want] : cases) {
    const std::vector<int32_t> ids = *tok->encode(text);
    EXPECT_EQ(*tok->decode(ids), text);  // off by default: the tokenizers library's decode
    EXPECT_EQ(*tok->decode(ids, clean), want) << text;
  }
  // With skip_special_tokens too: specials go first, then the clean-up sees the joined text.
  DecodeOptions both = clean;
  both.skip_special_tokens = true;
  EXPECT_EQ(*tok->decode(*tok->encode("Hi <|endoftext|>. Bye"), both), "Hi. Bye");
  EXPECT_EQ(*tok->decode(*tok->encode("Hi <|endoftext|>. Bye"), clean), "Hi <|endoftext|>. Bye");
}

// A byte-level BPE over the letters a, b, c, z and space (Ġ), with the given merges.
Json tiny(const std::vector<std::string>& merges) {
  Json j = Json::parse(R"({
    "added_tokens": [],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "bc": 5,
              "\u0120a": 6, "b\u0120": 7, "abc": 8, "\u0120b": 9, "z": 10, "\u00c3": 11, "\u00a9": 12,
              "\u00c3\u00a9": 13}, "merges": []}
  })");
  j["model"]["merges"] = merges;
  return j;
}

std::shared_ptr<const Tokenizer> load(const ScratchDir& dir, const Json& j) {
  write_bytes(dir / "tokenizer.json", j.dump());
  auto t = Tokenizer::load(dir.path());
  EXPECT_TRUE(t.ok()) << t.message();
  return t.ok() ? t.value() : nullptr;
}

std::vector<int32_t> enc(const std::shared_ptr<const Tokenizer>& t, const std::string& s) {
  auto r = t->encode(s);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? *r : std::vector<int32_t>{};
}

TEST(BpeFeatures, LowestRankMergesFirstLeftmostOnTies) {
  ScratchDir dir;
  auto t = load(dir, tiny({"b c", "a b"}));
  EXPECT_TRUE(same_ids(enc(t, "abc"), {0, 5}));  // "b c" ranks first: a + bc
  auto u = load(dir, tiny({"a b", "b c"}));
  EXPECT_TRUE(same_ids(enc(u, "abc"), {4, 2}));
  EXPECT_TRUE(same_ids(enc(u, "ababab"), {4, 4, 4}));
}

TEST(BpeFeatures, RepeatedMergeKeepsItsLastRank) {  // HF collects merges into a map
  ScratchDir dir;
  auto t = load(dir, tiny({"a b", "b c", "a b"}));
  EXPECT_TRUE(same_ids(enc(t, "abc"), {0, 5}));
}

TEST(BpeFeatures, UseRegexFalseMergesAcrossWords) {
  ScratchDir dir;
  Json j = tiny({"b \u0120", "a b", "\u0120 a"});
  auto with = load(dir, j);
  EXPECT_TRUE(same_ids(enc(with, "ab a"), {4, 6}));  // "ab" | " a"
  j["pre_tokenizer"]["use_regex"] = false;
  auto without = load(dir, j);
  EXPECT_TRUE(same_ids(enc(without, "ab a"), {0, 7, 0}));  // one word: "b Ġ" merges first
}

TEST(BpeFeatures, AddPrefixSpace) {
  ScratchDir dir;
  Json j = tiny({"\u0120 a"});
  j["pre_tokenizer"]["add_prefix_space"] = true;
  j["added_tokens"] = Json::parse(R"([{"id": 14, "content": "<s>", "special": true}])");
  auto t = load(dir, j);
  EXPECT_TRUE(same_ids(enc(t, "a"), {6}));
  EXPECT_TRUE(same_ids(enc(t, " a"), {6}));          // already starts with a space
  EXPECT_TRUE(same_ids(enc(t, "<s>a"), {14, 6}));    // each piece between added tokens
  EXPECT_EQ(*t->decode({14, 6}), "<s> a");
}

TEST(BpeFeatures, IgnoreMergesTakesWholeWords) {
  ScratchDir dir;
  Json j = tiny({"a b"});
  auto plain = load(dir, j);
  EXPECT_TRUE(same_ids(enc(plain, "abc"), {4, 2}));
  j["model"]["ignore_merges"] = true;
  auto whole = load(dir, j);
  EXPECT_TRUE(same_ids(enc(whole, "abc"), {8}));
  EXPECT_TRUE(same_ids(enc(whole, "abca"), {4, 2, 0}));
}

TEST(BpeFeatures, BytesWithoutATokenAreDropped) {  // HF without unk_token
  ScratchDir dir;
  auto t = load(dir, tiny({}));
  EXPECT_TRUE(same_ids(enc(t, "ayz"), {0, 10}));
}

TEST(BpeFeatures, AddedTokensLeftmostLongest) {
  ScratchDir dir;
  Json j = tiny({"a b"});
  j["added_tokens"] = Json::parse(R"([
    {"id": 20, "content": "ab", "special": false, "normalized": false},
    {"id": 21, "content": "abc", "special": false, "normalized": false},
    {"id": 22, "content": "bcz", "special": false, "normalized": false}])");
  auto t = load(dir, j);
  EXPECT_TRUE(same_ids(enc(t, "abcz"), {21, 10}));      // at 0, the longest: "abc"
  EXPECT_TRUE(same_ids(enc(t, "zbcz"), {10, 22}));
  EXPECT_TRUE(same_ids(enc(t, "abab"), {20, 20}));
  EXPECT_TRUE(same_ids(enc(t, "aabcz"), {0, 21, 10}));  // leftmost wins over longer "bcz"
}

TEST(BpeFeatures, AddedTokenStripAndSingleWord) {
  ScratchDir dir;
  Json j = tiny({});
  j["added_tokens"] = Json::parse(R"([
    {"id": 20, "content": "<m>", "special": true, "lstrip": true, "rstrip": true},
    {"id": 21, "content": "<n>", "special": true},
    {"id": 22, "content": "bc", "special": false, "single_word": true, "normalized": false}])");
  auto t = load(dir, j);
  EXPECT_TRUE(same_ids(enc(t, "a <m> b"), {0, 20, 1}));        // spaces go with the token
  EXPECT_TRUE(same_ids(enc(t, "a <n> b"), {0, 3, 21, 3, 1}));  // kept without strip
  EXPECT_TRUE(same_ids(enc(t, "bc a"), {22, 3, 0}));
  EXPECT_TRUE(same_ids(enc(t, "abc"), {0, 1, 2}));             // touches a word: not matched
  EXPECT_TRUE(same_ids(enc(t, "a bc"), {0, 3, 22}));
}

TEST(BpeFeatures, NormalizedAddedTokensMatchAfterNfc) {
  ScratchDir dir;
  Json j = tiny({"\u00c3 \u00a9"});
  j["added_tokens"] = Json::parse(R"([{"id": 20, "content": "\u00e9", "special": false, "normalized": true}])");
  auto t = load(dir, j);
  EXPECT_TRUE(same_ids(enc(t, "e\xCC\x81"), {20}));  // e + U+0301 -> é, then matched
  EXPECT_TRUE(same_ids(enc(t, "\xC3\xA9"), {20}));
  j["added_tokens"][0]["normalized"] = false;
  auto raw = load(dir, j);
  EXPECT_TRUE(same_ids(enc(raw, "\xC3\xA9"), {20}));
  EXPECT_TRUE(same_ids(enc(raw, "e\xCC\x81"), {13}));  // not in the raw text: BPE of NFC "é"
  j["normalizer"] = nullptr;
  auto no_nfc = load(dir, j);
  EXPECT_TRUE(same_ids(enc(no_nfc, "\xC3\xA9"), {20}));
}

}  // namespace
}  // namespace mamba::test
