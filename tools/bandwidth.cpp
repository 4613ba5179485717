#include "tools/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "platform/arena.h"
#include "platform/threads.h"
#include "simd/kernels.h"

namespace mamba::tools {

double read_bandwidth_gbs(int n_threads, size_t bytes, int reps) {
  const int64_t n = int64_t(std::max<size_t>(bytes, 1 << 20) / sizeof(float));
  platform::AlignedBlock block = platform::aligned_alloc_zeroed(size_t(n) * sizeof(float));
  float* a = reinterpret_cast<float*>(block.get());
  // Zeroed pages may all map the kernel's one zero page, which reads from cache: write them.
  std::fill(a, a + n, 1.0f);
  const simd::Kernels& k = simd::kernels();
  std::vector<double> rates;
  std::vector<float> partial(size_t(std::max(n_threads, 1)) * 16);  // a cache line per thread
  volatile float sink = 0;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    platform::parallel_for(n_threads, n, 4096, [&](int tid, int64_t b, int64_t e) {
      partial[size_t(tid) * 16] += k.sum(a + b, e - b);
    });
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) rates.push_back(double(n) * sizeof(float) / t / 1e9);
  }
  for (float p : partial) sink = sink + p;
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace mamba::tools
