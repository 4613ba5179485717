#include "mamba/weight_type.h"

namespace mamba {

namespace {
constexpr WeightType kAll[] = {WeightType::f32, WeightType::bf16, WeightType::f16, WeightType::q8,
                               WeightType::q4};
}

const char* weight_type_name(WeightType t) {
  switch (t) {
    case WeightType::f32: return "f32";
    case WeightType::bf16: return "bf16";
    case WeightType::f16: return "f16";
    case WeightType::q8: return "q8";
    case WeightType::q4: return "q4";
  }
  return "?";
}

Result<WeightType> parse_weight_type(const std::string& name) {
  for (WeightType t : kAll)
    if (name == weight_type_name(t)) return t;
  return Status::error("unknown weight type '" + name + "' (expected f32, bf16, f16, q8 or q4)");
}

}  // namespace mamba
