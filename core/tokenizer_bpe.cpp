// Byte-level BPE from a Hugging Face tokenizer.json, reproducing the tokenizers library:
//   encode: added tokens with normalized=false are cut out of the raw text; each remaining run
//           is NFC-normalized (if the normalizer says so) and the added tokens with
//           normalized=true are cut out of it; each remaining run is split by the GPT-2 pattern,
//           each piece spelled in the byte-level alphabet and merged by BPE.
//   decode: each id's token string (added tokens first), byte-level decoded, all bytes joined and
//           made valid UTF-8 with U+FFFD (from_utf8_lossy).
#include <algorithm>
#include <array>
#include <deque>
#include <sstream>
#include <unordered_map>

#include "core/added_tokens.h"
#include "core/bpe.h"
#include "core/byte_level.h"
#include "core/gpt2_split.h"
#include "core/json.h"
#include "core/tokenizer_config.h"
#include "core/tokenizer_impl.h"
#include "core/unicode.h"
#include "platform/mapped_file.h"

namespace mamba::detail {

using platform::fail;

namespace {

template <class... Parts>
[[noreturn]] void unsupported(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw UnsupportedTokenizer(os.str());
}

// obj[key] if present and not null, else nullptr.
const Json* member(const Json& obj, const char* key) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool bool_member(const Json& obj, const char* key, bool fallback, const std::string& where) {
  const Json* j = member(obj, key);
  if (!j) return fallback;
  if (!j->is_boolean()) fail(where, ".", key, ": expected true or false, got ", json_brief(*j));
  return j->get<bool>();
}

std::string type_of(const Json& obj, const std::string& where) {
  if (!obj.is_object()) fail(where, ": expected an object, got ", json_brief(obj));
  const Json* t = member(obj, "type");
  if (!t || !t->is_string()) fail(where, ".type: expected a string, got ", t ? json_brief(*t) : "nothing");
  return t->get<std::string>();
}

// Words up to this many bytes are remembered within one encode() call: text repeats its words,
// and a lookup is cheaper than merging again.
constexpr size_t kCacheMaxBytes = 64;

class BpeTokenizer final : public TokenizerImpl {
 public:
  explicit BpeTokenizer(const std::string& path);
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const int32_t* ids, size_t n, bool skip_special) const override;
  int32_t piece_to_token(std::string_view piece) const override;

 private:
  struct Call;  // the scratch of one encode() call
  void read_model(const Json& model, const std::string& where);
  void read_added_tokens(const Json& list, const std::string& where);
  void read_pipeline(const Json& root, const std::string& path);
  void build_tables(const std::string& path);
  void read_special_tokens(const std::string& path);
  int32_t find(std::string_view content) const;

  void encode_normalized(Call& call, std::string_view text) const;
  void encode_words(Call& call, std::string_view text) const;
  void encode_word(Call& call, std::string_view word) const;

