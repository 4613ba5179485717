// GpuPrefill with CUDA (built with MAMBA_CUDA): gpu/engine.h on the CUDA executor.
#include <cuda_runtime.h>

#include "gpu/cuda_exec.h"
#include "gpu/engine.h"
#include "mamba/gpu.h"

namespace mamba {

using Engine = gpu::Engine<gpu::CudaExec>;

struct GpuPrefill::Impl {
  std::unique_ptr<Engine> engine;
  std::string device_name;
  GpuMemory memory;
  GpuLimits limits;
};

bool GpuPrefill::built() { return true; }

int GpuPrefill::device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: not an error for later calls
    return 0;
  }
  return n;
}

GpuPrefill::GpuPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuPrefill::~GpuPrefill() = default;

Result<std::unique_ptr<GpuPrefill>> GpuPrefill::create(std::shared_ptr<const Model> model,
                                                       const GpuLimits& limits) {
  const int n = device_count();
  if (n == 0) return Status::error("GpuPrefill::create: no CUDA device (or no driver) found");
  if (limits.device < 0 || limits.device >= n)
    return Status::error("GpuLimits.device = " + std::to_string(limits.device) +
                         " is out of range [0, " + std::to_string(n) + ")");
  cudaDeviceProp prop{};
  if (cudaError_t e = cudaGetDeviceProperties(&prop, limits.device); e != cudaSuccess)
    return Status::error(std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(e));
  const std::string name = std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
                           std::to_string(prop.minor) + ")";
  if (limits.precision == GpuPrecision::bf16 && prop.major < 8)
    return Status::error("GpuPrefill::create: " + name + " has no bf16 tensor cores (needs "
                         "compute capability 8.0+); use GpuPrecision::f16 or fp32");
  auto exec = gpu::CudaExec::create(limits.device);
  if (!exec.ok()) return Status::error("GpuPrefill::create on " + name + ": " + exec.message());
  auto engine = Engine::create(std::move(model), limits, gpu::PlanOptions{},
                               std::move(exec.value()));
  if (!engine.ok()) return Status::error(engine.message() + " (device " + name + ")");
  auto impl = std::make_unique<Impl>();
  impl->memory = engine.value()->plan().memory;
  impl->engine = std::move(engine.value());
  impl->device_name = name;
  impl->limits = limits;
  return std::unique_ptr<GpuPrefill>(new GpuPrefill(std::move(impl)));
}

Result<const float*> GpuPrefill::prefill(Session& session, const int32_t* ids, size_t n,
                                         float* all_logits) {
  return prefill(session, 0, ids, n, all_logits);
}

Result<const float*> GpuPrefill::prefill(Session& session, int slot, const int32_t* ids, size_t n,
                                         float* all_logits) {
  // The calling thread may have another device selected.
  if (cudaError_t e = cudaSetDevice(impl_->limits.device); e != cudaSuccess)
    return Status::error(std::string("GpuPrefill::prefill: cudaSetDevice: ") + cudaGetErrorString(e));
  return impl_->engine->prefill(session, slot, ids, n, all_logits);
}

const GpuMemory& GpuPrefill::memory() const { return impl_->memory; }
const std::string& GpuPrefill::device_name() const { return impl_->device_name; }
const GpuLimits& GpuPrefill::limits() const { return impl_->limits; }

}  // namespace mamba
