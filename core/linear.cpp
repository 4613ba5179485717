#include "core/linear.h"

#include <algorithm>
#include <cstring>

#include "platform/threads.h"

namespace mamba::detail {
namespace {
constexpr int64_t kRowGrain = 16;  // weight rows per thread slice: whole cache lines of y, whole rows16 groups
// gemm_weights' slices: whole strips of rows in every set (4 or 6) and whole token panels
// (the vector width: 1, 4, 8 or 16), as pack_tokens wants.
constexpr int64_t kStripGrain = 48;
constexpr int64_t kTokenGrain = 16;
}  // namespace

void gemm_scratch_floats(const std::vector<GemmShape>& shapes, size_t* cap_a, size_t* cap_b) {
  *cap_a = *cap_b = 0;
  for (const GemmShape& s : shapes) {
    size_t a, b;
    simd::kernels().gemm_pack_floats(s.rows, s.cols, s.depth, &a, &b);
    *cap_a = std::max(*cap_a, a);
    *cap_b = std::max(*cap_b, b);
  }
}

LinearNeeds linear_needs(const simd::Kernels& k, const std::vector<WeightShape>& weights,
                         WeightType type, int64_t max_T) {
  LinearNeeds n;
  const bool quantized = type == WeightType::q8 || type == WeightType::q4;
  const bool integer_gemm = quantized && k.gemm_quantized;
  for (const WeightShape& w : weights) {
    if (integer_gemm) {
      n.cap_panel = std::max(n.cap_panel, k.gemm_quantized_bytes(w.K));
    } else {
      size_t tokens, tile;
      k.gemm_weights_floats(max_T, w.K, &tokens, &tile);
      n.cap_tokens = std::max(n.cap_tokens, tokens);
      n.cap_tile = std::max(n.cap_tile, tile);
    }
    if (quantized) n.quantized_k = std::max(n.quantized_k, w.K);
  }
  n.quantized_rows = quantized ? (integer_gemm ? max_T : 1) : 0;
  return n;
}

void linear(const LinearCtx& ctx, float* y, int64_t ldy, const float* x, int64_t ldx,
            const simd::Matrix& W, const float* bias, int64_t T) {
  const int64_t M = W.rows, K = W.cols;
  if (T == 1) {
    // Quantized once, shared by every thread's rows.
    const simd::QuantizedX xq = W.quantized() ? ctx.k->quantize_rows(x, ldx, 1, K, ctx.xq) : ctx.xq;
    platform::parallel_for(ctx.n_threads, M, kRowGrain, [&](int, int64_t m0, int64_t m1) {
      ctx.k->matvec(W, y, x, xq, bias, m0, m1);
    });
    return;
  }
  // The kernels accumulate into y, so its rows start from the bias (or zero), set by the team
  // that prepares x's rows (one thread setting them all was ~2% of a two-thread prefill).
  const auto start_rows = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* row = y + t * ldy;
      if (bias) std::memcpy(row, bias, size_t(M) * sizeof(float));
      else std::memset(row, 0, size_t(M) * sizeof(float));
    }
  };
  // Every token's row quantized or packed once (split by tokens), then the rows of W split
  // across threads.
  if (W.quantized() && ctx.k->gemm_quantized) {
    simd::QuantizedX xq = ctx.xq;
    xq.kp = simd::padded_cols(K);
    platform::parallel_for(ctx.n_threads, T, 1, [&](int, int64_t t0, int64_t t1) {
      ctx.k->quantize_rows(x + t0 * ldx, ldx, t1 - t0, K, xq.row(t0));
      start_rows(t0, t1);
    });
    platform::parallel_for(ctx.n_threads, M, kRowGrain, [&](int tid, int64_t m0, int64_t m1) {
      ctx.k->gemm_quantized(ctx.scratch[tid], W, m0, m1, xq, T, y, ldy);
    });
    return;
  }
  platform::parallel_for(ctx.n_threads, T, kTokenGrain, [&](int, int64_t t0, int64_t t1) {
    ctx.k->pack_tokens(x, ldx, T, K, t0, t1, ctx.tokens);
    start_rows(t0, t1);
  });
  platform::parallel_for(ctx.n_threads, M, kStripGrain, [&](int tid, int64_t m0, int64_t m1) {
    ctx.k->gemm_weights(ctx.scratch[tid], W, m0, m1, ctx.tokens, T, y, ldy);
  });
}

}  // namespace mamba::detail
