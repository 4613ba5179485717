// The GPU prefill's kernels, as bodies: each is a small struct of pointers and sizes whose
// operator()(i) computes output element (or row, or channel) i and nothing else. A launcher runs a
// body for every i in [0, n): on the GPU one thread per i (gpu/cuda_exec.h), in the tests a plain
// loop on the CPU (tests/host_exec.h). So every kernel's indexing and arithmetic is exercised by
// the ordinary test suite; only the launch itself is CUDA's.
//
// Rules every body keeps, so any execution order gives the same result: body i writes only its
// own outputs and reads nothing another body of the same launch writes. All buffers are row-major;
// each field's shape is in its comment (T tokens in this pass; names from gpu/plan.h).
#pragma once

#include <cstdint>

#include "gpu/device_math.h"

namespace mamba::gpu {

// resid[t, :] = embedding row ids[t], widened to fp32.  i < T * dm
struct Gather {
  float* resid;       // [T, dm]
  const void* emb;    // [V, dm] of type t
  DType t;
  const int32_t* ids; // [T]
  int64_t dm;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t row = i / dm, col = i % dm;
    resid[i] = load_as_float(emb, t, int64_t(ids[row]) * dm + col);
  }
};

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w.  i < rows (one row per i: rows are short
// next to the GEMMs around them, and a sequential sum keeps the body trivial)
struct RmsNormRows {
  float* y;        // [rows, ldy]
  int64_t ldy;
  const float* x;  // [rows, ldx]
  int64_t ldx;
  const float* w;  // [n]
  int64_t n;
  float eps;
  MAMBA_HD void operator()(int64_t r) const {
    const float* xr = x + r * ldx;
    float ss = 0.0f;
    for (int64_t j = 0; j < n; ++j) ss += xr[j] * xr[j];
    const float scale = 1.0f / f_sqrt(ss / float(n) + eps);
    float* yr = y + r * ldy;
    for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] * scale * w[j];
  }
};

// dst[r, c] = src[r, c] rounded to t: a GEMM input in the weights' type.  i < rows * cols
struct ToGemmType {
  void* dst;         // [rows, cols] of type t (contiguous)
  DType t;
  const float* src;  // [rows, lds]
  int64_t lds, cols;
  MAMBA_HD void operator()(int64_t i) const {
    store_as(dst, t, i, src[(i / cols) * lds + i % cols]);
  }
};

// y[r, c] += b[c].  i < rows * cols
struct AddBias {
  float* y;        // [rows, ldy]
  int64_t ldy;
  const float* b;  // [cols]
  int64_t cols;
  MAMBA_HD void operator()(int64_t i) const { y[(i / cols) * ldy + i % cols] += b[i % cols]; }
};

// y[i] += x[i]: the residual connection.  i < n
struct AddInto {
  float* y;
  const float* x;
  MAMBA_HD void operator()(int64_t i) const { y[i] += x[i]; }
};

// Raw conv input j of channel c over the sequence [state rows, then this pass's src rows]: j < 0
// reads the conv state (row K-1+j, oldest first), j >= 0 this pass's row j.
MAMBA_HD inline float conv_input(const float* state, const float* src, int64_t lds, int64_t C,
                                 int K, int64_t j, int64_t c) {
  return j < 0 ? state[(K - 1 + j) * C + c] : src[j * lds + c];
}

// u[t, c] = silu(b[c] + sum_k w[k, c] * input(t + k - (K-1), c)): the causal depthwise conv1d
// continuing from the layer's conv state.  i < T * C
struct ConvSilu {
  float* u;            // [T, C]
  const float* src;    // [T, lds] raw inputs (columns 0..C-1 of each row)
  int64_t lds;
  const float* state;  // [K-1, C] the previous K-1 raw inputs
  const float* w;      // [K, C]
  const float* b;      // [C] or null
  int64_t C;
  int K;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t t = i / C, c = i % C;
    float acc = b ? b[c] : 0.0f;
    for (int k = 0; k < K; ++k)
      acc += w[k * C + c] * conv_input(state, src, lds, C, K, t + k - (K - 1), c);
    u[i] = silu(acc);
  }
};

