// Shared by the libFuzzer targets (tests/fuzz/*.cpp, built with -DMAMBA_FUZZ=ON): the bundled data,
// a private scratch directory for targets that must go through files, and the rule every target
// checks -- a failure is a Status with a message, never a crash, a sanitizer report or a silent
// success with garbage.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "mamba/mamba.h"

namespace mamba::fuzz {

inline std::string source_dir() { return MAMBA_SOURCE_DIR; }
inline std::string fixture(const std::string& name) {
  return source_dir() + "/tests/data/fixtures/" + name;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz: cannot read %s\n", path.c_str());
    std::abort();
  }
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// A directory of this process's own (under $TMPDIR, else /tmp), made once, removed at exit (a
// finding aborts and leaves it, with the input that was last written there).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/mamba_fuzz_XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    return tmpl;
  }();
  static const bool removed_at_exit = [] {
    return std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }) == 0;
  }();
  (void)removed_at_exit;
  return dir;
}

// An error must say something: an empty message is a finding.
template <class S>
void require_message(const S& status, const char* what) {
  if (!status.ok() && status.message().empty()) {
    std::fprintf(stderr, "fuzz: %s failed with an empty message\n", what);
    std::abort();
  }
}

[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "fuzz: %s\n", what);
  std::abort();
}

// A model that loaded must run: a session (one thread, prefill chunks of `chunk` tokens) takes
// an n-token prompt and one step, which may fail only with a message (non-finite logits).
inline void run_briefly(const std::shared_ptr<const Model>& model, int chunk, int n) {
  SessionLimits limits;
  limits.n_threads = 1;
  limits.prefill_chunk = chunk;
  auto session = Session::create(model, limits);
  if (!session.ok()) finding(("Session::create: " + session.message()).c_str());
  const int V = model->config().vocab_size;
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back(int32_t((7 * i + 1) % V));
  require_message((*session)->prefill(ids.data(), ids.size()), "prefill");
  require_message((*session)->step(int32_t(n % V)), "step");
}

}  // namespace mamba::fuzz
