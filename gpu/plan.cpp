// make_plan: one pass over the model's shapes hands out every device buffer's offset. Compiled in
// every build (it needs no CUDA), so GpuPrefill::plan() answers without a GPU.
#include "gpu/plan.h"

#include <algorithm>
#include <string>

#include "core/weights.h"

namespace mamba {

const char* to_string(GpuPrecision p) {
  switch (p) {
    case GpuPrecision::bf16: return "bf16";
    case GpuPrecision::f16: return "f16";
    case GpuPrecision::fp32: return "fp32";
  }
  return "?";
}

Result<GpuMemory> GpuPrefill::plan(const Model& model, const GpuLimits& limits) {
  auto p = gpu::make_plan(model, limits);
  if (!p.ok()) return p.status();
  return p->memory;
}

namespace gpu {
namespace {

constexpr int kMaxChunk = 1 << 16;
constexpr size_t kDeviceAlign = 256;  // what cudaMalloc guarantees; plenty for cuBLAS

// Hands out aligned offsets, each followed by `guard` spare bytes (recorded in `guards`).
class Layout {
 public:
  Layout(size_t guard, std::vector<std::pair<size_t, size_t>>* guards)
      : guard_(guard), guards_(guards) {}
  size_t bytes(size_t n) {
    const size_t off = total_;
    total_ += (n + kDeviceAlign - 1) / kDeviceAlign * kDeviceAlign + guard_;
    if (guard_) guards_->push_back({off + n, total_ - off - n});
    return off;
  }
  size_t floats(int64_t n) { return bytes(size_t(n) * sizeof(float)); }
  size_t of(DType t, int64_t n) { return bytes(size_t(n) * dtype_size(t)); }
  size_t total() const { return total_; }

