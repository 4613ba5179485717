// The weights of a loaded model as the kernels want them: fp32, row-major, named after HF's
// tensors. Large matrices point into the mmap'd checkpoint when it stores aligned F32; everything
// else (F16/BF16 widened, small derived tensors) lives in `owned`.
#pragma once

#include <memory>
#include <vector>

#include "core/safetensors.h"
#include "mamba/config.h"
#include "platform/arena.h"

namespace mamba::detail {

struct Mamba1Layer {
  const float* norm;           // [d_model]
  const float* in_proj;        // [2 * d_inner, d_model]; rows 0..d_inner-1 -> x, the rest -> z
  const float* in_proj_bias;   // [2 * d_inner] or null (use_bias)
  const float* conv_w;         // [d_conv, d_inner]: HF's [d_inner, 1, d_conv] transposed
  const float* conv_b;         // [d_inner] or null (use_conv_bias)
  const float* x_proj;         // [dt_rank + 2 * d_state, d_inner] -> (dt_low, B, C)
  const float* dt_proj;        // [d_inner, dt_rank]
  const float* dt_bias;        // [d_inner], added inside the softplus
  const float* A;              // [d_state, d_inner] = -exp(A_log), transposed
  const float* D;              // [d_inner]
  const float* out_proj;       // [d_model, d_inner]
  const float* out_proj_bias;  // [d_model] or null (use_bias)
};

struct Mamba2Layer {
  // W = 2 * d_mlp + d_inner + conv_dim + n_heads; conv_dim C = d_inner + 2 * n_groups * d_state.
  const float* norm;           // [d_model]
  const float* in_proj;        // [W, d_model] -> (z0 [d_mlp], x0 [d_mlp], z [d], xBC [C], dt [H])
  const float* in_proj_bias;   // [W] or null (use_bias)
  const float* conv_w;         // [d_conv, C]: HF's [C, 1, d_conv] transposed
  const float* conv_b;         // [C] or null (use_conv_bias)
  const float* dt_bias;        // [H]
  const float* A;              // [H] = -exp(A_log)
  const float* D;              // [H]
  const float* gate_norm;      // [d_inner] gated RMSNorm weight (mixer.norm.weight)
  const float* out_proj;       // [d_model, d_mlp + d_inner]
  const float* out_proj_bias;  // [d_model] or null (use_bias)
  int d_mlp;                   // width of the optional gated-MLP part of in_proj (0 in HF models)
};

struct Weights {
  Config config;
  std::unique_ptr<Checkpoint> checkpoint;  // keeps the mapped files alive
  std::vector<platform::AlignedBlock> owned;
  const float* embeddings = nullptr;  // [vocab, d_model]
  std::vector<Mamba1Layer> mamba1_layers;  // [n_layer] when arch == mamba1
  std::vector<Mamba2Layer> mamba2_layers;  // [n_layer] when arch == mamba2
  const float* norm_f = nullptr;      // [d_model]
  const float* lm_head = nullptr;     // [vocab, d_model]; the embeddings when tied
  size_t bytes_per_token = 0;         // weights streamed per decoded token
};

}  // namespace mamba::detail
