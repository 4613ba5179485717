// The GPU prefill, written once against an executor `Exec` that owns device memory and runs bodies
// (gpu/bodies.h) and GEMMs (gpu/gemm.h): gpu/cuda_exec.h on a GPU, tests/host_exec.h on the CPU
// for the tests. One pass of T <= max_T tokens runs the whole model like core/session.cpp does:
// embeddings, then per layer RMSNorm, the mixer and the residual add, then the final norm and the
// logits of the last row (or of every row). Conv and SSM state stay on the device between passes;
// they come from the Session before the first pass and go back after the last.
//
// Exec provides:
//   Status allocate(size_t total, size_t workspace_offset, size_t workspace_bytes)
//   uint8_t* base()                        the device block (offsets from gpu/plan.h)
//   void for_each(const char* what, int64_t n, const Body& body)   body(i) for i < n
//   void gemm(const char* what, const Gemm& g)
//   void upload(void* dst, const void* src, size_t bytes), download(...), copy(...)
//   void set_layer(int layer)              context for error messages (-1: none)
//   Status finish()                        waits for the device; the first error, if any
// Calls after an error do nothing; finish() reports it.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/session_access.h"
#include "core/weights.h"
#include "gpu/bodies.h"
#include "gpu/gemm.h"
#include "gpu/plan.h"
#include "gpu/upload.h"
#include "mamba/gpu.h"
#include "mamba/session.h"

namespace mamba::gpu {

template <class Exec>
class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(std::shared_ptr<const Model> model,
                                                const GpuLimits& limits,
                                                const PlanOptions& options,
                                                std::unique_ptr<Exec> exec) {
    if (!model) return Status::error("GpuPrefill::create: no model");
    auto plan = make_plan(*model, limits, options);
    if (!plan.ok()) return plan.status();
    std::unique_ptr<Engine> e(new Engine());
    e->model_ = std::move(model);
    e->limits_ = limits;
    e->p_ = std::move(plan.value());
    e->ex_ = std::move(exec);
    if (Status st = e->ex_->allocate(e->p_.total, e->p_.workspace, e->p_.workspace_bytes); !st.ok())
      return st;
    if (Status st = e->upload_weights(); !st.ok()) return st;
    if (Status st = e->ex_->finish(); !st.ok())
      return Status::error("GpuPrefill::create: uploading the weights: " + st.message());
    return {std::move(e)};
  }

  const Plan& plan() const { return p_; }
  const GpuLimits& limits() const { return limits_; }
  Exec& exec() { return *ex_; }

