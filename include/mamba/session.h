// A Session runs sequences through a shared Model: one, or up to SessionLimits::max_slots
// independent ones ("slots") whose decode steps can be batched. All memory it will ever use
// (every slot's recurrent state and logits, the scratch of one prefill chunk or batch, its own
// bookkeeping) is planned in create() and is one block: allocated there, or a buffer the caller
// provides. prefill(), step() and step_batch() never allocate. A Session is not thread-safe; use
// one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mamba/model.h"
#include "mamba/status.h"

namespace mamba {

namespace detail { struct SessionAccess; }  // internal writer of states/logits (gpu/)

struct SessionLimits {
  int prefill_chunk = 128;  // tokens per prefill pass; longer prompts run in several passes
  int n_threads = 0;        // 0: OMP_NUM_THREADS, else all cores
  int max_slots = 1;        // independent sequences held at once (each costs one state + logits)
};

// Observer of intermediate tensors (tests, debugging). Called with a name such as "hidden",
// "in_proj_out", a layer index (-1 for model-level tensors) and a row-major [rows, cols] block
// holding rows [row0, row0 + rows) of the current prefill. Null by default: costs nothing.
using TapFn = void (*)(void* user, const char* name, int layer, int64_t row0, const float* data,
                       int rows, int cols, int ld);

class Session {
 public:
  // Bytes that create() allocates for this model and these limits, known before anything exists
  // (0 if the limits are invalid; create() then says why).
  static size_t required_bytes(const Model& model, const SessionLimits& limits);
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionLimits& limits = {});
  // The same, inside memory the caller owns: `buffer` must hold at least required_bytes(model,
  // limits) bytes and be aligned to kBufferAlign. The session's state, scratch and bookkeeping all
  // live there (it keeps nothing on the heap), and the memory is zeroed. The buffer must outlive
  // the Session; destroying the Session does not free it. A buffer that is too small or misaligned
  // is refused.
  static constexpr size_t kBufferAlign = 64;
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionLimits& limits, void* buffer,
                                                 size_t buffer_bytes);

  // Runs the prompt through the model, prefill_chunk tokens at a time, continuing from the current
  // state. Returns the logits [vocab] after the last token. If all_logits is given it receives the
  // logits of every position, row-major [n, vocab]. Fails without touching the state if an id is
  // out of range.
  // Non-finite values (README "Hardening"): weights and state blobs are checked finite when they
  // are loaded; if the logits a call produces still hold a NaN or an infinity (values overflowing
  // fp32), prefill, step and step_batch fail naming the slot, the token count and the logit (debug
  // builds also name the layer where the residual stream first turned non-finite). The state has
  // then advanced and is kept as it is; reset() or load_state() the slot to go on.
  Result<const float*> prefill(const int32_t* ids, size_t n, float* all_logits = nullptr);
  // One token through the recurrent path; returns the logits [vocab] after it.
  Result<const float*> step(int32_t id);

  const float* logits() const;  // [vocab], from the last prefill/step
  int64_t n_past() const;       // tokens consumed since creation/reset
  void reset();                 // every slot back to the empty state

  // Several sequences. Slot s in [0, max_slots) is an independent sequence with its own state,
  // logits and n_past; the calls above act on slot 0 (and reset() on all). A slot out of range
  // fails naming it (logits(s) returns null and n_past(s) -1 then).
  Result<const float*> prefill(int slot, const int32_t* ids, size_t n, float* all_logits = nullptr);
  Result<const float*> step(int slot, int32_t id);
  // One decode step for n distinct slots at once, ids[i] into slots[i]: every projection is one
  // GEMM over the n rows, each slot's conv and scan advance by its own token only (a batch has no
  // padding rows), slots not listed are untouched. Afterwards logits(slots[i]) is slot i's. Equal
  // to n separate step() calls to rounding (the GEMM sums in another order than the one-token
  // GEMV; n = 1 runs exactly step()). Fails, changing nothing, on a repeated or out-of-range slot,
  // a bad id or n > max_slots.
  Status step_batch(const int32_t* slots, const int32_t* ids, size_t n);
  const float* logits(int slot) const;
  int64_t n_past(int slot) const;
  Status reset(int slot);
  int max_slots() const;

  // Recurrent state of one layer, fp32, row-major:
  //   conv_state [d_conv - 1, conv_dim]: the last d_conv-1 raw conv inputs, oldest first
  //     (HF keeps d_conv columns as [conv_dim, d_conv]; its column 0 is never read again).
  //     conv_dim = d_inner (Mamba-1) or d_inner + 2 * n_groups * d_state (Mamba-2: x, B, C).
  //   ssm_state Mamba-1 [d_state, d_inner] (HF: [d_inner, d_state], transposed here so the scan
  //     vectorises across channels for any d_state); Mamba-2 [n_heads, head_dim, d_state] as HF.
  // Null for a layer outside [0, n_layer) or a slot outside [0, max_slots).
  const float* conv_state(int layer, int slot = 0) const;
  const float* ssm_state(int layer, int slot = 0) const;

  // The recurrent state as a blob (layout in core/state_blob.h: a 96-byte header with magic,
  // version, architecture, shape, a fingerprint of the weights, n_past and a checksum; then every
  // layer's conv and SSM state and the last logits). Restoring it reproduces the logits and
  // everything after them bit-exactly. The sampler's state (its random stream, the repetition
  // window) is not part of it. None of these allocate (except to word an error).
  size_t state_bytes() const;  // the blob's size for this model (one slot)
  // Writes state_bytes() bytes to dst; fails if size is smaller.
  Status save_state(void* dst, size_t size) const;
  Status save_state(int slot, void* dst, size_t size) const;
  // Replaces the state with the blob's. Refuses, naming the reason and changing nothing, a blob
  // that is short, truncated, corrupt (checksum), of another version, or from a model of another
  // architecture, shape or weights.
  Status load_state(const void* src, size_t size);
  Status load_state(int slot, const void* src, size_t size);
  // Fork: slot to_slot continues exactly as other's from_slot would (same model shape and
  // weights; any limits; `other` may be this session). Equivalent to save_state then load_state,
  // without the blob.
  Status copy_state_from(const Session& other, int from_slot = 0, int to_slot = 0);

  size_t bytes() const;  // the block create() allocated or used: required_bytes()
  const Model& model() const { return *model_; }
  void set_tap(TapFn fn, void* user) { tap_ = fn; tap_user_ = user; }

  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  struct Buffers;  // internal
  // Sessions live inside their own block: deleting one frees the block if create() allocated it.
  static void operator delete(void* p);

 private:
  friend struct detail::SessionAccess;
  Session();
  static Result<std::unique_ptr<Session>> create_in(std::shared_ptr<const Model> model,
                                                    const SessionLimits& limits, uint8_t* block,
                                                    bool owned);
  Status check_slot(const char* what, int slot) const;
  Status check_finite(const char* what, int slot, const float* logits, size_t n) const;
  void forward(const int32_t* ids, int n, int slot, const int32_t* slots, float* logits_rows,
               bool want_logits = true);
  std::shared_ptr<const Model> model_;
  Buffers* buf_ = nullptr;  // inside the block
  TapFn tap_ = nullptr;
  void* tap_user_ = nullptr;
};

}  // namespace mamba
