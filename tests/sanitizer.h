// Which sanitizer this test binary is built with (-DMAMBA_SANITIZE=..., -DMAMBA_FUZZ=ON): a few
// tests measure the process itself (allocations, resident memory, OpenMP threads), which a
// sanitizer's runtime changes. GCC defines __SANITIZE_*__, Clang answers __has_feature.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define MAMBA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAMBA_TEST_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define MAMBA_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MAMBA_TEST_TSAN 1
#endif
#endif
