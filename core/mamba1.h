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

// The sequences one mixer call advances: a single one owning all T rows (prefill, one decode
// step), or T of one row each (a decode step batched across a session's slots; only real tokens,
// never padding). Sequence q owns rows [row0(q), row0(q) + rows()).
struct Sequences {
  const LayerState* state;  // [n] this layer's state of each sequence
  int64_t n;                // 1, or T
  int64_t T;
  int64_t row0(int64_t q) const { return n == 1 ? 0 : q; }
  int64_t rows() const { return n == 1 ? T : 1; }
};

// out[T, d_model] = mixer(xn[T, d_model]), advancing each sequence's state by its rows.
void mamba1_mixer(const Config& c, const Mamba1Layer& L, const LinearCtx& ctx,
                  const Mamba1Scratch& s, const Sequences& seq, const float* xn, float* out,
                  const Tap& tap);

}  // namespace mamba::detail
