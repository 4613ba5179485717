// Writes a Hugging Face Mamba-1 checkpoint directory (config.json + model.safetensors) with random
// but well-conditioned weights at any shape: for tests at shapes no fixture has, and benchmarks.
#pragma once

#include <cstdint>
#include <string>

namespace mamba::tools {

struct RandomCheckpoint {
  int d_model = 64, n_layer = 2, vocab_size = 512, d_state = 16, d_conv = 4;
  int expand = 2;
  int dt_rank = 0;  // 0: "auto" (ceil(d_model / 16)), written as the string "auto"
  bool use_bias = false, use_conv_bias = true, tie_word_embeddings = true;
  std::string dtype = "F32";  // F32, F16 or BF16
  uint64_t seed = 1;

  // Writes into `dir` (created if needed). Returns an empty string or an error message.
  std::string write_to(const std::string& dir) const;
};

}  // namespace mamba::tools
