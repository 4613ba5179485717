#include "core/linear.h"

#include <algorithm>
#include <cstring>

#include <Eigen/Core>

#include "platform/threads.h"

namespace mamba::detail {
namespace {

using Index = Eigen::Index;

// Eigen's blocking descriptor pointed at our buffers: with blockA/blockB set, the sequential GEMM
// kernel packs into them instead of allocating.
class PlannedBlocking : public Eigen::internal::level3_blocking<float, float> {
 public:
  PlannedBlocking(const GemmScratch& s, Index M, Index T, Index K) {
    Index kc = K, mc = M, nc = T;
    Eigen::internal::computeProductBlockingSizes<float, float>(kc, mc, nc, Index(1));
    // Capacity was planned from the same rule at the largest T; Eigen's rule can still ask for
    // a taller weight panel when fewer tokens run, so fit mc (and nc) to what was planned.
    if (size_t(kc * mc) > s.cap_a) mc = std::max<Index>(1, Index(s.cap_a) / kc);
    if (size_t(kc * nc) > s.cap_b) nc = std::max<Index>(1, Index(s.cap_b) / kc);
    m_kc = kc;
    m_mc = mc;
    m_nc = nc;
    m_blockA = s.a;
    m_blockB = s.b;
  }
};

using Gemm = Eigen::internal::general_matrix_matrix_product<Index, float, Eigen::RowMajor, false,
                                                            float, Eigen::ColMajor, false,
                                                            Eigen::ColMajor, 1>;

constexpr int64_t kRowGrain = 16;  // weight rows per thread slice: whole cache lines of y

}  // namespace

void gemm_scratch_floats(const std::vector<GemmShape>& shapes, int64_t max_T, size_t* cap_a,
                         size_t* cap_b) {
  *cap_a = *cap_b = 0;
  for (const GemmShape& s : shapes) {
    Index kc = s.K, mc = s.M, nc = max_T;
    Eigen::internal::computeProductBlockingSizes<float, float>(kc, mc, nc, Index(1));
    *cap_a = std::max(*cap_a, size_t(kc * mc));
    *cap_b = std::max(*cap_b, size_t(kc * nc));
  }
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
  platform::parallel_for(ctx.n_threads, M, kRowGrain, [&](int tid, int64_t m0, int64_t m1) {
    PlannedBlocking blocking(ctx.scratch[tid], m1 - m0, T, K);
    // Column-major view: y^T[M, T] = W[M, K] * x^T[K, T].
    Gemm::run(m1 - m0, T, K, W + m0 * K, K, x, ldx, y + m0, 1, ldy, 1.0f, blocking, nullptr);
  });
}

}  // namespace mamba::detail