 private:
  size_t guard_;
  std::vector<std::pair<size_t, size_t>>* guards_;
  size_t total_ = 0;
};

DType weight_type(GpuPrecision p) {
  return p == GpuPrecision::fp32 ? DType::f32 : p == GpuPrecision::f16 ? DType::f16 : DType::bf16;
}

}  // namespace

Result<Plan> make_plan(const Model& model, const GpuLimits& limits, const PlanOptions& options) {
  const Config& c = model.config();
  if (limits.max_chunk < 1 || limits.max_chunk > kMaxChunk)
    return Status::error("GpuLimits.max_chunk = " + std::to_string(limits.max_chunk) +
                         " is out of range [1, " + std::to_string(kMaxChunk) + "]");
  if (limits.precision != GpuPrecision::bf16 && limits.precision != GpuPrecision::f16 &&
      limits.precision != GpuPrecision::fp32)
    return Status::error("GpuLimits.precision is not one of bf16, f16, fp32");
  if (options.scan_segment < 1) return Status::error("scan_segment must be >= 1");

  Plan p;
  p.wt = weight_type(limits.precision);
  p.mamba2 = c.arch == Architecture::mamba2;
  p.max_T = limits.max_chunk;
  p.dm = c.d_model;
  p.d = c.d_inner;
  p.N = c.d_state;
  p.K = c.d_conv;
  p.C = c.conv_dim();
  p.V = c.vocab_size;
  p.R = c.dt_rank;
  p.logit_rows = limits.all_logits ? p.max_T : 1;
  const detail::Weights& w = model.weights();
  if (p.mamba2) {
    p.H = c.n_heads;
    p.P = c.head_dim;
    p.G = c.n_groups;
    p.hpg = p.H / p.G;
    p.d_mlp = w.mamba2_layers.empty() ? 0 : w.mamba2_layers[0].d_mlp;
    for (size_t l = 0; l < w.mamba2_layers.size(); ++l)
      if (w.mamba2_layers[l].d_mlp != p.d_mlp)
        return Status::error("GPU prefill: layer " + std::to_string(l) + " has a gated-MLP width " +
                             std::to_string(w.mamba2_layers[l].d_mlp) + " unlike layer 0's " +
                             std::to_string(p.d_mlp) + "; mixed widths are not supported");
    p.W = 2 * p.d_mlp + p.d + p.C + p.H;
    p.ldy = p.d_mlp + p.d;
    p.L = std::min<int64_t>(c.chunk_size, p.max_T);
    p.nc_max = (p.max_T + p.L - 1) / p.L;
    p.act_cols = std::max(p.dm, p.ldy);
  } else {
    if (p.N > kMaxScanState)
      return Status::error("GPU prefill: Mamba-1 d_state = " + std::to_string(p.N) +
                           " is larger than the GPU scan supports (" +
                           std::to_string(kMaxScanState) + "); use the CPU prefill");
    p.W = 2 * p.d;
    p.ldy = p.d;
    p.seg = std::min<int64_t>(options.scan_segment, p.max_T);
    p.nseg_max = (p.max_T + p.seg - 1) / p.seg;
    p.act_cols = std::max({p.dm, p.d, p.R});
  }
  Layout a(options.guard_bytes, &p.guards);
  const int64_t dm = p.dm, d = p.d, N = p.N, K = p.K, C = p.C, T = p.max_T;
  // Weights.
  p.emb = a.of(p.wt, p.V * dm);
  p.lm_head = c.tie_word_embeddings ? p.emb : a.of(p.wt, p.V * dm);
  p.norm_f = a.floats(dm);
  for (int l = 0; l < c.n_layer; ++l) {
    LayerOffsets o{};
    o.norm = a.floats(dm);
    o.in_proj = a.of(p.wt, p.W * dm);
    o.in_bias = c.use_bias ? a.floats(p.W) : kAbsent;
    o.conv_w = a.floats(K * C);
    o.conv_b = c.use_conv_bias ? a.floats(C) : kAbsent;
    if (p.mamba2) {
      o.x_proj = o.dt_proj = kAbsent;
      o.dt_bias = a.floats(p.H);
      o.A = a.floats(p.H);
      o.D = a.floats(p.H);
      o.gate_norm = a.floats(d);
    } else {
      o.x_proj = a.of(p.wt, (p.R + 2 * N) * d);
      o.dt_proj = a.of(p.wt, d * p.R);
      o.dt_bias = a.floats(d);
      o.A = a.floats(N * d);
      o.D = a.floats(d);
      o.gate_norm = kAbsent;
    }
    o.out_proj = a.of(p.wt, dm * p.ldy);
    o.out_bias = c.use_bias ? a.floats(dm) : kAbsent;
    p.layers.push_back(o);
  }
  p.memory.weights = a.total();
  // State.
  for (auto& o : p.layers) {
    o.conv_state = a.floats((K - 1) * C);
    o.ssm_state = a.floats(N * d);  // [N, d] or [H, P, N]: the same count
  }
  p.memory.state = a.total() - p.memory.weights;
  // Scratch.
  p.ids = a.bytes(size_t(T) * sizeof(int32_t));
  p.resid = a.floats(T * dm);
  p.xn = a.floats(T * dm);
  p.act = p.wt == DType::f32 ? kAbsent : a.of(p.wt, T * p.act_cols);
  p.out = a.floats(T * dm);
  p.logits = a.floats(p.logit_rows * p.V);
  p.conv_next = a.floats((K - 1) * C);
  p.u = a.floats(T * C);
  p.y = a.floats(T * p.ldy);
  if (p.mamba2) {
    const int64_t Tp = p.nc_max * p.L, H = p.H, P = p.P, G = p.G, L = p.L, nc = p.nc_max;
    p.dt = a.floats(Tp * H);
    p.zx = a.floats(T * p.W);
    p.xh = a.floats(Tp * d);
    p.bg = a.floats(Tp * G * N);
    p.cg = a.floats(Tp * G * N);
    p.cs = a.floats(nc * H * L);
    p.gm = a.floats(nc * G * L * L);
    p.mw = a.floats(nc * H * L * std::max(L, N));
    p.yd = a.floats(Tp * d);
    p.sc = a.floats(nc * H * P * N);
    p.hc = a.floats(nc * H * P * N);
    p.yo = a.floats(Tp * d);  // [nc, G, L, hpg P]: G * hpg * P = d
  } else {
    p.dt = a.floats(T * d);
    p.xz = a.floats(T * 2 * d);
    p.dbc = a.floats(T * (p.R + 2 * N));
    p.hloc = a.floats(p.nseg_max * N * d);
    p.hin = a.floats(p.nseg_max * N * d);
    p.dsum = a.floats(p.nseg_max * d);
  }
  p.memory.scratch = a.total() - p.memory.weights - p.memory.state;
  p.workspace_bytes = options.workspace_bytes;
  p.workspace = a.bytes(p.workspace_bytes);
  p.memory.workspace = a.total() - p.memory.weights - p.memory.state - p.memory.scratch;
  p.total = a.total();
  return p;
}

}  // namespace gpu
}  // namespace mamba
