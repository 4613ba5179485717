// TextStream: streamed text == decode() for every reference case of both tokenizer kinds, for
// the Austen corpus, and for random id sequences (which are mostly invalid UTF-8 and, for
// SentencePiece, mix byte, control and leading-space pieces); no chunk ever holds a partial
// character; bad ids fail without changing the stream.
#include <random>

#include "core/utf8.h"
#include "tests/tokenizer_test_util.h"

namespace mamba::test {
namespace {

bool valid_utf8(std::string_view s) { return detail::utf8::valid_prefix(s) == s.size(); }

// Pushes every id; returns the concatenated text, checking each chunk on the way.
::testing::AssertionResult stream(TextStream& s, const std::vector<int32_t>& ids, std::string* text) {
  text->clear();
  for (size_t i = 0; i < ids.size(); ++i) {
    auto chunk = s.push(ids[i]);
    if (!chunk.ok()) return ::testing::AssertionFailure() << "push " << i << ": " << chunk.message();
    if (!valid_utf8(*chunk))
      return ::testing::AssertionFailure() << "chunk " << i << " is not whole UTF-8: \""
                                           << escaped(std::string(*chunk)) << "\"";
    *text += *chunk;
  }
  const std::string_view tail = s.finish();
  if (!valid_utf8(tail)) return ::testing::AssertionFailure() << "finish() is not whole UTF-8";
  *text += tail;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult stream_equals_decode(const std::shared_ptr<const Tokenizer>& tok,
                                                const std::vector<int32_t>& ids, bool skip) {
  DecodeOptions o;
  o.skip_special_tokens = skip;
  auto s = TextStream::create(tok, o);
  if (!s.ok()) return ::testing::AssertionFailure() << s.message();
  std::string text;
  if (auto r = stream(*s, ids, &text); !r) return r;
  auto want = tok->decode(ids, o);
  if (!want.ok()) return ::testing::AssertionFailure() << want.message();
  if (text != *want)
    return ::testing::AssertionFailure() << "ids " << ids_str(ids) << (skip ? " (skip special)" : "")
                                         << "\n  streamed: \"" << escaped(text)
                                         << "\"\n  decode:   \"" << escaped(*want) << "\"";
  return ::testing::AssertionSuccess();
}

std::vector<std::string> all_tokenizers() {
  auto v = neox_tokenizers();
  v.push_back(tokenizer_data("mistral_v3_tokenizer.model"));
  return v;
}

std::string cases_file(const std::string& tokenizer) {
  return tokenizer_data(tokenizer.find("mistral") != std::string::npos ? "mistral_v3_tokenizer_cases.json"
                                                                       : "neox_tokenizer_cases.json");
}

class Stream : public ::testing::TestWithParam<std::string> {};

TEST_P(Stream, EveryCaseStreamsToItsDecode) {
  auto tok = cached_tokenizer(GetParam());
  ASSERT_TRUE(tok);
  const detail::Json cases = read_json(cases_file(GetParam()))["cases"];
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c["id"]));
    const std::vector<int32_t> ids = c["ids"];
    EXPECT_TRUE(stream_equals_decode(tok, ids, false));
    EXPECT_TRUE(stream_equals_decode(tok, ids, true));
    // With a BOS first, as a generation prompt would have it.
    if (tok->special().bos >= 0) {
      std::vector<int32_t> with_bos = ids;
      with_bos.insert(with_bos.begin(), tok->special().bos);
      EXPECT_TRUE(stream_equals_decode(tok, with_bos, false));
    }
  }
}

