// The model hyper-parameters that change the math, read from a Hugging Face config.json.
// Names follow the Mamba paper and HF's MambaConfig; shapes elsewhere are written with them.
#pragma once

#include <cstdint>
#include <string>

#include "mamba/status.h"

namespace mamba {

enum class Architecture { mamba1, mamba2 };

struct Config {
  Architecture arch = Architecture::mamba1;
  std::string model_type;      // "mamba" or "mamba2"
  int d_model = 0;             // hidden_size
  int d_inner = 0;             // int(expand * hidden_size); HF ignores intermediate_size
  int d_state = 0;             // state_size (N)
  int d_conv = 0;              // conv_kernel (K)
  int dt_rank = 0;             // Mamba-1 time_step_rank, "auto" = ceil(hidden_size / 16) (R)
  // Mamba-2 only (d_inner = n_heads * head_dim; heads h uses B/C group h / (n_heads / n_groups)):
  int n_heads = 0;             // num_heads (H)
  int head_dim = 0;            // P
  int n_groups = 0;            // G, also the number of gated-RMSNorm groups
  int chunk_size = 0;          // SSD chunk length (the CPU prefill uses min(chunk_size, 32))
  float dt_min = 0.0f, dt_max = 0.0f;  // time_step_limit, applied after the softplus
  int n_layer = 0;             // num_hidden_layers
  int vocab_size = 0;          // V, rows of the embedding (and of lm_head)
  int conv_dim() const {       // channels of the causal conv: x (Mamba-1); x, B, C (Mamba-2)
    return arch == Architecture::mamba1 ? d_inner : d_inner + 2 * n_groups * d_state;
  }
  // One layer's recurrent state, fp32 values: the conv window [d_conv - 1, conv_dim] and the SSM
  // state h [d_inner, d_state] (Mamba-2: [n_heads, head_dim, d_state], as many).
  int64_t conv_state_floats() const { return int64_t(d_conv - 1) * conv_dim(); }
  int64_t ssm_state_floats() const { return int64_t(d_inner) * d_state; }
  bool use_bias = false;       // in_proj / out_proj biases
  bool use_conv_bias = true;   // conv1d bias
  bool residual_in_fp32 = true;
  bool tie_word_embeddings = true;  // absent key: true for "mamba", false for "mamba2"
  float layer_norm_epsilon = 1e-5f;
  int pad_token_id = 0, bos_token_id = 0, eos_token_id = 0;
  std::string torch_dtype;     // informational: the stored weight dtype

  // Parses config.json text; `where` names the file in error messages.
  static Result<Config> parse(const std::string& json_text, const std::string& where);
  static Result<Config> load(const std::string& path);
};

}  // namespace mamba
