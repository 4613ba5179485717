// Plain scalar references for every kernel in mamba::simd::Kernels and for detail::linear: the
// oracles of tests/test_kernels.cpp. They follow the formulas in simd/kernels.h and core/linear.h
// literally, one element at a time, in double precision (float inputs widened, double outputs), so
// that their own rounding error is negligible next to the float kernels'. They take the same
// layouts and ranges as the kernels but never write in place: outputs are separate double arrays.
//
// Several also report a "magnitude" (the same sum with absolute values), and the scan a running
// error bound, that the tests use to scale their tolerances: rounding error is proportional to the
// sizes of the terms summed, not to the (possibly cancelled) result.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "simd/kernels.h"

namespace mamba::ref {

inline double silu(double x) { return x / (1.0 + std::exp(-x)); }

// torch.nn.functional.softplus(x, beta=1, threshold=20).
inline double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i].
inline void rmsnorm(double* y, const float* x, const float* w, int n, float eps) {
  double sum_sq = 0;
  for (int i = 0; i < n; ++i) sum_sq += double(x[i]) * double(x[i]);
  const double inv_rms = 1.0 / std::sqrt(sum_sq / n + double(eps));
  for (int i = 0; i < n; ++i) y[i] = double(x[i]) * inv_rms * double(w[i]);
}

// y[m] = sum_k W[m, k] x[k] (+ bias[m]) for m in [m0, m1); mag[m] = sum_k |W[m, k] x[k]| (+ |bias|).
// mag may be null.
inline void gemv(double* y, double* mag, const float* W, const float* x, const float* bias, int K,
                 int m0, int m1) {
  for (int m = m0; m < m1; ++m) {
    double s = 0, a = 0;
    for (int k = 0; k < K; ++k) {
      const double p = double(W[size_t(m) * K + k]) * double(x[k]);
      s += p;
      a += std::fabs(p);
    }
    if (bias) {
      s += double(bias[m]);
      a += std::fabs(double(bias[m]));
    }
    y[m] = s;
    if (mag) mag[m] = a;
  }
}

// y[t, m] = sum_k x[t, k] W[m, k] + bias[m]; y has row stride ldy, x row stride ldx, W is [M, K].
// mag (same layout as y, may be null) gets the sum of absolute terms.
inline void linear(double* y, double* mag, int64_t ldy, const float* x, int64_t ldx,
                   const float* W, const float* bias, int64_t T, int64_t M, int64_t K) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t m = 0; m < M; ++m) {
      double s = bias ? double(bias[m]) : 0.0;
      double a = std::fabs(s);
      for (int64_t k = 0; k < K; ++k) {
        const double p = double(x[t * ldx + k]) * double(W[m * K + k]);
        s += p;
        a += std::fabs(p);
      }
      y[t * ldy + m] = s;
      if (mag) mag[t * ldy + m] = a;
    }
}

// Causal depthwise conv then SiLU, channels [c0, c1), tokens t < T:
//   pre[t, c] = b[c] + sum_{k<K} w[k, c] * xpad[t + k, c],   u[t, c] = silu(pre[t, c])
// (xpad row t + K - 1 is token t; rows t..t+K-2 are the K-1 inputs before it). mag[t, c] (row
// stride ldu, may be null) gets |b| + sum |w x|.
inline void conv1d_silu(double* u, double* mag, int ldu, const float* xpad, int ldx,
                        const float* w, const float* b, int T, int K, int d, int c0, int c1) {
  for (int t = 0; t < T; ++t)
    for (int c = c0; c < c1; ++c) {
      double pre = b ? double(b[c]) : 0.0;
      double a = std::fabs(pre);
      for (int k = 0; k < K; ++k) {
        const double p = double(w[size_t(k) * d + c]) * double(xpad[size_t(t + k) * ldx + c]);
        pre += p;
        a += std::fabs(p);
      }
      u[size_t(t) * ldu + c] = silu(pre);
      if (mag) mag[size_t(t) * ldu + c] = a;
    }
}

// out[t, c] = softplus(dt[t, c] + bias[c]) for c in [c0, c1); out has the row stride ld of dt.
inline void softplus_bias(double* out, const float* dt, int ld, const float* bias, int T, int c0,
                          int c1) {
  for (int t = 0; t < T; ++t)
    for (int c = c0; c < c1; ++c) {
      const size_t i = size_t(t) * ld + c;
      out[i] = softplus(double(dt[i]) + double(bias[c]));
    }
}

// The selective scan of simd::ScanArgs for channels [c0, c1), with the state in double: h [N, d]
// (a.h is not used; the caller copies the initial state in) and y [T, a.ldy] (a.y is not used).
//
// hbound / ybound (same layouts as h / y, may be null; hbound starts as 0, i.e. the float state
// starts equal to h) get a first-order bound, in units of float's unit roundoff u, on the rounding
// error of any float evaluation of the same formulas from the same float inputs:
//   h' = exp(dt A) h + (dt u) B:
//     |err h'| <= dA |err h|                    the error carried from the previous token
//               + dA (|dt A| + 5) |h|           exp's argument rounded (moves exp by u |dt A|),
//                                               exp within 2 ulp (4 u), the product dA h (u)
//               + 2 |dt u B|                    dt u, then times B
//               + |h'|                          the add (or the fma)
//   y = D u + sum_n h C, summed in any order:
//     |err y| <= sum_n |C| |err h|  +  (N + 2) (|D u| + sum_n |h C|)
//   (N + 1 products and N additions, each partial sum at most the sum of magnitudes).
// The tests double it to cover second-order terms.
inline void selective_scan(const simd::ScanArgs& a, double* h, double* y, double* hbound,
                           double* ybound, int c0, int c1) {
  for (int c = c0; c < c1; ++c)
    for (int t = 0; t < a.T; ++t) {
      const double dt = a.dt[size_t(t) * a.lddt + c];
      const double u = a.u[size_t(t) * a.ldu + c];
      double yt = double(a.D[c]) * u;
      double ymag = std::fabs(yt), yerr = 0;
      for (int n = 0; n < a.N; ++n) {
        const size_t hi = size_t(n) * a.d + c;
        const double dtA = dt * double(a.A[hi]);
        const double dA = std::exp(dtA);
        const double Bn = a.B[size_t(t) * a.ldbc + n], Cn = a.C[size_t(t) * a.ldbc + n];
        const double old = h[hi];
        h[hi] = dA * old + dt * u * Bn;
        yt += h[hi] * Cn;
        if (hbound) {
          hbound[hi] = dA * hbound[hi] + dA * (std::fabs(dtA) + 5) * std::fabs(old) +
                       2 * std::fabs(dt * u * Bn) + std::fabs(h[hi]);
          ymag += std::fabs(h[hi] * Cn);
          yerr += std::fabs(Cn) * hbound[hi];
        }
      }
      y[size_t(t) * a.ldy + c] = yt;
      if (ybound) ybound[size_t(t) * a.ldy + c] = yerr + (a.N + 2) * ymag;
    }
}

// out[t, c] = y[t, c] * silu(z[t, c]) for c in [c0, c1); out has the row stride ldy of y.
inline void mul_silu(double* out, const float* y, int ldy, const float* z, int ldz, int T, int c0,
                     int c1) {
  for (int t = 0; t < T; ++t)
    for (int c = c0; c < c1; ++c)
      out[size_t(t) * ldy + c] = double(y[size_t(t) * ldy + c]) * silu(double(z[size_t(t) * ldz + c]));
}

}  // namespace mamba::ref
