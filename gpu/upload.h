// Reading a Model's weights for the GPU: the one place that knows how core/weights.h stores them
// (fp32 row-major today). A matrix is converted to the device type a block of rows at a time
// through a small host staging buffer, so the host needs no second copy of the model.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gpu/device_math.h"

namespace mamba::gpu {

// Host floats per staging block (4 MiB of fp32).
constexpr int64_t kStagingFloats = int64_t(1) << 20;

// dst (device) [rows, cols] of type t = w [rows, cols] fp32, rounded to nearest even.
template <class Exec>
void upload_matrix(Exec& ex, void* dst, DType t, const float* w, int64_t rows, int64_t cols,
                   std::vector<uint16_t>& staging) {
  if (t == DType::f32) {
    ex.upload(dst, w, size_t(rows * cols) * sizeof(float));
    return;
  }
  const int64_t block = std::max<int64_t>(1, kStagingFloats / cols);
  staging.resize(size_t(std::min(rows, block) * cols));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t n = std::min(block, rows - r0) * cols;
    const float* src = w + r0 * cols;
    for (int64_t i = 0; i < n; ++i)
      staging[size_t(i)] = t == DType::bf16 ? bf16_bits(src[i]) : f16_bits(src[i]);
    ex.upload(static_cast<uint16_t*>(dst) + r0 * cols, staging.data(), size_t(n) * 2);
  }
}

// A small fp32 parameter (norms, conv, A, D, biases) as it is.
template <class Exec>
void upload_vector(Exec& ex, float* dst, const float* w, int64_t n) {
  ex.upload(dst, w, size_t(n) * sizeof(float));
}

}  // namespace mamba::gpu