  Result<const float*> prefill(Session& s, int slot, const int32_t* ids, size_t n,
                               float* all_logits) {
    const Config& c = model_->config();
    if (&s.model() != model_.get())
      return Status::error("GpuPrefill::prefill: the session belongs to another Model than the "
                           "one the GPU prefill was created with");
    if (s.n_past(slot) < 0)
      return Status::error("GpuPrefill::prefill: slot " + std::to_string(slot) +
                           " is out of range [0, " + std::to_string(s.max_slots()) + ")");
    if (n == 0) return Status::error("GpuPrefill::prefill: no tokens");
    if (!ids) return Status::error("GpuPrefill::prefill: null token array");
    if (all_logits && !limits_.all_logits)
      return Status::error("GpuPrefill::prefill: all_logits needs GpuLimits::all_logits = true "
                           "at create()");
    for (size_t i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= c.vocab_size)
        return Status::error("GpuPrefill::prefill: token id " + std::to_string(ids[i]) +
                             " at position " + std::to_string(i) + " is out of range [0, " +
                             std::to_string(c.vocab_size) + ")");
    const size_t conv_bytes = size_t((p_.K - 1) * p_.C) * sizeof(float);
    const size_t ssm_bytes = size_t(p_.N * p_.d) * sizeof(float);
    for (int l = 0; l < c.n_layer; ++l) {
      ex_->upload(at(p_.layers[size_t(l)].conv_state), s.conv_state(l, slot), conv_bytes);
      ex_->upload(at(p_.layers[size_t(l)].ssm_state), s.ssm_state(l, slot), ssm_bytes);
    }
    for (size_t i = 0; i < n;) {
      const int64_t T = int64_t(std::min<size_t>(n - i, size_t(p_.max_T)));
      run_pass(ids + i, T, all_logits ? all_logits + i * size_t(p_.V) : nullptr);
      i += size_t(T);
    }
    if (Status st = ex_->finish(); !st.ok()) return Status::error("GPU prefill: " + st.message());
    // Success: hand the state and the last logits to the session.
    for (int l = 0; l < c.n_layer; ++l) {
      ex_->download(detail::SessionAccess::conv_state(s, l, slot), at(p_.layers[size_t(l)].conv_state),
                    conv_bytes);
      ex_->download(detail::SessionAccess::ssm_state(s, l, slot), at(p_.layers[size_t(l)].ssm_state),
                    ssm_bytes);
    }
    float* logits = detail::SessionAccess::logits(s, slot);
    if (all_logits)
      std::memcpy(logits, all_logits + (n - 1) * size_t(p_.V), size_t(p_.V) * sizeof(float));
    else
      ex_->download(logits, at(p_.logits), size_t(p_.V) * sizeof(float));
    if (Status st = ex_->finish(); !st.ok())
      return Status::error("GPU prefill: copying the state back (the session's state is now "
                           "undefined; reset() it): " + st.message());
    detail::SessionAccess::advance(s, slot, int64_t(n));
    return static_cast<const float*>(logits);
  }

 private:
  Engine() = default;

  uint8_t* at(size_t off) const { return ex_->base() + off; }
  float* f(size_t off) const { return off == kAbsent ? nullptr : reinterpret_cast<float*>(at(off)); }

  Status upload_weights() {
    const detail::Weights& w = model_->weights();
    const Config& c = w.config;
    const Plan& p = p_;
    Staging staging;
    Status st;
    // The planned buffer holds [rows, cols]: a matrix of another shape would overflow it.
    auto mat = [&](size_t off, const simd::Matrix& m, int64_t rows, int64_t cols) {
      if (m.rows != rows || m.cols != cols) {
        if (st.ok())
          st = Status::error("GpuPrefill::create: a weight matrix is [" + std::to_string(m.rows) +
                             ", " + std::to_string(m.cols) + "], the plan expects [" +
                             std::to_string(rows) + ", " + std::to_string(cols) + "]");
        return;
      }
      upload_matrix(*ex_, at(off), p.wt, m, staging);
    };
    auto vec = [&](size_t off, const float* src, int64_t n) {
      if (off != kAbsent) upload_vector(*ex_, f(off), src, n);
    };
    mat(p.emb, w.embeddings, p.V, p.dm);
    if (!c.tie_word_embeddings) mat(p.lm_head, w.lm_head, p.V, p.dm);
    vec(p.norm_f, w.norm_f, p.dm);
    for (int l = 0; l < c.n_layer; ++l) {
      const LayerOffsets& o = p.layers[size_t(l)];
      if (p.mamba2) {
        const detail::Mamba2Layer& L = w.mamba2_layers[size_t(l)];
        vec(o.norm, L.norm, p.dm);
        mat(o.in_proj, L.in_proj, p.W, p.dm);
        vec(o.in_bias, L.in_proj_bias, p.W);
        vec(o.conv_w, L.conv_w, p.K * p.C);
        vec(o.conv_b, L.conv_b, p.C);
        vec(o.dt_bias, L.dt_bias, p.H);
        vec(o.A, L.A, p.H);
        vec(o.D, L.D, p.H);
        vec(o.gate_norm, L.gate_norm, p.d);
        mat(o.out_proj, L.out_proj, p.dm, p.ldy);
        vec(o.out_bias, L.out_proj_bias, p.dm);
      } else {
        const detail::Mamba1Layer& L = w.mamba1_layers[size_t(l)];
        vec(o.norm, L.norm, p.dm);
        mat(o.in_proj, L.in_proj, p.W, p.dm);
        vec(o.in_bias, L.in_proj_bias, p.W);
        vec(o.conv_w, L.conv_w, p.K * p.C);
        vec(o.conv_b, L.conv_b, p.C);
        mat(o.x_proj, L.x_proj, p.R + 2 * p.N, p.d);
        mat(o.dt_proj, L.dt_proj, p.d, p.R);
        vec(o.dt_bias, L.dt_bias, p.d);
        vec(o.A, L.A, p.N * p.d);
        vec(o.D, L.D, p.d);
        mat(o.out_proj, L.out_proj, p.dm, p.ldy);
        vec(o.out_bias, L.out_proj_bias, p.dm);
      }
    }
    return st;
  }

