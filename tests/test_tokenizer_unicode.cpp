// The pieces under the tokenizers: the GPT-2 split pattern (against Python's `regex` module, an
// independent engine with the same \s / \p{L} / \p{N} semantics as Oniguruma), the character
// classes from utf8proc, the NFC shortcut, and UTF-8 repair.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <utf8proc.h>

#include "core/gpt2_split.h"
#include "core/unicode.h"
#include "core/utf8.h"

namespace mamba::detail {
namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> pieces;
  gpt2_split(text, [&](size_t b, size_t e) { pieces.push_back(text.substr(b, e - b)); });
  return pieces;
}

// Expected pieces are regex.findall() of the pattern in Python's `regex` 2026.5.9 (the same
// implementation agreed with gpt2_split on 40,000 random strings over these characters).
TEST(Gpt2Split, MatchesTheRegex) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"Hello world", {"Hello", " world"}},
      {"'s'S'll'LL'd'x", {"'s", "'", "S", "'ll", "'", "LL", "'d", "'", "x"}},
      {"don't we're I've", {"don", "'t", " we", "'re", " I", "'ve"}},
      {"a  b", {"a", " ", " b"}},
      {"a\x0A\x0A" "b", {"a", "\x0A", "\x0A", "b"}},
      {"x \x0Ay  \x0Az   \x0A", {"x", " ", "\x0A", "y", "  ", "\x0A", "z", "   \x0A"}},
      {"   ", {"   "}},
      {" ", {" "}},
      {"\x09\x09word", {"\x09", "\x09", "word"}},
      {"end  ", {"end", "  "}},
      {"a \xC2\xA0" "b", {"a", " ", "\xC2\xA0", "b"}},
      {"word\xC2\xA0\xC2\xA0nbsp", {"word", "\xC2\xA0", "\xC2\xA0", "nbsp"}},
      {"12345 678", {"12345", " 678"}},
      {" 3.14", {" 3", ".", "14"}},
      {"\xC2\xBD\xE2\x85\xAB\xD9\xA3\xC2\xB2", {"\xC2\xBD\xE2\x85\xAB\xD9\xA3\xC2\xB2"}},
      {"?? !! ,,", {"??", " !!", " ,,"}},
      {" !", {" !"}},
      {"  !", {" ", " !"}},
      {"e\xCC\x81t\xC3\xA9", {"e", "\xCC\x81", "t\xC3\xA9"}},
      {"\xE6\x97\xA5\xE6\x9C\xAC \xE8\xAA\x9E", {"\xE6\x97\xA5\xE6\x9C\xAC", " \xE8\xAA\x9E"}},
      {"\xF0\x9F\x98\x80 \xF0\x9F\x98\x80  \xF0\x9F\x98\x80", {"\xF0\x9F\x98\x80", " \xF0\x9F\x98\x80", " ", " \xF0\x9F\x98\x80"}},
      {"\xE2\x80\x8Bzero\xE2\x80\x8Bwidth", {"\xE2\x80\x8B", "zero", "\xE2\x80\x8B", "width"}},
      {"\xEF\xBB\xBF" "bom", {"\xEF\xBB\xBF", "bom"}},
      {"a\xE1\xA0\x8E" "b", {"a", "\xE1\xA0\x8E", "b"}},
      {"\x1C\x1D", {"\x1C\x1D"}},
      {"line\xE2\x80\xA8sep\xE2\x80\xA9para", {"line", "\xE2\x80\xA8", "sep", "\xE2\x80\xA9", "para"}},
      {"\x0D\x0A\x0D\x0A", {"\x0D\x0A\x0D\x0A"}},
      {"mixed\x09 \x09 end", {"mixed", "\x09 \x09", " end"}},
      {"__init__", {"__", "init", "__"}},
      {"x\xD9\x80y", {"x\xD9\x80y"}},
      {"\xCC\x81\xCC\x81", {"\xCC\x81\xCC\x81"}},
      {" \xCC\x81" "a", {" \xCC\x81", "a"}},
      {".\xE2\x80\x8B\xC2\xA0" "a\x09 \xE2\x80\x8B", {".\xE2\x80\x8B", "\xC2\xA0", "a", "\x09", " \xE2\x80\x8B"}},
      {"s\xC3\xA9.", {"s\xC3\xA9", "."}},
      {" !\xE3\x80\x80\xC3\xA9\xCC\x81 aS-0", {" !", "\xE3\x80\x80", "\xC3\xA9", "\xCC\x81", " aS", "-", "0"}},
      {"!s '\xF0\x9F\x98\x80", {"!", "s", " '\xF0\x9F\x98\x80"}},
      {"''aaSSss9\xC2\xBD", {"''", "aaSSss", "9\xC2\xBD"}},
      {"\xE3\x80\x80\xE2\x80\x8BSsS!", {"\xE3\x80\x80", "\xE2\x80\x8B", "SsS", "!"}},
      {"a.-s'0 ", {"a", ".-", "s", "'", "0", " "}},
      {"9\xF0\x9F\x98\x80\xCC\x81" "a\xF0\x9F\x98\x80\xC2\xBD 9", {"9", "\xF0\x9F\x98\x80\xCC\x81", "a", "\xF0\x9F\x98\x80", "\xC2\xBD", " 9"}},
      {"9\x0A\xC2\xBDs\x0A\x0AsZ", {"9", "\x0A", "\xC2\xBD", "s", "\x0A", "\x0A", "sZ"}},
      {"a.!a\xE3\x80\x80-.", {"a", ".!", "a", "\xE3\x80\x80", "-."}},
      {"\xCC\x81" "a\x09Zs\xF0\x9F\x98\x80S\xC3\xA9 ", {"\xCC\x81", "a", "\x09", "Zs", "\xF0\x9F\x98\x80", "S\xC3\xA9", " "}},
      {".\xC2\xA0.\xC2\xA0" "0\x09\xC3\xA9\xCC\x81.9", {".", "\xC2\xA0", ".", "\xC2\xA0", "0", "\x09", "\xC3\xA9", "\xCC\x81.", "9"}},
  };
  for (const auto& [text, want] : cases) EXPECT_EQ(split(text), want) << text;
  EXPECT_TRUE(split("").empty());
}

