// Session: one arena planned at create(), then prefill/step over it without allocating.
#include "mamba/session.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "core/linear.h"
#include "core/mamba1.h"
#include "core/mamba2.h"
#include "core/state_blob.h"
#include "core/tap.h"
#include "core/weights.h"
#include "platform/arena.h"
#include "platform/threads.h"
#include "simd/kernels.h"

namespace mamba {

using detail::LayerState;
using detail::Mamba1Scratch;
using detail::Mamba2Scratch;

constexpr int kMaxPrefillChunk = 1 << 16;
constexpr int kMaxThreads = 1024;

// Offsets of every buffer, from one planning pass; pointers are base + offset. Lives in the block.
struct Session::Buffers {
  size_t bytes = 0;
  int64_t max_T = 0;
  int n_threads = 1;
  const simd::Kernels* kernels = nullptr;
  float* resid = nullptr;   // [max_T, d_model] residual stream, fp32
  float* xn = nullptr;      // [max_T, d_model] RMSNorm output (block input / final norm)
  float* out = nullptr;     // [max_T, d_model] mixer output
  float* logits = nullptr;  // [vocab] logits after the last token
  Mamba1Scratch m1{};                      // when arch == mamba1
  Mamba2Scratch m2{};                      // when arch == mamba2
  detail::StateShape shape;                // what a state blob must match (weights hashed once)
  LayerState* states = nullptr;             // [n_layer]
  detail::GemmScratch* gemm = nullptr;     // [n_threads]
};
static_assert(std::is_trivially_destructible_v<Session::Buffers>, "lives in the block, never destroyed");

namespace {

// The first kAlign bytes of a session's block: who frees it. The Session object follows.
struct BlockHeader {
  uint8_t* heap = nullptr;  // the block, if create() allocated it; null for a caller's buffer
};
static_assert(sizeof(BlockHeader) <= platform::kAlign, "the Session object starts at kAlign");

struct Plan {
  size_t total = 0;
  size_t header, session, buffers, states, gemm;  // bookkeeping
  size_t resid, xn, out, logits;
  size_t xz, xpad, u, dbc, dt, y;  // Mamba-1 scratch
  size_t zx, G, M, wB, cs, dth;    // Mamba-2 scratch (with xpad, u, dt, y)
  int ssd_L = 0;
  std::vector<size_t> conv, ssm, gemm_a, gemm_b;
  size_t cap_a = 0, cap_b = 0;
};

// Width of Mamba-2's in_proj output and of its out_proj input (the optional MLP part included).
int64_t mamba2_in_width(const Config& c, int d_mlp) {
  return 2 * d_mlp + c.d_inner + c.conv_dim() + c.n_heads;
}

Plan plan(const Config& c, int d_mlp, int64_t T, int n_threads) {
  const int64_t dm = c.d_model, d = c.d_inner, N = c.d_state, K = c.d_conv, V = c.vocab_size,
                C = c.conv_dim();
  const bool m2 = c.arch == Architecture::mamba2;
  const int64_t ssm_floats = m2 ? int64_t(c.n_heads) * c.head_dim * N : N * d;
  platform::ArenaPlan a;
  Plan p;
  p.header = a.bytes(sizeof(BlockHeader));
  p.session = a.bytes(sizeof(Session));
  p.buffers = a.bytes(sizeof(Session::Buffers));
  p.states = a.bytes(size_t(c.n_layer) * sizeof(LayerState));
  p.gemm = a.bytes(size_t(n_threads) * sizeof(detail::GemmScratch));
  for (int i = 0; i < c.n_layer; ++i) {  // state first: contiguous per sequence
    p.conv.push_back(a.floats(size_t((K - 1) * C)));
    p.ssm.push_back(a.floats(size_t(ssm_floats)));
  }
  p.resid = a.floats(size_t(T * dm));
  p.xn = a.floats(size_t(T * dm));
  p.out = a.floats(size_t(T * dm));
  p.logits = a.floats(size_t(V));
  p.xpad = a.floats(size_t((K - 1 + T) * C));
  p.u = a.floats(size_t(T * C));
  std::vector<detail::GemmShape> shapes = {{T, V, dm}};
  if (!m2) {
    const int64_t R = c.dt_rank;
    p.xz = a.floats(size_t(T * 2 * d));
    p.dbc = a.floats(size_t(T * (R + 2 * N)));
    p.dt = a.floats(size_t(T * d));
    p.y = a.floats(size_t(T * d));
    for (auto [M, Kw] : {std::pair{2 * d, dm}, {R + 2 * N, d}, {d, R}, {dm, d}})
      shapes.push_back({T, M, Kw});
  } else {
    const int64_t W = mamba2_in_width(c, d_mlp), H = c.n_heads, L = std::min<int64_t>(c.chunk_size, T);
    p.ssd_L = int(L);
    p.zx = a.floats(size_t(T * W));
    p.dt = a.floats(size_t(T * H));
    p.y = a.floats(size_t(T * (d_mlp + d)));
    p.G = a.floats(size_t(c.n_groups * L * L));
    p.M = a.floats(size_t(n_threads * L * L));
    p.wB = a.floats(size_t(n_threads * L * N));
    p.cs = a.floats(size_t(n_threads * L));
    p.dth = a.floats(size_t(n_threads * L));
    shapes.push_back({T, W, dm});
    shapes.push_back({T, dm, d_mlp + d});
    detail::mamba2_gemm_shapes(c, int(L), &shapes);
  }
  detail::gemm_scratch_floats(shapes, &p.cap_a, &p.cap_b);
  for (int i = 0; i < n_threads; ++i) {
    p.gemm_a.push_back(a.floats(p.cap_a));
    p.gemm_b.push_back(a.floats(p.cap_b));
  }
  p.total = a.total();
  return p;
}

// The gated-MLP width of a Mamba-2 model's layers (0 for HF checkpoints and for Mamba-1).
int model_d_mlp(const Model& m) {
  int d_mlp = 0;
  for (const auto& L : m.weights().mamba2_layers) d_mlp = std::max(d_mlp, L.d_mlp);
  return d_mlp;
}

Status check_limits(const SessionLimits& l) {
  if (l.prefill_chunk < 1 || l.prefill_chunk > kMaxPrefillChunk)
    return Status::error("SessionLimits.prefill_chunk = " + std::to_string(l.prefill_chunk) +
                         " is out of range [1, " + std::to_string(kMaxPrefillChunk) + "]");
  if (l.n_threads < 0 || l.n_threads > kMaxThreads)
    return Status::error("SessionLimits.n_threads = " + std::to_string(l.n_threads) +
                         " is out of range [0, " + std::to_string(kMaxThreads) + "]");
  return Status();
}

}  // namespace

Session::Session() = default;
Session::~Session() = default;

size_t Session::required_bytes(const Model& model, const SessionLimits& limits) {
  if (!check_limits(limits).ok()) return 0;
  return plan(model.config(), model_d_mlp(model), limits.prefill_chunk,
              platform::resolve_threads(limits.n_threads))
      .total;
}

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                 const SessionLimits& limits) {
  if (!model) return Status::error("Session::create: no model");
  if (Status st = check_limits(limits); !st.ok()) return st;
  const size_t bytes = required_bytes(*model, limits);
  uint8_t* block = static_cast<uint8_t*>(std::aligned_alloc(platform::kAlign, bytes));
  if (!block)
    return Status::error("Session::create: cannot allocate " + std::to_string(bytes) + " bytes");
  return create_in(std::move(model), limits, block, true);
}

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                 const SessionLimits& limits, void* buffer,
                                                 size_t buffer_bytes) {
  if (!model) return Status::error("Session::create: no model");
  if (Status st = check_limits(limits); !st.ok()) return st;
  if (!buffer) return Status::error("Session::create: null buffer");
  if (reinterpret_cast<uintptr_t>(buffer) % kBufferAlign != 0)
    return Status::error("Session::create: the buffer's address is not a multiple of " +
                         std::to_string(kBufferAlign) + " bytes (Session::kBufferAlign)");
  if (const size_t need = required_bytes(*model, limits); buffer_bytes < need)
    return Status::error("Session::create: the buffer holds " + std::to_string(buffer_bytes) +
                         " bytes, but this model and these limits need " + std::to_string(need) +
                         " (Session::required_bytes)");
  return create_in(std::move(model), limits, static_cast<uint8_t*>(buffer), false);
}

