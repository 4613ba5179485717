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
  if (mamba2 && (d % head_dim != 0 || (d / head_dim) % n_groups != 0))
    return "expand * d_model must be a multiple of head_dim, and the heads of n_groups";

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
  const int H = mamba2 ? d / head_dim : 0, C = mamba2 ? d + 2 * n_groups * N : d;
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = "backbone.layers." + std::to_string(l) + ".";
    const std::string m = p + "mixer.";
    const int in_rows = mamba2 ? d + C + H : 2 * d;
    add(p + "norm.weight", {d_model}, [&] { return 1.0f + normal(0.1f); });
    add(m + "in_proj.weight", {in_rows, d_model}, [&] { return normal(1.0f / std::sqrt(float(d_model))); });
    if (use_bias) add(m + "in_proj.bias", {in_rows}, [&] { return normal(0.1f); });
    add(m + "conv1d.weight", {C, 1, K}, [&] { return uniform(-1, 1) / std::sqrt(float(K)); });
    if (use_conv_bias) add(m + "conv1d.bias", {C}, [&] { return normal(0.1f); });
    if (mamba2) {
      add(m + "dt_bias", {H}, [&] {  // inverse softplus of dt ~ log-uniform [0.001, 0.1]
        const float dt = std::exp(uniform(std::log(0.001f), std::log(0.1f)));
        return dt + std::log(-std::expm1(-dt));
      });
      int h_idx = 0;
      add(m + "A_log", {H}, [&] { return std::log(float(1 + h_idx++)); });
      add(m + "D", {H}, [&] { return uniform(0.5f, 1.5f); });
      add(m + "norm.weight", {d}, [&] { return 1.0f + normal(0.1f); });
    } else {
      add(m + "x_proj.weight", {R + 2 * N, d}, [&] { return normal(1.0f / std::sqrt(float(d))); });
      add(m + "dt_proj.weight", {d, R}, [&] { return normal(1.0f / std::sqrt(float(R))); });
      add(m + "dt_proj.bias", {d}, [&] {  // inverse softplus of dt ~ log-uniform [0.01, 0.3]
        const float dt = std::exp(uniform(std::log(0.01f), std::log(0.3f)));
        return dt + std::log(-std::expm1(-dt));
      });
      int n_idx = 0;
      add(m + "A_log", {d, N}, [&] { return std::log(float(1 + (n_idx++ % N))) + normal(0.05f); });
      add(m + "D", {d}, [&] { return uniform(0.5f, 1.5f); });
    }
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
      {"architectures", {mamba2 ? "Mamba2ForCausalLM" : "MambaForCausalLM"}},
      {"model_type", mamba2 ? "mamba2" : "mamba"},
      {"hidden_size", d_model}, {"intermediate_size", d}, {"expand", expand},
      {"state_size", N}, {"conv_kernel", K}, {"num_hidden_layers", n_layer},
      {"vocab_size", vocab_size}, {"use_bias", use_bias}, {"use_conv_bias", use_conv_bias},
      {"tie_word_embeddings", tie_word_embeddings}, {"layer_norm_epsilon", 1e-5},
      {"residual_in_fp32", true}, {"hidden_act", "silu"}, {"bos_token_id", 0},
      {"eos_token_id", 0}, {"pad_token_id", 0},
      {"torch_dtype", dtype == "F32" ? "float32" : dtype == "F16" ? "float16" : "bfloat16"}};
  if (mamba2) {
    c["num_heads"] = H;
    c["head_dim"] = head_dim;
    c["n_groups"] = n_groups;
    c["chunk_size"] = chunk_size;
    c["rms_norm"] = true;
  } else if (dt_rank > 0) {
    c["time_step_rank"] = dt_rank;
  } else {
    c["time_step_rank"] = "auto";
  }
  // Real configs write Python's Infinity here, which strict JSON cannot; patched in below.
  if (mamba2) c["time_step_limit"] = {0.0, dt_limit_max > 0 ? double(dt_limit_max) : 1e300};
  std::string text = c.dump(2);
  if (const size_t at = text.find("1e+300"); at != std::string::npos) text.replace(at, 6, "Infinity");
  std::ofstream(dir + "/config.json") << text << "\n";
  return "";
}

bool RandomCheckpoint::set_preset(const std::string& name) {
  struct Shape {
    const char* name;
    bool mamba2;
    int d_model, n_layer;
  };
  // d_model and layers of the state-spaces releases; Mamba-1: vocab 50280, d_state 16;
  // Mamba-2: vocab 50288, d_state 128, head_dim 64, one group, chunk 256.
  static const Shape shapes[] = {
      {"mamba-130m", false, 768, 24},   {"mamba-370m", false, 1024, 48},
      {"mamba-790m", false, 1536, 48},  {"mamba-1.4b", false, 2048, 48},
      {"mamba-2.8b", false, 2560, 64},  {"mamba2-130m", true, 768, 24},
      {"mamba2-370m", true, 1024, 48},  {"mamba2-780m", true, 1536, 48},
      {"mamba2-1.3b", true, 2048, 48},  {"mamba2-2.7b", true, 2560, 64}};
  for (const Shape& s : shapes) {
    if (name != s.name) continue;
    mamba2 = s.mamba2;
    d_model = s.d_model;
    n_layer = s.n_layer;
    expand = 2;
    d_conv = 4;
    vocab_size = mamba2 ? 50288 : 50280;
    d_state = mamba2 ? 128 : 16;
    head_dim = 64;
    n_groups = 1;
    chunk_size = 256;
    tie_word_embeddings = true;
    return true;
  }
  return false;
}

}  // namespace mamba::tools
