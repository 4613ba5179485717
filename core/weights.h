// The weights of a loaded model as the kernels want them, row-major, named after HF's tensors.
// The projections, the embedding and the lm_head are simd::Matrix in the chosen weight type;
// everything else is fp32. With f32 weights, aligned F32 tensors point into the mmap'd
// checkpoint; everything else (converted, widened, derived) lives in `owned`, and the checkpoint
// is unmapped when nothing points into it.
#pragma once

#include <memory>
#include <vector>

#include "core/safetensors.h"
#include "mamba/config.h"
#include "platform/arena.h"
#include "simd/matrix.h"

namespace mamba::detail {

struct Mamba1Layer {
  const float* norm;           // [d_model]
  simd::Matrix in_proj;        // [2 * d_inner, d_model]; rows 0..d_inner-1 -> x, the rest -> z
  const float* in_proj_bias;   // [2 * d_inner] or null (use_bias)
  const float* conv_w;         // [d_conv, d_inner]: HF's [d_inner, 1, d_conv] transposed
  const float* conv_b;         // [d_inner] or null (use_conv_bias)
  simd::Matrix x_proj;         // [dt_rank + 2 * d_state, d_inner] -> (dt_low, B, C)
  simd::Matrix dt_proj;        // [d_inner, dt_rank]
  const float* dt_bias;        // [d_inner], added inside the softplus
  const float* A;              // [d_state, d_inner] = -exp(A_log), transposed
  const float* D;              // [d_inner]
  simd::Matrix out_proj;       // [d_model, d_inner]
  const float* out_proj_bias;  // [d_model] or null (use_bias)
};

struct Mamba2Layer {
  // W = 2 * d_mlp + d_inner + conv_dim + n_heads; conv_dim C = d_inner + 2 * n_groups * d_state.
  const float* norm;           // [d_model]
  simd::Matrix in_proj;        // [W, d_model] -> (z0 [d_mlp], x0 [d_mlp], z [d], xBC [C], dt [H])
  const float* in_proj_bias;   // [W] or null (use_bias)
  const float* conv_w;         // [d_conv, C]: HF's [C, 1, d_conv] transposed
  const float* conv_b;         // [C] or null (use_conv_bias)
  const float* dt_bias;        // [H]
  const float* A;              // [H] = -exp(A_log)
  const float* D;              // [H]
  const float* gate_norm;      // [d_inner] gated RMSNorm weight (mixer.norm.weight)
  simd::Matrix out_proj;       // [d_model, d_mlp + d_inner]
  const float* out_proj_bias;  // [d_model] or null (use_bias)
  int d_mlp;                   // width of the optional gated-MLP part of in_proj (0 in HF models)
};

struct Weights {
  Config config;
  std::unique_ptr<Checkpoint> checkpoint;  // keeps the mapped files alive
  std::vector<platform::AlignedBlock> owned;
  WeightType type = WeightType::f32;  // of every simd::Matrix below
  simd::Matrix embeddings;            // [vocab, d_model]
  std::vector<Mamba1Layer> mamba1_layers;  // [n_layer] when arch == mamba1
  std::vector<Mamba2Layer> mamba2_layers;  // [n_layer] when arch == mamba2
  const float* norm_f = nullptr;      // [d_model]
  simd::Matrix lm_head;               // [vocab, d_model]; the embeddings when tied
  size_t bytes_per_token = 0;         // weights streamed per decoded token
};

}  // namespace mamba::detail
