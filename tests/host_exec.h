// A CPU stand-in for the GPU, for testing gpu/engine.h where there is no GPU: the device block is
// host memory, a body launch is a loop over its indices and a GEMM is a naive triple loop with the
// row-major semantics of gpu/gemm.h (fp32 accumulate, 16-bit operands widened exactly).
// Stricter than a GPU in three ways, to catch what would be silent there:
//   - the block starts filled with NaN (also NaN as bf16 and f16), so reading anything not written
//     first poisons the results;
//   - bodies run in descending index order, so a body that depends on another of the same launch
//     (which a GPU would run in any order) gives different results than its intended order;
//   - every GEMM is checked (sizes, leading dimensions, extents inside the block), and the planned
//     guard gaps between buffers can be checked for stray writes after a run.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpu/gemm.h"
#include "mamba/status.h"

namespace mamba::test {

class HostExec {
 public:
  static constexpr uint32_t kPoison = 0x7fc07fc0u;  // NaN as f32, and each half NaN as bf16/f16

  Status allocate(size_t total, size_t, size_t) {
    words_.reset(new uint32_t[(total + 3) / 4]);
    for (size_t i = 0; i < (total + 3) / 4; ++i) words_[i] = kPoison;
    bytes_ = total;
    return Status();
  }

  uint8_t* base() const { return reinterpret_cast<uint8_t*>(words_.get()); }
  size_t bytes() const { return bytes_; }
  void set_layer(int layer) { layer_ = layer; }
  int64_t launches() const { return launches_; }
  int64_t gemms() const { return gemms_; }

  template <class Body>
  void for_each(const char*, int64_t n, const Body& body) {
    if (!st_.ok() || n <= 0) return;
    ++launches_;
    for (int64_t i = n - 1; i >= 0; --i) body(i);
  }

  void gemm(const char* what, const gpu::Gemm& g) {
    if (!st_.ok()) return;
    std::string bad = gpu::gemm_check(g);
    if (bad.empty()) bad = gpu::gemm_bounds(g, base(), bytes_);
    if (!bad.empty()) {
      st_ = Status::error(std::string(what) + " (layer " + std::to_string(layer_) +
                          "): invalid GEMM: " + bad);
      return;
    }
    ++gemms_;
    switch (g.ab) {
      case gpu::DType::f32: product<float>(g, [](float v) { return v; }); break;
      case gpu::DType::bf16: product<uint16_t>(g, gpu::bf16_float); break;
      case gpu::DType::f16: product<uint16_t>(g, gpu::f16_float); break;
    }
  }

  void upload(void* dst, const void* src, size_t bytes) { copy_checked(dst, src, bytes, dst); }
  void download(void* dst, const void* src, size_t bytes) { copy_checked(dst, src, bytes, src); }
  void copy(void* dst, const void* src, size_t bytes) {
    copy_checked(dst, src, bytes, dst);
    copy_checked(dst, src, bytes, src);
  }
  Status finish() { return st_; }

  // The first byte of a planned guard gap that is no longer poison, or -1.
  int64_t first_guard_overwritten(const std::vector<std::pair<size_t, size_t>>& guards) const {
    const uint8_t* b = base();
    uint8_t pattern[4];
    std::memcpy(pattern, &kPoison, 4);
    for (const auto& [off, n] : guards)
      for (size_t i = off; i < off + n && i < bytes_; ++i)
        if (b[i] != pattern[i % 4]) return int64_t(i);
    return -1;
  }

 private:
  // Copies after checking that the device side [dev, dev + bytes) is inside the block.
  void copy_checked(void* dst, const void* src, size_t bytes, const void* dev) {
    if (!st_.ok() || !bytes) return;
    const auto* d = static_cast<const uint8_t*>(dev);
    if (d < base() || size_t(d - base()) + bytes > bytes_) {
      st_ = Status::error("copy of " + std::to_string(bytes) + " bytes outside the device block");
      return;
    }
    std::memmove(dst, src, bytes);
  }

  template <class T, class Widen>
  static void product(const gpu::Gemm& g, Widen widen) {
    const T* A = static_cast<const T*>(g.A);
    const T* B = static_cast<const T*>(g.B);
    // Element (i, k) of op(A) is A[i * sai + k * ska]; (k, j) of op(B) is B[k * skb + j * sbj].
    const int64_t sai = g.trans_a ? 1 : g.lda, ska = g.trans_a ? g.lda : 1;
    const int64_t skb = g.trans_b ? 1 : g.ldb, sbj = g.trans_b ? g.ldb : 1;
    for (int64_t b = 0; b < g.batch; ++b)
      for (int64_t i = 0; i < g.M; ++i)
        for (int64_t j = 0; j < g.N; ++j) {
          const T* a = A + b * g.stride_a + i * sai;
          const T* bb = B + b * g.stride_b + j * sbj;
          float acc = 0.0f;
          for (int64_t k = 0; k < g.K; ++k) acc += widen(a[k * ska]) * widen(bb[k * skb]);
          float& y = g.Y[b * g.stride_y + i * g.ldy + j];
          y = g.beta == 0.0f ? g.alpha * acc : g.alpha * acc + g.beta * y;  // beta 0: Y unread
        }
  }

  std::unique_ptr<uint32_t[]> words_;
  size_t bytes_ = 0;
  int layer_ = -1;
  int64_t launches_ = 0, gemms_ = 0;
  Status st_;
};

}  // namespace mamba::test
