// What the two tokenizer kinds implement behind mamba::Tokenizer, plus the per-token table the
// streaming detokenizer reads (so that TextStream needs no virtual call and no allocation).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "mamba/tokenizer.h"
#include "platform/error.h"

namespace mamba::detail {

// A valid file of a kind this library does not implement (e.g. a tokenizer.json with a Metaspace
// pre-tokenizer). Tokenizer::load may then fall back to a SentencePiece file of the same model.
struct UnsupportedTokenizer : platform::LoadError {
  using platform::LoadError::LoadError;
};

// What one id decodes to on its own, for streaming.
struct TokenSurface {
  enum Flags : uint8_t {
    missing = 1,        // no token has this id
    special = 2,        // dropped by skip_special_tokens
    byte_piece = 4,     // SentencePiece <0xXX>: one raw byte, joined with neighbouring bytes
    control = 8,        // SentencePiece control piece: decodes to nothing
    leading_space = 16, // SentencePiece piece starting with U+2581 (bytes[0] is its ' ')
  };
  uint32_t offset = 0;  // into TokenizerImpl::surfaces
  uint32_t length = 0;
  uint8_t flags = 0;
};

class TokenizerImpl {
 public:
  virtual ~TokenizerImpl() = default;
  // Valid UTF-8 in; throws LoadError (or bad_alloc) only on internal failure.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Ids already checked against the vocabulary. skip_special: leave out TokenSurface::special.
  virtual std::string decode(const int32_t* ids, size_t n, bool skip_special) const = 0;
  virtual int32_t piece_to_token(std::string_view piece) const = 0;

  std::string_view surface(int32_t id) const {
    const TokenSurface& t = tokens[size_t(id)];
    return std::string_view(surfaces).substr(t.offset, t.length);
  }

  TokenizerKind kind = TokenizerKind::byte_level_bpe;
  std::string source;
  int vocab_size = 0;
  SpecialTokens special;
  bool clean_up_tokenization_spaces = false;

  std::vector<TokenSurface> tokens;  // [vocab_size]
  std::string surfaces;              // the bytes each token decodes to, back to back
  std::vector<uint32_t> piece_offsets;  // [vocab_size + 1] into pieces
  std::string pieces;                   // token_to_piece strings, back to back
  size_t max_surface = 0;

  // How decoding joins tokens (TextStream reproduces decode() with these):
  // BPE: all surfaces are bytes of one stream, repaired as a whole (maximal subparts).
  // SentencePiece: runs of byte pieces are repaired on their own, one U+FFFD per bad byte; the
  // first piece's leading space is dropped while nothing has been output yet (add_dummy_prefix),
  // and with remove_extra_whitespaces every leading space piece is dropped.
  utf8::StreamRepair::Policy repair_policy = utf8::StreamRepair::Policy::maximal_subpart;
  bool sentencepiece_rules = false;
  bool strip_first_space = false;
  bool strip_all_leading_spaces = false;

  // Appends a surface / piece entry (loaders call these in id order).
  void add_token(std::string_view piece, std::string_view surface, uint8_t flags);
};

// transformers' clean_up_tokenization (see DecodeOptions), in place.
void clean_up_tokenization(std::string& text);

std::unique_ptr<TokenizerImpl> load_bpe(const std::string& json_path);
std::unique_ptr<TokenizerImpl> load_sentencepiece(const std::string& model_path);

}  // namespace mamba::detail
