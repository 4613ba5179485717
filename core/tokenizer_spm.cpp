// SentencePiece models (tokenizer.model / tokenizer.model.v3 of Mistral and Mamba-Codestral),
// encoded and decoded by the SentencePiece library itself. Only the streaming table is ours: what
// each piece decodes to, and the decoder's rules for joining them, which are probed from the
// library at load (and checked against its Decode in the tests).
#include <sentencepiece_processor.h>

#include "core/tokenizer_config.h"
#include "core/tokenizer_impl.h"
#include "platform/mapped_file.h"

namespace mamba::detail {

using platform::fail;

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// "<0x41>" -> 0x41, or -1.
int byte_of_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = p[size_t(i)];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

std::string replace_spaces(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
      out += ' ';
      i += kSpaceSymbol.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

class SpmTokenizer final : public TokenizerImpl {
 public:
  explicit SpmTokenizer(const std::string& path);
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const int32_t* ids, size_t n, bool skip_special) const override;
  int32_t piece_to_token(std::string_view piece) const override;

 private:
  std::string library_decode(const std::vector<int>& ids) const;
  void probe_space_rules();
  sentencepiece::SentencePieceProcessor sp_;
};

SpmTokenizer::SpmTokenizer(const std::string& path) {
  kind = TokenizerKind::sentencepiece;
  source = path;
  // The library reads the file itself; check it exists first for a clearer message.
  if (!platform::is_file(path)) fail(path, ": does not exist or is not a file");
  const auto status = sp_.Load(path);
  if (!status.ok())
    fail(path, ": not a SentencePiece model (", status.ToString(), ")");
  vocab_size = sp_.GetPieceSize();
  if (vocab_size <= 0) fail(path, ": SentencePiece model has no pieces");

  for (int id = 0; id < vocab_size; ++id) {
    const std::string& piece = sp_.IdToPiece(id);
    if (sp_.IsControl(id)) {
      add_token(piece, "", TokenSurface::control | TokenSurface::special);
    } else if (sp_.IsUnknown(id)) {
      add_token(piece, library_decode({id}), TokenSurface::special);  // the unk surface, " ⁇ "
    } else if (sp_.IsByte(id)) {
      const int b = byte_of_piece(piece);
      if (b < 0) fail(path, ": byte piece ", id, " is \"", piece, "\", expected <0xXX>");
      add_token(piece, std::string(1, char(b)), TokenSurface::byte_piece);
    } else {
      const bool leading = piece.compare(0, kSpaceSymbol.size(), kSpaceSymbol) == 0;
      add_token(piece, replace_spaces(piece), leading ? TokenSurface::leading_space : 0);
    }
  }
  repair_policy = utf8::StreamRepair::Policy::per_byte;
  sentencepiece_rules = true;
  probe_space_rules();

  special.bos = sp_.bos_id();
  special.eos = sp_.eos_id();
  special.pad = sp_.pad_id();
  special.unk = sp_.unk_id();
  special.add_bos = special.bos >= 0;  // Llama/Mistral convention: prompts start with <s>
  const TokenizerConfigFile c = read_tokenizer_config(parent_directory(path));
  auto resolve = [&](const std::optional<std::string>& s, int32_t fallback) {
    return s ? piece_to_token(*s) : fallback;
  };
  special.bos = resolve(c.bos, special.bos);
  special.eos = resolve(c.eos, special.eos);
  special.pad = resolve(c.pad, special.pad);
  special.unk = resolve(c.unk, special.unk);
  special.add_bos = c.add_bos.value_or(special.add_bos);
  special.add_eos = c.add_eos.value_or(false);
  clean_up_tokenization_spaces = c.clean_up_tokenization_spaces.value_or(false);
}

// The decoder drops the leading space of the first piece when the model adds a dummy prefix (or
// removes extra whitespace; then every leading "▁" piece goes). The model proto is not in the
// library's public headers, so ask the decoder: decode("▁x") alone, and "▁" twice.
void SpmTokenizer::probe_space_rules() {
  int32_t with_space = -1;
  for (int32_t id = 0; id < vocab_size && with_space < 0; ++id)
    if ((tokens[size_t(id)].flags & TokenSurface::leading_space) && tokens[size_t(id)].length > 1)
      with_space = id;
  if (with_space < 0) return;  // no piece starts with a space: nothing to strip
  strip_first_space = library_decode({with_space}) == surface(with_space).substr(1);
  const int32_t space = sp_.PieceToId(kSpaceSymbol);
  if (strip_first_space && space >= 0 && sp_.IdToPiece(space) == kSpaceSymbol)
    strip_all_leading_spaces = library_decode({space, space}).empty();
}

std::string SpmTokenizer::library_decode(const std::vector<int>& ids) const {
  std::string out;
  const auto status = sp_.Decode(ids, &out);
  if (!status.ok()) fail(source, ": SentencePiece decode failed: ", status.ToString());
  return out;
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = sp_.Encode(text, &ids);
  if (!status.ok()) fail(source, ": SentencePiece encode failed: ", status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SpmTokenizer::decode(const int32_t* ids, size_t n, bool skip_special) const {
  std::vector<int> keep;
  keep.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (!skip_special || !(tokens[size_t(ids[i])].flags & TokenSurface::special)) keep.push_back(ids[i]);
  return library_decode(keep);
}

int32_t SpmTokenizer::piece_to_token(std::string_view piece) const {
  const int id = sp_.PieceToId(piece);  // the unk id for an unknown piece
  return id >= 0 && id < vocab_size && sp_.IdToPiece(id) == piece ? id : -1;
}

}  // namespace

std::unique_ptr<TokenizerImpl> load_sentencepiece(const std::string& model_path) {
  return std::make_unique<SpmTokenizer>(model_path);
}

}  // namespace mamba::detail
