// GpuPrefill without CUDA (MAMBA_CUDA off): it exists so programs need no #ifdef, does no GPU
// work and pulls in no CUDA library. GpuPrefill::plan() still answers (gpu/plan.cpp).
#include "mamba/gpu.h"

namespace mamba {

struct GpuPrefill::Impl {
  GpuMemory memory;
  std::string device_name;
  GpuLimits limits;
};

bool GpuPrefill::built() { return false; }
int GpuPrefill::device_count() { return 0; }

GpuPrefill::GpuPrefill(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuPrefill::~GpuPrefill() = default;

Result<std::unique_ptr<GpuPrefill>> GpuPrefill::create(std::shared_ptr<const Model>,
                                                       const GpuLimits&) {
  return Status::error("GpuPrefill::create: this build of mamba has no GPU support (configure "
                       "with -DMAMBA_CUDA=ON and the CUDA toolkit to get it)");
}

// Unreachable: create() never returns an object in this build.
Result<const float*> GpuPrefill::prefill(Session&, const int32_t*, size_t, float*) {
  return Status::error("GpuPrefill::prefill: this build of mamba has no GPU support");
}
Result<const float*> GpuPrefill::prefill(Session&, int, const int32_t*, size_t, float*) {
  return Status::error("GpuPrefill::prefill: this build of mamba has no GPU support");
}

const GpuMemory& GpuPrefill::memory() const { return impl_->memory; }
const std::string& GpuPrefill::device_name() const { return impl_->device_name; }
const GpuLimits& GpuPrefill::limits() const { return impl_->limits; }

}  // namespace mamba
