#include "core/mamba2.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/conv.h"
#include "platform/threads.h"

namespace mamba::detail {

void mamba2_gemm_shapes(const Config& c, int L, std::vector<GemmShape>* shapes) {
  const int64_t N = c.d_state, P = c.head_dim;
  shapes->push_back({L, L, N});  // G = C B^T
  shapes->push_back({L, P, N});  // Y += C h0^T
  shapes->push_back({L, P, L});  // Y += M X
  shapes->push_back({P, N, L});  // h += X^T (w B)
}

namespace {

// Chunked SSD over T tokens (Mamba-2 paper, "state space duality"). Per chunk of L tokens and
// head h (group g), with a_t = dt_t A_h and cs the within-chunk cumulative sum of a:
//   Y   = (C_g B_g^T  o  exp(cs_t - cs_s) dt_s [s <= t]) X_h      intra-chunk, a masked GEMM
//       + diag(exp(cs_t)) C_g h0^T                              the carried-in state
//   h1  = exp(cs_last) h0 + X_h^T diag(exp(cs_last - cs_s) dt_s) B_g
// Every exponent is <= 0 (A < 0, dt >= 0), so nothing overflows. Equal to the recurrence up to
// rounding (tests/test_mamba2.cpp checks it).
void ssd_chunked(const Config& c, const Mamba2Layer& Lw, const LinearCtx& ctx,
                 const Mamba2Scratch& s, float* h, float* y, int64_t ldy, int64_t T) {
  const int64_t H = c.n_heads, P = c.head_dim, N = c.d_state, G = c.n_groups;
  const int64_t d = c.d_inner, C = c.conv_dim(), Lmax = s.L, heads_per_group = H / G;
  const int64_t n_chunks = (T + Lmax - 1) / Lmax;
  const auto chunk_len = [&](int64_t k) { return std::min(Lmax, T - k * Lmax); };
  const float* B = s.u + d;           // [T, C]: group g at column g*N
  const float* Cm = s.u + d + G * N;  // [T, C]: group g at column g*N
  // Two thread teams a layer, not two a chunk (a 512-token prompt has 16): first C_g B_g^T of
  // every chunk and group, which the heads of a group share; then each head on its own through
  // every chunk in order (its state carries from one chunk into the next and stays in cache).
  platform::parallel_for(ctx.n_threads, n_chunks * G, 1, [&](int tid, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t k = i / G, g = i % G, L = chunk_len(k), r = k * Lmax;
      float* Gk = s.G + i * Lmax * Lmax;  // [L, L] with row stride L
      std::fill_n(Gk, size_t(L * L), 0.0f);
      gemm_acc<Order::row_major, Order::col_major>(*ctx.k, ctx.scratch[tid], L, L, N,
                                                   Cm + r * C + g * N, C, B + r * C + g * N, C, Gk, L);
    }
  });

  platform::parallel_for(ctx.n_threads, H, 1, [&](int tid, int64_t h0, int64_t h1) {
    const GemmScratch& gs = ctx.scratch[tid];
    float* M = s.M + tid * Lmax * Lmax;
    float* wB = s.wB + tid * Lmax * N;
    float* cs = s.cs + tid * Lmax;
    float* dth = s.dth + tid * Lmax;
    for (int64_t hd = h0; hd < h1; ++hd) {
      const int64_t g = hd / heads_per_group;
      const float A = Lw.A[hd], D = Lw.D[hd];
      float* hs = h + hd * P * N;  // [P, N]
      for (int64_t k = 0; k < n_chunks; ++k) {
        const int64_t L = chunk_len(k), r = k * Lmax;
        const float* x = s.u + r * C + hd * P;  // [L, P] with row stride C
        const float* Bg = B + r * C + g * N;    // [L, N] with row stride C
        const float* Cg = Cm + r * C + g * N;
        const float* dt = s.dt + r * H;         // [L, H]
        float* Y = y + r * ldy + hd * P;        // [L, P] with row stride ldy
        float acc = 0.0f;
        for (int64_t t = 0; t < L; ++t) {
          dth[t] = dt[t * H + hd];
          cs[t] = acc += dth[t] * A;
        }
        // Carried-in state: Y = diag(exp(cs)) C_g h0^T  (h0 [P, N] row-major = h0^T col-major).
        for (int64_t t = 0; t < L; ++t) std::fill_n(Y + t * ldy, size_t(P), 0.0f);
        gemm_acc<Order::row_major, Order::col_major>(*ctx.k, gs, L, P, N, Cg, C, hs, N, Y, ldy);
        for (int64_t t = 0; t < L; ++t) {
          const float e = std::exp(cs[t]);
          for (int64_t p = 0; p < P; ++p) Y[t * ldy + p] *= e;
        }
        // Intra-chunk: Y += (G_g o decay o dt) X_h.
        ctx.k->ssd_decay_mask(M, s.G + (k * G + g) * Lmax * Lmax, cs, dth, int(L));
        gemm_acc<Order::row_major, Order::row_major>(*ctx.k, gs, L, P, L, M, L, x, C, Y, ldy);
        // State to the chunk's end.
        const float last = cs[L - 1];
        for (int64_t t = 0; t < L; ++t) {
          const float wt = std::exp(last - cs[t]) * dth[t];
          for (int64_t n = 0; n < N; ++n) wB[t * N + n] = wt * Bg[t * C + n];
        }
        const float decay = std::exp(last);
        for (int64_t i = 0; i < P * N; ++i) hs[i] *= decay;
        gemm_acc<Order::col_major, Order::row_major>(*ctx.k, gs, P, N, L, x, C, wB, N, hs, N);
        // D skip.
        for (int64_t t = 0; t < L; ++t)
          for (int64_t p = 0; p < P; ++p) Y[t * ldy + p] += D * x[t * C + p];
      }
    }
  });
}

}  // namespace

