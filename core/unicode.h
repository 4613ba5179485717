// The Unicode facts the tokenizers need, all from libutf8proc (no tables of our own): NFC
// normalization and the character classes of the GPT-2 split pattern.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mamba::detail::unicode {

// The classes the pattern distinguishes, as Oniguruma (the regex engine of Hugging Face
// tokenizers) defines them: \p{L} = general category L*, \p{N} = N*, \s = White_Space, which is
// U+0009..U+000D, U+0085 and the categories Zs, Zl, Zp.
enum class Class : uint8_t { other, letter, number, space };
Class classify(uint32_t cp);

// NFC of valid UTF-8. Returns the input unchanged when every code point is below U+0300: no such
// code point changes or composes under NFC (checked for all pairs in test_tokenizer_unicode), which
// makes ASCII and Latin-1 text free.
std::string nfc(std::string_view text);
bool nfc_is_identity(std::string_view text);

const char* unicode_version();  // the Unicode version of the linked utf8proc, e.g. "15.0.0"

}  // namespace mamba::detail::unicode