// The conv state after this pass: the last K-1 raw inputs (some still from the old state when
// T < K-1). Written to `next`, not in place, because the old state is read.  i < (K-1) * C
struct ConvNextState {
  float* next;         // [K-1, C]
  const float* src;    // [T, lds]
  int64_t lds;
  const float* state;  // [K-1, C]
  int64_t C;
  int K;
  int64_t T;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t r = i / C, c = i % C;
    next[i] = conv_input(state, src, lds, C, K, T + r - (K - 1), c);
  }
};

// dt[t, c] = softplus(dt[t, c] + bias[c]).  i < T * d
struct SoftplusBias {
  float* dt;          // [T, d]
  const float* bias;  // [d]
  int64_t d;
  MAMBA_HD void operator()(int64_t i) const { dt[i] = softplus(dt[i] + bias[i % d]); }
};

// ---- Mamba-1 selective scan, parallel over channels and over segments of `seg` tokens ----------
// Per channel c and state index n:  h = exp(dt A[n, c]) h + dt u B[t, n],  y = sum_n h C[t, n].
// The recurrence is linear, so a segment's end state is exp(A[n, c] * sum(dt)) * (its start state)
// + (its end state from a zero start): segments run in parallel from zero (ScanLocal), a short
// sequential pass over segments carries the true start states (ScanCarry), and each segment is
// run again from its true start to produce y (ScanOut). With one segment ScanOut alone runs.
// NMAX >= N is a compile-time bound so the state lives in registers.

struct ScanArgs {
  const float* u;    // [T, d] conv output
  const float* dt;   // [T, d] after softplus
  const float* A;    // [N, d]
  const float* B;    // [T, ldbc] (column n of row t is B[t, n])
  const float* Cm;   // [T, ldbc]
  int64_t ldbc, T, d, N, seg;
};

template <int NMAX>
struct ScanLocal {  // i < nseg * d
  ScanArgs a;
  float* hloc;  // [nseg, N, d]
  float* dsum;  // [nseg, d]
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t c = i % a.d, s = i / a.d, t0 = s * a.seg;
    const int64_t t1 = t0 + a.seg < a.T ? t0 + a.seg : a.T;
    float h[NMAX], A[NMAX];
MAMBA_UNROLL
    for (int n = 0; n < NMAX; ++n) {
      h[n] = 0.0f;
      A[n] = n < a.N ? a.A[n * a.d + c] : 0.0f;
    }
    float ds = 0.0f;
    for (int64_t t = t0; t < t1; ++t) {
      const float dtv = a.dt[t * a.d + c], dtu = dtv * a.u[t * a.d + c];
      ds += dtv;
      const float* B = a.B + t * a.ldbc;
MAMBA_UNROLL
      for (int n = 0; n < NMAX; ++n)
        if (n < a.N) h[n] = f_exp(dtv * A[n]) * h[n] + dtu * B[n];
    }
MAMBA_UNROLL
    for (int n = 0; n < NMAX; ++n)
      if (n < a.N) hloc[(s * a.N + n) * a.d + c] = h[n];
    dsum[s * a.d + c] = ds;
  }
};

struct ScanCarry {  // i < N * d: one state element through all segments
  float* state;        // [N, d] in: before the pass; out: after it
  float* hin;          // [nseg, N, d] start state of each segment
  const float* hloc;   // [nseg, N, d]
  const float* dsum;   // [nseg, d]
  const float* A;      // [N, d]
  int64_t nseg, N, d;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t c = i % d, nd = N * d;
    float h = state[i];
    for (int64_t s = 0; s < nseg; ++s) {
      hin[s * nd + i] = h;
      h = f_exp(A[i] * dsum[s * d + c]) * h + hloc[s * nd + i];
    }
    state[i] = h;
  }
};

