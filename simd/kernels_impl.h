// Kernel bodies, written once against a tiny vector trait and instantiated per instruction set in
// kernels_<isa>.cpp (each compiled with that ISA's flags). A kernel walks its range in full vectors
// of V::width lanes and finishes the tail with the same body on Scalar, so sizes that are not a
// multiple of the vector width need no padding. Include only from the per-ISA translation units.
#pragma once

#include <cmath>

#include <xsimd/xsimd.hpp>

#include "simd/kernels.h"

namespace mamba::simd {
namespace {

// One float per "vector": the tail of every kernel, and the whole of the scalar set.
struct Scalar {
  using type = float;
  static constexpr int width = 1;
  static type load(const float* p) { return *p; }
  static void store(float* p, type v) { *p = v; }
  static type set(float v) { return v; }
  static type fma(type a, type b, type c) { return a * b + c; }
  static type exp(type v) { return std::exp(v); }
  static type log1p(type v) { return std::log1p(v); }
  static type select_gt(type x, float t, type a, type b) { return x > t ? a : b; }
  static float sum(type v) { return v; }
};

template <class Arch>
struct Vec {
  using type = xsimd::batch<float, Arch>;
  static constexpr int width = int(type::size);
  static type load(const float* p) { return type::load_unaligned(p); }
  static void store(float* p, type v) { v.store_unaligned(p); }
  static type set(float v) { return type(v); }
  static type fma(type a, type b, type c) { return xsimd::fma(a, b, c); }
  static type exp(type v) { return xsimd::exp(v); }
  static type log1p(type v) { return xsimd::log1p(v); }
  static type select_gt(type x, float t, type a, type b) { return xsimd::select(x > type(t), a, b); }
  static float sum(type v) { return xsimd::hadd(v); }
};

}  // namespace
}  // namespace mamba::simd

#include "simd/matvec_impl.h"
#include "simd/quantize_impl.h"

