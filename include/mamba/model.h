// An immutable model: config + weights. Load once, share between any number of Sessions (a Model
// is never written after load, so concurrent Sessions need no locking).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "mamba/config.h"
#include "mamba/status.h"

namespace mamba {

namespace detail { struct Weights; }

class Model {
 public:
  // Loads a Hugging Face checkpoint directory: config.json plus model.safetensors, or shards listed
  // in model.safetensors.index.json. F32 tensors are used in place from the mmap'd file; F16 and
  // BF16 tensors are widened to fp32 once, here.
  static Result<std::shared_ptr<const Model>> load(const std::string& dir);

  const Config& config() const;
  // Bytes of weights the model reads per token (what decode streams from memory).
  size_t weight_bytes() const;

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const detail::Weights& weights() const { return *weights_; }  // internal use

 private:
  Model();
  std::unique_ptr<detail::Weights> weights_;
};

}  // namespace mamba
