// Threads: OpenMP teams over ranges split into contiguous, aligned pieces.
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mamba::platform {

// requested > 0: that many; otherwise what OpenMP would use (OMP_NUM_THREADS, else all cores).
int resolve_threads(int requested);

// Calls fn(thread, begin, end) on up to n_threads threads (thread in [0, n_threads)), each with a contiguous slice of [0, n) whose bounds
// are multiples of `grain` (except the end). Runs inline for one thread or a small range.
template <class Fn>
void parallel_for(int n_threads, int64_t n, int64_t grain, Fn&& fn) {
  const int64_t pieces = (n + grain - 1) / grain;
  const int team = int(pieces < n_threads ? pieces : n_threads);
  if (team <= 1) {
    fn(0, int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(team)
  {
#ifdef _OPENMP
    const int i = omp_get_thread_num();
#else
    const int i = 0;
#endif
    const int64_t b = pieces * i / team * grain;
    const int64_t e = i + 1 == team ? n : pieces * (i + 1) / team * grain;
    if (b < e) fn(i, b, e);
  }
}

}  // namespace mamba::platform
