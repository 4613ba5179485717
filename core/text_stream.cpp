// TextStream: decode() one id at a time, from the per-token table the loaders built. Everything
// it writes goes to one buffer sized in create() for the worst case of one push(): the bytes
// held back (3) plus the longest token, each byte possibly becoming a 3-byte U+FFFD.
#include <cstring>
#include <new>

#include "core/tokenizer_impl.h"
#include "mamba/tokenizer.h"

namespace mamba {

using detail::TokenSurface;

struct TextStream::State {
  const detail::TokenizerImpl* impl = nullptr;
  bool skip_special = false;
  detail::utf8::StreamRepair repair;
  std::unique_ptr<char[]> buf;
  size_t capacity = 0;
  // SentencePiece's decoder state: has anything been output, did the last piece give up its
  // leading space, may the next piece still give up its leading space.
  bool emitted = false;
  bool bos_ws_seen = false;
  bool is_bos_ws = true;

  void restart() {
    repair.reset();
    emitted = bos_ws_seen = false;
    is_bos_ws = true;
  }
};

TextStream::TextStream() = default;
TextStream::~TextStream() = default;
TextStream::TextStream(TextStream&&) noexcept = default;
TextStream& TextStream::operator=(TextStream&&) noexcept = default;

Result<TextStream> TextStream::create(std::shared_ptr<const Tokenizer> tokenizer,
                                      const DecodeOptions& options) {
  if (!tokenizer) return Status::error("TextStream::create: no tokenizer");
  if (options.clean_up_tokenization_spaces)
    return Status::error(
        "TextStream::create: clean_up_tokenization_spaces is not supported when streaming (it "
        "rewrites text across token boundaries); decode() the whole text instead");
  TextStream s;
  try {
    s.state_ = std::make_unique<State>();
    State& st = *s.state_;
    st.impl = &tokenizer->impl();
    st.skip_special = options.skip_special_tokens;
    st.repair = detail::utf8::StreamRepair(st.impl->repair_policy);
    st.capacity = 3 * (st.impl->max_surface + 3) + 16;
    st.buf = std::make_unique<char[]>(st.capacity);
  } catch (const std::bad_alloc&) {
    return Status::error("TextStream::create: out of memory");
  }
  s.tok_ = std::move(tokenizer);
  return s;
}

Result<std::string_view> TextStream::push(int32_t id) {
  if (!state_) return Status::error("TextStream::push: stream was not created");
  State& st = *state_;
  const detail::TokenizerImpl& t = *st.impl;
  if (id < 0 || id >= t.vocab_size || (t.tokens[size_t(id)].flags & TokenSurface::missing))
    return Status::error("TextStream::push: token id " + std::to_string(id) +
                         (id < 0 || id >= t.vocab_size
                              ? " is outside the vocabulary [0, " + std::to_string(t.vocab_size) + ")"
                              : std::string(" has no token")) +
                         " of " + t.source);
  const TokenSurface tok = t.tokens[size_t(id)];
  if (st.skip_special && (tok.flags & TokenSurface::special)) return std::string_view();
  const std::string_view bytes = t.surface(id);
  char* out = st.buf.get();
  size_t w = 0;
  if (!t.sentencepiece_rules || (tok.flags & TokenSurface::byte_piece)) {
    // BPE: one byte stream. SentencePiece byte pieces: joined until the next other piece.
    w = st.repair.feed(bytes.data(), bytes.size(), out);
  } else {
    w = st.repair.finish(out);  // a run of byte pieces ends here
    if (w) st.emitted = true;
    if (st.bos_ws_seen || st.emitted) st.is_bos_ws = false;
    std::string_view text = bytes;
    bool consumed = false;
    if ((tok.flags & TokenSurface::leading_space) && st.is_bos_ws && t.strip_first_space) {
      text.remove_prefix(1);
      consumed = !t.strip_all_leading_spaces;
    }
    st.bos_ws_seen = consumed;
    std::memcpy(out + w, text.data(), text.size());
    w += text.size();
  }
  if (w) st.emitted = true;
  return std::string_view(out, w);
}

std::string_view TextStream::finish() {
  if (!state_) return {};
  State& st = *state_;
  const size_t w = st.repair.finish(st.buf.get());
  st.restart();
  return std::string_view(st.buf.get(), w);
}

void TextStream::reset() {
  if (state_) state_->restart();
}

size_t TextStream::capacity() const { return state_ ? state_->capacity : 0; }

}  // namespace mamba
