// Session: one arena planned at create(), then prefill/step over it without allocating. It holds
// max_slots independent sequences; a decode step can run several of them as one batch.
#include "mamba/session.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>

#include "core/linear.h"
#include "core/mamba1.h"
#include "core/mamba2.h"
#include "core/session_access.h"
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
constexpr int kMaxSlots = 4096;
// The CPU prefill's SSD chunk (at most config.chunk_size): any length gives the recurrence up to
// rounding. Per token and head the state terms cost 2 P N multiply-adds whatever the length and
// the intra-chunk product L P, so short chunks do less work, until the GEMMs get too small for
// their kernel: mamba2-130m pp512 one thread, q4 1394 / 1486 / 1681 / 1591 tokens/s at 128 /
// 64 / 32 / 16 tokens (means of three side-by-side runs), f32 within noise.
constexpr int64_t kSsdChunk = 32;

// Offsets of every buffer, from one planning pass; pointers are base + offset. Lives in the block.
// max_T = max(prefill_chunk, max_slots): the rows of one pass, a prefill chunk or a batch.
struct Session::Buffers {
  size_t bytes = 0;
  int64_t max_T = 0;
  int64_t prefill_chunk = 0;
  int max_slots = 1;
  int n_threads = 1;
  const simd::Kernels* kernels = nullptr;
  float* resid = nullptr;   // [max_T, d_model] residual stream, fp32
  float* xn = nullptr;      // [max_T, d_model] RMSNorm output (block input / final norm)
  float* out = nullptr;     // [max_T, d_model] mixer output
  float* logits = nullptr;  // [max_slots, vocab] each slot's logits after its last token
  float* batch_logits = nullptr;  // [max_slots, vocab] a batched step's rows (max_slots > 1)
  int64_t* n_past = nullptr;      // [max_slots] tokens each slot has consumed
  Mamba1Scratch m1{};                      // when arch == mamba1
  Mamba2Scratch m2{};                      // when arch == mamba2
  detail::StateShape shape;                // what a state blob must match (weights hashed once)
  LayerState* states = nullptr;            // [max_slots, n_layer] each slot's per-layer state
  LayerState* row_states = nullptr;        // [max_slots] one layer's states of a batch's rows
  detail::GemmScratch* gemm = nullptr;     // [n_threads]
  simd::QuantizedX xq;                     // activation rows of q8/q4 products
  float* tokens = nullptr;                 // activation rows packed for gemm_weights
  int nonfinite_layer = -1;  // debug builds: the first layer whose output had a non-finite value

  const LayerState* slot_states(int slot) const { return states + size_t(slot) * shape.n_layer; }
  float* slot_logits(int slot) const { return logits + size_t(slot) * shape.vocab_size; }
};
static_assert(std::is_trivially_destructible_v<Session::Buffers>, "lives in the block, never destroyed");

namespace {

int64_t first_non_finite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return int64_t(i);
  return -1;
}

// The first kAlign bytes of a session's block: who frees it. The Session object follows.
struct BlockHeader {
  uint8_t* heap = nullptr;  // the block, if create() allocated it; null for a caller's buffer
};
static_assert(sizeof(BlockHeader) <= platform::kAlign, "the Session object starts at kAlign");

struct Plan {
  size_t total = 0;
  size_t header, session, buffers, states, row_states, gemm, n_past;  // bookkeeping
  size_t resid, xn, out, logits, batch_logits;
  size_t xz, xpad, u, dbc, dt, y;  // Mamba-1 scratch
  size_t zx, G, M, wB, cs, dth;    // Mamba-2 scratch (with xpad, u, dt, y)
  int ssd_L = 0;
  std::vector<size_t> conv, ssm, gemm_a, gemm_b, tiles, panels;
  size_t cap_a = 0, cap_b = 0, cap_tile = 0, cap_panel = 0;
  size_t xq_q = 0, xq_d = 0, xq_sum = 0, xq_isum = 0;  // activation rows quantized (q8/q4)
  size_t tokens = 0;  // activation rows packed for gemm_weights (linear())
};

// Width of Mamba-2's in_proj output and of its out_proj input (the optional MLP part included).
int64_t mamba2_in_width(const Config& c, int d_mlp) {
  return 2 * d_mlp + c.d_inner + c.conv_dim() + c.n_heads;
}

