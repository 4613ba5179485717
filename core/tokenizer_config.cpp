#include "core/tokenizer_config.h"

#include "core/json.h"
#include "platform/error.h"
#include "platform/mapped_file.h"

namespace mamba::detail {

using platform::fail;

namespace {

// A special-token field: "text", {"content": "text", ...} (AddedToken), or null / absent.
std::optional<std::string> token_field(const Json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  fail(where, ": ", key, ": expected a string or an object with a string \"content\", got ",
       json_brief(*it));
}

std::optional<bool> bool_field(const Json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) fail(where, ": ", key, ": expected true or false, got ", json_brief(*it));
  return it->get<bool>();
}

Json read_object(const std::string& path) {
  Json j = parse_python_json(platform::read_text_file(path), path);
  if (!j.is_object()) fail(path, ": expected a JSON object, got ", json_brief(j));
  return j;
}

}  // namespace

TokenizerConfigFile read_tokenizer_config(const std::string& dir) {
  TokenizerConfigFile c;
  const std::string config = dir + "/tokenizer_config.json";
  if (platform::is_file(config)) {
    const Json j = read_object(config);
    c.bos = token_field(j, "bos_token", config);
    c.eos = token_field(j, "eos_token", config);
    c.pad = token_field(j, "pad_token", config);
    c.unk = token_field(j, "unk_token", config);
    c.add_bos = bool_field(j, "add_bos_token", config);
    c.add_eos = bool_field(j, "add_eos_token", config);
    c.clean_up_tokenization_spaces = bool_field(j, "clean_up_tokenization_spaces", config);
  }
  const std::string map = dir + "/special_tokens_map.json";
  if (platform::is_file(map)) {
    const Json j = read_object(map);
    if (!c.bos) c.bos = token_field(j, "bos_token", map);
    if (!c.eos) c.eos = token_field(j, "eos_token", map);
    if (!c.pad) c.pad = token_field(j, "pad_token", map);
    if (!c.unk) c.unk = token_field(j, "unk_token", map);
  }
  return c;
}

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace mamba::detail
