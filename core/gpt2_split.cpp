#include "core/gpt2_split.h"

#include "core/unicode.h"
#include "core/utf8.h"

namespace mamba::detail {

using unicode::Class;

namespace {

struct Cursor {
  std::string_view text;
  // Class of the code point at byte i (i < size) and the offset just after it.
  Class at(size_t i, size_t* next) const {
    const auto b = uint8_t(text[i]);
    if (b < 0x80) {  // the common case, without decoding
      *next = i + 1;
      return unicode::classify(b);
    }
    size_t j = i;
    const uint32_t cp = utf8::next_code_point(text.data(), j);
    *next = j;
    return unicode::classify(cp);
  }
  // End of the run of code points of class c starting at i.
  size_t run(size_t i, Class c) const {
    while (i < text.size()) {
      size_t next;
      if (at(i, &next) != c) break;
      i = next;
    }
    return i;
  }
};

// 's 't 're 've 'm 'll 'd (case-sensitive, as in the pattern): the length matched at pos, or 0.
size_t contraction(std::string_view t, size_t pos) {
  const size_t rest = t.size() - pos;
  if (rest < 2) return 0;
  const char c1 = t[pos + 1];
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (rest < 3) return 0;
  const char c2 = t[pos + 2];
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

}  // namespace

size_t gpt2_piece_end(std::string_view text, size_t pos) {
  const Cursor cur{text};
  if (text[pos] == '\'') {
    if (const size_t n = contraction(text, pos)) return pos + n;
  }
  size_t after;
  const Class c0 = cur.at(pos, &after);

  // " ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+": an optional ASCII space, then a run of one class.
  // A space is tried first; without it the run must start at pos, which a space cannot.
  if (text[pos] == ' ' && after < text.size()) {
    size_t next;
    const Class c1 = cur.at(after, &next);
    if (c1 != Class::space) return cur.run(next, c1);
  }
  if (c0 != Class::space) return cur.run(after, c0);

  // "\s+(?!\S)": the whitespace run, given back one code point if a non-space follows it (so the
  // last space can join the next word); if that leaves nothing, "\s+" takes the single one.
  size_t last = pos;  // start of the last code point of the run
  size_t end = after;
  while (end < text.size()) {
    size_t next;
    if (cur.at(end, &next) != Class::space) break;
    last = end;
    end = next;
  }
  if (end == text.size()) return end;
  return last > pos ? last : end;
}

}  // namespace mamba::detail
