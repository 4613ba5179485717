// The GPT-2 pre-tokenizer pattern of Hugging Face's ByteLevel pre-tokenizer,
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matched by hand over code points with the semantics of a backtracking engine (Oniguruma, which HF
// tokenizers uses): at each position the first alternative that matches wins, each quantifier
// takes as much as it can and gives back only what a later part of the same alternative needs.
// Every code point starts some alternative, so the pieces tile the text with no gaps.
#pragma once

#include <cstddef>
#include <string_view>

namespace mamba::detail {

// The end (byte offset) of the piece that starts at `pos` of valid UTF-8 `text` (pos < size).
size_t gpt2_piece_end(std::string_view text, size_t pos);

// Calls f(begin, end) for every piece of text, in order.
template <class F>
void gpt2_split(std::string_view text, F&& f) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = gpt2_piece_end(text, pos);
    f(pos, end);
    pos = end;
  }
}

}  // namespace mamba::detail
