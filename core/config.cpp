// config.json -> Config. Absent keys take the defaults of HF's MambaConfig (what from_pretrained
// would use), except the shape keys without which no checkpoint makes sense. Every value is
// range-checked so later shape arithmetic cannot overflow.
#include "mamba/config.h"

#include <cmath>
#include <limits>
#include <string>

#include "core/json.h"
#include "platform/error.h"
#include "platform/mapped_file.h"

namespace mamba {
namespace {

using detail::Json;
using platform::fail;

constexpr int64_t kMaxDim = 1 << 20;  // far above any released Mamba; keeps products in range

struct Reader {
  const Json& j;
  const std::string& where;

  bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }

  int64_t read_int(const char* key, const int64_t* dflt, int64_t lo, int64_t hi) const {
    if (!has(key)) {
      if (!dflt) fail(where, ": missing required field '", key, "'");
      return *dflt;
    }
    const Json& v = j.at(key);
    if (!v.is_number_integer() && !(v.is_number_float() && v.get<double>() == std::floor(v.get<double>())))
      fail(where, ": field '", key, "' must be an integer, got ", detail::json_brief(v));
    const double d = v.get<double>();
    if (d < double(lo) || d > double(hi))
      fail(where, ": field '", key, "' = ", detail::json_brief(v), " is out of range [", lo, ", ", hi, "]");
    return int64_t(d);
  }
  int64_t integer(const char* key, int64_t dflt, int64_t lo, int64_t hi) const {
    return read_int(key, &dflt, lo, hi);
  }
  int64_t required(const char* key, int64_t lo, int64_t hi) const {
    return read_int(key, nullptr, lo, hi);
  }
  double number(const char* key, double dflt) const {
    return has(key) ? detail::json_number(j.at(key), where, key) : dflt;
  }
  bool boolean(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    if (!j.at(key).is_boolean())
      fail(where, ": field '", key, "' must be true or false, got ", detail::json_brief(j.at(key)));
    return j.at(key).get<bool>();
  }
  std::string string(const char* key, const char* dflt) const {
    if (!has(key)) return dflt;
    if (!j.at(key).is_string())
      fail(where, ": field '", key, "' must be a string, got ", detail::json_brief(j.at(key)));
    return j.at(key).get<std::string>();
  }
};

// Fields both architectures read the same way.
void parse_common(const Reader& r, Config& c, int64_t d_state_default) {
  c.d_model = int(r.required("hidden_size", 1, kMaxDim));
  c.n_layer = int(r.required("num_hidden_layers", 1, 4096));
  c.vocab_size = int(r.required("vocab_size", 1, 1 << 24));
  c.d_state = int(r.integer("state_size", d_state_default, 1, 4096));
  c.d_conv = int(r.integer("conv_kernel", 4, 1, 64));
  const double expand = r.number("expand", 2.0);
  if (!(expand > 0) || !std::isfinite(expand))
    fail(r.where, ": field 'expand' must be a positive number, got ", expand);
  const double d_inner = std::floor(expand * c.d_model);  // HF: int(expand * hidden_size)
  if (d_inner < 1 || d_inner > double(kMaxDim))
    fail(r.where, ": expand * hidden_size = ", d_inner, " is out of range [1, ", kMaxDim, "]");
  c.d_inner = int(d_inner);
  c.use_bias = r.boolean("use_bias", false);
  c.use_conv_bias = r.boolean("use_conv_bias", true);
  c.residual_in_fp32 = r.boolean("residual_in_fp32", true);
  const double eps = r.number("layer_norm_epsilon", 1e-5);
  if (!(eps > 0) || !std::isfinite(eps))
    fail(r.where, ": field 'layer_norm_epsilon' must be a positive finite number, got ", eps);
  c.layer_norm_epsilon = float(eps);
  const std::string act = r.string("hidden_act", "silu");
  if (act != "silu") fail(r.where, ": field 'hidden_act' must be \"silu\", got \"", act, "\"");
  c.pad_token_id = int(r.integer("pad_token_id", 0, -1, c.vocab_size - 1));
  c.bos_token_id = int(r.integer("bos_token_id", 0, -1, c.vocab_size - 1));
  c.eos_token_id = int(r.integer("eos_token_id", 0, -1, c.vocab_size - 1));
  c.torch_dtype = r.string(r.has("torch_dtype") ? "torch_dtype" : "dtype", "");
}

Config parse_mamba1(const Reader& r) {
  Config c;
  c.arch = Architecture::mamba1;
  c.model_type = "mamba";
  parse_common(r, c, 16);
  if (r.has("time_step_rank") && r.j.at("time_step_rank").is_string()) {
    const std::string v = r.j.at("time_step_rank").get<std::string>();
    if (v != "auto") fail(r.where, ": field 'time_step_rank' must be an integer or \"auto\", got \"", v, "\"");
    c.dt_rank = (c.d_model + 15) / 16;  // math.ceil(hidden_size / 16)
  } else {
    const int64_t auto_rank = (c.d_model + 15) / 16;
    c.dt_rank = int(r.integer("time_step_rank", auto_rank, 1, kMaxDim));
  }
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);  // MambaConfig: absent = tied
  return c;
}