TEST(Unicode, Classes) {
  using unicode::Class;
  const std::vector<std::pair<uint32_t, Class>> cases = {
      {'a', Class::letter},     {'Z', Class::letter},     {0xE9, Class::letter},   // é
      {0x4E00, Class::letter},  {0xAC00, Class::letter},  {0x02B0, Class::letter}, // CJK, Hangul, Lm
      {'7', Class::number},     {0xBD, Class::number},    {0x2160, Class::number}, // ½ (No), Ⅰ (Nl)
      {0x0663, Class::number},  {0xB2, Class::number},                             // Arabic-Indic 3, ²
      {' ', Class::space},      {'\t', Class::space},     {'\n', Class::space},    {0x0B, Class::space},
      {0x0C, Class::space},     {'\r', Class::space},     {0x85, Class::space},    {0xA0, Class::space},
      {0x1680, Class::space},   {0x2000, Class::space},   {0x200A, Class::space},  {0x2028, Class::space},
      {0x2029, Class::space},   {0x202F, Class::space},   {0x205F, Class::space},  {0x3000, Class::space},
      // Not White_Space: information separators, ZWSP, BOM, Mongolian vowel separator.
      {0x1C, Class::other},     {0x1F, Class::other},     {0x200B, Class::other},  {0xFEFF, Class::other},
      {0x180E, Class::other},   {'_', Class::other},      {'\'', Class::other},    {0x0301, Class::other},
      {0x1F600, Class::other},  {0x0, Class::other},      {0x10FFFF, Class::other},
  };
  for (const auto& [cp, want] : cases) EXPECT_EQ(unicode::classify(cp), want) << std::hex << cp;
}

// nfc() skips text whose code points are all below U+0300, on the claim that no such string
// changes under NFC: every pair (which covers all compositions, as they are pairwise) is checked.
TEST(Unicode, NoCodePointBelowU0300ChangesUnderNfc) {
  int changed = 0;
  utf8proc_uint8_t buf[8];
  for (utf8proc_int32_t a = 0; a < 0x300; ++a) {
    for (utf8proc_int32_t b = 0; b < 0x300; ++b) {
      const utf8proc_ssize_t n = utf8proc_encode_char(a, buf);
      const utf8proc_ssize_t m = n + utf8proc_encode_char(b, buf + n);
      utf8proc_uint8_t* out = nullptr;
      const utf8proc_ssize_t k = utf8proc_map(buf, m, &out, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
      changed += k != m || std::memcmp(out, buf, size_t(m)) != 0;
      std::free(out);
    }
  }
  EXPECT_EQ(changed, 0);
  EXPECT_TRUE(unicode::nfc_is_identity("plain ASCII and Latin-1 \xC3\xA9\xC3\xBF"));
  EXPECT_FALSE(unicode::nfc_is_identity("e\xCC\x81"));           // e + U+0301
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");               // -> é
  EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");            // Angstrom sign -> Å
  EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // jamo -> 각
}

TEST(Utf8, RepairUsesMaximalSubparts) {
  const std::string R = utf8::kReplacement;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"ok \xC3\xA9", "ok \xC3\xA9"},
      {"\xFF", R},
      {"\xC3", R},                            // truncated at the end
      {"\xE2\x82", R},                        // a valid prefix of 2: one U+FFFD
      {"\xE2\x82x", R + "x"},
      {"\xE2x\x82", R + "x" + R},
      {"\xF0\x9F\x98", R},
      {"\xF0\x9F\x98\xF0\x9F\x98\x80", R + "\xF0\x9F\x98\x80"},
      {"\xC0\xAF", R + R},                    // C0, C1 never start a sequence
      {"\xE0\x80\xAF", R + R + R},            // overlong: E0 needs A0..BF next
      {"\xED\xA0\x80", R + R + R},            // surrogate: ED needs 80..9F next
      {"\xF4\x90\x80\x80", R + R + R + R},    // above U+10FFFF
      {"\xF5\x80", R + R},
      {"\x80\xBF", R + R},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(utf8::repair(in), want) << in;
    // The same through the stream, one byte at a time.
    utf8::StreamRepair s;
    std::string out;
    char buf[64];
    for (char c : in) out.append(buf, s.feed(&c, 1, buf));
    out.append(buf, s.finish(buf));
    EXPECT_EQ(out, want) << in;
  }
}

TEST(Utf8, PerBytePolicy) {  // SentencePiece's rule for byte pieces
  const std::string R = utf8::kReplacement;
  utf8::StreamRepair s(utf8::StreamRepair::Policy::per_byte);
  char buf[64];
  std::string out(buf, s.feed("\xE2\x82x\xF0\x9F", 5, buf));
  out.append(buf, s.finish(buf));
  EXPECT_EQ(out, R + R + "x" + R + R);
}

}  // namespace
}  // namespace mamba::detail
