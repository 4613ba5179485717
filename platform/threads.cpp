#include "platform/threads.h"

namespace mamba::platform {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace mamba::platform