// Mamba2Config. Ignored as HF ignores them: intermediate_size, time_step_rank, rms_norm and
// norm_before_gate (HF always gates before normalising, as the models were trained).
Config parse_mamba2(const Reader& r) {
  Config c;
  c.arch = Architecture::mamba2;
  c.model_type = "mamba2";
  parse_common(r, c, 128);
  c.n_heads = int(r.integer("num_heads", 128, 1, kMaxDim));
  c.head_dim = int(r.integer("head_dim", 64, 1, kMaxDim));
  c.n_groups = int(r.integer("n_groups", 8, 1, kMaxDim));
  c.chunk_size = int(r.integer("chunk_size", 256, 1, 1 << 16));
  if (int64_t(c.n_heads) * c.head_dim != c.d_inner)
    fail(r.where, ": num_heads * head_dim = ", c.n_heads, " * ", c.head_dim, " = ",
         int64_t(c.n_heads) * c.head_dim, " must equal expand * hidden_size = ", c.d_inner);
  if (c.n_heads % c.n_groups != 0)
    fail(r.where, ": num_heads = ", c.n_heads, " is not a multiple of n_groups = ", c.n_groups);
  c.dt_min = 0.0f;
  c.dt_max = std::numeric_limits<float>::infinity();
  if (r.has("time_step_limit")) {
    const Json& lim = r.j.at("time_step_limit");
    if (!lim.is_array() || lim.size() != 2)
      fail(r.where, ": field 'time_step_limit' must be [min, max], got ", detail::json_brief(lim));
    const double lo = detail::json_number(lim[0], r.where, "time_step_limit[0]");
    const double hi = detail::json_number(lim[1], r.where, "time_step_limit[1]");
    if (std::isnan(lo) || std::isnan(hi) || lo > hi || lo < 0)
      fail(r.where, ": field 'time_step_limit' = [", lo, ", ", hi,
           "] must satisfy 0 <= min <= max (no NaN)");
    c.dt_min = float(lo);
    c.dt_max = float(hi);
  }
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);  // Mamba2Config: absent = untied
  return c;
}

}  // namespace

Result<Config> Config::parse(const std::string& json_text, const std::string& where) {
  try {
    const Json j = detail::parse_python_json(json_text, where);
    if (!j.is_object()) fail(where, ": expected a JSON object at the top level");
    const Reader r{j, where};
    if (!r.has("model_type")) fail(where, ": missing required field 'model_type'");
    const std::string type = r.string("model_type", "");
    if (type == "mamba") return parse_mamba1(r);
    if (type == "mamba2") return parse_mamba2(r);
    fail(where, ": unsupported model_type \"", type, "\" (supported: \"mamba\", \"mamba2\")");
  } catch (const platform::LoadError& e) {
    return Status::error(e.what());
  } catch (const std::exception& e) {
    return Status::error(where + ": " + e.what());
  }
}

Result<Config> Config::load(const std::string& path) {
  try {
    return parse(platform::read_text_file(path), path);
  } catch (const platform::LoadError& e) {
    return Status::error(e.what());
  }
}

}  // namespace mamba
