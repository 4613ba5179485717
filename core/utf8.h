// UTF-8 decoding and repair. Invalid input is replaced the way Rust's String::from_utf8_lossy,
// Python's bytes.decode(errors="replace") and the WHATWG decoder do it (Unicode's "maximal subpart"
// practice): each maximal prefix of a valid sequence that cannot be completed, and each byte that
// cannot start one, becomes one U+FFFD. Hugging Face tokenizers decode with from_utf8_lossy, so
// this is what makes our decode() byte-identical to theirs on any id sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mamba::detail::utf8 {

inline constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
inline constexpr size_t kReplacementBytes = 3;

// Length of the sequence lead byte `b` starts (1..4), or 0 if b can never start one.
inline int sequence_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

// Whether `b` may follow the bytes [lead, ...] at position `index` (1..3) of a sequence. Only the
// second byte has a narrowed range (no overlongs, no surrogates, nothing above U+10FFFF).
inline bool continuation_ok(uint8_t lead, int index, uint8_t b) {
  if (index == 1) {
    switch (lead) {
      case 0xE0: return b >= 0xA0 && b <= 0xBF;
      case 0xED: return b >= 0x80 && b <= 0x9F;
      case 0xF0: return b >= 0x90 && b <= 0xBF;
      case 0xF4: return b >= 0x80 && b <= 0x8F;
      default: break;
    }
  }
  return b >= 0x80 && b <= 0xBF;
}

// Decodes one code point at s[i] of a string known to be valid UTF-8 and advances i.
inline uint32_t next_code_point(const char* s, size_t& i) {
  const auto b0 = uint8_t(s[i]);
  if (b0 < 0x80) { i += 1; return b0; }
  if (b0 < 0xE0) {
    const uint32_t cp = (uint32_t(b0 & 0x1F) << 6) | (uint8_t(s[i + 1]) & 0x3F);
    i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    const uint32_t cp = (uint32_t(b0 & 0x0F) << 12) | (uint32_t(uint8_t(s[i + 1]) & 0x3F) << 6) |
                        (uint8_t(s[i + 2]) & 0x3F);
    i += 3;
    return cp;
  }
  const uint32_t cp = (uint32_t(b0 & 0x07) << 18) | (uint32_t(uint8_t(s[i + 1]) & 0x3F) << 12) |
                      (uint32_t(uint8_t(s[i + 2]) & 0x3F) << 6) | (uint8_t(s[i + 3]) & 0x3F);
  i += 4;
  return cp;
}

// Appends code point cp (< 0x110000, not a surrogate) as UTF-8.
void append(std::string& out, uint32_t cp);

// Byte offset of the first invalid byte, or text.size() if the whole text is valid UTF-8.
size_t valid_prefix(std::string_view text);

// The text with every invalid part replaced by U+FFFD (a copy only where needed).
std::string repair(std::string_view text);

// Incremental repair over a byte stream: feed bytes in any pieces; complete characters (and U+FFFD
// for invalid parts) are written to the caller's buffer; the bytes of a character still being
// completed are held back (at most 3). The concatenated output for a stream equals repair() of the
// concatenated input once finish() has been called. Allocates nothing.
class StreamRepair {
 public:
  // How invalid bytes become U+FFFD: maximal subparts (one per failed sequence, as above), or one
  // U+FFFD per invalid byte (what SentencePiece does for byte-fallback pieces).
  enum class Policy { maximal_subpart, per_byte };
  explicit StreamRepair(Policy p = Policy::maximal_subpart) : policy_(p) {}

  // Writes at most 3 * (n + 3) bytes to out; returns the number written.
  size_t feed(const char* in, size_t n, char* out);
  // Ends the stream: a held-back incomplete character becomes U+FFFD (one, or one per byte under
  // per_byte). Writes at most 9 bytes.
  size_t finish(char* out);
  size_t pending() const { return held_; }
  void reset() { held_ = 0; }

 private:
  size_t replace_held(char* out);
  Policy policy_;
  uint8_t buf_[4] = {};
  size_t held_ = 0;   // bytes of the current incomplete sequence
  int need_ = 0;      // its total length
};

}  // namespace mamba::detail::utf8
