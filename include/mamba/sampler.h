// Turns logits into a token id: greedy (temperature 0) or seeded sampling with temperature, top-k
// and top-p. All scratch is allocated in the constructor; sample() never allocates.
#pragma once

#include <cstdint>
#include <vector>

#include "mamba/status.h"

namespace mamba {

struct SamplerParams {
  float temperature = 0.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = all tokens
  float top_p = 1.0f;        // 1 = no nucleus cut
  uint64_t seed = 0;
};

class Sampler {
 public:
  static Result<Sampler> create(int vocab_size, const SamplerParams& params);
  int32_t sample(const float* logits);  // logits [vocab]
  Sampler() = default;

 private:
  double uniform();  // [0, 1)
  SamplerParams params_;
  int vocab_ = 0;
  uint64_t rng_ = 0;
  std::vector<int32_t> order_;  // [vocab] candidate ids
  std::vector<float> probs_;    // [vocab] softmax over the candidates
};

}  // namespace mamba
