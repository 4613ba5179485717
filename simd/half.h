// 16-bit float conversions, scalar and exact: bf16 (fp32's upper half) and IEEE binary16.
// Narrowing rounds to nearest even, as torch does; NaN stays NaN. Also the rounding to an integer
// that quantization uses.
#pragma once

#include <cstdint>
#include <cstring>
#if defined(__F16C__)
#include <immintrin.h>
#endif

// Internal linkage: the kernel sets compile this header with different instruction sets (F16C or
// not), and one shared inline definition would let the linker hand the F16C one to them all.
namespace mamba::simd {
namespace {

inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float f16_to_f32(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);  // the same value, one instruction (translation units built with F16C)
#else
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));  // inf / NaN
  if (exp != 0) return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
  // Zero or subnormal: man * 2^-24, exact in fp32.
  const float v = float(man) * (1.0f / 16777216.0f);
  return sign ? -v : v;
#endif
}

inline uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_to_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (a < 0x38800000u) {                                   // below 2^-14: subnormal or zero
    // Round a * 2^24 to an integer, to nearest even, in fp32 arithmetic (exact here).
    const float v = bits_to_f32(a) * 16777216.0f;
    float r = float(int32_t(v));
    const float frac = v - r;
    if (frac > 0.5f || (frac == 0.5f && (int32_t(r) & 1))) r += 1.0f;
    return uint16_t(sign | uint16_t(r));
  }
  // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even.
  const uint32_t r = a - (112u << 23);
  return uint16_t(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
}

// Round to nearest, ties to even, as std::nearbyint in the default rounding mode, for |v| < 2^22:
// adding and taking off 1.5 * 2^23 leaves no fraction bits. Unlike nearbyint (a libm call at the
// baseline ISA) it inlines and vectorises; the load quantizes every q8/q4 weight with it,
// and the activation quantization of the q8/q4 products rounds the same way.
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;  // (no -ffast-math here: the compiler keeps both roundings)
}

}  // namespace
}  // namespace mamba::simd