void mamba2_mixer(const Config& c, const Mamba2Layer& L, const LinearCtx& ctx,
                  const Mamba2Scratch& s, const Sequences& seq, const float* xn, float* out,
                  const Tap& tap) {
  const int64_t T = seq.T;
  const int64_t dm = c.d_model, d = c.d_inner, N = c.d_state, K = c.d_conv, H = c.n_heads,
                P = c.head_dim, G = c.n_groups, C = c.conv_dim(), d_mlp = L.d_mlp;
  const int64_t W = 2 * d_mlp + d + C + H, ldy = d_mlp + d;
  const simd::Kernels& k = *ctx.k;

  // 1. in_proj -> (z0 [d_mlp], x0 [d_mlp], z [d], xBC [C], dt [H]).
  linear(ctx, s.zx, W, xn, dm, L.in_proj, L.in_proj_bias, T);
  tap("in_proj_out", s.zx, T, W, W);
  const float* z = s.zx + 2 * d_mlp;

  // 2. Causal conv + SiLU over xBC -> x, B, C.
  for (int64_t q = 0; q < seq.n; ++q) {
    const int64_t r = seq.row0(q);
    causal_conv_silu(ctx, seq.state[q].conv, s.xpad, s.zx + r * W + 2 * d_mlp + d, W, L.conv_w,
                     L.conv_b, seq.rows(), K, C, s.u + r * C);
  }
  tap("conv_out", s.u, T, C, C);

  // 3. dt = clamp(softplus(dt + dt_bias), time_step_limit), in prefill and decode alike.
  for (int64_t t = 0; t < T; ++t)
    std::memcpy(s.dt + t * H, s.zx + t * W + W - H, size_t(H) * sizeof(float));
  k.softplus_bias(s.dt, int(H), L.dt_bias, int(T), 0, int(H));
  for (int64_t i = 0; i < T * H; ++i) s.dt[i] = std::min(std::max(s.dt[i], c.dt_min), c.dt_max);
  tap("dt", s.dt, T, H, H);

  // 4. SSM: y = SSD(x, dt, A, B, C) + D x into the last d columns of the out_proj input.
  float* y = s.y + d_mlp;
  if (seq.rows() == 1) {  // the recurrence, one token per sequence
    platform::parallel_for(ctx.n_threads, H, 1, [&](int, int64_t h0, int64_t h1) {
      for (int64_t q = 0; q < seq.n; ++q) {
        const float* u = s.u + q * C;
        const simd::SsdArgs a{seq.state[q].ssm, y + q * ldy, u, s.dt + q * H, L.A, u + d,
                              u + d + G * N, L.D, 1, int(H), int(P), int(N), int(G),
                              int(ldy), int(C), int(H), int(C)};
        k.ssd_step(a, int(h0), int(h1));
      }
    });
  } else {
    ssd_chunked(c, L, ctx, s, seq.state[0].ssm, y, ldy, T);
  }
  tap("scan_out", y, T, d, ldy);

  // 5. Gated RMSNorm, per group of d / n_groups channels: norm(y * silu(z)) * weight; and
  // 6. the optional gated MLP part: silu(z0) * x0. Tokens in parallel (one exp per element:
  // serial, this was a few percent of a 2-thread prefill).
  const int64_t gsize = d / G;
  platform::parallel_for(ctx.n_threads, T, 1, [&](int, int64_t t0, int64_t t1) {
    const int n = int(t1 - t0);
    k.mul_silu(y + t0 * ldy, int(ldy), z + t0 * W, int(W), n, 0, int(d));
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t g = 0; g < G; ++g) {
        float* yg = y + t * ldy + g * gsize;
        k.rmsnorm(yg, yg, L.gate_norm + g * gsize, int(gsize), c.layer_norm_epsilon);
      }
    if (d_mlp > 0) {
      for (int64_t t = t0; t < t1; ++t)
        std::memcpy(s.y + t * ldy, s.zx + t * W + d_mlp, size_t(d_mlp) * sizeof(float));
      k.mul_silu(s.y + t0 * ldy, int(ldy), s.zx + t0 * W, int(W), n, 0, int(d_mlp));
    }
  });
  tap("gated_out", y, T, d, ldy);

  // 7. out_proj.
  linear(ctx, out, dm, s.y, ldy, L.out_proj, L.out_proj_bias, T);
  tap("mixer_out", out, T, dm, dm);
}

}  // namespace mamba::detail