namespace mamba::simd {
namespace {

template <class V>
inline typename V::type silu(typename V::type x) {
  return x / (V::set(1.0f) + V::exp(-x));
}

// Runs body.template operator()<Vec>(i) over [begin, end) in full vectors, then the scalar tail.
template <class V, class Body>
inline void for_lanes(int begin, int end, Body&& body) {
  int i = begin;
  if constexpr (V::width > 1) {
    for (; i + V::width <= end; i += V::width) body.template run<V>(i);
  }
  for (; i < end; ++i) body.template run<Scalar>(i);
}

// Per-lane bodies (namespace scope: local classes cannot have member templates). Each is run on
// full vectors, then on Scalar for the tail.
struct RmsScaleBody {
  float* y; const float* x; const float* w; float scale;
  template <class U> void run(int j) {
    U::store(y + j, U::load(x + j) * U::set(scale) * U::load(w + j));
  }
};

struct ConvBody {  // one token t: u = silu(b + sum_k w[k] * x[k])
  float* u; const float* x; const float* w; const float* b; int ldx, K, d;
  template <class U> void run(int c) {
    auto acc = b ? U::load(b + c) : U::set(0.0f);
    for (int k = 0; k < K; ++k)
      acc = U::fma(U::load(w + size_t(k) * d + c), U::load(x + size_t(k) * ldx + c), acc);
    U::store(u + c, silu<U>(acc));
  }
};

struct SoftplusBody {
  float* dt; const float* bias;
  template <class U> void run(int c) {
    auto x = U::load(dt + c) + U::load(bias + c);
    // torch.nn.functional.softplus(beta=1, threshold=20): linear above the threshold.
    U::store(dt + c, U::select_gt(x, 20.0f, x, U::log1p(U::exp(x))));
  }
};

// One block of lanes through all T tokens, so the block's state stays in L1 across time.
struct ScanBody {
  const ScanArgs& a;
  template <class U> void run(int c) {
    const int d = a.d, N = a.N;
    auto Dc = U::load(a.D + c);
    for (int t = 0; t < a.T; ++t) {
      auto dt = U::load(a.dt + size_t(t) * a.lddt + c);
      auto u = U::load(a.u + size_t(t) * a.ldu + c);
      auto dtu = dt * u;
      const float* B = a.B + size_t(t) * a.ldbc;
      const float* C = a.C + size_t(t) * a.ldbc;
      auto y = Dc * u;
      for (int n = 0; n < N; ++n) {
        float* hp = a.h + size_t(n) * d + c;
        auto dA = U::exp(dt * U::load(a.A + size_t(n) * d + c));
        auto h = U::fma(dA, U::load(hp), dtu * U::set(B[n]));
        U::store(hp, h);
        y = U::fma(h, U::set(C[n]), y);
      }
      U::store(a.y + size_t(t) * a.ldy + c, y);
    }
  }
};

// One token (decode), state row n of every lane: y += h[n] * C[n] after h[n] is updated, y
// starting from D u (ScanSkipBody). The sums run in the same order as ScanBody's, so the bits
// match; but each pass streams one row of A and of h, where ScanBody walks all N rows at once.
// A thread's slice of a row is short (768 channels, 3 KiB, for mamba-130m on two threads) and
// comes from DRAM, too short for the hardware prefetcher to get going: each pass prefetches the
// same lanes of the row kScanAheadRows ahead (the skip pass the first rows). Measured on
// mamba-130m q4 decode, two threads: the scan's team 29 -> 15 thousand TSC cycles a layer.
constexpr int kScanAheadRows = 2;
struct ScanSkipBody {
  const ScanArgs& a;
  template <class U> void run(int c) {
    for (int n = 0; n < kScanAheadRows && n < a.N; ++n) {
      __builtin_prefetch(a.h + size_t(n) * a.d + c, 1);
      __builtin_prefetch(a.A + size_t(n) * a.d + c);
    }
    U::store(a.y + c, U::load(a.D + c) * U::load(a.u + c));
  }
};
struct ScanRowBody {
  const ScanArgs& a;
  int n;
  template <class U> void run(int c) {
    const auto dt = U::load(a.dt + c);
    float* hp = a.h + size_t(n) * a.d + c;
    if (n + kScanAheadRows < a.N) {
      __builtin_prefetch(hp + size_t(kScanAheadRows) * a.d, 1);
      __builtin_prefetch(a.A + size_t(n + kScanAheadRows) * a.d + c);
    }
    const auto dA = U::exp(dt * U::load(a.A + size_t(n) * a.d + c));
    const auto h = U::fma(dA, U::load(hp), (dt * U::load(a.u + c)) * U::set(a.B[n]));
    U::store(hp, h);
    U::store(a.y + c, U::fma(h, U::set(a.C[n]), U::load(a.y + c)));
  }
};

struct MulSiluBody {
  float* y; const float* z;
  template <class U> void run(int c) {
    U::store(y + c, U::load(y + c) * silu<U>(U::load(z + c)));
  }
};

struct DecayMaskBody {
  float* M; const float* G; const float* cs; const float* dt; float cs_t;
  template <class U> void run(int s) {
    U::store(M + s, U::load(G + s) * U::exp(U::set(cs_t) - U::load(cs + s)) * U::load(dt + s));
  }
};

template <class V>
struct Impl {
  static void rmsnorm(float* y, const float* x, const float* w, int n, float eps) {
    using T = typename V::type;
    T acc = V::set(0.0f);
    int i = 0;
    for (; i + V::width <= n; i += V::width) {
      T v = V::load(x + i);
      acc = V::fma(v, v, acc);
    }
    float ss = V::sum(acc);
    for (; i < n; ++i) ss += x[i] * x[i];
    RmsScaleBody body{y, x, w, 1.0f / std::sqrt(ss / float(n) + eps)};
    for_lanes<V>(0, n, body);
  }

  static void gemv(float* y, const float* W, const float* x, const float* bias, int K, int m0,
                   int m1) {
    gemv_rows<V>(y, F32Rows{W}, x, bias, K, m0, m1);
  }

  static void conv1d_silu(float* u, int ldu, const float* xpad, int ldx, const float* w,
                          const float* b, int T, int K, int d, int c0, int c1) {
    for (int t = 0; t < T; ++t) {
      ConvBody body{u + size_t(t) * ldu, xpad + size_t(t) * ldx, w, b, ldx, K, d};
      for_lanes<V>(c0, c1, body);
    }
  }

  static void softplus_bias(float* dt, int ld, const float* bias, int T, int c0, int c1) {
    for (int t = 0; t < T; ++t) {
      SoftplusBody body{dt + size_t(t) * ld, bias};
      for_lanes<V>(c0, c1, body);
    }
  }