Plan plan(const Config& c, int d_mlp, WeightType type, const SessionLimits& lim, int n_threads) {
  const int64_t T = std::max(lim.prefill_chunk, lim.max_slots), S = lim.max_slots;
  const int64_t dm = c.d_model, d = c.d_inner, N = c.d_state, K = c.d_conv, V = c.vocab_size,
                C = c.conv_dim();
  const bool m2 = c.arch == Architecture::mamba2;
  platform::ArenaPlan a;
  Plan p;
  p.header = a.bytes(sizeof(BlockHeader));
  p.session = a.bytes(sizeof(Session));
  p.buffers = a.bytes(sizeof(Session::Buffers));
  p.states = a.bytes(size_t(S * c.n_layer) * sizeof(LayerState));
  p.row_states = a.bytes(size_t(S) * sizeof(LayerState));
  p.gemm = a.bytes(size_t(n_threads) * sizeof(detail::GemmScratch));
  p.n_past = a.bytes(size_t(S) * sizeof(int64_t));
  for (int64_t i = 0; i < S * c.n_layer; ++i) {  // state first: contiguous per sequence
    p.conv.push_back(a.floats(size_t(c.conv_state_floats())));
    p.ssm.push_back(a.floats(size_t(c.ssm_state_floats())));
  }
  p.resid = a.floats(size_t(T * dm));
  p.xn = a.floats(size_t(T * dm));
  p.out = a.floats(size_t(T * dm));
  p.logits = a.floats(size_t(S * V));
  p.batch_logits = S > 1 ? a.floats(size_t(S * V)) : 0;
  p.xpad = a.floats(size_t((K - 1 + T) * C));
  p.u = a.floats(size_t(T * C));
  std::vector<detail::WeightShape> weights = {{V, dm}};  // [M, K] of every projection
  std::vector<detail::GemmShape> shapes;
  if (!m2) {
    const int64_t R = c.dt_rank;
    p.xz = a.floats(size_t(T * 2 * d));
    p.dbc = a.floats(size_t(T * (R + 2 * N)));
    p.dt = a.floats(size_t(T * d));
    p.y = a.floats(size_t(T * d));
    for (auto [M, Kw] : {std::pair{2 * d, dm}, {R + 2 * N, d}, {d, R}, {dm, d}})
      weights.push_back({M, Kw});
  } else {
    const int64_t W = mamba2_in_width(c, d_mlp), H = c.n_heads, L = std::min<int64_t>({c.chunk_size, T, kSsdChunk});
    p.ssd_L = int(L);
    p.zx = a.floats(size_t(T * W));
    p.dt = a.floats(size_t(T * H));
    p.y = a.floats(size_t(T * (d_mlp + d)));
    p.G = a.floats(size_t((T + L - 1) / L * c.n_groups * L * L));
    p.M = a.floats(size_t(n_threads * L * L));
    p.wB = a.floats(size_t(n_threads * L * N));
    p.cs = a.floats(size_t(n_threads * L));
    p.dth = a.floats(size_t(n_threads * L));
    weights.push_back({W, dm});
    weights.push_back({dm, d_mlp + d});
    detail::mamba2_gemm_shapes(c, int(L), &shapes);
  }
  detail::gemm_scratch_floats(shapes, &p.cap_a, &p.cap_b);  // the SSD's products
  const detail::LinearNeeds need = detail::linear_needs(simd::kernels(), weights, type, T);
  p.cap_tile = need.cap_tile;
  p.tokens = a.floats(need.cap_tokens);
  p.cap_panel = need.cap_panel;
  for (int i = 0; i < n_threads; ++i) {
    p.gemm_a.push_back(a.floats(p.cap_a));
    p.gemm_b.push_back(a.floats(p.cap_b));
    p.tiles.push_back(a.floats(p.cap_tile));
    p.panels.push_back(a.bytes(p.cap_panel));
  }
  const size_t q_vals = size_t(need.quantized_rows * simd::padded_cols(need.quantized_k));
  p.xq_q = a.bytes(q_vals);
  p.xq_d = a.floats(q_vals / simd::kBlock);
  p.xq_sum = a.floats(q_vals / simd::kBlock);
  p.xq_isum = a.bytes(q_vals / simd::kBlock * sizeof(int32_t));
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
  if (l.max_slots < 1 || l.max_slots > kMaxSlots)
    return Status::error("SessionLimits.max_slots = " + std::to_string(l.max_slots) +
                         " is out of range [1, " + std::to_string(kMaxSlots) + "]");
  return Status();
}

}  // namespace

