#include "core/linear.h"

#include <algorithm>
#include <cstring>

#include "platform/threads.h"

namespace mamba::detail {
namespace {
constexpr int64_t kRowGrain = 16;  // weight rows per thread slice: whole cache lines of y
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

void gemm_scratch_floats(const std::vector<WeightShape>& weights, int64_t max_T, size_t* cap_a,
                         size_t* cap_b) {
  std::vector<GemmShape> shapes;
  for (const WeightShape& w : weights) shapes.push_back({max_T, w.M, w.K});
  gemm_scratch_floats(shapes, cap_a, cap_b);
}

void linear(const LinearCtx& ctx, float* y, int64_t ldy, const float* x, int64_t ldx,
            const float* W, const float* bias, int64_t T, int64_t M, int64_t K) {
  if (T == 1) {
    platform::parallel_for(ctx.n_threads, M, kRowGrain, [&](int, int64_t m0, int64_t m1) {
      ctx.k->gemv(y, W, x, bias, int(K), int(m0), int(m1));
    });
    return;
  }
  // The kernel accumulates into y, so start from the bias (or zero).
  for (int64_t t = 0; t < T; ++t) {
    float* row = y + t * ldy;
    if (bias) std::memcpy(row, bias, size_t(M) * sizeof(float));
    else std::memset(row, 0, size_t(M) * sizeof(float));
  }
  // W[M, K] row-major is W^T[K, M] column-major: y[:, m0:m1] += x W^T[:, m0:m1].
  platform::parallel_for(ctx.n_threads, M, kRowGrain, [&](int tid, int64_t m0, int64_t m1) {
    gemm_acc<Order::row_major, Order::col_major>(*ctx.k, ctx.scratch[tid], T, m1 - m0, K, x, ldx,
                                                 W + m0 * K, K, y + m0, ldy);
  });
}

}  // namespace mamba::detail