template <int NMAX>
struct ScanOut {  // i < nseg * d
  ScanArgs a;
  const float* hin;   // [nseg, N, d] start states (the layer state itself when nseg == 1)
  float* final_state; // [N, d] written by the last segment, or null
  int64_t nseg;
  const float* z;     // [T, ldz] gate
  int64_t ldz;
  const float* D;     // [d]
  float* y;           // [T, d] = (scan + D u) * silu(z)
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t c = i % a.d, s = i / a.d, t0 = s * a.seg;
    const int64_t t1 = t0 + a.seg < a.T ? t0 + a.seg : a.T;
    float h[NMAX], A[NMAX];
MAMBA_UNROLL
    for (int n = 0; n < NMAX; ++n) {
      h[n] = n < a.N ? hin[(s * a.N + n) * a.d + c] : 0.0f;
      A[n] = n < a.N ? a.A[n * a.d + c] : 0.0f;
    }
    const float Dc = D[c];
    for (int64_t t = t0; t < t1; ++t) {
      const float dtv = a.dt[t * a.d + c], uv = a.u[t * a.d + c], dtu = dtv * uv;
      const float* B = a.B + t * a.ldbc;
      const float* Cm = a.Cm + t * a.ldbc;
      float acc = 0.0f;
MAMBA_UNROLL
      for (int n = 0; n < NMAX; ++n)
        if (n < a.N) {
          h[n] = f_exp(dtv * A[n]) * h[n] + dtu * B[n];
          acc += h[n] * Cm[n];
        }
      y[t * a.d + c] = (acc + Dc * uv) * silu(z[t * ldz + c]);
    }
    if (final_state && s == nseg - 1) {
MAMBA_UNROLL
      for (int n = 0; n < NMAX; ++n)
        if (n < a.N) final_state[n * a.d + c] = h[n];
    }
  }
};

// ---- Mamba-2: chunked state-space duality (SSD) -------------------------------------------------
// The pass's T tokens are cut into nc chunks of L; the last is padded to L with dt = 0 and zero
// x, B, C, which adds nothing to any state (its decay factor exp(0 * A) is 1 and its input is 0).
// Per chunk c and head h (group g = h / hpg), with cs the within-chunk cumulative sum of dt A:
//   Y   = (C_g B_g^T o exp(cs_t - cs_s) dt_s [s <= t]) X_h      intra-chunk   (GEMMs, DecayMask)
//       + diag(exp(cs_t)) C_g h_c^T                             carried-in state
//   S_c = X_h^T diag(exp(cs_last - cs_s) dt_s) B_g              chunk's own contribution
//   h_{c+1} = exp(cs_last) h_c + S_c                            (CarryChunks, sequential in c)
// Every exponent is <= 0 (A < 0, dt >= 0): nothing overflows. As core/mamba2.cpp, batched.

// dt[t, h] = clamp(softplus(raw[t, h] + bias[h]), lo, hi), 0 in padded rows.  i < Tp * H
struct Mamba2Dt {
  float* dt;         // [Tp, H]
  const float* raw;  // [T, ldr] the dt columns of in_proj's output
  int64_t ldr;
  const float* bias; // [H]
  int64_t H, T;
  float lo, hi;      // time_step_limit
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t t = i / H, h = i % H;
    dt[i] = t < T ? clampf(softplus(raw[t * ldr + h] + bias[h]), lo, hi) : 0.0f;
  }
};

// Regroups columns [0, A B) of the rows by chunk and block: dst[c, a, s, b] = src[c L + s, a B + b]
// (0 past T). x by head (A = H blocks of B = P), B and C by group (A = G blocks of N).
// i < Tp * A * B
struct ChunkBlocks {
  float* dst;        // [nc, A, L, B]
  const float* src;  // [T, lds]
  int64_t lds, T, L, A, B;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t AB = A * B, row = i / AB, j = i % AB;
    const int64_t c = row / L, s = row % L, a = j / B, b = j % B;
    dst[((c * A + a) * L + s) * B + b] = row < T ? src[row * lds + j] : 0.0f;
  }
};

// cs[c, h, s] = sum_{r <= s} dt[c L + r, h] A[h].  i < nc * H
struct CumsumA {
  float* cs;         // [nc, H, L]
  const float* dt;   // [Tp, H]
  const float* A;    // [H]
  int64_t H, L;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t c = i / H, h = i % H;
    float acc = 0.0f;
    for (int64_t s = 0; s < L; ++s) {
      acc += dt[(c * L + s) * H + h] * A[h];
      cs[(c * H + h) * L + s] = acc;
    }
  }
};

// m[c, h, t, s] = gm[c, g, t, s] exp(cs[t] - cs[s]) dt[s] for s <= t, else 0.  i < nc * H * L * L
struct DecayMask {
  float* m;           // [nc, H, L, L]
  const float* gm;    // [nc, G, L, L]
  const float* cs;    // [nc, H, L]
  const float* dt;    // [Tp, H]
  int64_t H, G, L;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t s = i % L, t = (i / L) % L, h = (i / (L * L)) % H, c = i / (L * L * H);
    const int64_t g = h / (H / G);
    const float* csh = cs + (c * H + h) * L;
    m[i] = s <= t ? gm[((c * G + g) * L + t) * L + s] * f_exp(csh[t] - csh[s]) *
                        dt[(c * L + s) * H + h]
                  : 0.0f;
  }
};