  std::unordered_map<std::string, int32_t> vocab_;  // the model's vocabulary
  std::vector<std::string> merges_text_;            // only while loading
  MergeTable merges_;
  std::vector<AddedToken> added_;
  AddedTokenMatcher raw_added_, normalized_added_;
  std::array<int32_t, 256> byte_token_{};  // the token of each single byte, -1 if none
  bool nfc_ = false;
  bool add_prefix_space_ = false;
  bool use_regex_ = true;
  bool ignore_merges_ = false;
};

struct BpeTokenizer::Call {
  std::vector<int32_t> ids;
  std::vector<int32_t> word;
  BpeWorkspace workspace;
  std::deque<std::string> owned;  // normalized text the cache keys point into
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;  // -> range of ids
  std::vector<int32_t> cached;
};

BpeTokenizer::BpeTokenizer(const std::string& path) {
  kind = TokenizerKind::byte_level_bpe;
  source = path;
  const Json root = parse_python_json(platform::read_text_file(path), path);
  if (!root.is_object()) fail(path, ": expected a JSON object, got ", json_brief(root));
  const Json* model = member(root, "model");
  if (!model) fail(path, ": no \"model\" (expected a tokenizer.json of Hugging Face tokenizers)");
  read_model(*model, path + ": model");
  if (const Json* added = member(root, "added_tokens")) read_added_tokens(*added, path + ": added_tokens");
  read_pipeline(root, path);
  build_tables(path);
  read_special_tokens(path);
}

void BpeTokenizer::read_model(const Json& model, const std::string& where) {
  if (!model.is_object()) fail(where, ": expected an object, got ", json_brief(model));
  if (const Json* t = member(model, "type"); t && *t != "BPE")
    unsupported(where, ".type: ", json_brief(*t), " is not supported (only \"BPE\")");
  if (const Json* d = member(model, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
    unsupported(where, ".dropout: ", json_brief(*d), " is not supported (only null: encoding must be deterministic)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const Json* s = member(model, key); s && !(s->is_string() && s->get<std::string>().empty()))
      unsupported(where, ".", key, ": ", json_brief(*s), " is not supported (only null)");
  if (bool_member(model, "byte_fallback", false, where))
    unsupported(where, ".byte_fallback: true is not supported (byte-level BPE needs no fallback)");
  ignore_merges_ = bool_member(model, "ignore_merges", false, where);

  const Json* vocab = member(model, "vocab");
  if (!vocab || !vocab->is_object())
    fail(where, ".vocab: expected an object {token: id}, got ", vocab ? json_brief(*vocab) : "nothing");
  vocab_.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const Json& id = it.value();
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(where, ".vocab[", json_brief(Json(it.key())), "]: expected an id in [0, 2^31), got ", json_brief(id));
    vocab_.emplace(it.key(), int32_t(id.get<int64_t>()));
  }

  const Json* merges = member(model, "merges");
  if (!merges || !merges->is_array())
    fail(where, ".merges: expected an array, got ", merges ? json_brief(*merges) : "nothing");
  merges_text_.reserve(2 * merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& m = (*merges)[i];
    // Two formats: "a b" (older files) and ["a", "b"] (tokenizers >= 0.20).
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() ||
          s.find(' ', space + 1) != std::string::npos)
        fail(where, ".merges[", i, "]: expected \"left right\" (two tokens, one space), got ", json_brief(m));
      merges_text_.push_back(s.substr(0, space));
      merges_text_.push_back(s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges_text_.push_back(m[0].get<std::string>());
      merges_text_.push_back(m[1].get<std::string>());
    } else {
      fail(where, ".merges[", i, "]: expected \"left right\" or [\"left\", \"right\"], got ", json_brief(m));
    }
  }
}

void BpeTokenizer::read_added_tokens(const Json& list, const std::string& where) {
  if (!list.is_array()) fail(where, ": expected an array, got ", json_brief(list));
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& t = list[i];
    const std::string w = where + "[" + std::to_string(i) + "]";
    if (!t.is_object()) fail(w, ": expected an object, got ", json_brief(t));
    const Json* id = member(t, "id");
    const Json* content = member(t, "content");
    if (!id || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() > INT32_MAX)
      fail(w, ".id: expected an id in [0, 2^31), got ", id ? json_brief(*id) : "nothing");
    if (!content || !content->is_string() || content->get<std::string>().empty())
      fail(w, ".content: expected a non-empty string, got ", content ? json_brief(*content) : "nothing");
    AddedToken a;
    a.id = int32_t(id->get<int64_t>());
    a.content = content->get<std::string>();
    a.special = bool_member(t, "special", false, w);
    a.single_word = bool_member(t, "single_word", false, w);
    a.lstrip = bool_member(t, "lstrip", false, w);
    a.rstrip = bool_member(t, "rstrip", false, w);
    // HF's default: special tokens are matched in the raw text, the others after normalization.
    a.normalized = bool_member(t, "normalized", !a.special, w);
    added_.push_back(std::move(a));
  }
}

void BpeTokenizer::read_pipeline(const Json& root, const std::string& path) {
  if (const Json* n = member(root, "normalizer")) {
    // NFC, or a Sequence of nothing but NFC.
    const std::string t = type_of(*n, path + ": normalizer");
    if (t == "NFC") {
      nfc_ = true;
    } else if (t == "Sequence" && member(*n, "normalizers") && (*n)["normalizers"].is_array()) {
      for (const Json& s : (*n)["normalizers"]) {
        if (type_of(s, path + ": normalizer.normalizers[]") != "NFC")
          unsupported(path, ": normalizer: ", json_brief(s["type"]), " is not supported (only NFC)");
        nfc_ = true;
      }
    } else {
      unsupported(path, ": normalizer: ", json_brief(Json(t)), " is not supported (only NFC or none)");
    }
  }
  const Json* pre = member(root, "pre_tokenizer");
  if (!pre || type_of(*pre, path + ": pre_tokenizer") != "ByteLevel")
    unsupported(path, ": pre_tokenizer: ", pre ? json_brief((*pre)["type"]) : "null",
                " is not supported (only ByteLevel)");
  add_prefix_space_ = bool_member(*pre, "add_prefix_space", false, path + ": pre_tokenizer");
  use_regex_ = bool_member(*pre, "use_regex", true, path + ": pre_tokenizer");
  const Json* dec = member(root, "decoder");
  if (!dec || type_of(*dec, path + ": decoder") != "ByteLevel")
    unsupported(path, ": decoder: ", dec ? json_brief((*dec)["type"]) : "null",
                " is not supported (only ByteLevel)");
  // post_processor: ignored, since encode() adds no special tokens; truncation and padding too.
}

void BpeTokenizer::build_tables(const std::string& path) {
  // Ids and their strings: the vocabulary, then added tokens (which take precedence on decode).
  int64_t max_id = -1;
  for (const auto& [s, id] : vocab_) max_id = std::max<int64_t>(max_id, id);
  for (const AddedToken& a : added_) max_id = std::max<int64_t>(max_id, a.id);
  if (max_id < 0) fail(path, ": model.vocab: empty");
  if (max_id >= (int64_t(1) << 24))
    fail(path, ": token id ", max_id, " is too large (at most 2^24 - 1 supported)");
  vocab_size = int(max_id + 1);

  std::vector<const std::string*> piece(size_t(vocab_size), nullptr);
  std::vector<uint8_t> is_special(size_t(vocab_size), 0);
  for (const auto& [s, id] : vocab_) piece[size_t(id)] = &s;
  for (const AddedToken& a : added_) {
    piece[size_t(a.id)] = &a.content;
    is_special[size_t(a.id)] = a.special;
  }
  std::string bytes;
  for (int32_t id = 0; id < vocab_size; ++id) {
    const std::string* p = piece[size_t(id)];
    if (!p) {
      add_token("", "", TokenSurface::missing);
      continue;
    }
    bytes.clear();
    if (!byte_level::decode(*p, bytes)) bytes = *p;
    add_token(*p, bytes, is_special[size_t(id)] ? TokenSurface::special : 0);
  }

  for (int b = 0; b < 256; ++b) {
    const auto it = vocab_.find(byte_level::encode(std::string(1, char(b))));
    byte_token_[size_t(b)] = it == vocab_.end() ? -1 : it->second;
  }

  merges_.reserve(merges_text_.size() / 2);
  for (size_t i = 0; i < merges_text_.size(); i += 2) {
    const std::string& a = merges_text_[i];
    const std::string& b = merges_text_[i + 1];
    const auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
    const std::string* missing = ia == vocab_.end() ? &a : ib == vocab_.end() ? &b : nullptr;
    if (missing || iab == vocab_.end())
      fail(path, ": model.merges[", i / 2, "]: token ", json_brief(Json(missing ? *missing : a + b)),
           " is not in model.vocab");
    merges_.insert(ia->second, ib->second, int32_t(i / 2), iab->second);
  }
  merges_text_ = {};

  std::vector<AddedToken> raw, normalized;
  for (const AddedToken& a : added_) (a.normalized ? normalized : raw).push_back(a);
  raw_added_ = AddedTokenMatcher(std::move(raw));
  normalized_added_ = AddedTokenMatcher(std::move(normalized));
}

int32_t BpeTokenizer::find(std::string_view content) const {
  for (auto it = added_.rbegin(); it != added_.rend(); ++it)
    if (it->content == content) return it->id;
  const auto it = vocab_.find(std::string(content));
  return it == vocab_.end() ? -1 : it->second;
}

void BpeTokenizer::read_special_tokens(const std::string& path) {
  const TokenizerConfigFile c = read_tokenizer_config(parent_directory(path));
  // Without a tokenizer_config.json: the GPT-2 / GPT-NeoX convention, where <|endoftext|> is bos,
  // eos and unk at once (what transformers' GPT2/GPTNeoX tokenizers default to).
  const int32_t eot = find("<|endoftext|>");
  auto resolve = [&](const std::optional<std::string>& s, int32_t fallback) {
    return s ? find(*s) : fallback;  // a name that is not a token: none (-1)
  };
  special.bos = resolve(c.bos, eot);
  special.eos = resolve(c.eos, eot);
  special.unk = resolve(c.unk, eot);
  special.pad = resolve(c.pad, -1);
  special.add_bos = c.add_bos.value_or(false);
  special.add_eos = c.add_eos.value_or(false);
  clean_up_tokenization_spaces = c.clean_up_tokenization_spaces.value_or(false);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  Call call;
  call.ids.reserve(text.size() / 3 + 16);
  raw_added_.split(
      text, [&](size_t b, size_t e) { encode_normalized(call, text.substr(b, e - b)); },
      [&](int32_t id) { call.ids.push_back(id); });
  return std::move(call.ids);
}

void BpeTokenizer::encode_normalized(Call& call, std::string_view text) const {
  if (nfc_ && !unicode::nfc_is_identity(text)) {
    call.owned.push_back(unicode::nfc(text));
    text = call.owned.back();
  }
  normalized_added_.split(
      text, [&](size_t b, size_t e) { encode_words(call, text.substr(b, e - b)); },
      [&](int32_t id) { call.ids.push_back(id); });
}

void BpeTokenizer::encode_words(Call& call, std::string_view text) const {
  if (add_prefix_space_ && text[0] != ' ') {
    call.owned.push_back(" " + std::string(text));
    text = call.owned.back();
  }
  if (!use_regex_) return encode_word(call, text);
  gpt2_split(text, [&](size_t b, size_t e) { encode_word(call, text.substr(b, e - b)); });
}

void BpeTokenizer::encode_word(Call& call, std::string_view word) const {
  const bool cacheable = word.size() <= kCacheMaxBytes;
  if (cacheable) {
    const auto it = call.cache.find(word);
    if (it != call.cache.end()) {
      const auto [off, len] = it->second;
      call.ids.insert(call.ids.end(), call.cached.begin() + off, call.cached.begin() + off + len);
      return;
    }
  }
  if (ignore_merges_) {  // a word that is a token is taken whole
    const auto it = vocab_.find(byte_level::encode(word));
    if (it != vocab_.end()) {
      call.ids.push_back(it->second);
      return;
    }
  }
  call.word.clear();
  for (const char c : word)  // a byte with no token is dropped, as HF does without unk_token
    if (const int32_t id = byte_token_[uint8_t(c)]; id >= 0) call.word.push_back(id);
  call.workspace.merge(merges_, call.word);
  call.ids.insert(call.ids.end(), call.word.begin(), call.word.end());
  if (cacheable) {
    call.cache.emplace(word, std::make_pair(uint32_t(call.cached.size()), uint32_t(call.word.size())));
    call.cached.insert(call.cached.end(), call.word.begin(), call.word.end());
  }
}

std::string BpeTokenizer::decode(const int32_t* ids, size_t n, bool skip_special) const {
  std::string bytes;
  for (size_t i = 0; i < n; ++i) {
    if (skip_special && (tokens[size_t(ids[i])].flags & TokenSurface::special)) continue;
    bytes += surface(ids[i]);
  }
  return utf8::repair(bytes);
}

int32_t BpeTokenizer::piece_to_token(std::string_view piece) const { return find(piece); }

}  // namespace

std::unique_ptr<TokenizerImpl> load_bpe(const std::string& json_path) {
  return std::make_unique<BpeTokenizer>(json_path);
}

}  // namespace mamba::detail
