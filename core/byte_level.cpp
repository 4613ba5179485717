#include "core/byte_level.h"

#include <array>

#include "core/utf8.h"

namespace mamba::detail::byte_level {

namespace {

struct Alphabet {
  std::array<uint32_t, 256> cp{};
  std::array<int16_t, 512> byte{};  // by code point; every code point used is < 0x144
  Alphabet() {
    byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      cp[b] = printable ? b : next++;
      byte[cp[b]] = int16_t(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

uint32_t code_point(uint8_t b) { return alphabet().cp[b]; }

int byte_of(uint32_t cp) { return cp < 512 ? alphabet().byte[cp] : -1; }

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) utf8::append(out, code_point(uint8_t(c)));
  return out;
}

bool decode(std::string_view token, std::string& out) {
  const size_t start = out.size();
  size_t i = 0;
  while (i < token.size()) {
    const int b = byte_of(utf8::next_code_point(token.data(), i));
    if (b < 0) {
      out.resize(start);
      return false;
    }
    out += char(b);
  }
  return true;
}

}  // namespace mamba::detail::byte_level