// wb[c, h, s, n] = exp(cs[L-1] - cs[s]) dt[s] bg[c, g, s, n].  i < nc * H * L * N
struct DecayWeightB {
  float* wb;          // [nc, H, L, N]
  const float* bg;    // [nc, G, L, N]
  const float* cs;    // [nc, H, L]
  const float* dt;    // [Tp, H]
  int64_t H, G, L, N;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t n = i % N, s = (i / N) % L, h = (i / (N * L)) % H, c = i / (N * L * H);
    const int64_t g = h / (H / G);
    const float* csh = cs + (c * H + h) * L;
    wb[i] = f_exp(csh[L - 1] - csh[s]) * dt[(c * L + s) * H + h] * bg[((c * G + g) * L + s) * N + n];
  }
};

// One state element through the chunks: hc[c] = state entering chunk c; state = after the last.
// i < H * P * N
struct CarryChunks {
  float* state;       // [H, P, N]
  float* hc;          // [nc, H, P, N]
  const float* sc;    // [nc, H, P, N]
  const float* cs;    // [nc, H, L]
  int64_t nc, H, P, N, L;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t h = i / (P * N), HPN = H * P * N;
    float v = state[i];
    for (int64_t c = 0; c < nc; ++c) {
      hc[c * HPN + i] = v;
      v = f_exp(cs[(c * H + h) * L + L - 1]) * v + sc[c * HPN + i];
    }
    state[i] = v;
  }
};

// y[t, h P + p] = yd + exp(cs[t]) yo + D[h] x[t, h P + p].  i < T * H * P
struct CombineSsd {
  float* y;          // [T, ldy]
  int64_t ldy;
  const float* yd;   // [nc, H, L, P]
  const float* yo;   // [nc, G, L, hpg P]
  const float* cs;   // [nc, H, L]
  const float* x;    // [T, ldx]
  int64_t ldx;
  const float* D;    // [H]
  int64_t H, P, G, L;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t HP = H * P, t = i / HP, j = i % HP, h = j / P, p = j % P;
    const int64_t c = t / L, s = t % L, hpg = H / G, g = h / hpg, hl = h % hpg;
    const float carried = f_exp(cs[(c * H + h) * L + s]) * yo[((c * G + g) * L + s) * (hpg * P) + hl * P + p];
    y[t * ldy + j] = yd[((c * H + h) * L + s) * P + p] + carried + D[h] * x[t * ldx + j];
  }
};

// Gated RMSNorm per group of gs channels: y = norm(y * silu(z)) * w.  i < T * G (one row segment)
struct GatedNorm {
  float* y;          // [T, ldy]
  int64_t ldy;
  const float* z;    // [T, ldz]
  int64_t ldz;
  const float* w;    // [G * gs]
  int64_t G, gs;
  float eps;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t t = i / G, g = i % G;
    float* yr = y + t * ldy + g * gs;
    const float* zr = z + t * ldz + g * gs;
    float ss = 0.0f;
    for (int64_t j = 0; j < gs; ++j) {
      const float v = yr[j] * silu(zr[j]);
      yr[j] = v;
      ss += v * v;
    }
    const float scale = 1.0f / f_sqrt(ss / float(gs) + eps);
    for (int64_t j = 0; j < gs; ++j) yr[j] = yr[j] * scale * w[g * gs + j];
  }
};

// mamba_ssm's optional gated MLP: y[t, j] = x0[t, j] * silu(z0[t, j]).  i < T * d_mlp
struct MlpGate {
  float* y;           // [T, ldy]
  int64_t ldy;
  const float* zx;    // [T, ldz]: z0 in columns 0..d_mlp-1, x0 in d_mlp..2 d_mlp-1
  int64_t ldz, d_mlp;
  MAMBA_HD void operator()(int64_t i) const {
    const int64_t t = i / d_mlp, j = i % d_mlp;
    y[t * ldy + j] = zx[t * ldz + d_mlp + j] * silu(zx[t * ldz + j]);
  }
};

}  // namespace mamba::gpu
