// An immutable model: config + weights. Load once, share between any number of Sessions (a Model
// is never written after load, so concurrent Sessions need no locking).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mamba/config.h"
#include "mamba/status.h"
#include "mamba/weight_type.h"

namespace mamba {

namespace detail { struct Weights; }

// The bytes of one safetensors file in the caller's memory (embedded in the binary, read from
// flash, received over a link, or mapped by the caller).
struct SafetensorsRegion {
  const void* data = nullptr;
  size_t size = 0;
};

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
  // The same checkpoint from memory, no filesystem needed: config.json's text and the bytes of
  // model.safetensors, or of every shard in any order (no index file). Checked exactly as load()
  // checks files; errors name "safetensors region i". With f32 weights, aligned F32 tensors are
  // used in place: the caller must then keep those bytes alive and unchanged for as long as the
  // Model (and any Session using it) lives. With other weight types everything is converted, and
  // the bytes may be freed on return; config_json may always be.
  static Result<std::shared_ptr<const Model>> load_from_memory(
      std::string_view config_json, const std::vector<SafetensorsRegion>& safetensors,
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
  // Config and checkpoint from `open`, then every tensor bound; no exception escapes.
  static Result<std::shared_ptr<const Model>> load_with(
      const std::string& where, const std::function<Status(detail::Weights&)>& open);
  std::unique_ptr<detail::Weights> weights_;
};

}  // namespace mamba
