// Prompt prefill on a CUDA GPU, decode on the CPU. A GpuPrefill uploads a Model's weights to one
// GPU once and plans all the device memory it will use there (weights, recurrent state and the
// scratch of one pass of max_chunk tokens) in create(); prefill() then runs a prompt through the
// model on the GPU, continuing from a CPU Session's state, and leaves the final conv and SSM states
// and the last logits in that Session, so session.step() continues on the CPU. Nothing is
// allocated on the device after create().
//
// The class exists in every build. Without CMake's MAMBA_CUDA it does no GPU work: built() is
// false, device_count() is 0 and create() fails with a message saying so (the library then has
// no CUDA symbol and no CUDA dependency), so programs need no #ifdef to fall back to the CPU.
//
// A GpuPrefill is not thread-safe; use one per thread (each owns its device memory and stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "mamba/model.h"
#include "mamba/session.h"
#include "mamba/status.h"

namespace mamba {

// The type the projection weights (in_proj, x_proj, dt_proj, out_proj, embeddings/lm_head) are
// stored in on the GPU, and the projections' inputs are rounded to; products accumulate in fp32.
// Norm, conv and SSM parameters, the residual stream, the scan and all state stay fp32.
enum class GpuPrecision {
  bf16,  // tensor cores; the default (Ampere and newer, Jetson Orin included)
  f16,   // tensor cores; activations beyond +-65504 would overflow
  fp32,  // plain fp32 GEMMs (no TF32): as exact as the CPU path, for checking and debugging
};
const char* to_string(GpuPrecision p);  // "bf16", "f16", "fp32"

struct GpuLimits {
  int max_chunk = 2048;  // tokens per GPU pass; longer prompts run in several passes
  GpuPrecision precision = GpuPrecision::bf16;
  int device = 0;        // CUDA device ordinal
  // Plan a [max_chunk, vocab] logits buffer so prefill() can return the logits of every position
  // (otherwise only the last position's are computed).
  bool all_logits = false;
};

// Device bytes, by purpose; create() makes one allocation of total() bytes.
struct GpuMemory {
  size_t weights = 0;    // uploaded weights
  size_t state = 0;      // conv and SSM state of every layer
  size_t scratch = 0;    // activations of one pass
  size_t workspace = 0;  // cuBLAS workspace (handed to cuBLAS so it never allocates its own)
  size_t total() const { return weights + state + scratch + workspace; }
};

class GpuPrefill {
 public:
  static bool built();       // compiled with MAMBA_CUDA
  static int device_count(); // CUDA devices usable now; 0 without CUDA, driver or device

  // The device memory create() would allocate for this model and these limits (no GPU needed).
  static Result<GpuMemory> plan(const Model& model, const GpuLimits& limits = {});
  static Result<std::unique_ptr<GpuPrefill>> create(std::shared_ptr<const Model> model,
                                                    const GpuLimits& limits = {});

  // Runs ids[0, n) through the model on the GPU, continuing from `session`'s current state (which
  // must belong to the same Model), in passes of max_chunk tokens. On success the session holds
  // the final conv and SSM states and the logits after the last token, its n_past() has grown by
  // n, and the logits [vocab] are returned; with all_logits (needs GpuLimits::all_logits) every
  // position's logits are written there, row-major [n, vocab]. On failure (bad id, CUDA error)
  // the session is unchanged and the message says what failed where. A CUDA or cuBLAS error is
  // sticky (the device context may be lost): every later call fails with it; create a new one.
  Result<const float*> prefill(Session& session, const int32_t* ids, size_t n,
                               float* all_logits = nullptr);
  // The same into one slot of a multi-sequence session (the call above is slot 0).
  Result<const float*> prefill(Session& session, int slot, const int32_t* ids, size_t n,
                               float* all_logits = nullptr);

  const GpuMemory& memory() const;
  const std::string& device_name() const;  // e.g. "NVIDIA H100 80GB HBM3 (sm_90)"
  const GpuLimits& limits() const;

  ~GpuPrefill();
  GpuPrefill(const GpuPrefill&) = delete;
  GpuPrefill& operator=(const GpuPrefill&) = delete;

  struct Impl;  // internal

 private:
  explicit GpuPrefill(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mamba