  static void selective_scan(const ScanArgs& a, int c0, int c1) {
    if (a.T == 1) {
      // Decode: the state and A come from DRAM every token (the weights stream through the
      // caches in between), and 2N interleaved row streams defeat the hardware prefetcher.
      ScanSkipBody skip{a};
      for_lanes<V>(c0, c1, skip);
      for (int n = 0; n < a.N; ++n) {
        ScanRowBody row{a, n};
        for_lanes<V>(c0, c1, row);
      }
      return;
    }
    ScanBody body{a};
    for_lanes<V>(c0, c1, body);
  }

  // Four independent accumulators keep enough loads in flight to stream memory at full rate.
  static float sum(const float* x, int64_t n) {
    using T = typename V::type;
    T a0 = V::set(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * V::width <= n; i += 4 * V::width) {
      a0 = a0 + V::load(x + i);
      a1 = a1 + V::load(x + i + V::width);
      a2 = a2 + V::load(x + i + 2 * V::width);
      a3 = a3 + V::load(x + i + 3 * V::width);
    }
    float r = V::sum((a0 + a1) + (a2 + a3));
    for (; i < n; ++i) r += x[i];
    return r;
  }

  static void mul_silu(float* y, int ldy, const float* z, int ldz, int T, int c0, int c1) {
    for (int t = 0; t < T; ++t) {
      MulSiluBody body{y + size_t(t) * ldy, z + size_t(t) * ldz};
      for_lanes<V>(c0, c1, body);
    }
  }

  // Vectorised across N (d_state), one (head, p) row of the state at a time.
  static void ssd_step(const SsdArgs& a, int h0, int h1) {
    using T = typename V::type;
    const int P = a.P, N = a.N, heads_per_group = a.H / a.G;
    for (int t = 0; t < a.T; ++t) {
      const float* x = a.x + size_t(t) * a.ldx;
      float* y = a.y + size_t(t) * a.ldy;
      for (int hd = h0; hd < h1; ++hd) {
        const float dt = a.dt[size_t(t) * a.lddt + hd];
        const float dA = std::exp(dt * a.A[hd]);
        const int g = hd / heads_per_group;
        const float* B = a.B + size_t(t) * a.ldbc + size_t(g) * N;
        const float* C = a.C + size_t(t) * a.ldbc + size_t(g) * N;
        for (int p = 0; p < P; ++p) {
          float* h = a.h + (size_t(hd) * P + p) * N;
          const float xp = x[hd * P + p];
          T acc = V::set(0.0f);
          int n = 0;
          for (; n + V::width <= N; n += V::width) {
            T s = V::fma(V::set(dA), V::load(h + n), V::set(dt * xp) * V::load(B + n));
            V::store(h + n, s);
            acc = V::fma(s, V::load(C + n), acc);
          }
          float sum = V::sum(acc);
          for (; n < N; ++n) {
            const float s = dA * h[n] + dt * xp * B[n];
            h[n] = s;
            sum += s * C[n];
          }
          y[hd * P + p] = sum + a.D[hd] * xp;
        }
      }
    }
  }

  static void ssd_decay_mask(float* M, const float* G, const float* cs, const float* dt, int L) {
    for (int t = 0; t < L; ++t) {
      float* row = M + size_t(t) * L;
      DecayMaskBody body{row, G + size_t(t) * L, cs, dt, cs[t]};
      for_lanes<V>(0, t + 1, body);
      for (int s = t + 1; s < L; ++s) row[s] = 0.0f;
    }
  }
};

template <class V>
Kernels make_kernels(const char* name) {
  Kernels k{name,
                 &Impl<V>::rmsnorm,
                 &Impl<V>::gemv,
                 &matvec<V>,
                 &quantize_rows<V>,
                 &dequantize<V>,
                 &Impl<V>::conv1d_silu,
                 &Impl<V>::softplus_bias,
                 &Impl<V>::selective_scan,
                 &Impl<V>::mul_silu,
                 &Impl<V>::ssd_step,
                 &Impl<V>::ssd_decay_mask,
                 &Impl<V>::sum,
                 nullptr,   // the GEMMs: added by with_gemm() (simd/gemm_impl.h)
                 nullptr,
                 nullptr,
                 nullptr,
                 nullptr};
  k.rows16 = QDot<V>::kRows16;  // q8/q4 load in 16-row groups where matvec has their loop
  return k;
}

}  // namespace
}  // namespace mamba::simd
