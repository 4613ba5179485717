#include "core/conv.h"

#include <cstring>

#include "platform/threads.h"

namespace mamba::detail {

void causal_conv_silu(const LinearCtx& ctx, float* conv_state, float* xpad, const float* src,
                      int64_t ld_src, const float* w, const float* b, int64_t T, int64_t K,
                      int64_t C, float* u) {
  const size_t row = size_t(C) * sizeof(float);
  std::memcpy(xpad, conv_state, size_t(K - 1) * row);
  for (int64_t t = 0; t < T; ++t) std::memcpy(xpad + (K - 1 + t) * C, src + t * ld_src, row);
  std::memcpy(conv_state, xpad + T * C, size_t(K - 1) * row);
  platform::parallel_for(ctx.n_threads, C, 16, [&](int, int64_t c0, int64_t c1) {
    ctx.k->conv1d_silu(u, int(C), xpad, int(C), w, b, int(T), int(K), int(C), int(c0), int(c1));
  });
}

}  // namespace mamba::detail
