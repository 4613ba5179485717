#include "core/mamba1.h"

#include "core/conv.h"

#include "platform/threads.h"

namespace mamba::detail {

namespace {
constexpr int64_t kLaneGrain = 16;  // channels per thread slice: whole 64-byte lines
}

void mamba1_mixer(const Config& c, const Mamba1Layer& L, const LinearCtx& ctx,
                  const Mamba1Scratch& s, const Sequences& seq, const float* xn, float* out,
                  const Tap& tap) {
  const int64_t T = seq.T;
  const int64_t dm = c.d_model, d = c.d_inner, N = c.d_state, K = c.d_conv, R = c.dt_rank;
  const int64_t ldbc = R + 2 * N;
  const simd::Kernels& k = *ctx.k;

  // 1. in_proj -> x (columns 0..d-1) and z (d..2d-1), HF's chunk(2) order.
  linear(ctx, s.xz, 2 * d, xn, dm, L.in_proj, L.in_proj_bias, T);
  tap("in_proj_out", s.xz, T, 2 * d, 2 * d);

  // 2. Causal depthwise conv over [previous K-1 inputs, this chunk's x], then SiLU.
  for (int64_t q = 0; q < seq.n; ++q) {
    const int64_t r = seq.row0(q);
    causal_conv_silu(ctx, seq.state[q].conv, s.xpad, s.xz + r * 2 * d, 2 * d, L.conv_w, L.conv_b,
                     seq.rows(), K, d, s.u + r * d);
  }
  tap("conv_out", s.u, T, d, d);

  // 3. x_proj -> (dt_low [R], B [N], C [N]);  4. dt = softplus(dt_proj(dt_low) + bias).
  linear(ctx, s.dbc, ldbc, s.u, d, L.x_proj, nullptr, T);
  tap("x_proj_out", s.dbc, T, ldbc, ldbc);
  linear(ctx, s.dt, d, s.dbc, ldbc, L.dt_proj, nullptr, T);

  // 5. Selective scan with the D skip, channel slices in parallel.
  platform::parallel_for(ctx.n_threads, d, kLaneGrain, [&](int, int64_t c0, int64_t c1) {
    k.softplus_bias(s.dt, int(d), L.dt_bias, int(T), int(c0), int(c1));
    for (int64_t q = 0; q < seq.n; ++q) {
      const int64_t r = seq.row0(q);
      const float* dbc = s.dbc + r * ldbc;
      const simd::ScanArgs a{seq.state[q].ssm, s.y + r * d, s.u + r * d, s.dt + r * d, L.A,
                             dbc + R, dbc + R + N, L.D, int(seq.rows()), int(d), int(N), int(d),
                             int(d), int(d), int(ldbc)};
      k.selective_scan(a, int(c0), int(c1));
    }
    if (!tap) k.mul_silu(s.y, int(d), s.xz + d, int(2 * d), int(T), int(c0), int(c1));
  });
  if (tap) {  // report y before the gate, then gate
    tap("dt", s.dt, T, d, d);
    tap("scan_out", s.y, T, d, d);
    k.mul_silu(s.y, int(d), s.xz + d, int(2 * d), int(T), 0, int(d));
  }
  tap("gated_out", s.y, T, d, d);

  // 6. out_proj.
  linear(ctx, out, dm, s.y, d, L.out_proj, L.out_proj_bias, T);
  tap("mixer_out", out, T, dm, dm);
}

}  // namespace mamba::detail