// Random ids: invalid UTF-8 everywhere, split characters, specials. Half the draws come from a
// small pool of the most awkward ids (single bytes, byte pieces, controls, space pieces).
TEST_P(Stream, RandomIdSequencesStreamToTheirDecode) {
  auto tok = cached_tokenizer(GetParam());
  ASSERT_TRUE(tok);
  std::vector<int32_t> awkward;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    const std::string piece = *tok->token_to_piece(id);
    const bool spm = tok->kind() == TokenizerKind::sentencepiece;
    const bool short_piece = spm ? piece.size() <= 4 : piece.size() <= 2;  // bytes, "▁", "Ġ", ...
    if (tok->is_special(id) || short_piece) awkward.push_back(id);
  }
  ASSERT_GT(awkward.size(), 200u);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int32_t> any(0, tok->vocab_size() - 1);
  std::uniform_int_distribution<size_t> pick(0, awkward.size() - 1);
  std::uniform_int_distribution<int> len(0, 24);
  int failures = 0;
  for (int trial = 0; trial < 3000 && failures < 5; ++trial) {
    std::vector<int32_t> ids(size_t(len(rng)));
    for (auto& id : ids) id = (rng() & 1) ? any(rng) : awkward[pick(rng)];
    for (bool skip : {false, true}) {
      const auto r = stream_equals_decode(tok, ids, skip);
      EXPECT_TRUE(r);
      failures += !r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTokenizers, Stream, ::testing::ValuesIn(all_tokenizers()),
                         [](const auto& info) {
                           return std::string(info.index == 0   ? "neox_original"
                                              : info.index == 1 ? "neox_mamba130m"
                                                                : "mistral_v3");
                         });

TEST(StreamNeox, AustenCorpus) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  ASSERT_TRUE(tok);
  const std::string raw = read_bytes(tokenizer_data("austen_novels.neox20b.u16le"));
  std::vector<int32_t> ids(raw.size() / 2);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = int32_t(uint8_t(raw[2 * i]) | (uint32_t(uint8_t(raw[2 * i + 1])) << 8));
  auto s = TextStream::create(tok);
  ASSERT_TRUE(s.ok());
  std::string text;
  ASSERT_TRUE(stream(*s, ids, &text));
  EXPECT_TRUE(text == read_bytes(tokenizer_data("austen_novels.txt")));
}

TEST(StreamNeox, HoldsBackSplitCharacters) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  ASSERT_TRUE(tok);
  const std::vector<int32_t> emoji = *tok->encode("\xF0\x9F\x98\x80");  // U+1F600, 4 bytes
  ASSERT_GE(emoji.size(), 2u);
  auto s = TextStream::create(tok);
  ASSERT_TRUE(s.ok());
  for (size_t i = 0; i + 1 < emoji.size(); ++i) EXPECT_EQ(*s->push(emoji[i]), "") << i;
  EXPECT_EQ(*s->push(emoji.back()), "\xF0\x9F\x98\x80");

  // An incomplete character at the end becomes one U+FFFD, as decode() makes it.
  EXPECT_EQ(*s->push(emoji[0]), "");
  EXPECT_EQ(s->finish(), "\xEF\xBF\xBD");
  EXPECT_EQ(*tok->decode({emoji[0]}), "\xEF\xBF\xBD");
  // reset() drops held bytes.
  EXPECT_EQ(*s->push(emoji[0]), "");
  s->reset();
  EXPECT_EQ(*s->push(66), "a");
  EXPECT_EQ(s->finish(), "");
}

TEST(StreamNeox, SkipsSpecialTokensWhenAsked) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  ASSERT_TRUE(tok);
  DecodeOptions o;
  o.skip_special_tokens = true;
  auto s = TextStream::create(tok, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->push(12092), "Hello");
  EXPECT_EQ(*s->push(0), "");
  auto plain = TextStream::create(tok);
  EXPECT_EQ(*plain->push(0), "<|endoftext|>");
}

TEST(StreamErrors, BadIdsFailAndChangeNothing) {
  for (const std::string& path : all_tokenizers()) {
    auto tok = cached_tokenizer(path);
    ASSERT_TRUE(tok);
    auto s = TextStream::create(tok);
    ASSERT_TRUE(s.ok());
    const std::vector<int32_t> ids = *tok->encode("caf\xC3\xA9 \xF0\x9F\x98\x80!");
    std::string text;
    for (size_t i = 0; i < ids.size(); ++i) {
      for (int32_t bad : {-1, tok->vocab_size(), INT32_MAX, INT32_MIN}) {
        auto r = s->push(bad);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.message().find("token id " + std::to_string(bad)), std::string::npos) << r.message();
        EXPECT_NE(r.message().find("[0, " + std::to_string(tok->vocab_size()) + ")"), std::string::npos)
            << r.message();
      }
      text += *s->push(ids[i]);
    }
    text += s->finish();
    EXPECT_EQ(text, *tok->decode(ids)) << path;
  }
}

TEST(StreamErrors, CreateRejectsWhatItCannotDo) {
  auto tok = cached_tokenizer(tokenizer_data("mamba-130m-hf"));
  DecodeOptions o;
  o.clean_up_tokenization_spaces = true;
  auto s = TextStream::create(tok, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("clean_up_tokenization_spaces"), std::string::npos);
  EXPECT_FALSE(TextStream::create(nullptr).ok());
  TextStream empty;
  EXPECT_FALSE(empty.push(1).ok());
  EXPECT_EQ(empty.finish(), "");
}

}  // namespace
}  // namespace mamba::test
