// The comma-separated lists the benchmark programs (mamba-bench, mamba-gemv-bench) take.
#pragma once

#include <string>
#include <vector>

#include "mamba/status.h"
#include "mamba/weight_type.h"

namespace mamba::tools {

// "f32,q4" -> the weight types; an error naming --types and the unknown name.
Result<std::vector<WeightType>> parse_weight_types(const std::string& list);

// "1,2" -> thread counts in [1, 1024]; empty: 1 and all cores (just 1 on one core). An error
// naming --threads-list and the list.
Result<std::vector<int>> parse_thread_counts(const std::string& list);

}  // namespace mamba::tools
