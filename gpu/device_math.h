// The scalar math the GPU kernels are made of, written once as __host__ __device__ inline
// functions: nvcc compiles them into the kernels, and the host compiler into the CPU emulation of
// those kernels that the ordinary (non-CUDA) tests run, so the numerics are checked on any machine.
// Also the bit-exact float -> bf16 / f16 conversions (round to nearest even) used both to convert
// weights on the host before upload and activations on the device before each GEMM.
#pragma once

#include <cstdint>
#include <cstring>

// Loop unrolling for the device compiler only (the host compiler would warn about the pragma).
#ifdef __CUDA_ARCH__
#define MAMBA_UNROLL _Pragma("unroll")
#else
#define MAMBA_UNROLL
#endif

#ifdef __CUDACC__
#define MAMBA_HD __host__ __device__
#else
#define MAMBA_HD
#include <cmath>
#endif

namespace mamba::gpu {

// Element type of GEMM operands (weights and the activations fed to them).
enum class DType : uint8_t { f32, bf16, f16 };
inline size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

MAMBA_HD inline uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

MAMBA_HD inline float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

MAMBA_HD inline float f_exp(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  return std::exp(x);
#endif
}

MAMBA_HD inline float f_log1p(float x) {
#ifdef __CUDA_ARCH__
  return log1pf(x);
#else
  return std::log1p(x);
#endif
}

MAMBA_HD inline float f_sqrt(float x) {
#ifdef __CUDA_ARCH__
  return sqrtf(x);  // IEEE-rounded unless built with fast math, which we never do
#else
  return std::sqrt(x);
#endif
}

MAMBA_HD inline float silu(float x) { return x / (1.0f + f_exp(-x)); }

// torch.nn.functional.softplus(beta=1, threshold=20): linear above the threshold.
MAMBA_HD inline float softplus(float x) { return x > 20.0f ? x : f_log1p(f_exp(x)); }

// min/max that keep +-inf limits (time_step_limit may be [0, Infinity]).
MAMBA_HD inline float clampf(float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

// float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN.
MAMBA_HD inline uint16_t bf16_bits(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

MAMBA_HD inline float bf16_float(uint16_t h) { return bits_float(uint32_t(h) << 16); }

// float -> IEEE half bits, round to nearest even, with subnormals; beyond the half range +-inf.
MAMBA_HD inline uint16_t f16_bits(float f) {
  const uint32_t x = float_bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to infinity
  if (ax >= 0x38800000u) {                                  // normal half (>= 2^-14)
    ax += 0x0fffu + ((ax >> 13) & 1u);                      // round the 13 dropped bits
    return uint16_t(sign | ((ax - 0x38000000u) >> 13));     // rebias the exponent by 127 - 15
  }
  if (ax < 0x33000000u) return sign;                        // < 2^-25: rounds to zero
  // Subnormal half: the value in units of 2^-24, rounded to nearest even (1024 = 2^-14 is the
  // smallest normal, whose bits are 0x0400: the carry lands in the exponent by itself).
  const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  const int shift = 126 - int(ax >> 23);  // in [14, 24]
  uint32_t r = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (r & 1u))) ++r;
  return uint16_t(sign | r);
}

MAMBA_HD inline float f16_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return bits_float(sign | 0x7f800000u | (m << 13));  // inf / NaN
  if (e != 0) return bits_float(sign | ((e + 112u) << 23) | (m << 13));
  // Subnormal (or zero): m * 2^-24, exact in float.
  const float v = float(m) * (1.0f / 16777216.0f);
  return sign ? -v : v;
}

// Element i of a GEMM operand stored as `t`, widened to float.
MAMBA_HD inline float load_as_float(const void* p, DType t, int64_t i) {
  if (t == DType::f32) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  return t == DType::bf16 ? bf16_float(h) : f16_float(h);
}

// Stores v as element i of an operand of type `t` (rounded to nearest even).
MAMBA_HD inline void store_as(void* p, DType t, int64_t i, float v) {
  if (t == DType::f32) {
    static_cast<float*>(p)[i] = v;
    return;
  }
  static_cast<uint16_t*>(p)[i] = t == DType::bf16 ? bf16_bits(v) : f16_bits(v);
}

}  // namespace mamba::gpu
