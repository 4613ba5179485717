// Writes a Hugging Face Mamba-1 or Mamba-2 checkpoint directory (config.json + model.safetensors)
// with random but well-conditioned weights at any shape: for tests at shapes no fixture has, and
// for benchmarks at the real models' shapes.
#pragma once

#include <cstdint>
#include <string>

namespace mamba::tools {

struct RandomCheckpoint {
  bool mamba2 = false;
  int d_model = 64, n_layer = 2, vocab_size = 512, d_state = 16, d_conv = 4;
  // Mamba-2 only: n_heads = expand * d_model / head_dim.
  int head_dim = 16, n_groups = 1, chunk_size = 256;
  float dt_limit_max = 0.0f;  // 0: time_step_limit [0, Infinity]
  int expand = 2;
  int dt_rank = 0;  // 0: "auto" (ceil(d_model / 16)), written as the string "auto"
  bool use_bias = false, use_conv_bias = true, tie_word_embeddings = true;
  std::string dtype = "F32";  // F32, F16 or BF16
  uint64_t seed = 1;

  // Writes into `dir` (created if needed). Returns an empty string or an error message.
  std::string write_to(const std::string& dir) const;

  // The shape of a released model: mamba-{130m,370m,790m,1.4b,2.8b},
  // mamba2-{130m,370m,780m,1.3b,2.7b}. False if the name is unknown.
  bool set_preset(const std::string& name);
};

}  // namespace mamba::tools
