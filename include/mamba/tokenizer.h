// Text <-> token ids. Two kinds behind one interface, picked from the files of a model directory:
//   tokenizer.json                        -> byte-level BPE (GPT-2 / GPT-NeoX family: the
//                                            tokenizer of every state-spaces/mamba-*-hf model),
//                                            implemented here to match Hugging Face tokenizers
//   tokenizer.model / tokenizer.model.v3  -> SentencePiece (Mistral / Mamba-Codestral), run by
//                                            the SentencePiece library itself
// A Tokenizer is immutable after load; share it between threads freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mamba/status.h"

namespace mamba {

namespace detail { class TokenizerImpl; }

enum class TokenizerKind { byte_level_bpe, sentencepiece };

struct DecodeOptions {
  // Leave out special tokens (BPE: added tokens marked "special", e.g. <|endoftext|>;
  // SentencePiece: control and unknown pieces) as if they were not in the id list.
  bool skip_special_tokens = false;
  // transformers' clean_up_tokenization_spaces: after decoding, " ." -> ".", " ?" -> "?",
  // " !" -> "!", " ," -> ",", " ' " -> "'", " n't" -> "n't", " 'm" -> "'m", " 's" -> "'s",
  // " 've" -> "'ve", " 're" -> "'re", in that order (each over the whole text). Off by default
  // (the tokenizers library never does it); Tokenizer::clean_up_tokenization_spaces() says
  // whether the model's tokenizer_config.json asks for it.
  bool clean_up_tokenization_spaces = false;
};

// Special ids; -1 where the tokenizer has none.
struct SpecialTokens {
  int32_t bos = -1, eos = -1, pad = -1, unk = -1;
  bool add_bos = false;  // whether prompts conventionally start with bos (tokenizer_config.json
                         // add_bos_token; SentencePiece: true when it has a bos)
  bool add_eos = false;
};

class Tokenizer {
 public:
  // `path`: a model directory, or one tokenizer file (a .json file is read as tokenizer.json,
  // anything else as a SentencePiece model). In a directory tokenizer.json is used if present
  // (if it is valid JSON but not a byte-level BPE and a SentencePiece file is there too, that
  // one is used), else tokenizer.model, else tokenizer.model.v3. tokenizer_config.json and
  // special_tokens_map.json next to tokenizer.json supply the special tokens and defaults.
  static Result<std::shared_ptr<const Tokenizer>> load(const std::string& path);

  // Text -> ids, without adding BOS/EOS (prepend special().bos yourself where add_bos says so).
  // Invalid UTF-8 in `text` is not an error: each invalid part is replaced by U+FFFD first, as
  // Python's bytes.decode(errors="replace") would before a Hugging Face tokenizer sees it.
  Result<std::vector<int32_t>> encode(std::string_view text) const;
  // Ids -> text. Fails naming the first id outside [0, vocab_size()) or with no token.
  Result<std::string> decode(const int32_t* ids, size_t n, const DecodeOptions& options = {}) const;
  Result<std::string> decode(const std::vector<int32_t>& ids,
                             const DecodeOptions& options = {}) const {
    return decode(ids.data(), ids.size(), options);
  }

  // The vocabulary string of one id ("Ġworld", "▁Hello", "<0x0A>", "<|endoftext|>").
  Result<std::string> token_to_piece(int32_t id) const;
  // The id of a vocabulary string, or -1.
  int32_t piece_to_token(std::string_view piece) const;
  bool is_special(int32_t id) const;  // see DecodeOptions::skip_special_tokens

  TokenizerKind kind() const;
  int vocab_size() const;  // ids are [0, vocab_size()) (may have gaps; decode reports them)
  const SpecialTokens& special() const;
  bool clean_up_tokenization_spaces() const;  // tokenizer_config.json's value (false if absent)
  const std::string& source() const;          // the file it was loaded from
  // The most bytes one token can decode to (sizes the buffers of TextStream).
  size_t max_token_bytes() const;

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  const detail::TokenizerImpl& impl() const { return *impl_; }  // internal use

 private:
  explicit Tokenizer(std::unique_ptr<detail::TokenizerImpl> impl);
  std::unique_ptr<detail::TokenizerImpl> impl_;
};

// Byte offset of the first byte of `text` that is not part of valid UTF-8, or text.size() (lets a
// program warn before encode() replaces invalid parts).
size_t utf8_valid_prefix(std::string_view text);

// Streaming detokenizer: turns ids into text as they are generated. push() returns the text that
// is complete so far and never a partial UTF-8 character (the bytes of one still being completed
// are held back, at most 3). Concatenating every push() and finish() gives exactly
// decode(all ids) with the same options. All memory is allocated in create(): push() and finish()
// never allocate (except to word an error), so a generation loop using it stays allocation-free.
// The returned view is valid until the next call.
class TextStream {
 public:
  // clean_up_tokenization_spaces needs look-ahead across tokens and is not supported here.
  static Result<TextStream> create(std::shared_ptr<const Tokenizer> tokenizer,
                                   const DecodeOptions& options = {});
  // An id outside [0, vocab_size()), or one with no token, fails naming it and changes nothing.
  Result<std::string_view> push(int32_t id);
  // End of the ids: an incomplete character at the end becomes U+FFFD, as decode() does. The
  // stream is then empty, ready for a new text.
  std::string_view finish();
  void reset();  // drop anything held back and start a new text

  size_t capacity() const;  // bytes allocated by create()

  TextStream();
  ~TextStream();
  TextStream(TextStream&&) noexcept;
  TextStream& operator=(TextStream&&) noexcept;

 private:
  struct State;
  std::shared_ptr<const Tokenizer> tok_;
  std::unique_ptr<State> state_;
};

}  // namespace mamba
