#include "core/mamba1.h"

#include <cstring>

#include "platform/threads.h"

namespace mamba::detail {

namespace {
constexpr int64_t kLaneGrain = 16;  // channels per thread slice: whole 64-byte lines
}

void mamba1_mixer(const Config& c, const Mamba1Layer& L, const LinearCtx& ctx,
                  const Mamba1Scratch& s, const Mamba1State& state, const float* xn, float* out,
                  int64_t T, const Tap& tap) {
  const int64_t dm = c.d_model, d = c.d_inner, N = c.d_state, K = c.d_conv, R = c.dt_rank;
  const int64_t ldbc = R + 2 * N;
  const simd::Kernels& k = *ctx.k;

  // 1. in_proj -> x (columns 0..d-1) and z (d..2d-1), HF's chunk(2) order.
  linear(ctx, s.xz, 2 * d, xn, dm, L.in_proj, L.in_proj_bias, T, 2 * d, dm);
  tap("in_proj_out", s.xz, T, 2 * d, 2 * d);

  // 2. Causal depthwise conv over [previous K-1 inputs, this chunk's x], then SiLU. The last K-1
  //    inputs become the new conv state.
  const size_t row = size_t(d) * sizeof(float);
  std::memcpy(s.xpad, state.conv, size_t(K - 1) * row);
  for (int64_t t = 0; t < T; ++t) std::memcpy(s.xpad + (K - 1 + t) * d, s.xz + t * 2 * d, row);
  std::memcpy(state.conv, s.xpad + T * d, size_t(K - 1) * row);
  platform::parallel_for(ctx.n_threads, d, kLaneGrain, [&](int, int64_t c0, int64_t c1) {
    k.conv1d_silu(s.u, int(d), s.xpad, int(d), L.conv_w, L.conv_b, int(T), int(K), int(d),
                  int(c0), int(c1));
  });
  tap("conv_out", s.u, T, d, d);

  // 3. x_proj -> (dt_low [R], B [N], C [N]);  4. dt = softplus(dt_proj(dt_low) + bias).
  linear(ctx, s.dbc, ldbc, s.u, d, L.x_proj, nullptr, T, ldbc, d);
  tap("x_proj_out", s.dbc, T, ldbc, ldbc);
  linear(ctx, s.dt, d, s.dbc, ldbc, L.dt_proj, nullptr, T, d, R);

  // 5. Selective scan with the D skip, channel slices in parallel.
  simd::ScanArgs a{state.ssm, s.y, s.u, s.dt, L.A, s.dbc + R, s.dbc + R + N, L.D,
                   int(T), int(d), int(N), int(d), int(d), int(d), int(ldbc)};
  platform::parallel_for(ctx.n_threads, d, kLaneGrain, [&](int, int64_t c0, int64_t c1) {
    k.softplus_bias(s.dt, int(d), L.dt_bias, int(T), int(c0), int(c1));
    k.selective_scan(a, int(c0), int(c1));
    if (!tap) k.mul_silu(s.y, int(d), s.xz + d, int(2 * d), int(T), int(c0), int(c1));
  });
  if (tap) {  // report y before the gate, then gate
    tap("dt", s.dt, T, d, d);
    tap("scan_out", s.y, T, d, d);
    k.mul_silu(s.y, int(d), s.xz + d, int(2 * d), int(T), 0, int(d));
  }
  tap("gated_out", s.y, T, d, d);

  // 6. out_proj.
  linear(ctx, out, dm, s.y, d, L.out_proj, L.out_proj_bias, T, dm, d);
  tap("mixer_out", out, T, dm, dm);
}

}  // namespace mamba::detail
