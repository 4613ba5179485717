// Loading code reports the first problem it finds by throwing LoadError with a message that names
// the file / tensor / field and the expected vs actual value. The public API catches it and returns
// a Status, so no exception ever crosses it. The inference hot path never throws.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace mamba::platform {

struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw LoadError(os.str());
}

}  // namespace mamba::platform
