#include "tools/random_checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

namespace mamba::tools {
namespace {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

uint16_t to_bf16(float f) {  // round to nearest even
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return uint16_t((b + 0x7fff + ((b >> 16) & 1)) >> 16);
}

uint16_t to_f16(float f) {
  // Via the hardware-independent path: scale into half's range with correct rounding.
  uint32_t b;
  std::memcpy(&b, &f, 4);
  const uint32_t sign = (b >> 16) & 0x8000;
  const int exp = int((b >> 23) & 0xff) - 127 + 15;
  uint32_t mant = b & 0x7fffff;
  if (exp >= 31) return uint16_t(sign | 0x7c00);
  if (exp <= 0) {  // subnormal or zero
    if (exp < -10) return uint16_t(sign);
    mant |= 0x800000;
    const int shift = 14 - exp;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return uint16_t(sign | h);
  }
  uint32_t h = (uint32_t(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return uint16_t(sign | h);
}

}  // namespace

std::string RandomCheckpoint::write_to(const std::string& dir) const {
  std::mt19937_64 rng(seed);
  auto normal = [&](float sd) { return std::normal_distribution<float>(0.0f, sd)(rng); };
  auto uniform = [&](float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); };
  const int d = expand * d_model, N = d_state, K = d_conv;
  const int R = dt_rank > 0 ? dt_rank : (d_model + 15) / 16;

  std::map<std::string, Tensor> t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, auto gen) {
    Tensor x{shape, {}};
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    x.data.resize(size_t(n));
    for (auto& v : x.data) v = gen();
    t[name] = std::move(x);
  };
  // Scales as the fixtures use: unit-variance projections, RMSNorm weights near 1, HF's A and dt
  // initialisation, out_proj amplified so the mixer is visible in the residual.
  add("backbone.embeddings.weight", {vocab_size, d_model}, [&] { return normal(0.5f); });
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = "backbone.layers." + std::to_string(l) + ".";
    const std::string m = p + "mixer.";
    add(p + "norm.weight", {d_model}, [&] { return 1.0f + normal(0.1f); });
    add(m + "in_proj.weight", {2 * d, d_model}, [&] { return normal(1.0f / std::sqrt(float(d_model))); });
    if (use_bias) add(m + "in_proj.bias", {2 * d}, [&] { return normal(0.1f); });
    add(m + "conv1d.weight", {d, 1, K}, [&] { return uniform(-1, 1) / std::sqrt(float(K)); });
    if (use_conv_bias) add(m + "conv1d.bias", {d}, [&] { return normal(0.1f); });
    add(m + "x_proj.weight", {R + 2 * N, d}, [&] { return normal(1.0f / std::sqrt(float(d))); });
    add(m + "dt_proj.weight", {d, R}, [&] { return normal(1.0f / std::sqrt(float(R))); });
    add(m + "dt_proj.bias", {d}, [&] {  // inverse softplus of dt ~ log-uniform [0.01, 0.3]
      const float dt = std::exp(uniform(std::log(0.01f), std::log(0.3f)));
      return dt + std::log(-std::expm1(-dt));
    });
    int n_idx = 0;
    add(m + "A_log", {d, N}, [&] { return std::log(float(1 + (n_idx++ % N))) + normal(0.05f); });
    add(m + "D", {d}, [&] { return uniform(0.5f, 1.5f); });
    add(m + "out_proj.weight", {d_model, d}, [&] { return normal(4.0f / std::sqrt(float(d))); });
    if (use_bias) add(m + "out_proj.bias", {d_model}, [&] { return normal(0.1f); });
  }
  add("backbone.norm_f.weight", {d_model}, [&] { return 1.0f + normal(0.1f); });
  if (!tie_word_embeddings) add("lm_head.weight", {vocab_size, d_model}, [&] { return normal(0.5f); });

  const size_t esize = dtype == "F32" ? 4 : 2;
  if (dtype != "F32" && dtype != "F16" && dtype != "BF16") return "unknown dtype " + dtype;
  nlohmann::json header;
  header["__metadata__"] = {{"format", "pt"}};
  size_t offset = 0;
  for (const auto& [name, x] : t) {
    const size_t bytes = x.data.size() * esize;
    header[name] = {{"dtype", dtype}, {"shape", x.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return dir + ": cannot create: " + ec.message();
  std::ofstream f(dir + "/model.safetensors", std::ios::binary);
  uint64_t n = h.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = (unsigned char)(n >> (8 * i));
  f.write(reinterpret_cast<const char*>(len), 8);
  f.write(h.data(), std::streamsize(h.size()));
  for (const auto& [name, x] : t) {
    for (float v : x.data) {
      if (esize == 4) {
        f.write(reinterpret_cast<const char*>(&v), 4);
      } else {
        const uint16_t hv = dtype == "BF16" ? to_bf16(v) : to_f16(v);
        f.write(reinterpret_cast<const char*>(&hv), 2);
      }
    }
  }
  if (!f) return dir + "/model.safetensors: write failed";

  nlohmann::json c = {
      {"architectures", {"MambaForCausalLM"}}, {"model_type", "mamba"},
      {"hidden_size", d_model}, {"intermediate_size", d}, {"expand", expand},
      {"state_size", N}, {"conv_kernel", K}, {"num_hidden_layers", n_layer},
      {"vocab_size", vocab_size}, {"use_bias", use_bias}, {"use_conv_bias", use_conv_bias},
      {"tie_word_embeddings", tie_word_embeddings}, {"layer_norm_epsilon", 1e-5},
      {"residual_in_fp32", true}, {"hidden_act", "silu"}, {"bos_token_id", 0},
      {"eos_token_id", 0}, {"pad_token_id", 0},
      {"torch_dtype", dtype == "F32" ? "float32" : dtype == "F16" ? "float16" : "bfloat16"}};
  if (dt_rank > 0) c["time_step_rank"] = dt_rank;
  else c["time_step_rank"] = "auto";
  std::ofstream(dir + "/config.json") << c.dump(2) << "\n";
  return "";
}

}  // namespace mamba::tools
