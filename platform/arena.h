// Memory planned once: an ArenaPlan hands out aligned offsets for every buffer a session needs,
// its total is the one allocation made, and views are carved from it. Planning and carving run the
// same code, so required_bytes() and create() cannot disagree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mamba::platform {

constexpr size_t kAlign = 64;  // a cache line; also the widest vector (AVX-512)

class ArenaPlan {
 public:
  // Reserves `count` floats; returns the offset in bytes.
  size_t floats(size_t count) { return bytes(count * sizeof(float)); }
  size_t bytes(size_t n) {
    const size_t off = total_;
    total_ += (n + kAlign - 1) / kAlign * kAlign;
    return off;
  }
  size_t total() const { return total_; }

 private:
  size_t total_ = 0;
};

// One zero-filled, kAlign-aligned block.
struct AlignedFree {
  void operator()(void* p) const;
};
using AlignedBlock = std::unique_ptr<uint8_t[], AlignedFree>;
AlignedBlock aligned_alloc_zeroed(size_t bytes);

}  // namespace mamba::platform