  // y[T, M] (row stride ldy) = x[T, K] (row stride ldx) W[M, K]^T (+ bias), W at offset w_off.
  void linear(const char* what, float* y, int64_t ldy, const float* x, int64_t ldx, int64_t T,
              int64_t M, int64_t K, size_t w_off, size_t bias_off) {
    Gemm g;
    g.trans_b = true;
    g.M = T;
    g.N = M;
    g.K = K;
    g.ab = p_.wt;
    if (p_.wt == DType::f32) {
      g.A = x;
      g.lda = ldx;
    } else {  // tensor-core GEMMs take both operands in the same 16-bit type
      ex_->for_each("to_gemm_type", T * K, ToGemmType{at(p_.act), p_.wt, x, ldx, K});
      g.A = at(p_.act);
      g.lda = K;
    }
    g.B = at(w_off);
    g.ldb = K;
    g.Y = y;
    g.ldy = ldy;
    ex_->gemm(what, g);
    if (bias_off != kAbsent) ex_->for_each("add_bias", T * M, AddBias{y, ldy, f(bias_off), M});
  }

  // u[T, C] = silu(conv(state ++ src)), then the state moves on by T inputs.
  void conv(const LayerOffsets& o, const float* src, int64_t lds, int64_t T) {
    const int K = int(p_.K);
    float* state = f(o.conv_state);
    ex_->for_each("conv1d_silu", T * p_.C,
                  ConvSilu{f(p_.u), src, lds, state, f(o.conv_w), f(o.conv_b), p_.C, K});
    if (K > 1) {
      ex_->for_each("conv_state", (K - 1) * p_.C,
                    ConvNextState{f(p_.conv_next), src, lds, state, p_.C, K, T});
      ex_->copy(state, f(p_.conv_next), size_t((K - 1) * p_.C) * sizeof(float));
    }
  }

  template <int NMAX>
  void scan(const LayerOffsets& o, int64_t T) {
    const Plan& p = p_;
    const int64_t d = p.d, nseg = (T + p.seg - 1) / p.seg, ldbc = p.R + 2 * p.N;
    const ScanArgs a{f(p.u), f(p.dt), f(o.A), f(p.dbc) + p.R, f(p.dbc) + p.R + p.N, ldbc,
                     T, d, p.N, p.seg};
    float* state = f(o.ssm_state);
    const float* z = f(p.xz) + d;
    if (nseg == 1) {
      ex_->for_each("scan", d, ScanOut<NMAX>{a, state, state, 1, z, 2 * d, f(o.D), f(p.y)});
      return;
    }
    ex_->for_each("scan_local", nseg * d, ScanLocal<NMAX>{a, f(p.hloc), f(p.dsum)});
    ex_->for_each("scan_carry", p.N * d,
                  ScanCarry{state, f(p.hin), f(p.hloc), f(p.dsum), f(o.A), nseg, p.N, d});
    ex_->for_each("scan_out", nseg * d,
                  ScanOut<NMAX>{a, f(p.hin), nullptr, nseg, z, 2 * d, f(o.D), f(p.y)});
  }

