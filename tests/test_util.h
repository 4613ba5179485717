// Helpers shared by the tests: bundled data paths, reading expected tensors, the fixtures'
// tolerance rule.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "mamba/sampler.h"
#include "mamba/session.h"

namespace mamba::test {

inline std::string data_dir() { return MAMBA_TEST_DATA; }
// "mamba1-tiny" -> the shared fixture; "generated/mamba1-odd" -> one made by
// tools/make_fixture.py (see tests/data/README.md).
inline std::string fixture_dir(const std::string& name) {
  return data_dir() + (name.find('/') == std::string::npos ? "/fixtures/" : "/") + name;
}
// The command line that runs one of the build's programs: the path, after the emulator that
// runs the tests themselves when cross-compiled (qemu-aarch64 ...), since the kernel cannot run
// the program directly.
inline std::string program(const std::string& name) {
  return MAMBA_RUN_PREFIX MAMBA_BIN_DIR "/" + name;
}
// "generated/mamba1-odd" -> "generated_mamba1_odd": a test name for a fixture parameter.
inline std::string fixture_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& ch : n)
    if (ch == '-' || ch == '/') ch = '_';
  return n;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A fresh directory per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string base = ::testing::TempDir();
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name)  // parameterized tests' names hold '/', which would nest directories
      if (c == '/') c = '_';
    path_ = base + "/mamba_test_" + name + "_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter_++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

struct RunResult {
  int exit_code = -1;  // -1: did not exit normally (signal)
  std::string out, err;
};

// Runs a shell command line in `dir` with stdin from `input`, capturing stdout and stderr.
inline RunResult run(const ScratchDir& dir, const std::string& command,
                     const std::string& input = "") {
  write_bytes(dir / "stdin", input);
  const std::string cmd = command + " <" + (dir / "stdin") + " >" + (dir / "stdout") + " 2>" +
                          (dir / "stderr");
  const int status = std::system(cmd.c_str());
  RunResult r;
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = read_bytes(dir / "stdout");
  r.err = read_bytes(dir / "stderr");
  return r;
}

// A heap block aligned as Session::create wants a caller's buffer (a stand-in for static memory).
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, FreeDeleter>;
inline AlignedBuffer aligned_buffer(size_t bytes) {
  const size_t a = Session::kBufferAlign;
  return AlignedBuffer(static_cast<uint8_t*>(std::aligned_alloc(a, (bytes + a - 1) / a * a + a)));
}

// Sampling with every option switched on (temperature, top-k, top-p, min-p, repetition penalty).
inline SamplerParams every_sampler_option(uint64_t seed = 1) {
  SamplerParams sp;
  sp.temperature = 0.8f;
  sp.top_k = 40;
  sp.top_p = 0.9f;
  sp.min_p = 0.01f;
  sp.repetition_penalty = 1.1f;
  sp.seed = seed;
  return sp;
}

// expected.safetensors of a fixture, read with our own (validated) reader.
class Expected {
 public:
  explicit Expected(const std::string& fixture)
      : file_(std::make_unique<detail::SafetensorsFile>(fixture_dir(fixture) +
                                                        "/expected.safetensors")) {}
  bool has(const std::string& name) const { return file_->tensors().count(name) != 0; }
  const detail::TensorView& view(const std::string& name) const { return file_->tensors().at(name); }
  std::vector<float> f32(const std::string& name) const {
    const auto& t = view(name);
    std::vector<float> v(size_t(t.numel()));
    detail::to_f32(t, v.data());
    return v;
  }
  std::vector<int32_t> ids(const std::string& name) const {
    const auto& t = view(name);
    std::vector<int32_t> v(size_t(t.numel()));
    for (size_t i = 0; i < v.size(); ++i) {
      int64_t x;
      std::memcpy(&x, t.data + 8 * i, 8);
      v[i] = int32_t(x);
    }
    return v;
  }

 private:
  std::unique_ptr<detail::SafetensorsFile> file_;
};

// The fixtures' fp32 rule: |got - expected| <= atol + rtol * |expected|, elementwise.
struct Tolerance {
  double atol = 2e-4, rtol = 1e-4;
};

inline ::testing::AssertionResult all_close(const float* got, const float* want, size_t n,
                                            Tolerance tol = {}) {
  size_t bad = 0, worst = 0;
  double worst_excess = 0, max_abs = 0;
  for (size_t i = 0; i < n; ++i) {
    const double diff = std::fabs(double(got[i]) - double(want[i]));
    const double bound = tol.atol + tol.rtol * std::fabs(double(want[i]));
    max_abs = std::max(max_abs, diff);
    if (!(diff <= bound)) {  // also catches NaN
      if (bad == 0 || diff - bound > worst_excess) { worst = i; worst_excess = diff - bound; }
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess() << "max abs diff " << max_abs;
  return ::testing::AssertionFailure()
         << bad << " of " << n << " elements out of tolerance; worst at " << worst << ": got "
         << got[worst] << ", expected " << want[worst] << " (max abs diff " << max_abs << ")";
}

inline ::testing::AssertionResult all_close(const std::vector<float>& got,
                                            const std::vector<float>& want, Tolerance tol = {}) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  return all_close(got.data(), want.data(), got.size(), tol);
}

}  // namespace mamba::test
