// A Session runs one sequence through a shared Model. All memory it will ever use (recurrent state,
// the scratch of one prefill chunk and its own bookkeeping) is planned in create() and is one
// block: allocated there, or a buffer the caller provides. prefill() and step() never allocate.
// A Session is not thread-safe; use one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mamba/model.h"
#include "mamba/status.h"

namespace mamba {

struct SessionLimits {
  int prefill_chunk = 128;  // tokens per prefill pass; longer prompts run in several passes
  int n_threads = 0;        // 0: OMP_NUM_THREADS, else all cores
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
  Result<const float*> prefill(const int32_t* ids, size_t n, float* all_logits = nullptr);
  // One token through the recurrent path; returns the logits [vocab] after it.
  Result<const float*> step(int32_t id);

  const float* logits() const;  // [vocab], from the last prefill/step
  int64_t n_past() const;       // tokens consumed since creation/reset
  void reset();                 // back to the empty state

  // Recurrent state of one layer, fp32, row-major:
  //   conv_state [d_conv - 1, conv_dim]: the last d_conv-1 raw conv inputs, oldest first
  //     (HF keeps d_conv columns as [conv_dim, d_conv]; its column 0 is never read again).
  //     conv_dim = d_inner (Mamba-1) or d_inner + 2 * n_groups * d_state (Mamba-2: x, B, C).
  //   ssm_state Mamba-1 [d_state, d_inner] (HF: [d_inner, d_state], transposed here so the scan
  //     vectorises across channels for any d_state); Mamba-2 [n_heads, head_dim, d_state] as HF.
  // Null for a layer outside [0, n_layer).
  const float* conv_state(int layer) const;
  const float* ssm_state(int layer) const;

  // The recurrent state as a blob (layout in core/state_blob.h: a 96-byte header with magic,
  // version, architecture, shape, a fingerprint of the weights, n_past and a checksum; then every
  // layer's conv and SSM state and the last logits). Restoring it reproduces the logits and
  // everything after them bit-exactly. The sampler's state (its random stream, the repetition
  // window) is not part of it. None of these allocate (except to word an error).
  size_t state_bytes() const;  // the blob's size for this model
  // Writes state_bytes() bytes to dst; fails if size is smaller.
  Status save_state(void* dst, size_t size) const;
  // Replaces the state with the blob's. Refuses, naming the reason and changing nothing, a blob
  // that is short, truncated, corrupt (checksum), of another version, or from a model of another
  // architecture, shape or weights.
  Status load_state(const void* src, size_t size);
  // Fork: this session continues exactly as `other` would (same model shape and weights; any
  // limits). Equivalent to other.save_state then load_state, without the blob.
  Status copy_state_from(const Session& other);

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
  Session();
  static Result<std::unique_ptr<Session>> create_in(std::shared_ptr<const Model> model,
                                                    const SessionLimits& limits, uint8_t* block,
                                                    bool owned);
  void forward(const int32_t* ids, int n, float* logits_rows);
  std::shared_ptr<const Model> model_;
  Buffers* buf_ = nullptr;  // inside the block
  int64_t n_past_ = 0;
  TapFn tap_ = nullptr;
  void* tap_user_ = nullptr;
};

}  // namespace mamba
