// Conversion of fp32 weights into the other weight types (at load), the scalar reference for
// reading them back. (Activations are quantized by the kernel set: Kernels::quantize_rows.)
#pragma once

#include <cstdint>

#include "simd/matrix.h"

namespace mamba::detail {

// Writes src [rows, cols] in `m.type` into m.data / m.scales (sized by m.row_bytes()/blocks()).
// Returns -1, or the first row holding a value the type cannot represent (beyond f16's range, or
// a block scale beyond it): such weights are rejected rather than silently clipped.
int64_t convert_matrix(const float* src, const simd::Matrix& m);

// Row r of m as fp32 [cols] (the exact value each stored weight stands for).
void dequantize_row(const simd::Matrix& m, int64_t r, float* out);

}  // namespace mamba::detail
