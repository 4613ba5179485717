#include "core/added_tokens.h"

#include <algorithm>

#include "core/unicode.h"
#include "core/utf8.h"

namespace mamba::detail {

namespace {

// The code point that ends text[0, end) / starts text[begin, ...) (valid UTF-8, non-empty).
uint32_t last_code_point(std::string_view text, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (uint8_t(text[i]) & 0xC0) == 0x80) --i;
  return utf8::next_code_point(text.data(), i);
}
uint32_t first_code_point(std::string_view text, size_t begin) {
  return utf8::next_code_point(text.data(), begin);
}

// Rust's char::is_alphanumeric, which HF's single_word check uses, approximated by the L and N
// categories.
bool is_word_char(uint32_t cp) {
  const unicode::Class c = unicode::classify(cp);
  return c == unicode::Class::letter || c == unicode::Class::number;
}
bool is_space(uint32_t cp) { return unicode::classify(cp) == unicode::Class::space; }

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  nodes_.emplace_back();
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& s = tokens_[t].content;
    if (s.empty()) continue;  // matches nothing
    int32_t node = 0;
    for (const char ch : s) {
      const auto b = uint8_t(ch);
      auto& next = nodes_[size_t(node)].next;
      auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, int32_t(-1)));
      if (it != next.end() && it->first == b) {
        node = it->second;
      } else {
        const auto child = int32_t(nodes_.size());
        next.insert(it, {b, child});
        nodes_.emplace_back();  // invalidates `next`; not used again
        node = child;
      }
    }
    // Two added tokens with the same content: the later one wins, like HF's map from content.
    nodes_[size_t(node)].token = int32_t(t);
    first_byte_[uint8_t(s[0])] = true;
  }
}

bool AddedTokenMatcher::longest_at(std::string_view text, size_t pos, Match* m) const {
  int32_t node = 0;
  bool found = false;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto& next = nodes_[size_t(node)].next;
    const auto b = uint8_t(text[i]);
    auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, int32_t(-1)));
    if (it == next.end() || it->first != b) break;
    node = it->second;
    if (const int32_t t = nodes_[size_t(node)].token; t >= 0) {
      m->begin = pos;
      m->end = i + 1;
      m->token = &tokens_[size_t(t)];
      m->id = m->token->id;
      found = true;
    }
  }
  return found;
}

bool AddedTokenMatcher::accept(std::string_view text, Match& m, size_t done) const {
  const AddedToken& t = *m.token;
  if (t.single_word) {
    if (m.begin > 0 && is_word_char(last_code_point(text, m.begin))) return false;
    if (m.end < text.size() && is_word_char(first_code_point(text, m.end))) return false;
  }
  if (t.lstrip) {
    while (m.begin > done && is_space(last_code_point(text, m.begin))) {
      size_t i = m.begin - 1;
      while (i > 0 && (uint8_t(text[i]) & 0xC0) == 0x80) --i;
      m.begin = std::max(i, done);
    }
  }
  if (t.rstrip) {
    while (m.end < text.size()) {
      size_t next = m.end;
      if (!is_space(utf8::next_code_point(text.data(), next))) break;
      m.end = next;
    }
  }
  return true;
}

}  // namespace mamba::detail
