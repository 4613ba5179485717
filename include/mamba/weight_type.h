// Weight types a Model can hold its projections (and embedding / lm_head) in. Everything else
// (A_log, D, dt bias, conv weights, norms) and all state stays fp32 whatever is chosen.
#pragma once

#include <string>

#include "mamba/status.h"

namespace mamba {

enum class WeightType {
  f32,   // 4 bytes a weight: exact
  bf16,  // 2 bytes: fp32's exponent, 8-bit mantissa
  f16,   // 2 bytes: IEEE half (values beyond +-65504 are rejected at load)
  q8,    // 1.0625 bytes: blocks of 32 int8 with one f16 scale (symmetric, amax / 127)
  q4,    // 0.5625 bytes: blocks of 32 4-bit values with one f16 scale (symmetric, [-8, 7])
};

const char* weight_type_name(WeightType t);           // "f32", "bf16", "f16", "q8", "q4"
Result<WeightType> parse_weight_type(const std::string& name);

}  // namespace mamba
