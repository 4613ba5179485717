// A weight matrix [rows, cols], row-major, in one of the weight types, as the kernels read it;
// and an activation vector quantized for the q8/q4 dot products.
//
// Block formats (kBlock = 32 columns; a row is padded with zeros to kp = cols rounded up to 32):
//   q8: data uint8 [rows, kp]     value = (u - 128) * scale, u in [1, 255]
//   q4: data uint8 [rows, kp / 2] byte j of block b holds column b*32+j in its low nibble and
//       column b*32+j+16 in its high one; value = (u - 8) * scale, u in [0, 15]
//   scales: f16 [rows, kp / 32], one a block
//   rows16 (q8 and q4; the AVX-512 and AVX2 sets' layout, chosen at load): rows in groups of 16, the
//       last padded with zero rows; data uint8 [rows / 16][blocks][chunks][16 rows][4 bytes],
//       chunk k of a row's block being bytes 4k..4k+3 of its bytes above (q8: 8 chunks, columns
//       4k..4k+3; q4: 4, columns 4k..4k+3 low and 16+4k..16+4k+3 high); scales f16
//       [rows / 16][blocks][16 rows]. One 64-byte vector then holds 4 columns of 16 rows: a
//       vpdpbusd against 4 of x's bytes broadcast gives the 16 rows' sums in 16 lanes, so
//       decode's GEMV needs no horizontal sums and scales 16 rows' block at once.
// The values are stored with an offset (unsigned) so the integer dot products can use the
// unsigned x signed byte instructions (VNNI vpdpbusd, vpmaddubsw) directly; the offset comes back
// out through the per-block sum of the activations.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mamba/weight_type.h"

namespace mamba::simd {

constexpr int kBlock = 32;

inline int64_t padded_cols(int64_t cols) { return (cols + kBlock - 1) / kBlock * kBlock; }

struct Matrix {
  WeightType type = WeightType::f32;
  int64_t rows = 0, cols = 0;
  const void* data = nullptr;        // f32: float; bf16/f16: uint16; q8/q4: uint8 (see above)
  const uint16_t* scales = nullptr;  // q8/q4: f16 [rows, padded_cols / 32] (or rows16's order)
  bool rows16 = false;               // q8/q4 only: the 16-row groups above

  int64_t kp() const { return padded_cols(cols); }
  int64_t blocks() const { return kp() / kBlock; }
  bool quantized() const { return type == WeightType::q8 || type == WeightType::q4; }
  // Rows held in memory: rows16 pads the last group with zero rows.
  int64_t stored_rows() const { return rows16 ? (rows + 15) / 16 * 16 : rows; }
  // Bytes of one row's values, and of the whole matrix with its scales.
  size_t row_bytes() const;
  size_t bytes() const { return size_t(stored_rows()) * row_bytes() + (quantized() ? scale_bytes() : 0); }
  size_t scale_bytes() const { return size_t(stored_rows() * blocks()) * sizeof(uint16_t); }
  // Points data and scales into mem (bytes() of it): the values, then the scales.
  void place(uint8_t* mem) {
    data = mem;
    if (quantized()) scales = reinterpret_cast<const uint16_t*>(mem + size_t(stored_rows()) * row_bytes());
  }
  // Row r of a row-major layout (not rows16).
  template <class T> const T* row(int64_t r) const {
    return reinterpret_cast<const T*>(static_cast<const uint8_t*>(data) + size_t(r) * row_bytes());
  }
  // q8/q4, either layout: bytes 4k..4k+3 (chunk k) of row r's block b.
  int chunks() const { return type == WeightType::q8 ? kBlock / 4 : kBlock / 8; }
  const uint8_t* chunk(int64_t r, int64_t b, int k) const {
    const auto* u = static_cast<const uint8_t*>(data);
    if (!rows16) return u + size_t(r) * row_bytes() + size_t(b * chunks() + k) * 4;
    return u + ((size_t(r / 16) * size_t(blocks()) + size_t(b)) * size_t(chunks()) + size_t(k)) * 64 +
           size_t(r % 16) * 4;
  }
  // Index into scales of row r's block b, either layout.
  int64_t scale_index(int64_t r, int64_t b) const {
    return rows16 ? ((r / 16) * blocks() + b) * 16 + r % 16 : r * blocks() + b;
  }
};

// An fp32 matrix over existing memory.
inline Matrix f32_matrix(const float* w, int64_t rows, int64_t cols) {
  return Matrix{WeightType::f32, rows, cols, w, nullptr};
}

inline size_t Matrix::row_bytes() const {
  switch (type) {
    case WeightType::f32: return size_t(cols) * 4;
    case WeightType::bf16:
    case WeightType::f16: return size_t(cols) * 2;
    case WeightType::q8: return size_t(kp());
    case WeightType::q4: return size_t(kp()) / 2;
  }
  return 0;
}

// Activation rows x [T, cols] quantized in blocks of 32 for the q8/q4 products, row t at
// q + t * kp and its blocks at d/sum/isum + t * (kp / 32):
//   x[j] ~= q[j] * d[j / 32];  isum[b] = sum of q over block b;  sum[b] = d[b] * isum[b]
// (the sums fold the weights' storage offset back out). Decode's matvec reads row 0; the integer
// GEMM of a prefill chunk reads every row.
struct QuantizedX {
  int8_t* q = nullptr;       // [T, kp], zero beyond cols
  float* d = nullptr;        // [T, kp / 32]
  float* sum = nullptr;      // [T, kp / 32]
  int32_t* isum = nullptr;   // [T, kp / 32]
  int64_t kp = 0;            // padded_cols(cols): the row stride of q
  QuantizedX row(int64_t t) const {
    const int64_t nb = kp / kBlock;
    return {q + t * kp, d + t * nb, sum + t * nb, isum + t * nb, kp};
  }
};

}  // namespace mamba::simd
