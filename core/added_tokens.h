// Added tokens (tokenizer.json "added_tokens"): strings that are cut out of the text whole before
// the pre-tokenizer sees it, as Hugging Face's AddedVocabulary does: non-overlapping matches,
// leftmost first and, among matches at the same place, the longest (its Aho-Corasick automaton is
// built with MatchKind::LeftmostLongest). Here a byte trie finds the same matches.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mamba::detail {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool single_word = false;  // only where not touching a word character on either side
  bool lstrip = false;       // also swallows the whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = false;   // matched in the normalized text (else in the raw text)
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);
  bool empty() const { return tokens_.empty(); }

  // Splits text into runs of plain text and added tokens, in order: calls
  // plain(begin, end) for text between matches and token(id) for each match.
  template <class Plain, class Token>
  void split(std::string_view text, Plain&& plain, Token&& token) const {
    size_t done = 0;  // text before this offset has been handed out
    size_t pos = 0;
    while (pos < text.size()) {
      Match m;
      if (!first_byte_[uint8_t(text[pos])] || !longest_at(text, pos, &m)) { ++pos; continue; }
      if (!accept(text, m, done)) { pos = m.end; continue; }  // HF resumes after a rejected match
      if (m.begin > done) plain(done, m.begin);
      token(m.id);
      done = pos = m.end;
    }
    if (done < text.size()) plain(done, text.size());
  }

 private:
  struct Match {
    size_t begin = 0, end = 0;
    int32_t id = -1;
    const AddedToken* token = nullptr;
  };
  struct Node {
    int32_t token = -1;                            // index into tokens_ ending here
    std::vector<std::pair<uint8_t, int32_t>> next;  // sorted by byte
  };
  bool longest_at(std::string_view text, size_t pos, Match* m) const;
  // single_word / lstrip / rstrip; may widen m. False: skip this match.
  bool accept(std::string_view text, Match& m, size_t done) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;  // nodes_[0] is the root
  bool first_byte_[256] = {};
};

}  // namespace mamba::detail
