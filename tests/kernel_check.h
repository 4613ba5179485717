// What the kernel tests share: random data, elementwise checks against a reference with a
// tolerance (and bit-exact checks of what must stay untouched), the worst error of a test for the
// record. See tests/test_kernels.cpp for the tolerance model.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/linear.h"

namespace mamba::test {
namespace {

constexpr double kU = 0x1p-24;       // float unit roundoff
constexpr double kFloor = 1e-30;     // see the header comment
const float kSentinel = [] {         // a NaN with a payload no arithmetic produces
  float f;
  const uint32_t bits = 0x7fc0beefu;
  std::memcpy(&f, &bits, 4);
  return f;
}();

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// Vector widths here are 1, 4, 8, 16 floats: these sizes hit every tail length, below, at and
// above one vector, and one a little above a real d_inner.
const int kSizes[] = {1, 7, 15, 16, 17, 33, 100, 1536 + 5};

// [c0, c1) ranges to run over d channels: the whole; odd ends just inside (d - 1 or d - 2); the
// odd-ended middle third, like a thread's slice; a single odd lane; an empty one.
std::vector<std::pair<int, int>> ranges(int d) {
  std::vector<std::pair<int, int>> r = {{0, d}};
  if (d >= 4) r.push_back({1, (d - 2) | 1});
  if (d >= 12) r.push_back({(d / 3) | 1, ((2 * d) / 3) | 1});
  if (d >= 2) {
    r.push_back({1, 2});
    r.push_back({1, 1});
  }
  return r;
}

struct Rng {
  std::mt19937 gen;
  explicit Rng(uint32_t seed) : gen(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  std::vector<float> vec(size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(lo, hi);
    return v;
  }
};

// Collects the elementwise comparisons of one kernel call; reports the first few failures.
class Check {
 public:
  explicit Check(std::string what) : what_(std::move(what)) {}
  void close(double got, double want, double tol, int i, int j = -1) {
    ++n_;
    const double err = std::fabs(got - want);
    max_abs_ = std::max(max_abs_, err);
    if (tol > 0) max_ratio_ = std::max(max_ratio_, err / tol);
    if (!(err <= tol)) fail(i, j) << "got " << got << ", reference " << want << ", |err| " << err
                                  << " > tol " << tol;
  }
  void untouched(float got, float before, int i, int j = -1) {
    ++n_;
    if (!same_bits(got, before)) fail(i, j) << "must not be written, was " << before << " now " << got;
  }
  double max_abs() const { return max_abs_; }
  double max_ratio() const { return max_ratio_; }
  ::testing::AssertionResult result() const {
    if (bad_ == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << what_ << ": " << bad_ << " of " << n_ << " checks failed"
                                         << msgs_;
  }

 private:
  struct Msg {
    Check* c;
    template <class T> Msg& operator<<(const T& v) {
      if (c) {
        std::ostringstream s;
        s << v;
        c->msgs_ += s.str();
      }
      return *this;
    }
  };
  Msg fail(int i, int j) {
    if (++bad_ > 5) return Msg{nullptr};
    msgs_ += "\n  at [" + std::to_string(i) + (j >= 0 ? ", " + std::to_string(j) : "") + "]: ";
    return Msg{this};
  }
  std::string what_, msgs_;
  size_t n_ = 0, bad_ = 0;
  double max_abs_ = 0, max_ratio_ = 0;
};

// The worst error of a whole test, printed at its end for the record.
struct Worst {
  const char* kernel;
  const char* set;
  double abs = 0, ratio = 0;
  void add(const Check& c) {
    abs = std::max(abs, c.max_abs());
    ratio = std::max(ratio, c.max_ratio());
  }
  ~Worst() {
    std::printf("[ %s / %s ] max |got - want| = %.3g, max |got - want| / tol = %.3g\n", set, kernel,
                abs, ratio);
  }
};

template <class... Args>
std::string where(const char* fmt, Args... args) {
  char buf[160];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

// A float dot product of K terms: tol = 2 sqrt(K + 1) u sum|terms| (see the gemv test).
double dot_tol(int K, double mag) { return kFloor + 2 * std::sqrt(double(K + 1)) * kU * mag; }

// One GemmScratch per thread and the shared packed tokens at exactly the planned sizes, each
// buffer followed by a guard of sentinels that must survive (the kernels stay within their plan).
struct GuardedScratch {
  static constexpr size_t kGuard = 64;
  std::vector<std::vector<float>> bufs;
  std::vector<detail::GemmScratch> scratch;
  float* tokens;
  GuardedScratch(const detail::LinearNeeds& n, int threads) : scratch(size_t(threads)) {
    for (auto& s : scratch) {
      s.tile = add(n.cap_tile);
      s.panel = reinterpret_cast<uint8_t*>(add((n.cap_panel + sizeof(float) - 1) / sizeof(float)));
      s.cap_tile = n.cap_tile, s.cap_panel = n.cap_panel;
    }
    tokens = add(n.cap_tokens);
  }
  float* add(size_t floats) {
    bufs.emplace_back(floats + kGuard, kSentinel);
    return bufs.back().data();
  }
  bool guards_intact() const {
    for (const auto& b : bufs)
      for (size_t i = b.size() - kGuard; i < b.size(); ++i)
        if (!same_bits(b[i], kSentinel)) return false;
    return true;
  }
};

}  // namespace
}  // namespace mamba::test
