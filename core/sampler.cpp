// Sampling: repetition penalty, temperature, then top-k, top-p (nucleus) and min-p over the
// survivors, then one draw from a seeded splitmix64 stream (portable, so a seed gives the same
// tokens on every platform).
#include "mamba/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace mamba {

Result<Sampler> Sampler::create(int vocab_size, const SamplerParams& p) {
  if (vocab_size < 1) return Status::error("Sampler: vocab_size must be positive");
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
    return Status::error("Sampler: temperature must be a finite number >= 0, got " +
                         std::to_string(p.temperature));
  if (p.top_k < 0) return Status::error("Sampler: top_k must be >= 0, got " + std::to_string(p.top_k));
  if (!(p.top_p > 0 && p.top_p <= 1))
    return Status::error("Sampler: top_p must be in (0, 1], got " + std::to_string(p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1))
    return Status::error("Sampler: min_p must be in [0, 1], got " + std::to_string(p.min_p));
  if (!(p.repetition_penalty > 0) || !std::isfinite(p.repetition_penalty))
    return Status::error("Sampler: repetition_penalty must be a finite number > 0, got " +
                         std::to_string(p.repetition_penalty));
  if (p.repeat_last_n < 0 || p.repeat_last_n > (1 << 16) - 1)
    return Status::error("Sampler: repeat_last_n must be in [0, 65535], got " +
                         std::to_string(p.repeat_last_n));
  Sampler s;
  s.params_ = p;
  s.vocab_ = vocab_size;
  s.rng_ = p.seed;
  s.order_.resize(size_t(vocab_size));
  s.probs_.resize(size_t(vocab_size));
  if (p.repetition_penalty != 1.0f) {
    s.seen_.assign(size_t(vocab_size), 0);
    s.recent_.assign(size_t(p.repeat_last_n), 0);
  }
  return s;
}

void Sampler::accept(int32_t id) {
  if (recent_.empty() || id < 0 || id >= vocab_) return;
  if (recent_n_ == recent_.size()) --seen_[size_t(recent_[recent_at_])];  // evict the oldest
  else ++recent_n_;
  recent_[recent_at_] = id;
  ++seen_[size_t(id)];
  recent_at_ = (recent_at_ + 1) % recent_.size();
}

float Sampler::logit(const float* logits, int32_t id) const {
  const float l = logits[id];
  if (seen_.empty() || !seen_[size_t(id)]) return l;
  return l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
}

double Sampler::uniform() {
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(const float* logits) {
  const int V = vocab_;
  if (params_.temperature == 0.0f) {  // greedy; ties go to the lowest id, like torch.argmax
    // Without a penalty a plain scan (max_element keeps the first maximum); with one, the
    // penalised logit of the best so far is kept rather than recomputed per comparison.
    if (seen_.empty()) return int32_t(std::max_element(logits, logits + V) - logits);
    int32_t best = 0;
    float best_logit = logit(logits, 0);
    for (int32_t i = 1; i < V; ++i) {
      const float l = logit(logits, i);
      if (l > best_logit) best = i, best_logit = l;
    }
    return best;
  }

  // Candidates: all ids, or the k largest (ties broken by id so the order is deterministic).
  int32_t* ids = order_.data();
  std::iota(ids, ids + V, 0);
  const auto by_logit = [this, logits](int32_t a, int32_t b) {
    const float la = logit(logits, a), lb = logit(logits, b);
    return la > lb || (la == lb && a < b);
  };
  int n = V;
  if (params_.top_k > 0 && params_.top_k < V) {
    n = params_.top_k;
    std::nth_element(ids, ids + n, ids + V, by_logit);
  }
  const bool nucleus = params_.top_p < 1.0f;
  if (nucleus) std::sort(ids, ids + n, by_logit);

  // Softmax of logits / temperature over the candidates, in double for the sums.
  float max_logit = logit(logits, ids[0]);
  for (int i = 1; i < n; ++i) max_logit = std::max(max_logit, logit(logits, ids[i]));
  double total = 0;
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    // probs relative to the most likely (which is 1), so min-p compares with min_p directly.
    const float p = std::exp((logit(logits, ids[i]) - max_logit) / params_.temperature);
    if (p < params_.min_p) continue;  // keeps the order, so a sorted list stays sorted
    ids[kept] = ids[i];
    probs_[size_t(kept++)] = p;
    total += p;
  }
  n = kept;
  if (nucleus) {  // keep the smallest prefix whose mass reaches top_p (at least one token)
    double mass = 0;
    int keep = 0;
    while (keep < n && mass < params_.top_p * total) mass += probs_[size_t(keep++)];
    n = std::max(keep, 1);
    total = mass;
  }
  double r = uniform() * total;
  for (int i = 0; i < n; ++i) {
    r -= probs_[size_t(i)];
    if (r < 0) return ids[i];
  }
  return ids[n - 1];
}

}  // namespace mamba