Result<std::unique_ptr<Session>> Session::create_in(std::shared_ptr<const Model> model,
                                                    const SessionLimits& limits, uint8_t* base,
                                                    bool owned) {
  static_assert(platform::kAlign == kBufferAlign, "one alignment for both kinds of block");
  const Config& c = model->config();
  const int n_threads = platform::resolve_threads(limits.n_threads);
  const Plan p = plan(c, model_d_mlp(*model), limits.prefill_chunk, n_threads);
  std::memset(base, 0, p.total);  // the state starts empty
  auto at = [base](size_t off) { return reinterpret_cast<float*>(base + off); };
  ::new (base + p.header) BlockHeader{owned ? base : nullptr};
  std::unique_ptr<Session> s(::new (base + p.session) Session());
  s->model_ = std::move(model);
  Buffers* b = ::new (base + p.buffers) Buffers();
  b->bytes = p.total;
  b->max_T = limits.prefill_chunk;
  b->shape = detail::state_shape(s->model_->weights());
  b->n_threads = n_threads;
  b->kernels = &simd::kernels();
  b->resid = at(p.resid);
  b->xn = at(p.xn);
  b->out = at(p.out);
  b->logits = at(p.logits);
  if (c.arch == Architecture::mamba1)
    b->m1 = Mamba1Scratch{at(p.xz), at(p.xpad), at(p.u), at(p.dbc), at(p.dt), at(p.y)};
  else
    b->m2 = Mamba2Scratch{at(p.zx), at(p.xpad), at(p.u), at(p.dt), at(p.y), at(p.G), p.ssd_L,
                          at(p.M), at(p.wB), at(p.cs), at(p.dth)};
  b->states = ::new (base + p.states) LayerState[size_t(c.n_layer)];
  for (int i = 0; i < c.n_layer; ++i) b->states[i] = {at(p.conv[size_t(i)]), at(p.ssm[size_t(i)])};
  b->gemm = ::new (base + p.gemm) detail::GemmScratch[size_t(n_threads)];
  for (int i = 0; i < n_threads; ++i)
    b->gemm[i] = {at(p.gemm_a[size_t(i)]), at(p.gemm_b[size_t(i)]), p.cap_a, p.cap_b};
  s->buf_ = b;
  // Start the OpenMP team now, so its threads are not created inside the first prefill.
  platform::parallel_for(n_threads, n_threads, 1, [](int, int64_t, int64_t) {});
  return s;
}

