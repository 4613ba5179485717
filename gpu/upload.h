// Reading a Model's weights for the GPU: the one place that knows how core/weights.h stores them.
// Projections, embedding and lm_head are simd::Matrix in the model's weight type (f32, bf16, f16,
// q8, q4); each is read back a block of rows at a time as the exact fp32 values it stands for
// (detail::dequantize_row, as the CPU prefill's tiles do), then rounded to the device type. An f32
// matrix going to an f32 device buffer is copied as it is. The host staging is small and reused,
// so the host never holds a second copy of the model.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/quantize.h"
#include "gpu/device_math.h"
#include "simd/matrix.h"

namespace mamba::gpu {

// Host floats per staging block (4 MiB of fp32).
constexpr int64_t kStagingFloats = int64_t(1) << 20;

// Reused host buffers for the conversion.
struct Staging {
  std::vector<float> rows;     // [block rows, cols] fp32
  std::vector<uint16_t> half;  // [block rows, cols] 16-bit
};

// dst (device) [rows, cols] of type t = w, rounded to nearest even.
template <class Exec>
void upload_matrix(Exec& ex, void* dst, DType t, const simd::Matrix& w, Staging& st) {
  const int64_t rows = w.rows, cols = w.cols;
  if (t == DType::f32 && w.type == WeightType::f32) {  // rows are contiguous: one copy
    ex.upload(dst, w.data, size_t(rows * cols) * sizeof(float));
    return;
  }
  const int64_t block = std::max<int64_t>(1, kStagingFloats / std::max<int64_t>(cols, 1));
  st.rows.resize(size_t(std::min(rows, block) * cols));
  if (t != DType::f32) st.half.resize(st.rows.size());
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t nr = std::min(block, rows - r0), n = nr * cols;
    for (int64_t r = 0; r < nr; ++r) detail::dequantize_row(w, r0 + r, st.rows.data() + r * cols);
    if (t == DType::f32) {
      ex.upload(static_cast<float*>(dst) + r0 * cols, st.rows.data(), size_t(n) * sizeof(float));
      continue;
    }
    for (int64_t i = 0; i < n; ++i)
      st.half[size_t(i)] = t == DType::bf16 ? bf16_bits(st.rows[size_t(i)]) : f16_bits(st.rows[size_t(i)]);
    ex.upload(static_cast<uint16_t*>(dst) + r0 * cols, st.half.data(), size_t(n) * 2);
  }
}

// A small fp32 parameter (norms, conv, A, D, biases) as it is.
template <class Exec>
void upload_vector(Exec& ex, float* dst, const float* w, int64_t n) {
  ex.upload(dst, w, size_t(n) * sizeof(float));
}

}  // namespace mamba::gpu
