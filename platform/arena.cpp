#include "platform/arena.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace mamba::platform {

void AlignedFree::operator()(void* p) const { std::free(p); }

AlignedBlock aligned_alloc_zeroed(size_t bytes) {
  const size_t n = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, n ? n : kAlign);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, n);
  return AlignedBlock(static_cast<uint8_t*>(p));
}

}  // namespace mamba::platform
