// mamba::Tokenizer: picks the kind from the files, checks ids at the API boundary, applies the
// decode options, and turns internal exceptions into Status.
#include "mamba/tokenizer.h"

#include <algorithm>

#include "core/tokenizer_impl.h"
#include "core/utf8.h"
#include "platform/error.h"
#include "platform/mapped_file.h"

namespace mamba {

using platform::fail;

namespace detail {

void TokenizerImpl::add_token(std::string_view piece, std::string_view surface, uint8_t flags) {
  TokenSurface t;
  t.offset = uint32_t(surfaces.size());
  t.length = uint32_t(surface.size());
  t.flags = flags;
  surfaces += surface;
  tokens.push_back(t);
  if (piece_offsets.empty()) piece_offsets.push_back(0);
  pieces += piece;
  piece_offsets.push_back(uint32_t(pieces.size()));
  max_surface = std::max(max_surface, surface.size());
}

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const std::string_view x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

std::unique_ptr<TokenizerImpl> load_any(const std::string& path) {
  if (platform::is_directory(path)) {
    const std::string json = path + "/tokenizer.json";
    std::string spm;
    for (const char* name : {"tokenizer.model", "tokenizer.model.v3"})
      if (spm.empty() && platform::is_file(path + "/" + name)) spm = path + "/" + name;
    if (platform::is_file(json)) {
      try {
        return load_bpe(json);
      } catch (const UnsupportedTokenizer&) {
        if (spm.empty()) throw;  // a tokenizer.json we cannot run and nothing else: say why
      }
    }
    if (!spm.empty()) return load_sentencepiece(spm);
    fail(path, ": no tokenizer in this directory (expected tokenizer.json, tokenizer.model or "
               "tokenizer.model.v3)");
  }
  if (platform::is_file(path)) return ends_with(path, ".json") ? load_bpe(path) : load_sentencepiece(path);
  fail(path, ": tokenizer path does not exist");
}

// Python's str.replace(from, to): every non-overlapping occurrence, left to right.
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from.data(), pos, from.size())) != std::string::npos;
       pos = hit + from.size())
    out.append(s, pos, hit - pos).append(to);
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

}  // namespace

// transformers' PreTrainedTokenizerBase.clean_up_tokenization, in its order.
void clean_up_tokenization(std::string& s) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},   {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
}

}  // namespace detail

Tokenizer::Tokenizer(std::unique_ptr<detail::TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Result<std::shared_ptr<const Tokenizer>> Tokenizer::load(const std::string& path) {
  try {
    return std::shared_ptr<const Tokenizer>(new Tokenizer(detail::load_any(path)));
  } catch (const platform::LoadError& e) {
    return Status::error(e.what());
  } catch (const std::bad_alloc&) {
    return Status::error(path + ": out of memory while loading the tokenizer");
  } catch (const std::exception& e) {  // not expected; never let it escape
    return Status::error(path + ": " + e.what());
  }
}

Result<std::vector<int32_t>> Tokenizer::encode(std::string_view text) const {
  try {
    if (detail::utf8::valid_prefix(text) != text.size()) {
      const std::string repaired = detail::utf8::repair(text);
      return impl_->encode(repaired);
    }
    return impl_->encode(text);
  } catch (const platform::LoadError& e) {
    return Status::error(std::string("encode: ") + e.what());
  } catch (const std::bad_alloc&) {
    return Status::error("encode: out of memory (text of " + std::to_string(text.size()) + " bytes)");
  } catch (const std::exception& e) {
    return Status::error(std::string("encode: ") + e.what());
  }
}

namespace {
Status check_id(const detail::TokenizerImpl& t, int32_t id, const char* what, size_t position) {
  const bool in_range = id >= 0 && id < t.vocab_size;
  if (in_range && !(t.tokens[size_t(id)].flags & detail::TokenSurface::missing)) return {};
  std::string where = std::string(what) + ": token id " + std::to_string(id);
  if (position != size_t(-1)) where += " (position " + std::to_string(position) + ")";
  if (!in_range)
    return Status::error(where + " is outside the vocabulary [0, " + std::to_string(t.vocab_size) +
                         ") of " + t.source);
  return Status::error(where + " has no token in " + t.source);
}
}  // namespace

Result<std::string> Tokenizer::decode(const int32_t* ids, size_t n, const DecodeOptions& o) const {
  for (size_t i = 0; i < n; ++i)
    if (Status s = check_id(*impl_, ids[i], "decode", i); !s.ok()) return s;
  try {
    std::string text = impl_->decode(ids, n, o.skip_special_tokens);
    if (o.clean_up_tokenization_spaces) detail::clean_up_tokenization(text);
    return text;
  } catch (const platform::LoadError& e) {
    return Status::error(std::string("decode: ") + e.what());
  } catch (const std::bad_alloc&) {
    return Status::error("decode: out of memory (" + std::to_string(n) + " ids)");
  } catch (const std::exception& e) {
    return Status::error(std::string("decode: ") + e.what());
  }
}

Result<std::string> Tokenizer::token_to_piece(int32_t id) const {
  if (Status s = check_id(*impl_, id, "token_to_piece", size_t(-1)); !s.ok()) return s;
  const uint32_t b = impl_->piece_offsets[size_t(id)], e = impl_->piece_offsets[size_t(id) + 1];
  return impl_->pieces.substr(b, e - b);
}

int32_t Tokenizer::piece_to_token(std::string_view piece) const {
  return impl_->piece_to_token(piece);
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->vocab_size &&
         (impl_->tokens[size_t(id)].flags & detail::TokenSurface::special);
}

TokenizerKind Tokenizer::kind() const { return impl_->kind; }
int Tokenizer::vocab_size() const { return impl_->vocab_size; }
const SpecialTokens& Tokenizer::special() const { return impl_->special; }
bool Tokenizer::clean_up_tokenization_spaces() const { return impl_->clean_up_tokenization_spaces; }
const std::string& Tokenizer::source() const { return impl_->source; }
size_t Tokenizer::max_token_bytes() const { return impl_->max_surface; }

size_t utf8_valid_prefix(std::string_view text) { return detail::utf8::valid_prefix(text); }

}  // namespace mamba
