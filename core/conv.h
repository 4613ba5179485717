// The causal depthwise conv1d + SiLU that both mixers run over their conv channels, continuing
// from the layer's conv state (the last d_conv-1 raw inputs) and leaving the new one behind.
#pragma once

#include <cstdint>

#include "core/linear.h"

namespace mamba::detail {

// u[T, C] = silu(conv(state ++ src) + b); src [T, ld_src] holds the C raw inputs of each token.
// xpad [(K-1) + T, C] is scratch; conv_state [K-1, C] is read and then replaced.
void causal_conv_silu(const LinearCtx& ctx, float* conv_state, float* xpad, const float* src,
                      int64_t ld_src, const float* w, const float* b, int64_t T, int64_t K,
                      int64_t C, float* u);

}  // namespace mamba::detail
