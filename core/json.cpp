#include "core/json.h"

#include <cctype>
#include <cmath>
#include <limits>

#include "platform/error.h"

namespace mamba::detail {

using platform::fail;

Json parse_python_json(const std::string& text, const std::string& where) {
  // Rewrite the three Python tokens outside strings into quoted strings; everything else is copied.
  std::string s;
  s.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      s += c;
      if (c == '\\' && i + 1 < text.size()) s += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const char* tok : {"-Infinity", "Infinity", "NaN"}) {
      const size_t n = std::char_traits<char>::length(tok);
      if (text.compare(i, n, tok) == 0) {
        s += '"';
        s += tok;
        s += '"';
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) s += c;
  }
  try {
    return Json::parse(s);
  } catch (const Json::exception& e) {
    fail(where, ": invalid JSON: ", e.what());
  }
}

std::string json_brief(const Json& j, size_t max_chars) {
  std::string s;
  if (j.is_array()) {
    s = "[";
    for (size_t i = 0; i < j.size() && s.size() <= max_chars; ++i) {
      const Json& e = j[i];
      s += i ? "," : "";
      s += e.is_array() ? "[...]" : e.is_object() ? "{...}" : e.dump();
    }
    s += "]";
  } else if (j.is_object()) {
    s = j.empty() ? "{}" : "{...}";
  } else {
    s = j.dump();
  }
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

double json_number(const Json& j, const std::string& where, const std::string& key) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& v = j.get_ref<const std::string&>();
    if (v == "Infinity") return std::numeric_limits<double>::infinity();
    if (v == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  fail(where, ": field '", key, "' must be a number, got ", json_brief(j));
}

}  // namespace mamba::detail
