#include "core/linear.h"

#include <algorithm>
#include <cstring>

#include <Eigen/Core>

#include "platform/threads.h"

namespace mamba::detail {
namespace {

using Index = Eigen::Index;

// Eigen's kernel computes column-major results, so Y[M, N] row-major runs as the column-major
// Y^T[N, M] = B^T A^T: its "rows" are N, its "cols" M. These are the blocking sizes it uses.
void blocking_sizes(Index M, Index N, Index K, Index* kc, Index* mc, Index* nc) {
  *kc = K;
  *mc = N;
  *nc = M;
  Eigen::internal::computeProductBlockingSizes<float, float>(*kc, *mc, *nc, Index(1));
}

// Eigen's blocking descriptor pointed at our buffers: with blockA/blockB set, the sequential GEMM
// kernel packs into them instead of allocating.
class PlannedBlocking : public Eigen::internal::level3_blocking<float, float> {
 public:
  PlannedBlocking(const GemmScratch& s, Index M, Index N, Index K) {
    Index kc, mc, nc;
    blocking_sizes(M, N, K, &kc, &mc, &nc);
    // Capacity was planned from the same rule at the largest shapes; the rule can still ask for
    // a taller panel when a product is smaller in another dimension, so fit mc and nc to it.
    if (size_t(kc * mc) > s.cap_a) mc = std::max<Index>(1, Index(s.cap_a) / kc);
    if (size_t(kc * nc) > s.cap_b) nc = std::max<Index>(1, Index(s.cap_b) / kc);
    m_kc = kc;
    m_mc = mc;
    m_nc = nc;
    m_blockA = s.a;
    m_blockB = s.b;
  }
};

// A row-major operand of the row-major product is a column-major one of the transposed product.
constexpr int transposed_order(Order o) {
  return o == Order::row_major ? Eigen::ColMajor : Eigen::RowMajor;
}

constexpr int64_t kRowGrain = 16;  // weight rows per thread slice: whole cache lines of y

}  // namespace

void gemm_scratch_floats(const std::vector<GemmShape>& shapes, size_t* cap_a, size_t* cap_b) {
  *cap_a = *cap_b = 0;
  for (const GemmShape& s : shapes) {
    Index kc, mc, nc;
    blocking_sizes(s.rows, s.cols, s.depth, &kc, &mc, &nc);
    *cap_a = std::max(*cap_a, size_t(kc * mc));
    *cap_b = std::max(*cap_b, size_t(kc * nc));
  }
}

void gemm_scratch_floats(const std::vector<WeightShape>& weights, int64_t max_T, size_t* cap_a,
                         size_t* cap_b) {
  std::vector<GemmShape> shapes;
  for (const WeightShape& w : weights) shapes.push_back({max_T, w.M, w.K});
  gemm_scratch_floats(shapes, cap_a, cap_b);
}

template <Order AOrder, Order BOrder>
void gemm_acc(const GemmScratch& s, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float* Y, int64_t ldy) {
  if (M == 0 || N == 0 || K == 0) return;
  PlannedBlocking blocking(s, M, N, K);
  // Y^T[N, M] += B^T[N, K] A^T[K, M], all column-major.
  Eigen::internal::general_matrix_matrix_product<
      Index, float, transposed_order(BOrder), false, float, transposed_order(AOrder), false,
      Eigen::ColMajor, 1>::run(N, M, K, B, ldb, A, lda, Y, 1, ldy, 1.0f, blocking, nullptr);
}

template void gemm_acc<Order::row_major, Order::row_major>(const GemmScratch&, int64_t, int64_t,
                                                           int64_t, const float*, int64_t,
                                                           const float*, int64_t, float*, int64_t);
template void gemm_acc<Order::row_major, Order::col_major>(const GemmScratch&, int64_t, int64_t,
                                                           int64_t, const float*, int64_t,
                                                           const float*, int64_t, float*, int64_t);
template void gemm_acc<Order::col_major, Order::row_major>(const GemmScratch&, int64_t, int64_t,
                                                           int64_t, const float*, int64_t,
                                                           const float*, int64_t, float*, int64_t);

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
    gemm_acc<Order::row_major, Order::col_major>(ctx.scratch[tid], T, m1 - m0, K, x, ldx,
                                                 W + m0 * K, K, y + m0, ldy);
  });
}

}  // namespace mamba::detail
