// The executor of gpu/engine.h on a CUDA device: one stream, one cuBLAS handle, one device
// allocation made in allocate() (cuBLAS gets its workspace from it, so nothing allocates device
// memory after create). Bodies run one thread per index through one kernel template; every
// launch is followed by cudaGetLastError and every CUDA/cuBLAS status becomes a Status naming the
// step and layer. After the first error every call is a no-op and finish() returns it.
// Compiled by nvcc only (gpu/gpu_prefill.cu).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "gpu/gemm.h"
#include "mamba/status.h"

namespace mamba::gpu {

template <class Body>
__global__ void for_each_kernel(Body body, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) body(i);
}

class CudaExec {
 public:
  static constexpr int kBlock = 128;            // threads per block
  static constexpr int64_t kMaxBlocks = 1 << 20;  // beyond this, threads loop (grid stride)

  // Selects the device and makes the stream and the cuBLAS handle.
  static Result<std::unique_ptr<CudaExec>> create(int device) {
    std::unique_ptr<CudaExec> e(new CudaExec());
    e->device_ = device;
    e->check(cudaSetDevice(device), "cudaSetDevice");
    e->check(cudaStreamCreateWithFlags(&e->stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    if (e->st_.ok()) e->check_blas(cublasCreate(&e->blas_), "cublasCreate");
    // (Before cublasSetWorkspace in allocate(): setting the stream resets cuBLAS's workspace.)
    if (e->st_.ok()) e->check_blas(cublasSetStream(e->blas_, e->stream_), "cublasSetStream");
    if (!e->st_.ok()) return e->st_;
    return {std::move(e)};
  }

  ~CudaExec() {
    if (blas_) cublasDestroy(blas_);
    if (base_) cudaFree(base_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  // The one device allocation (zeroed), and cuBLAS's workspace inside it.
  Status allocate(size_t total, size_t workspace_offset, size_t workspace_bytes) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, total);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear it: an allocation failure is not sticky
      return Status::error("cudaMalloc of " + std::to_string(total) + " bytes (" +
                           std::to_string(total >> 20) + " MiB) failed: " + cudaGetErrorString(e));
    }
    base_ = static_cast<uint8_t*>(p);
    bytes_ = total;
    check(cudaMemsetAsync(base_, 0, total, stream_), "cudaMemset");
    if (st_.ok() && workspace_bytes)
      check_blas(cublasSetWorkspace(blas_, base_ + workspace_offset, workspace_bytes),
                 "cublasSetWorkspace");
    return finish();
  }

  uint8_t* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  int device() const { return device_; }
  void set_layer(int layer) { layer_ = layer; }

  template <class Body>
  void for_each(const char* what, int64_t n, const Body& body) {
    if (!st_.ok() || n <= 0) return;
    const int64_t blocks = std::min<int64_t>((n + kBlock - 1) / kBlock, kMaxBlocks);
    for_each_kernel<Body><<<unsigned(blocks), kBlock, 0, stream_>>>(body, n);
    check(cudaGetLastError(), what);
  }

  void gemm(const char* what, const Gemm& g) {
    if (!st_.ok()) return;
    std::string bad = gemm_check(g);
    if (bad.empty()) bad = gemm_bounds(g, base_, bytes_);
    if (!bad.empty()) {
      fail(what, "invalid GEMM: " + bad);
      return;
    }
    const ColumnMajorGemm c = to_column_major(g);
    const cudaDataType_t t = g.ab == DType::f32    ? CUDA_R_32F
                             : g.ab == DType::bf16 ? CUDA_R_16BF
                                                   : CUDA_R_16F;
    const cublasOperation_t op1 = c.trans_first ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op2 = c.trans_second ? CUBLAS_OP_T : CUBLAS_OP_N;
    // fp32 accumulate always; CUBLAS_COMPUTE_32F never rounds fp32 operands to TF32.
    if (g.batch == 1)
      check_blas(cublasGemmEx(blas_, op1, op2, int(c.m), int(c.n), int(c.k), &g.alpha, c.first, t,
                              int(c.ld_first), c.second, t, int(c.ld_second), &g.beta, c.C,
                              CUDA_R_32F, int(c.ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 what);
    else
      check_blas(cublasGemmStridedBatchedEx(
                     blas_, op1, op2, int(c.m), int(c.n), int(c.k), &g.alpha, c.first, t,
                     int(c.ld_first), (long long)c.stride_first, c.second, t, int(c.ld_second),
                     (long long)c.stride_second, &g.beta, c.C, CUDA_R_32F, int(c.ldc),
                     (long long)c.stride_c, int(g.batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 what);
  }

  // Host <-> device copies wait for the stream, so host buffers are free to reuse on return.
  void upload(void* dst, const void* src, size_t bytes) {
    if (!st_.ok() || !bytes) return;
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "copy to the GPU");
    if (st_.ok()) check(cudaStreamSynchronize(stream_), "copy to the GPU");
  }
  void download(void* dst, const void* src, size_t bytes) {
    if (!st_.ok() || !bytes) return;
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "copy from the GPU");
    if (st_.ok()) check(cudaStreamSynchronize(stream_), "copy from the GPU");
  }
  void copy(void* dst, const void* src, size_t bytes) {
    if (!st_.ok() || !bytes) return;
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "device copy");
  }

  // Waits for everything queued; the first error (kernels report theirs here at the latest).
  Status finish() {
    if (st_.ok()) check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return st_;
  }

 private:
  CudaExec() = default;

  void fail(const char* what, const std::string& message) {
    if (!st_.ok()) return;
    st_ = Status::error(std::string(what) +
                        (layer_ >= 0 ? " (layer " + std::to_string(layer_) + ")" : "") + ": " +
                        message);
  }
  void check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    fail(what, std::string("CUDA error ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
  void check_blas(cublasStatus_t s, const char* what) {
    if (s == CUBLAS_STATUS_SUCCESS) return;
    fail(what, std::string("cuBLAS error ") + cublasGetStatusName(s) + ": " +
                   cublasGetStatusString(s));
  }

  int device_ = 0;
  int layer_ = -1;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  Status st_;
};

}  // namespace mamba::gpu