  void mamba1(const LayerOffsets& o, int64_t T) {
    const Plan& p = p_;
    const int64_t dm = p.dm, d = p.d, R = p.R, ldbc = R + 2 * p.N;
    linear("in_proj", f(p.xz), 2 * d, f(p.xn), dm, T, 2 * d, dm, o.in_proj, o.in_bias);
    conv(o, f(p.xz), 2 * d, T);
    linear("x_proj", f(p.dbc), ldbc, f(p.u), d, T, ldbc, d, o.x_proj, kAbsent);
    linear("dt_proj", f(p.dt), d, f(p.dbc), ldbc, T, d, R, o.dt_proj, kAbsent);
    ex_->for_each("softplus", T * d, SoftplusBias{f(p.dt), f(o.dt_bias), d});
    if (p.N <= 16) scan<16>(o, T);
    else if (p.N <= 64) scan<64>(o, T);
    else scan<kMaxScanState>(o, T);
    linear("out_proj", f(p.out), dm, f(p.y), d, T, dm, d, o.out_proj, o.out_bias);
  }

  void mamba2(const LayerOffsets& o, int64_t T) {
    const Plan& p = p_;
    const Config& c = model_->config();
    const int64_t dm = p.dm, d = p.d, N = p.N, C = p.C, H = p.H, P = p.P, G = p.G, L = p.L;
    const int64_t W = p.W, d_mlp = p.d_mlp, hpg = p.hpg;
    const int64_t nc = (T + L - 1) / L, Tp = nc * L;
    float* zx = f(p.zx);
    float* u = f(p.u);
    float* y = f(p.y) + d_mlp;  // the SSD output columns of the out_proj input
    linear("in_proj", zx, W, f(p.xn), dm, T, W, dm, o.in_proj, o.in_bias);
    conv(o, zx + 2 * d_mlp + d, W, T);
    ex_->for_each("dt", Tp * H,
                  Mamba2Dt{f(p.dt), zx + W - H, W, f(o.dt_bias), H, T, c.dt_min, c.dt_max});
    ex_->for_each("chunk_x", Tp * d, ChunkBlocks{f(p.xh), u, C, T, L, H, P});
    ex_->for_each("chunk_b", Tp * G * N, ChunkBlocks{f(p.bg), u + d, C, T, L, G, N});
    ex_->for_each("chunk_c", Tp * G * N, ChunkBlocks{f(p.cg), u + d + G * N, C, T, L, G, N});
    ex_->for_each("cumsum", nc * H, CumsumA{f(p.cs), f(p.dt), f(o.A), H, L});

    Gemm g;  // gm[c, g] = cg[c, g] bg[c, g]^T: [L, N] x [N, L]
    g.trans_b = true;
    g.M = L; g.N = L; g.K = N;
    g.A = f(p.cg); g.lda = N; g.stride_a = L * N;
    g.B = f(p.bg); g.ldb = N; g.stride_b = L * N;
    g.Y = f(p.gm); g.ldy = L; g.stride_y = L * L;
    g.batch = nc * G;
    ex_->gemm("ssd_cb", g);
    ex_->for_each("ssd_mask", nc * H * L * L,
                  DecayMask{f(p.mw), f(p.gm), f(p.cs), f(p.dt), H, G, L});
    g = Gemm{};  // yd[c, h] = mask[c, h] xh[c, h]: [L, L] x [L, P]
    g.M = L; g.N = P; g.K = L;
    g.A = f(p.mw); g.lda = L; g.stride_a = L * L;
    g.B = f(p.xh); g.ldb = P; g.stride_b = L * P;
    g.Y = f(p.yd); g.ldy = P; g.stride_y = L * P;
    g.batch = nc * H;
    ex_->gemm("ssd_intra", g);
    // (The mask is consumed: its buffer now takes the decay-weighted B.)
    ex_->for_each("ssd_weight_b", nc * H * L * N,
                  DecayWeightB{f(p.mw), f(p.bg), f(p.cs), f(p.dt), H, G, L, N});
    g = Gemm{};  // sc[c, h] = xh[c, h]^T wb[c, h]: [P, L] x [L, N]
    g.trans_a = true;
    g.M = P; g.N = N; g.K = L;
    g.A = f(p.xh); g.lda = P; g.stride_a = L * P;
    g.B = f(p.mw); g.ldb = N; g.stride_b = L * N;
    g.Y = f(p.sc); g.ldy = N; g.stride_y = P * N;
    g.batch = nc * H;
    ex_->gemm("ssd_chunk_state", g);
    ex_->for_each("ssd_carry", H * P * N,
                  CarryChunks{f(o.ssm_state), f(p.hc), f(p.sc), f(p.cs), nc, H, P, N, L});
    g = Gemm{};  // yo[c, g] = cg[c, g] (hc of g's heads as [hpg P, N])^T: [L, N] x [N, hpg P]
    g.trans_b = true;
    g.M = L; g.N = hpg * P; g.K = N;
    g.A = f(p.cg); g.lda = N; g.stride_a = L * N;
    g.B = f(p.hc); g.ldb = N; g.stride_b = hpg * P * N;
    g.Y = f(p.yo); g.ldy = hpg * P; g.stride_y = L * hpg * P;
    g.batch = nc * G;
    ex_->gemm("ssd_carried", g);
    ex_->for_each("ssd_combine", T * d,
                  CombineSsd{y, p.ldy, f(p.yd), f(p.yo), f(p.cs), u, C, f(o.D), H, P, G, L});
    ex_->for_each("gated_norm", T * G,
                  GatedNorm{y, p.ldy, zx + 2 * d_mlp, W, f(o.gate_norm), G, d / G,
                            c.layer_norm_epsilon});
    if (d_mlp > 0)
      ex_->for_each("mlp_gate", T * d_mlp, MlpGate{f(p.y), p.ldy, zx, W, d_mlp});
    linear("out_proj", f(p.out), dm, f(p.y), p.ldy, T, dm, p.ldy, o.out_proj, o.out_bias);
  }

