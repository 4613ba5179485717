// The Mamba-1 mixer (HF MambaMixer) over a chunk of T tokens; T = 1 is the recurrent decode step.
#pragma once

#include <cstdint>

#include "core/linear.h"
#include "core/tap.h"
#include "core/weights.h"

namespace mamba::detail {

// Scratch for one chunk of up to max_T tokens, shared by all layers.
struct Mamba1Scratch {
  float* xz;    // [max_T, 2 * d_inner]   in_proj output: x | z
  float* xpad;  // [d_conv - 1 + max_T, d_inner]  conv window: previous inputs, then this chunk's x
  float* u;     // [max_T, d_inner]       conv output
  float* dbc;   // [max_T, dt_rank + 2 * d_state]  x_proj output: dt_low | B | C
  float* dt;    // [max_T, d_inner]       time step after softplus
  float* y;     // [max_T, d_inner]       scan output, then gated
};

// Recurrent state of one layer (fp32 whatever the weights are).
struct LayerState {
  float* conv;  // [d_conv - 1, conv_dim]  last raw conv inputs, oldest first
  float* ssm;   // Mamba-1 [d_state, d_inner]; Mamba-2 [n_heads, head_dim, d_state]
};

// out[T, d_model] = mixer(xn[T, d_model]), advancing `state` by T tokens.
void mamba1_mixer(const Config& c, const Mamba1Layer& L, const LinearCtx& ctx,
                  const Mamba1Scratch& s, const LayerState& state, const float* xn, float* out,
                  int64_t T, const Tap& tap);

}  // namespace mamba::detail