void Session::operator delete(void* p) {
  const auto* header = reinterpret_cast<const BlockHeader*>(static_cast<uint8_t*>(p) -
                                                            platform::kAlign);
  std::free(header->heap);  // null (a caller's buffer): nothing to free
}

void Session::reset() {
  const Config& c = model_->config();
  const size_t ssm_floats = size_t(c.d_state) * c.d_inner;  // [H, P, N] or [N, d]: same count
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerState& st = buf_->states[l];
    std::fill_n(st.conv, size_t(c.d_conv - 1) * c.conv_dim(), 0.0f);
    std::fill_n(st.ssm, ssm_floats, 0.0f);
  }
  std::fill_n(buf_->logits, size_t(c.vocab_size), 0.0f);
  n_past_ = 0;
}

// One chunk of n <= max_T tokens through the whole model. logits_rows: null for the last row only
// (into buf_->logits), else [n, vocab] for every row.
void Session::forward(const int32_t* ids, int n, float* logits_rows) {
  const detail::Weights& w = model_->weights();
  const Config& c = w.config;
  Buffers& b = *buf_;
  const int64_t dm = c.d_model, V = c.vocab_size;
  const detail::LinearCtx ctx{b.kernels, b.n_threads, b.gemm};
  detail::Tap tap{tap_, tap_user_, -1, n_past_};

  for (int t = 0; t < n; ++t)
    std::memcpy(b.resid + t * dm, w.embeddings + int64_t(ids[t]) * dm, size_t(dm) * sizeof(float));
  tap("embeddings_out", b.resid, n, dm, dm);
  for (int l = 0; l < c.n_layer; ++l) {
    const bool m1 = c.arch == Architecture::mamba1;
    const float* norm = m1 ? w.mamba1_layers[size_t(l)].norm : w.mamba2_layers[size_t(l)].norm;
    tap.layer = l;
    for (int t = 0; t < n; ++t)
      b.kernels->rmsnorm(b.xn + t * dm, b.resid + t * dm, norm, int(dm), c.layer_norm_epsilon);
    tap("norm_out", b.xn, n, dm, dm);
    if (m1)
      detail::mamba1_mixer(c, w.mamba1_layers[size_t(l)], ctx, b.m1, b.states[size_t(l)], b.xn,
                           b.out, n, tap);
    else
      detail::mamba2_mixer(c, w.mamba2_layers[size_t(l)], ctx, b.m2, b.states[size_t(l)], b.xn,
                           b.out, n, tap);
    for (int64_t i = 0; i < n * dm; ++i) b.resid[i] += b.out[i];
    tap("hidden", b.resid, n, dm, dm);
  }
  tap.layer = -1;
  const int first = logits_rows ? 0 : n - 1;  // rows that need logits
  for (int t = first; t < n; ++t)
    b.kernels->rmsnorm(b.xn + t * dm, b.resid + t * dm, w.norm_f, int(dm), c.layer_norm_epsilon);
  if (tap && !logits_rows) tap.row0 += n - 1;
  tap("norm_f_out", b.xn + first * dm, n - first, dm, dm);
  float* dst = logits_rows ? logits_rows : b.logits;
  detail::linear(ctx, dst, V, b.xn + first * dm, dm, w.lm_head, nullptr, n - first, V, dm);
  if (logits_rows) std::memcpy(b.logits, logits_rows + (n - 1) * V, size_t(V) * sizeof(float));
  n_past_ += n;
}

