// The BPE model: merges applied to one pre-tokenized word, exactly in the order Hugging Face
// tokenizers applies them (its Word::merge_all): a min-heap of candidate pairs ordered by (merge
// rank, position), stale entries skipped when popped, new pairs pushed as symbols merge. This is
// "always merge the lowest-ranked adjacent pair, leftmost on ties", in O(n log n) per word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mamba::detail {

// (left id, right id) -> (rank, merged id), open addressing: the merge loop does one lookup per
// candidate pair, so this is the hot table of encoding.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t id = 0;
  };
  void reserve(size_t n);
  // Returns false if the pair was already present; the later entry wins, as in HF (its merges
  // are collected into a map, so a repeated pair keeps the rank of its last occurrence).
  bool insert(int32_t left, int32_t right, int32_t rank, int32_t id);
  const Entry* find(int32_t left, int32_t right) const {
    const uint64_t key = pack(left, right);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static uint64_t pack(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  static size_t hash(uint64_t k) { return size_t((k * 0x9E3779B97F4A7C15ull) >> 20); }
  void grow();
  std::vector<Entry> slots_;
  size_t mask_ = 0, size_ = 0;
};

// Reusable scratch of the merge loop (one per encode call; grows to the longest word).
class BpeWorkspace {
 public:
  // Merges the symbols `ids` (the word's initial tokens) in place; returns the merged ids.
  void merge(const MergeTable& merges, std::vector<int32_t>& ids);

 private:
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // -1 at the ends
    bool alive;
  };
  struct Candidate {
    int32_t rank, pos, id;
  };
  std::vector<Symbol> symbols_;
  std::vector<Candidate> heap_;
};

}  // namespace mamba::detail
