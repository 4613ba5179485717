#include "core/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <vector>

#include "simd/half.h"

namespace mamba::detail {

using simd::kBlock;
using simd::Matrix;

namespace {

// Block scale: the f16 that `scale` rounds to, or false if it overflows f16.
bool block_scale(float scale, uint16_t* d16, float* d) {
  *d16 = simd::f32_to_f16(scale);
  *d = simd::f16_to_f32(*d16);
  return std::isfinite(*d);
}

// One row's blocks; x is the row zero-padded to kp. q8: u = q + 128 with q in [-127, 127];
// q4: u = q + 8 with q in [-8, 7], two per byte (columns j and j + 16 of the block).
bool quantize_row(const float* x, int64_t kp, WeightType type, uint8_t* u, uint16_t* scales) {
  for (int64_t b = 0; b * kBlock < kp; ++b) {
    const float* xb = x + b * kBlock;
    // q8: amax / 127. q4 (as llama.cpp's q4_0): the value of largest magnitude maps to -8
    // exactly, so the scale carries its sign and the 16 levels cover that side fully.
    float amax = 0.0f, extreme = 0.0f;
    for (int j = 0; j < kBlock; ++j) {
      if (!std::isfinite(xb[j])) return false;  // no scale stands for inf or NaN
      if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), extreme = xb[j];
    }
    float d;
    if (!block_scale(type == WeightType::q8 ? amax / 127.0f : extreme / -8.0f, &scales[b], &d))
      return false;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int q[kBlock];
    for (int j = 0; j < kBlock; ++j)
      q[j] = std::clamp(int(simd::round_even(xb[j] * id)), type == WeightType::q8 ? -127 : -8,
                        type == WeightType::q8 ? 127 : 7);
    if (type == WeightType::q8) {
      for (int j = 0; j < kBlock; ++j) u[b * kBlock + j] = uint8_t(q[j] + 128);
    } else {
      for (int j = 0; j < kBlock / 2; ++j)
        u[b * kBlock / 2 + j] = uint8_t((q[j] + 8) | ((q[j + kBlock / 2] + 8) << 4));
    }
  }
  return true;
}

}  // namespace

int64_t convert_rows(const float* src, const Matrix& m, int64_t r0, int64_t n) {
  const int64_t cols = m.cols, kp = m.kp(), nb = m.blocks();
  std::vector<float> row(size_t(m.quantized() ? kp : 0));  // one zero-padded row
  // rows16: a row's bytes and scales as row-major holds them, then scattered into their groups.
  std::vector<uint8_t> bytes(m.rows16 ? m.row_bytes() : 0);
  std::vector<uint16_t> scales(size_t(m.rows16 ? nb : 0));
  for (int64_t r = r0; r < r0 + n; ++r) {
    const float* x = src + (r - r0) * cols;
    switch (m.type) {
      case WeightType::f32:
        std::memcpy(const_cast<float*>(m.row<float>(r)), x, size_t(cols) * sizeof(float));
        break;
      case WeightType::bf16: {
        auto* dst = const_cast<uint16_t*>(m.row<uint16_t>(r));
        for (int64_t j = 0; j < cols; ++j) dst[j] = simd::f32_to_bf16(x[j]);
        break;
      }
      case WeightType::f16: {
        auto* dst = const_cast<uint16_t*>(m.row<uint16_t>(r));
        for (int64_t j = 0; j < cols; ++j) {
          dst[j] = simd::f32_to_f16(x[j]);
          if ((dst[j] & 0x7c00u) == 0x7c00u && std::isfinite(x[j])) return r;  // beyond +-65504
        }
        break;
      }
      case WeightType::q8:
      case WeightType::q4: {
        std::copy(x, x + cols, row.begin());
        uint8_t* u = m.rows16 ? bytes.data() : const_cast<uint8_t*>(m.row<uint8_t>(r));
        uint16_t* s = m.rows16 ? scales.data() : const_cast<uint16_t*>(m.scales) + r * nb;
        if (!quantize_row(row.data(), kp, m.type, u, s)) return r;
        if (m.rows16)
          for (int64_t b = 0; b < nb; ++b) {
            for (int k = 0; k < m.chunks(); ++k)
              std::memcpy(const_cast<uint8_t*>(m.chunk(r, b, k)), u + (b * m.chunks() + k) * 4, 4);
            const_cast<uint16_t*>(m.scales)[m.scale_index(r, b)] = s[b];
          }
        break;
      }
    }
  }
  return -1;
}

void dequantize_row(const Matrix& m, int64_t r, float* out) {
  const int64_t cols = m.cols;
  switch (m.type) {
    case WeightType::f32:
      std::memcpy(out, m.row<float>(r), size_t(cols) * sizeof(float));
      return;
    case WeightType::bf16:
      for (int64_t j = 0; j < cols; ++j) out[j] = simd::bf16_to_f32(m.row<uint16_t>(r)[j]);
      return;
    case WeightType::f16:
      for (int64_t j = 0; j < cols; ++j) out[j] = simd::f16_to_f32(m.row<uint16_t>(r)[j]);
      return;
    case WeightType::q8:
    case WeightType::q4: {
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t b = j / kBlock, i = j % kBlock;
        int q;
        const int64_t c = m.type == WeightType::q8 ? i : i % (kBlock / 2);  // its byte in the block
        const uint8_t byte = m.chunk(r, b, int(c / 4))[c % 4];
        if (m.type == WeightType::q8) q = int(byte) - 128;
        else q = int(i < kBlock / 2 ? byte & 15 : byte >> 4) - 8;
        out[j] = float(q) * simd::f16_to_f32(m.scales[m.scale_index(r, b)]);
      }
      return;
    }
  }
}

}  // namespace mamba::detail