Result<const float*> Session::prefill(const int32_t* ids, size_t n, float* all_logits) {
  const int V = model_->config().vocab_size;
  if (n == 0) return Status::error("prefill: no tokens");
  if (!ids) return Status::error("prefill: null token array");
  for (size_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V)
      return Status::error("prefill: token id " + std::to_string(ids[i]) + " at position " +
                           std::to_string(i) + " is out of range [0, " + std::to_string(V) + ")");
  for (size_t i = 0; i < n;) {
    const int chunk = int(std::min<size_t>(n - i, size_t(buf_->max_T)));
    forward(ids + i, chunk, all_logits ? all_logits + i * size_t(V) : nullptr);
    i += size_t(chunk);
  }
  return static_cast<const float*>(buf_->logits);
}

Result<const float*> Session::step(int32_t id) {
  const int V = model_->config().vocab_size;
  if (id < 0 || id >= V)
    return Status::error("step: token id " + std::to_string(id) + " is out of range [0, " +
                         std::to_string(V) + ")");
  forward(&id, 1, nullptr);
  return static_cast<const float*>(buf_->logits);
}

const float* Session::logits() const { return buf_->logits; }
int64_t Session::n_past() const { return n_past_; }
size_t Session::bytes() const { return buf_->bytes; }
size_t Session::state_bytes() const { return buf_->shape.blob_bytes(); }

Status Session::save_state(void* dst, size_t size) const {
  const detail::StateShape& shape = buf_->shape;
  if (!dst) return Status::error("save_state: null destination");
  if (size < shape.blob_bytes())
    return Status::error("save_state: the destination holds " + std::to_string(size) +
                         " bytes, the state needs " + std::to_string(shape.blob_bytes()) +
                         " (Session::state_bytes)");
  detail::write_state_blob(shape, buf_->states, buf_->logits, n_past_, static_cast<uint8_t*>(dst));
  return Status();
}

Status Session::load_state(const void* src, size_t size) {
  return detail::read_state_blob(static_cast<const uint8_t*>(src), size, buf_->shape,
                                 buf_->states, buf_->logits, &n_past_);
}

Status Session::copy_state_from(const Session& other) {
  const detail::StateShape& mine = buf_->shape;
  if (!(mine == other.buf_->shape))
    return Status::error("copy_state_from: the other session runs another model (architecture, "
                         "shape or weights differ)");
  if (&other == this) return Status();
  for (uint32_t l = 0; l < mine.n_layer; ++l) {
    std::memcpy(buf_->states[l].conv, other.buf_->states[l].conv, mine.conv_floats() * sizeof(float));
    std::memcpy(buf_->states[l].ssm, other.buf_->states[l].ssm, mine.ssm_floats() * sizeof(float));
  }
  std::memcpy(buf_->logits, other.buf_->logits, size_t(mine.vocab_size) * sizeof(float));
  n_past_ = other.n_past_;
  return Status();
}

const float* Session::conv_state(int layer) const {
  return layer >= 0 && layer < model_->config().n_layer ? buf_->states[layer].conv : nullptr;
}
const float* Session::ssm_state(int layer) const {
  return layer >= 0 && layer < model_->config().n_layer ? buf_->states[layer].ssm : nullptr;
}

}  // namespace mamba
