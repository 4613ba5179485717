// Turns logits into a token id: greedy (temperature 0) or seeded sampling with temperature, top-k,
// top-p and min-p, after an optional repetition penalty over the last tokens seen. All scratch is
// allocated in create(); sample() and accept() never allocate.
#pragma once

#include <cstdint>
#include <vector>

#include "mamba/status.h"

namespace mamba {

struct SamplerParams {
  float temperature = 0.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = all tokens
  float top_p = 1.0f;        // 1 = no nucleus cut
  float min_p = 0.0f;        // drop tokens less likely than min_p * the most likely; 0 = off
  // HF/CTRL repetition penalty on tokens among the last repeat_last_n accepted ones: a positive
  // logit is divided by it, a negative one multiplied. 1 = off.
  float repetition_penalty = 1.0f;
  int repeat_last_n = 64;
  uint64_t seed = 0;
};

class Sampler {
 public:
  static Result<Sampler> create(int vocab_size, const SamplerParams& params);
  int32_t sample(const float* logits);  // logits [vocab]
  // Records a token of the sequence (prompt and generated) for the repetition penalty.
  void accept(int32_t id);
  Sampler() = default;

 private:
  double uniform();  // [0, 1)
  float logit(const float* logits, int32_t id) const;  // after the repetition penalty
  SamplerParams params_;
  int vocab_ = 0;
  uint64_t rng_ = 0;
  std::vector<int32_t> order_;  // [vocab] candidate ids
  std::vector<float> probs_;    // [vocab] softmax over the candidates
  std::vector<uint16_t> seen_;  // [vocab] occurrences among the recent tokens
  std::vector<int32_t> recent_; // [repeat_last_n] ring of the last accepted tokens
  size_t recent_at_ = 0, recent_n_ = 0;
};

}  // namespace mamba