  // One pass of T tokens; all_logits: null (last row's logits into the plan's buffer) or the
  // host destination [T, V] of every row's.
  void run_pass(const int32_t* ids, int64_t T, float* all_logits) {
    const Plan& p = p_;
    const Config& c = model_->config();
    const int64_t dm = p.dm;
    ex_->set_layer(-1);
    ex_->upload(at(p.ids), ids, size_t(T) * sizeof(int32_t));
    ex_->for_each("embeddings", T * dm,
                  Gather{f(p.resid), at(p.emb), p.wt, reinterpret_cast<const int32_t*>(at(p.ids)), dm});
    for (int l = 0; l < c.n_layer; ++l) {
      const LayerOffsets& o = p.layers[size_t(l)];
      ex_->set_layer(l);
      ex_->for_each("rmsnorm", T, RmsNormRows{f(p.xn), dm, f(p.resid), dm, f(o.norm), dm,
                                              c.layer_norm_epsilon});
      if (p.mamba2) mamba2(o, T);
      else mamba1(o, T);
      ex_->for_each("residual", T * dm, AddInto{f(p.resid), f(p.out)});
    }
    ex_->set_layer(-1);
    const int64_t first = all_logits ? 0 : T - 1, rows = T - first;
    ex_->for_each("norm_f", rows, RmsNormRows{f(p.xn), dm, f(p.resid) + first * dm, dm,
                                              f(p.norm_f), dm, c.layer_norm_epsilon});
    linear("lm_head", f(p.logits), p.V, f(p.xn), dm, rows, p.V, dm, p.lm_head, kAbsent);
    if (all_logits) ex_->download(all_logits, f(p.logits), size_t(rows * p.V) * sizeof(float));
  }

  std::shared_ptr<const Model> model_;
  GpuLimits limits_;
  Plan p_;
  std::unique_ptr<Exec> ex_;
};

}  // namespace mamba::gpu
