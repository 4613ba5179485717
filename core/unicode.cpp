#include "core/unicode.h"

#include <array>
#include <cstdlib>
#include <memory>
#include <new>

#include <utf8proc.h>

#include "platform/error.h"

namespace mamba::detail::unicode {

namespace {

Class classify_slow(uint32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return Class::space;
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return Class::letter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return Class::number;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
      return Class::space;
    default:
      return Class::other;
  }
}

// The first 256 code points are most of most text; their classes are asked of utf8proc once.
const std::array<Class, 256>& latin1() {
  static const std::array<Class, 256> table = [] {
    std::array<Class, 256> t{};
    for (uint32_t c = 0; c < 256; ++c) t[c] = classify_slow(c);
    return t;
  }();
  return table;
}

}  // namespace

Class classify(uint32_t cp) {
  static const std::array<Class, 256>& t = latin1();
  return cp < 256 ? t[cp] : classify_slow(cp);
}

bool nfc_is_identity(std::string_view text) {
  // Every byte of a code point below U+0300 is below 0xCC (U+0300 is CC 80).
  for (const char c : text)
    if (uint8_t(c) >= 0xCC) return false;
  return true;
}

std::string nfc(std::string_view text) {
  if (nfc_is_identity(text)) return std::string(text);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   utf8proc_ssize_t(text.size()), &out,
                   utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    if (n == UTF8PROC_ERROR_NOMEM) throw std::bad_alloc();
    platform::fail("NFC normalization failed: ", utf8proc_errmsg(n));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), size_t(n));
}

const char* unicode_version() { return utf8proc_unicode_version(); }

}  // namespace mamba::detail::unicode