Session::Session() = default;
Session::~Session() = default;

size_t Session::required_bytes(const Model& model, const SessionLimits& limits) {
  if (!check_limits(limits).ok()) return 0;
  return plan(model.config(), model_d_mlp(model), model.weight_type(), limits,
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
  const Plan p = plan(c, model_d_mlp(*model), model->weight_type(), limits, n_threads);
  std::memset(base, 0, p.total);  // the state starts empty
  auto at = [base](size_t off) { return reinterpret_cast<float*>(base + off); };
  ::new (base + p.header) BlockHeader{owned ? base : nullptr};
  std::unique_ptr<Session> s(::new (base + p.session) Session());
  s->model_ = std::move(model);
  Buffers* b = ::new (base + p.buffers) Buffers();
  b->bytes = p.total;
  b->max_T = std::max(limits.prefill_chunk, limits.max_slots);
  b->prefill_chunk = limits.prefill_chunk;
  b->max_slots = limits.max_slots;
  b->shape = detail::state_shape(s->model_->weights());
  b->n_threads = n_threads;
  b->kernels = &simd::kernels();
  b->resid = at(p.resid);
  b->xn = at(p.xn);
  b->out = at(p.out);
  b->logits = at(p.logits);
  b->batch_logits = limits.max_slots > 1 ? at(p.batch_logits) : nullptr;
  b->n_past = reinterpret_cast<int64_t*>(base + p.n_past);
  if (c.arch == Architecture::mamba1)
    b->m1 = Mamba1Scratch{at(p.xz), at(p.xpad), at(p.u), at(p.dbc), at(p.dt), at(p.y)};
  else
    b->m2 = Mamba2Scratch{at(p.zx), at(p.xpad), at(p.u), at(p.dt), at(p.y), at(p.G), p.ssd_L,
                          at(p.M), at(p.wB), at(p.cs), at(p.dth)};
  const size_t n_states = size_t(limits.max_slots) * size_t(c.n_layer);
  b->states = ::new (base + p.states) LayerState[n_states];
  for (size_t i = 0; i < n_states; ++i) b->states[i] = {at(p.conv[i]), at(p.ssm[i])};
  b->row_states = ::new (base + p.row_states) LayerState[size_t(limits.max_slots)];
  b->gemm = ::new (base + p.gemm) detail::GemmScratch[size_t(n_threads)];
  for (int i = 0; i < n_threads; ++i)
    b->gemm[i] = {at(p.gemm_a[size_t(i)]), at(p.gemm_b[size_t(i)]), at(p.tiles[size_t(i)]),
                  base + p.panels[size_t(i)], p.cap_a, p.cap_b, p.cap_tile, p.cap_panel};
  b->xq = simd::QuantizedX{reinterpret_cast<int8_t*>(base + p.xq_q), at(p.xq_d), at(p.xq_sum),
                           reinterpret_cast<int32_t*>(base + p.xq_isum), 0};
  b->tokens = at(p.tokens);
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

Status Session::check_slot(const char* what, int slot) const {
  if (slot >= 0 && slot < buf_->max_slots) return Status();
  return Status::error(std::string(what) + ": slot " + std::to_string(slot) +
                       " is out of range [0, " + std::to_string(buf_->max_slots) +
                       ") (SessionLimits.max_slots)");
}

void Session::reset() {
  for (int slot = 0; slot < buf_->max_slots; ++slot) reset(slot);
}

Status Session::reset(int slot) {
  if (Status st = check_slot("reset", slot); !st.ok()) return st;
  const detail::StateShape& sh = buf_->shape;
  const LayerState* states = buf_->slot_states(slot);
  for (uint32_t l = 0; l < sh.n_layer; ++l) {
    std::fill_n(states[l].conv, sh.conv_floats(), 0.0f);
    std::fill_n(states[l].ssm, sh.ssm_floats(), 0.0f);
  }
  std::fill_n(buf_->slot_logits(slot), size_t(sh.vocab_size), 0.0f);
  buf_->n_past[slot] = 0;
  return Status();
}

// n tokens through the whole model, in one of two shapes:
//   slots == null: a chunk of n <= prefill_chunk tokens continuing `slot`. logits_rows: null for
//     the last row only (into the slot's logits), else [n, vocab] for every row.
//   slots != null: a batched decode step, token t continuing slots[t] (n <= max_slots distinct
//     slots); each slot's logits receive its row.
// want_logits false (a prefill chunk before the last, without logits_rows, slots == null): no one
// sees this chunk's logits, so the final norm and lm_head are skipped (the lm_head reads the whole
// embedding: three of the four a 512-token prompt would compute, ~3% of its prefill).
void Session::forward(const int32_t* ids, int n, int slot, const int32_t* slots,
                      float* logits_rows, bool want_logits) {
  const detail::Weights& w = model_->weights();
  const Config& c = w.config;
  Buffers& b = *buf_;
  const int64_t dm = c.d_model, V = c.vocab_size;
  const detail::LinearCtx ctx{b.kernels, b.n_threads, b.gemm, b.xq, b.tokens};
  const bool batch = slots != nullptr;
  // Tensors are reported for single sequences only (a batch's rows are different sequences).
  detail::Tap tap{batch ? nullptr : tap_, tap_user_, -1, batch ? 0 : b.n_past[slot]};

  for (int t = 0; t < n; ++t)
    b.kernels->dequantize(w.embeddings, ids[t], ids[t] + 1, 0, dm, b.resid + t * dm);
  tap("embeddings_out", b.resid, n, dm, dm);
  for (int l = 0; l < c.n_layer; ++l) {
    const bool m1 = c.arch == Architecture::mamba1;
    const float* norm = m1 ? w.mamba1_layers[size_t(l)].norm : w.mamba2_layers[size_t(l)].norm;
    tap.layer = l;
    for (int t = 0; t < n; ++t)
      b.kernels->rmsnorm(b.xn + t * dm, b.resid + t * dm, norm, int(dm), c.layer_norm_epsilon);
    tap("norm_out", b.xn, n, dm, dm);
    detail::Sequences seq{b.slot_states(slot) + l, 1, n};
    if (batch) {
      for (int t = 0; t < n; ++t) b.row_states[t] = b.slot_states(slots[t])[l];
      seq = {b.row_states, n, n};
    }
    if (m1)
      detail::mamba1_mixer(c, w.mamba1_layers[size_t(l)], ctx, b.m1, seq, b.xn, b.out, tap);
    else
      detail::mamba2_mixer(c, w.mamba2_layers[size_t(l)], ctx, b.m2, seq, b.xn, b.out, tap);
    for (int64_t i = 0; i < n * dm; ++i) b.resid[i] += b.out[i];
#ifndef NDEBUG  // debug builds find where a non-finite value appeared (README "Hardening")
    if (b.nonfinite_layer < 0 && first_non_finite(b.resid, size_t(n * dm)) >= 0) b.nonfinite_layer = l;
#endif
    tap("hidden", b.resid, n, dm, dm);
  }
  tap.layer = -1;
  if (!want_logits) {
    b.n_past[slot] += n;
    return;
  }
  const int first = logits_rows || batch ? 0 : n - 1;  // rows that need logits
  for (int t = first; t < n; ++t)
    b.kernels->rmsnorm(b.xn + t * dm, b.resid + t * dm, w.norm_f, int(dm), c.layer_norm_epsilon);
  if (tap && !logits_rows) tap.row0 += n - 1;
  tap("norm_f_out", b.xn + first * dm, n - first, dm, dm);
  float* dst = batch ? b.batch_logits : logits_rows ? logits_rows : b.slot_logits(slot);
  detail::linear(ctx, dst, V, b.xn + first * dm, dm, w.lm_head, nullptr, n - first);
  if (batch) {
    for (int t = 0; t < n; ++t) {
      std::memcpy(b.slot_logits(slots[t]), dst + t * V, size_t(V) * sizeof(float));
      ++b.n_past[slots[t]];
    }
    return;
  }
  if (logits_rows)
    std::memcpy(b.slot_logits(slot), logits_rows + (n - 1) * V, size_t(V) * sizeof(float));
  b.n_past[slot] += n;
}

// Non-finite logits are reported, never returned (README "Hardening"): `what` failed because
// slot `slot`'s logits `x` [n] (rows of vocab floats) hold a NaN or an infinity.
Status Session::check_finite(const char* what, int slot, const float* x, size_t n) const {
  const int64_t i = first_non_finite(x, n);
  if (i < 0) return Status();
  const int64_t V = model_->config().vocab_size;
  std::string msg = std::string(what) + ": non-finite logits after token " +
                    std::to_string(buf_->n_past[slot]) + " of slot " + std::to_string(slot) +
                    " (logit " + std::to_string(i % V) + " is " +
                    (std::isnan(x[i]) ? "nan" : x[i] > 0 ? "+inf" : "-inf") + ")";
  if (buf_->nonfinite_layer >= 0)
    msg += "; the residual stream first turned non-finite in layer " +
           std::to_string(buf_->nonfinite_layer);
  return Status::error(msg + "; the slot's state is kept: reset() or load_state() it to go on");
}

Result<const float*> Session::prefill(const int32_t* ids, size_t n, float* all_logits) {
  return prefill(0, ids, n, all_logits);
}

Result<const float*> Session::prefill(int slot, const int32_t* ids, size_t n, float* all_logits) {
  const int V = model_->config().vocab_size;
  if (Status st = check_slot("prefill", slot); !st.ok()) return st;
  if (n == 0) return Status::error("prefill: no tokens");
  if (!ids) return Status::error("prefill: null token array");
  for (size_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V)
      return Status::error("prefill: token id " + std::to_string(ids[i]) + " at position " +
                           std::to_string(i) + " is out of range [0, " + std::to_string(V) + ")");
  buf_->nonfinite_layer = -1;
  for (size_t i = 0; i < n;) {
    const int chunk = int(std::min<size_t>(n - i, size_t(buf_->prefill_chunk)));
    forward(ids + i, chunk, slot, nullptr, all_logits ? all_logits + i * size_t(V) : nullptr,
            all_logits || i + size_t(chunk) == n);
    i += size_t(chunk);
  }
  if (Status st = all_logits ? check_finite("prefill", slot, all_logits, n * size_t(V))
                             : check_finite("prefill", slot, buf_->slot_logits(slot), size_t(V));
      !st.ok())
    return st;
  return static_cast<const float*>(buf_->slot_logits(slot));
}

Result<const float*> Session::step(int32_t id) { return step(0, id); }

Result<const float*> Session::step(int slot, int32_t id) {
  const int V = model_->config().vocab_size;
  if (Status st = check_slot("step", slot); !st.ok()) return st;
  if (id < 0 || id >= V)
    return Status::error("step: token id " + std::to_string(id) + " is out of range [0, " +
                         std::to_string(V) + ")");
  buf_->nonfinite_layer = -1;
  forward(&id, 1, slot, nullptr, nullptr);
  if (Status st = check_finite("step", slot, buf_->slot_logits(slot), size_t(V)); !st.ok()) return st;
  return static_cast<const float*>(buf_->slot_logits(slot));
}

Status Session::step_batch(const int32_t* slots, const int32_t* ids, size_t n) {
  const int V = model_->config().vocab_size;
  if (n == 0) return Status::error("step_batch: no slots");
  if (!slots || !ids) return Status::error("step_batch: null slot or token array");
  if (n > size_t(buf_->max_slots))
    return Status::error("step_batch: " + std::to_string(n) + " slots, more than max_slots = " +
                         std::to_string(buf_->max_slots));
  for (size_t i = 0; i < n; ++i) {
    if (Status st = check_slot("step_batch", slots[i]); !st.ok())
      return Status::error(st.message() + " at position " + std::to_string(i));
    for (size_t j = 0; j < i; ++j)
      if (slots[j] == slots[i])
        return Status::error("step_batch: slot " + std::to_string(slots[i]) +
                             " appears twice (positions " + std::to_string(j) + " and " +
                             std::to_string(i) + ")");
    if (ids[i] < 0 || ids[i] >= V)
      return Status::error("step_batch: token id " + std::to_string(ids[i]) + " at position " +
                           std::to_string(i) + " is out of range [0, " + std::to_string(V) + ")");
  }
  buf_->nonfinite_layer = -1;
  if (n == 1) forward(ids, 1, slots[0], nullptr, nullptr);  // the same as step(): GEMV
  else forward(ids, int(n), 0, slots, nullptr);
  for (size_t i = 0; i < n; ++i)
    if (Status st = check_finite("step_batch", slots[i], buf_->slot_logits(slots[i]), size_t(V));
        !st.ok())
      return st;
  return Status();
}

const float* Session::logits() const { return buf_->slot_logits(0); }
const float* Session::logits(int slot) const {
  return check_slot("logits", slot).ok() ? buf_->slot_logits(slot) : nullptr;
}
int64_t Session::n_past() const { return buf_->n_past[0]; }
int64_t Session::n_past(int slot) const {
  return check_slot("n_past", slot).ok() ? buf_->n_past[slot] : -1;
}
int Session::max_slots() const { return buf_->max_slots; }
size_t Session::bytes() const { return buf_->bytes; }
size_t Session::state_bytes() const { return buf_->shape.blob_bytes(); }

Status Session::save_state(void* dst, size_t size) const { return save_state(0, dst, size); }

Status Session::save_state(int slot, void* dst, size_t size) const {
  const detail::StateShape& shape = buf_->shape;
  if (Status st = check_slot("save_state", slot); !st.ok()) return st;
  if (!dst) return Status::error("save_state: null destination");
  if (size < shape.blob_bytes())
    return Status::error("save_state: the destination holds " + std::to_string(size) +
                         " bytes, the state needs " + std::to_string(shape.blob_bytes()) +
                         " (Session::state_bytes)");
  detail::write_state_blob(shape, buf_->slot_states(slot), buf_->slot_logits(slot),
                           buf_->n_past[slot], static_cast<uint8_t*>(dst));
  return Status();
}

Status Session::load_state(const void* src, size_t size) { return load_state(0, src, size); }

Status Session::load_state(int slot, const void* src, size_t size) {
  if (Status st = check_slot("load_state", slot); !st.ok()) return st;
  return detail::read_state_blob(static_cast<const uint8_t*>(src), size, buf_->shape,
                                 buf_->slot_states(slot), buf_->slot_logits(slot),
                                 &buf_->n_past[slot]);
}

Status Session::copy_state_from(const Session& other, int from_slot, int to_slot) {
  const detail::StateShape& mine = buf_->shape;
  if (!(mine == other.buf_->shape))
    return Status::error("copy_state_from: the other session runs another model (architecture, "
                         "shape or weights differ)");
  if (Status st = other.check_slot("copy_state_from", from_slot); !st.ok()) return st;
  if (Status st = check_slot("copy_state_from", to_slot); !st.ok()) return st;
  if (&other == this && from_slot == to_slot) return Status();
  const LayerState* from = other.buf_->slot_states(from_slot);
  const LayerState* to = buf_->slot_states(to_slot);
  for (uint32_t l = 0; l < mine.n_layer; ++l) {
    std::memcpy(to[l].conv, from[l].conv, mine.conv_floats() * sizeof(float));
    std::memcpy(to[l].ssm, from[l].ssm, mine.ssm_floats() * sizeof(float));
  }
  std::memcpy(buf_->slot_logits(to_slot), other.buf_->slot_logits(from_slot),
              size_t(mine.vocab_size) * sizeof(float));
  buf_->n_past[to_slot] = other.buf_->n_past[from_slot];
  return Status();
}

const float* Session::conv_state(int layer, int slot) const {
  const bool ok = layer >= 0 && layer < model_->config().n_layer && check_slot("", slot).ok();
  return ok ? buf_->slot_states(slot)[layer].conv : nullptr;
}
const float* Session::ssm_state(int layer, int slot) const {
  const bool ok = layer >= 0 && layer < model_->config().n_layer && check_slot("", slot).ok();
  return ok ? buf_->slot_states(slot)[layer].ssm : nullptr;
}

}  // namespace mamba

namespace mamba::detail {

// (The callers check the slot and the layer first: Session::conv_state(layer, slot) is not null.)
float* SessionAccess::conv_state(Session& s, int layer, int slot) {
  return s.buf_->slot_states(slot)[layer].conv;
}
float* SessionAccess::ssm_state(Session& s, int layer, int slot) {
  return s.buf_->slot_states(slot)[layer].ssm;
}
float* SessionAccess::logits(Session& s, int slot) { return s.buf_->slot_logits(slot); }
void SessionAccess::advance(Session& s, int slot, int64_t n) { s.buf_->n_past[slot] += n; }

}  // namespace mamba::detail
