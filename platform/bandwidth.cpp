#include "platform/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "platform/arena.h"
#include "platform/threads.h"

namespace mamba::platform {

double read_bandwidth_gbs(int n_threads, int reps) {
  const size_t n = size_t(256) << 20 >> 2;  // floats
  AlignedBlock block = aligned_alloc_zeroed(n * sizeof(float));
  const float* a = reinterpret_cast<const float*>(block.get());
  std::vector<double> rates;
  volatile float sink = 0;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    float partial[1024] = {};
    parallel_for(n_threads, int64_t(n), 4096, [&](int tid, int64_t b, int64_t e) {
      // Eight independent sums: enough loads in flight to stream at full rate.
      float s[8] = {};
      for (int64_t i = b; i + 8 <= e; i += 8)
        for (int j = 0; j < 8; ++j) s[j] += a[i + j];
      partial[tid] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    });
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float p : partial) sink = sink + p;
    if (r > 0) rates.push_back(double(n * sizeof(float)) / t / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace mamba::platform
