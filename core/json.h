// JSON as Hugging Face writes it: Python's json module emits the bare tokens Infinity, -Infinity
// and NaN (e.g. "time_step_limit": [0.0, Infinity]), which strict JSON parsers reject.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mamba::detail {

using Json = nlohmann::json;

// Parses text; Infinity / -Infinity / NaN outside strings become the strings "Infinity",
// "-Infinity", "NaN", which json_number() reads back as numbers. Throws LoadError naming `where`.
Json parse_python_json(const std::string& text, const std::string& where);

// j.dump() for error messages, safe on hostile input: nested arrays/objects are elided as [...] /
// {...} and the text is cut to about max_chars. (nlohmann's dump() recurses once per nesting level,
// so a deeply nested value -- a few hundred KB of '[' -- would overflow the stack.)
std::string json_brief(const Json& j, size_t max_chars = 160);

// A number, or one of the three special strings above. Throws LoadError naming where/key.
double json_number(const Json& j, const std::string& where, const std::string& key);

}  // namespace mamba::detail
