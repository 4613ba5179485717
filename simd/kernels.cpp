// Chooses the kernel set once: the best this CPU supports, or the one MAMBA_ISA names.
#include "simd/kernels.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <xsimd/xsimd.hpp>
#if defined(MAMBA_HAVE_X86_KERNELS)
#include <cpuid.h>
#endif

namespace mamba::simd {

#if defined(MAMBA_HAVE_X86_KERNELS)
Kernels kernels_avx512vnni();
Kernels kernels_avx512();
Kernels kernels_avx2();
Kernels kernels_sse2();
#endif
#if defined(MAMBA_HAVE_NEON64_KERNELS)
Kernels kernels_neon64();
#endif
Kernels kernels_scalar();

std::vector<const Kernels*> available_kernels() {
  // Built once; the tables are immutable afterwards.
  static const std::vector<const Kernels*> sets = [] {
    std::vector<const Kernels*> v;
    const auto cpu = xsimd::available_architectures();
    (void)cpu;
#if defined(MAMBA_HAVE_X86_KERNELS)
    // A set's table is built only once the CPU is known to run it: each factory is compiled with
    // its set's flags, and the compiler uses those instructions even to fill the table (an AVX2
    // CPU stopped on an AVX-512 store there).
    // (xsimd 8 does not report VNNI, F16C or AVX-512VL; GCC's cpuid builtin does.)
    // (Clang's __builtin_cpu_supports has no "f16c": ask cpuid, leaf 1, as both compilers can.)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
    const bool has_avx512 = cpu.avx512bw && cpu.avx512dq && __builtin_cpu_supports("avx512vl") &&
                        cpu.fma3_avx2 && f16c;
    if (has_avx512 && __builtin_cpu_supports("avx512vnni")) {
      static const Kernels avx512vnni = kernels_avx512vnni();
      v.push_back(&avx512vnni);
    }
    if (has_avx512) {
      static const Kernels avx512 = kernels_avx512();
      v.push_back(&avx512);
    }
    if (cpu.fma3_avx2 && f16c) {
      static const Kernels avx2 = kernels_avx2();
      v.push_back(&avx2);
    }
    if (cpu.sse2) {
      static const Kernels sse2 = kernels_sse2();
      v.push_back(&sse2);
    }
#endif
#if defined(MAMBA_HAVE_NEON64_KERNELS)
    static const Kernels neon64 = kernels_neon64();
    v.push_back(&neon64);
#endif
    static const Kernels scalar = kernels_scalar();
    v.push_back(&scalar);
    return v;
  }();
  return sets;
}

const Kernels& kernels() {
  static const Kernels* chosen = [] {
    const auto sets = available_kernels();
    if (const char* want = std::getenv("MAMBA_ISA"); want && *want) {
      for (const Kernels* k : sets)
        if (std::strcmp(k->name, want) == 0) return k;
      std::fprintf(stderr, "mamba: MAMBA_ISA=%s is not available here; using %s\n", want,
                   sets.front()->name);
    }
    return sets.front();
  }();
  return *chosen;
}

}  // namespace mamba::simd
