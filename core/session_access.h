// Write access to a Session's recurrent state, logits and position, for code outside the Session
// that computes them another way (the GPU prefill in gpu/ hands its final conv and SSM states and
// the last logits over here, so CPU decode continues from them). Internal: not part of the API.
#pragma once

#include <cstdint>

#include "mamba/session.h"

namespace mamba::detail {

struct SessionAccess {
  // The same layouts as Session::conv_state / ssm_state / logits, writable.
  static float* conv_state(Session& s, int layer);  // [d_conv - 1, conv_dim]
  static float* ssm_state(Session& s, int layer);   // [d_state, d_inner] or [n_heads, head_dim, d_state]
  static float* logits(Session& s);                  // [vocab]
  // Records that n more tokens were consumed.
  static void advance(Session& s, int64_t n) { s.n_past_ += n; }
};

}  // namespace mamba::detail
