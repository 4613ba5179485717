// transformers' side files next to a tokenizer: tokenizer_config.json (special tokens, whether to
// add BOS/EOS, clean_up_tokenization_spaces) and special_tokens_map.json (special tokens only,
// used for those tokenizer_config.json does not name). Both are optional.
#pragma once

#include <optional>
#include <string>

namespace mamba::detail {

struct TokenizerConfigFile {
  // Token strings as written (a plain string or an AddedToken object's "content").
  std::optional<std::string> bos, eos, pad, unk;
  std::optional<bool> add_bos, add_eos, clean_up_tokenization_spaces;
};

// Reads what exists in `dir`; throws LoadError naming the file and field if one is malformed.
TokenizerConfigFile read_tokenizer_config(const std::string& dir);

// The directory part of a path ("." if none).
std::string parent_directory(const std::string& path);

}  // namespace mamba::detail
