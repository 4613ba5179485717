// Counts every heap allocation of the process while a Counting object lives: malloc and friends
// are interposed (so operator new, libgomp and every library are seen too). Include from exactly
// one translation unit of a test binary: it defines the C allocation functions.
#pragma once

#include <atomic>
#include <cstdlib>

#include "tests/sanitizer.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace mamba::test {
inline std::atomic<bool> g_counting{false};
inline std::atomic<long> g_allocations{0}, g_frees{0};
inline void count_allocation() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
}
inline void count_free(void* p) {
  if (p && g_counting.load(std::memory_order_relaxed)) g_frees.fetch_add(1);
}

struct Counting {
  Counting() { g_allocations = 0; g_frees = 0; g_counting = true; }
  ~Counting() { g_counting = false; }
  long count() const { return g_allocations.load(); }
  // Blocks freed while counting: allocations - frees is what is still held (if nothing older was
  // freed meanwhile).
  long frees() const { return g_frees.load(); }
};
}  // namespace mamba::test

#ifdef MAMBA_TEST_ASAN
// AddressSanitizer owns malloc (interposing it here would hand ASan's frees libc's blocks): count
// through the allocator hooks its runtime offers instead; they see every allocation too.
#include <sanitizer/allocator_interface.h>
namespace mamba::test {
inline void asan_malloc_hook(const volatile void*, size_t) { count_allocation(); }
inline void asan_free_hook(const volatile void* p) { count_free(const_cast<void*>(p)); }
[[maybe_unused]] const int g_asan_hooks =
    __sanitizer_install_malloc_and_free_hooks(asan_malloc_hook, asan_free_hook);
}  // namespace mamba::test
#else
extern "C" {
void* malloc(size_t n) { mamba::test::count_allocation(); return __libc_malloc(n); }
void* calloc(size_t n, size_t m) { mamba::test::count_allocation(); return __libc_calloc(n, m); }
void* realloc(void* p, size_t n) { mamba::test::count_allocation(); return __libc_realloc(p, n); }
void free(void* p) { mamba::test::count_free(p); __libc_free(p); }
void* memalign(size_t a, size_t n) { mamba::test::count_allocation(); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { mamba::test::count_allocation(); return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
  mamba::test::count_allocation();
  *out = __libc_memalign(a, n);
  return *out ? 0 : 12;  // ENOMEM
}
}
#endif
