#include "core/utf8.h"

#include <cstring>

namespace mamba::detail::utf8 {

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

size_t valid_prefix(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) { ++i; continue; }
    const int len = sequence_length(s[i]);
    if (len == 0 || i + size_t(len) > n) return i;
    for (int k = 1; k < len; ++k)
      if (!continuation_ok(s[i], k, s[i + k])) return i;
    i += size_t(len);
  }
  return n;
}

std::string repair(std::string_view text) {
  const size_t ok = valid_prefix(text);
  if (ok == text.size()) return std::string(text);
  std::string out(text.substr(0, ok));
  const size_t rest = text.size() - ok;
  const size_t base = out.size();
  out.resize(base + 3 * (rest + 3));
  StreamRepair r;
  size_t w = r.feed(text.data() + ok, rest, &out[base]);
  w += r.finish(&out[base + w]);
  out.resize(base + w);
  return out;
}

size_t StreamRepair::replace_held(char* out) {
  const size_t count = policy_ == Policy::per_byte ? held_ : 1;
  for (size_t k = 0; k < count; ++k) std::memcpy(out + k * kReplacementBytes, kReplacement, 3);
  held_ = 0;
  return count * kReplacementBytes;
}

size_t StreamRepair::feed(const char* in, size_t n, char* out) {
  size_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto b = uint8_t(in[i]);
    if (held_ != 0) {
      if (continuation_ok(buf_[0], int(held_), b)) {
        buf_[held_++] = b;
        if (int(held_) == need_) {
          std::memcpy(out + w, buf_, held_);
          w += held_;
          held_ = 0;
        }
        continue;
      }
      // The sequence cannot be completed: its bytes so far become U+FFFD, and b starts afresh.
      w += replace_held(out + w);
    }
    const int len = sequence_length(b);
    if (len == 1) {
      out[w++] = char(b);
    } else if (len == 0) {
      std::memcpy(out + w, kReplacement, kReplacementBytes);
      w += kReplacementBytes;
    } else {
      buf_[0] = b;
      held_ = 1;
      need_ = len;
    }
  }
  return w;
}

size_t StreamRepair::finish(char* out) { return held_ ? replace_held(out) : 0; }

}  // namespace mamba::detail::utf8
