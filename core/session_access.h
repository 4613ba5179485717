// Write access to a Session's recurrent state, logits and position, for code outside the Session
// that computes them another way (the GPU prefill in gpu/ hands its final conv and SSM states and
// the last logits over here, so CPU decode continues from them). Internal: not part of the API.
#pragma once

#include <cstdint>

#include "mamba/session.h"

namespace mamba::detail {

struct SessionAccess {
  // The same layouts as Session::conv_state / ssm_state / logits(slot), writable. The slot and
  // layer must be valid (check with the const accessors, which return null otherwise).
  static float* conv_state(Session& s, int layer, int slot);  // [d_conv - 1, conv_dim]
  static float* ssm_state(Session& s, int layer, int slot);   // [d_state, d_inner] or [H, P, N]
  static float* logits(Session& s, int slot);                  // [vocab]
  // Records that n more tokens went into the slot.
  static void advance(Session& s, int slot, int64_t n);
};

}  // namespace mamba::detail
