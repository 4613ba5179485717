// An immutable model: config + weights. Load once, share between any number of Sessions (a Model
// is never written after load, so concurrent Sessions need no locking).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "mamba/config.h"
#include "mamba/status.h"
#include "mamba/weight_type.h"

namespace mamba {

namespace detail { struct Weights; }

struct LoadOptions {
  // The type the projections, the embedding and the lm_head are held in, converted at load from
  // whatever the checkpoint stores.
  WeightType weights = WeightType::f32;
};

class Model {
 public:
  // Loads a Hugging Face checkpoint directory: config.json plus model.safetensors, or shards listed
  // in model.safetensors.index.json. With f32 weights, F32 matrices are used in place from the
  // mmap'd file; anything else is converted once, here, into memory the Model owns (and the file
  // is unmapped when nothing points into it any more).
  static Result<std::shared_ptr<const Model>> load(const std::string& dir,
                                                   const LoadOptions& options = {});

  const Config& config() const;
  WeightType weight_type() const;
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
