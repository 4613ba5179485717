// How fast this machine streams memory: the ceiling of batch-1 decode, which reads every weight
// once per token. Measured, not assumed: it depends on the machine, its load, the threads and the
// size of what is read (a working set that partly fits the last-level cache reads faster).
#pragma once

#include <cstddef>
#include <cstdint>

#include "platform/arena.h"

namespace mamba::tools {

// A buffer of at least `bytes` (filled, so every page is real memory) to read again and again:
// seconds() reads all of it once with n_threads threads using the kernel set's vector loads.
class ReadProbe {
 public:
  explicit ReadProbe(size_t bytes);
  double seconds(int n_threads);
  size_t bytes() const { return size_t(n_) * sizeof(float); }

 private:
  int64_t n_;  // floats
  platform::AlignedBlock block_;
};

// Reads a ReadProbe of `bytes` once for warm-up then `reps` times; the median rate in GB/s
// (1e9 bytes per second). Pass the weights' size to get the rate decode could stream them at.
double read_bandwidth_gbs(int n_threads, size_t bytes, int reps);

}  // namespace mamba::tools
