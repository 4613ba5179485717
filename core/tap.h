// Reports intermediate tensors to the session's TapFn, if one is set (tests, debugging).
#pragma once

#include <cstdint>

#include "mamba/session.h"

namespace mamba::detail {

struct Tap {
  TapFn fn = nullptr;
  void* user = nullptr;
  int layer = -1;
  int64_t row0 = 0;  // position of the chunk's first row in the sequence

  explicit operator bool() const { return fn != nullptr; }
  void operator()(const char* name, const float* data, int64_t rows, int64_t cols,
                  int64_t ld) const {
    if (fn) fn(user, name, layer, row0, data, int(rows), int(cols), int(ld));
  }
};

}  // namespace mamba::detail
