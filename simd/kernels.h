// The CPU kernels, one table per instruction set, chosen once at start-up. Every kernel works on a
// range of channels (or rows) so callers can split work across threads; none allocates. The scalar
// references they are tested against live in tests/reference.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd/matrix.h"

namespace mamba::simd {

// Planned packing buffers for one thread's GEMMs (sizes from Kernels::gemm_pack_floats,
// Kernels::gemm_weights_floats and Kernels::gemm_quantized_bytes).
struct PackBuffers {
  float* a = nullptr;        // packed lhs panel, cap_a floats
  float* b = nullptr;        // packed rhs panel, cap_b floats
  float* tile = nullptr;     // a strip of weight rows as fp32, cap_tile floats (gemm_weights)
  uint8_t* panel = nullptr;  // q8/q4 weight rows repacked, cap_panel bytes (gemm_quantized)
  size_t cap_a = 0, cap_b = 0, cap_tile = 0, cap_panel = 0;
};

// Mamba-1 selective scan over T tokens for channels [c0, c1):
//   h[n, c] = exp(dt[t, c] * A[n, c]) * h[n, c] + dt[t, c] * u[t, c] * B[t, n]
//   y[t, c] = sum_n h[n, c] * C[t, n] + D[c] * u[t, c]
struct ScanArgs {
  float* h;         // [N, d] SSM state, updated in place
  float* y;         // [T, ldy]
  const float* u;   // [T, ldu] conv output
  const float* dt;  // [T, lddt] time step after softplus
  const float* A;   // [N, d] = -exp(A_log), transposed
  const float* B;   // [T, ldbc] (column n of row t is B[t, n])
  const float* C;   // [T, ldbc]
  const float* D;   // [d]
  int T, d, N;
  int ldy, ldu, lddt, ldbc;
};

// Mamba-2 SSM recurrence over T tokens for heads [h0, h1); head h reads B/C group
// h / (H / G):
//   h[h, p, n] = exp(dt[t, h] * A[h]) * h[h, p, n] + dt[t, h] * x[t, h*P + p] * B[t, g*N + n]
//   y[t, h*P + p] = sum_n h[h, p, n] * C[t, g*N + n] + D[h] * x[t, h*P + p]
struct SsdArgs {
  float* h;         // [H, P, N] SSM state, updated in place
  float* y;         // [T, ldy]
  const float* x;   // [T, ldx]
  const float* dt;  // [T, lddt] after softplus and clamp
  const float* A;   // [H] = -exp(A_log)
  const float* B;   // [T, ldbc]
  const float* C;   // [T, ldbc]
  const float* D;   // [H]
  int T, H, P, N, G;
  int ldy, ldx, lddt, ldbc;
};

struct Kernels {
  const char* name;  // "avx512vnni", "avx512", "avx2", "sse2", "neon64", "scalar"
  // y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], i < n
  void (*rmsnorm)(float* y, const float* x, const float* w, int n, float eps);
  // y[m] = dot(W[m, :K], x) (+ bias[m]) for rows m in [m0, m1); W row-major [M, K]
  void (*gemv)(float* y, const float* W, const float* x, const float* bias, int K, int m0,
               int m1);
  // The same for a weight matrix of any type: x is fp32 [cols] for f32/bf16/f16, while q8/q4
  // read xq, x quantized by quantize_rows (integer block products).
  void (*matvec)(const Matrix& W, float* y, const float* x, const QuantizedX& xq,
                 const float* bias, int64_t m0, int64_t m1);
  // x [T, cols] (row stride ldx) quantized for the q8/q4 products into buf (room for T rows of
  // padded_cols(cols)); returns buf with kp set. The same bits in every set (simd/quantize_impl.h).
  QuantizedX (*quantize_rows)(const float* x, int64_t ldx, int64_t T, int64_t cols,
                              const QuantizedX& buf);
  // Rows [r0, r1), columns [c0, c1) of W as fp32 into out [r1 - r0, c1 - c0] (prefill
  // multiplies fp32 tiles; the embedding is read a row at a time).
  void (*dequantize)(const Matrix& W, int64_t r0, int64_t r1, int64_t c0, int64_t c1, float* out);
  // Depthwise causal conv1d + bias + SiLU for channels [c0, c1) and t < T:
  //   u[t, c] = silu(b[c] + sum_k w[k, c] * xpad[t + k, c])
  // xpad [(K - 1) + T, ldx] holds the K-1 previous inputs then the T new ones; w [K, d]; b may be
  // null.
  void (*conv1d_silu)(float* u, int ldu, const float* xpad, int ldx, const float* w,
                      const float* b, int T, int K, int d, int c0, int c1);
  // dt[t, c] = softplus(dt[t, c] + bias[c]) (torch's softplus: x for x > 20)
  void (*softplus_bias)(float* dt, int ld, const float* bias, int T, int c0, int c1);
  void (*selective_scan)(const ScanArgs& a, int c0, int c1);
  // y[t, c] *= silu(z[t, c])
  void (*mul_silu)(float* y, int ldy, const float* z, int ldz, int T, int c0, int c1);
  void (*ssd_step)(const SsdArgs& a, int h0, int h1);
  // The SSD intra-chunk matrix of one head, row t of L (lower triangle, zeros above):
  //   M[t, s] = G[t, s] * exp(cs[t] - cs[s]) * dt[s] for s <= t
  // G [L, L] = C B^T of the head's group, cs [L] the within-chunk cumulative sum of dt * A.
  void (*ssd_decay_mask)(float* M, const float* G, const float* cs, const float* dt, int L);
  // sum of x[i], i < n (the memory bandwidth probe's read loop)
  float (*sum)(const float* x, int64_t n);
  // Y[M, N] (row-major, row stride ldy) += A[M, K] B[K, N], A and B row- or column-major with
  // leading dimensions lda, ldb: Eigen's blocked GEMM built for this ISA, packing into `p`.
  void (*gemm)(const PackBuffers& p, bool a_row_major, bool b_row_major, int64_t M, int64_t N,
               int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* Y,
               int64_t ldy);
  // Packing floats gemm() wants for that product (it fits itself into less if it must).
  void (*gemm_pack_floats)(int64_t M, int64_t N, int64_t K, size_t* cap_a, size_t* cap_b);
  // Tokens [t0, t1) of x [T, K] (row stride ldx; t0 a multiple of 16) packed into xp for
  // gemm_weights: panels of this set's vector width of tokens, zeros past T. Threads may pack
  // disjoint token ranges of one xp.
  void (*pack_tokens)(const float* x, int64_t ldx, int64_t T, int64_t K, int64_t t0, int64_t t1,
                      float* xp);
  // y[T, m0:m1] (row-major, row stride ldy) += x[T, K] W[m0:m1, :K]^T for W of any type, x packed
  // by pack_tokens (simd/gemm_impl.h): f32 rows read in place, others dequantized into p.tile a
  // strip of rows at a time (this set's dequantize).
  void (*gemm_weights)(const PackBuffers& p, const Matrix& W, int64_t m0, int64_t m1,
                       const float* xp, int64_t T, float* y, int64_t ldy);
  // Floats of packed tokens (one buffer for all threads) and of one thread's p.tile that
  // gemm_weights wants for up to T tokens and depth K (it fits itself into a smaller tile).
  void (*gemm_weights_floats)(int64_t T, int64_t K, size_t* cap_tokens, size_t* cap_tile);
  // y[T, m0:m1] (row stride ldy) += x W[m0:m1, :]^T for q8/q4 W and x quantized (rows 0..T-1 of
  // x, simd/matrix.h): matvec's integer block products for a chunk of tokens. Null in sets
  // without it, whose prefill runs gemm_weights on fp32 activations instead.
  void (*gemm_quantized)(const PackBuffers& p, const Matrix& W, int64_t m0, int64_t m1,
                         const QuantizedX& x, int64_t T, float* y, int64_t ldy) = nullptr;
  // Bytes of p.panel gemm_quantized needs for W [., K] (it packs a few rows at a time).
  size_t (*gemm_quantized_bytes)(int64_t K) = nullptr;
  // Whether q8/q4 weights load in the 16-row groups of simd/matrix.h (every set reads both
  // layouts; this one's matvec is fastest on those).
  bool rows16 = false;
};

// The best set this CPU runs, unless MAMBA_ISA names a lower one (for tests and debugging).
const Kernels& kernels();
// Every set compiled in that this CPU can run, best first; "scalar" is always last.
std::vector<const Kernels*> available_kernels();

}  // namespace mamba::simd
