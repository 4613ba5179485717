#include "tools/bench_lists.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "platform/threads.h"

namespace mamba::tools {
namespace {

// The items between commas ("" -> one empty item).
std::vector<std::string> items(const std::string& list) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos <= list.size();) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    out.push_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

}  // namespace

Result<std::vector<WeightType>> parse_weight_types(const std::string& list) {
  std::vector<WeightType> types;
  for (const std::string& name : items(list)) {
    Result<WeightType> t = parse_weight_type(name);
    if (!t.ok()) return Status::error("--types: " + t.message());
    types.push_back(*t);
  }
  return types;
}

Result<std::vector<int>> parse_thread_counts(const std::string& list) {
  if (list.empty()) {
    const int cores = platform::resolve_threads(0);
    return cores > 1 ? std::vector<int>{1, cores} : std::vector<int>{1};
  }
  std::vector<int> counts;
  for (const std::string& item : items(list)) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || end != item.c_str() + item.size() || errno == ERANGE || v < 1 || v > 1024)
      return Status::error("--threads-list: expected comma-separated thread counts in [1, 1024], got '" +
                           list + "'");
    counts.push_back(int(v));
  }
  return counts;
}

}  // namespace mamba::tools
