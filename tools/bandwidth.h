// How fast this machine streams memory: the ceiling of batch-1 decode, which reads every weight
// once per token. Measured, not assumed: it depends on the machine, its load, the threads and the
// size of what is read (a working set that partly fits the last-level cache reads faster).
#pragma once

#include <cstddef>

namespace mamba::tools {

// Reads a buffer of `bytes` (filled, so every page is real memory) with n_threads threads using
// the kernel set's vector loads, once for warm-up then `reps` times; the median rate in GB/s
// (1e9 bytes per second). Pass the weights' size to get the rate decode could stream them at.
double read_bandwidth_gbs(int n_threads, size_t bytes, int reps);

}  // namespace mamba::tools
