#include "tools/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "platform/arena.h"
#include "platform/threads.h"
#include "simd/kernels.h"

namespace mamba::tools {

ReadProbe::ReadProbe(size_t bytes)
    : n_(int64_t(std::max<size_t>(bytes, 1 << 20) / sizeof(float))),
      block_(platform::aligned_alloc_zeroed(size_t(n_) * sizeof(float))) {
  // Zeroed pages may all map the kernel's one zero page, which reads from cache: write them.
  float* a = reinterpret_cast<float*>(block_.get());
  std::fill(a, a + n_, 1.0f);
}

double ReadProbe::seconds(int n_threads) {
  const float* a = reinterpret_cast<const float*>(block_.get());
  const simd::Kernels& k = simd::kernels();
  std::vector<float> partial(size_t(std::max(n_threads, 1)) * 16);  // a cache line per thread
  const auto t0 = std::chrono::steady_clock::now();
  platform::parallel_for(n_threads, n_, 4096, [&](int tid, int64_t b, int64_t e) {
    partial[size_t(tid) * 16] += k.sum(a + b, e - b);
  });
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile float sink = 0;
  for (float p : partial) sink = sink + p;
  return t;
}

double read_bandwidth_gbs(int n_threads, size_t bytes, int reps) {
  ReadProbe probe(bytes);
  std::vector<double> rates;
  for (int r = 0; r <= reps; ++r) {
    const double t = probe.seconds(n_threads);
    if (r > 0) rates.push_back(double(probe.bytes()) / t / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace mamba::tools
