// A Session runs one sequence through a shared Model. All memory it will ever use (recurrent state
// and the scratch of one prefill chunk) is planned and allocated in create(); prefill() and step()
// never allocate. A Session is not thread-safe; use one per thread.
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
};

// Observer of intermediate tensors (tests, debugging). Called with a name such as "hidden",
// "in_proj_out", a layer index (-1 for model-level tensors) and a row-major [rows, cols] block
// holding rows [row0, row0 + rows) of the current prefill. Null by default: costs nothing.
using TapFn = void (*)(void* user, const char* name, int layer, int64_t row0, const float* data,
                       int rows, int cols, int ld);

class Session {
 public:
  // Bytes that create() allocates for this model and these limits, known before anything exists.
  static size_t required_bytes(const Model& model, const SessionLimits& limits);
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionLimits& limits = {});

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
  const float* conv_state(int layer) const;
  const float* ssm_state(int layer) const;

  size_t bytes() const;  // what create() allocated
  const Model& model() const { return *model_; }
  void set_tap(TapFn fn, void* user) { tap_ = fn; tap_user_ = user; }

  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  struct Buffers;  // internal

 private:
  friend struct detail::SessionAccess;
  Session();
  void forward(const int32_t* ids, int n, float* logits_rows);
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Buffers> buf_;
  int64_t n_past_ = 0;
  TapFn tap_ = nullptr;
  void* tap_user_ = nullptr;
};

}  // namespace mamba
