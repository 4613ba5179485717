// How fast this machine streams memory: the ceiling of batch-1 decode, which reads every weight
// once per token. Measured, not assumed (it depends on the machine, its load and the threads).
#pragma once

namespace mamba::platform {

// Reads a 256 MiB buffer (far beyond any cache) with n_threads threads, `reps` times after one
// warm-up; returns the median rate in GB/s (1e9 bytes per second).
double read_bandwidth_gbs(int n_threads, int reps);

}  // namespace mamba::platform
