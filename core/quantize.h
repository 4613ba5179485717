// Conversion of fp32 weights into the other weight types (at load), the scalar reference for
// reading them back. (Activations are quantized by the kernel set: Kernels::quantize_rows.)
#pragma once

#include <cstdint>

#include "simd/matrix.h"

namespace mamba::detail {

// Writes rows [r0, r0 + n) of m from src [n, cols] in `m.type` and m's layout, into m.data /
// m.scales (m.bytes() of memory, zeroed, so a rows16 matrix's padding rows stay zero). Returns
// -1, or the first row (of m) holding a value the type cannot represent (beyond f16's range, or a
// block scale beyond it): such weights are rejected rather than silently clipped.
int64_t convert_rows(const float* src, const simd::Matrix& m, int64_t r0, int64_t n);
// All of m's rows from src [rows, cols].
inline int64_t convert_matrix(const float* src, const simd::Matrix& m) {
  return convert_rows(src, m, 0, m.rows);
}

// Row r of m as fp32 [cols] (the exact value each stored weight stands for).
void dequantize_row(const simd::Matrix& m, int64_t r, float* out);

}  // namespace mamba::detail
