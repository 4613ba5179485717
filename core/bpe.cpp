#include "core/bpe.h"

#include <algorithm>

namespace mamba::detail {

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;  // load factor <= 1/2
  if (cap <= slots_.size()) return;
  std::vector<Entry> old = std::move(slots_);
  slots_.assign(cap, Entry{});
  mask_ = cap - 1;
  size_ = 0;
  for (const Entry& e : old)
    if (e.key != kEmpty) insert(int32_t(e.key >> 32), int32_t(uint32_t(e.key)), e.rank, e.id);
}

void MergeTable::grow() { reserve(std::max<size_t>(8, 2 * size_ + 2)); }

bool MergeTable::insert(int32_t left, int32_t right, int32_t rank, int32_t id) {
  if (2 * (size_ + 1) > slots_.size()) grow();
  const uint64_t key = pack(left, right);
  for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.key == key) {
      e.rank = rank;
      e.id = id;
      return false;
    }
    if (e.key == kEmpty) {
      e = Entry{key, rank, id};
      ++size_;
      return true;
    }
  }
}

namespace {
// std heap functions build a max-heap; "greater" = popped later: higher rank, then later position.
struct Later {
  template <class C>
  bool operator()(const C& a, const C& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};
}  // namespace

void BpeWorkspace::merge(const MergeTable& merges, std::vector<int32_t>& ids) {
  const auto n = int32_t(ids.size());
  if (n < 2) return;
  symbols_.resize(size_t(n));
  heap_.clear();
  for (int32_t i = 0; i < n; ++i) symbols_[size_t(i)] = {ids[size_t(i)], i - 1, i + 1 < n ? i + 1 : -1, true};
  for (int32_t i = 0; i + 1 < n; ++i)
    if (const auto* m = merges.find(ids[size_t(i)], ids[size_t(i + 1)]))
      heap_.push_back({m->rank, i, m->id});
  std::make_heap(heap_.begin(), heap_.end(), Later{});

  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    const Candidate top = heap_.back();
    heap_.pop_back();
    Symbol& left = symbols_[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    const Symbol right = symbols_[size_t(left.next)];
    // Stale if the pair at this position is no longer the one that was queued (HF compares the
    // merged id the same way).
    const auto* m = merges.find(left.id, right.id);
    if (!m || m->id != top.id) continue;

    symbols_[size_t(left.next)].alive = false;
    left.id = top.id;
    left.next = right.next;
    if (right.next >= 0) symbols_[size_t(right.next)].prev = top.pos;

    if (left.prev >= 0)
      if (const auto* p = merges.find(symbols_[size_t(left.prev)].id, left.id)) {
        heap_.push_back({p->rank, left.prev, p->id});
        std::push_heap(heap_.begin(), heap_.end(), Later{});
      }
    if (left.next >= 0)
      if (const auto* p = merges.find(left.id, symbols_[size_t(left.next)].id)) {
        heap_.push_back({p->rank, top.pos, p->id});
        std::push_heap(heap_.begin(), heap_.end(), Later{});
      }
  }

  ids.clear();
  for (int32_t i = 0; i >= 0; i = symbols_[size_t(i)].next) ids.push_back(symbols_[size_t(i)].id);
}

}  // namespace mamba::detail
