// mamba-gemv-bench: decode's matrix-vector products alone, against a plain read of as many bytes.
// For a released model's shape it builds every projection and the lm_head at each weight type
// (random values), then times (1) the decode weight pass: every matrix once, in a model's order,
// from DRAM (the pass is larger than the last-level cache), each pass followed by a read of a
// buffer as large; and (2) each kind of matrix alone, repeated, from the cache, to show whether
// the kernel or the memory sets the pace. Medians of --reps. It isolates the GEMVs from
// everything else decode does (scan, conv, norms, threads' start-up), which mamba-bench includes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/linear.h"
#include "core/quantize.h"
#include "platform/arena.h"
#include "simd/kernels.h"
#include "tools/bandwidth.h"
#include "tools/bench_lists.h"
#include "tools/random_checkpoint.h"

namespace {

using namespace mamba;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

struct Shape {
  const char* name;
  int64_t M, K;  // rows (outputs), columns (inputs)
};

// One layer's projections, in the order a decode step runs them, then the lm_head.
std::vector<Shape> layer_shapes(const tools::RandomCheckpoint& c) {
  const int64_t dm = c.d_model, d = int64_t(c.expand) * c.d_model, N = c.d_state;
  if (c.mamba2) {
    const int64_t H = d / c.head_dim, G = c.n_groups;
    return {{"in_proj", 2 * d + 2 * G * N + H, dm}, {"out_proj", dm, d}};
  }
  const int64_t R = c.dt_rank > 0 ? c.dt_rank : (dm + 15) / 16;
  return {{"in_proj", 2 * d, dm}, {"x_proj", R + 2 * N, d}, {"dt_proj", d, R}, {"out_proj", dm, d}};
}

// A matrix of `type` with random values in its own aligned block.
struct Owned {
  simd::Matrix m;
  platform::AlignedBlock block;
};
// rows16: q8/q4 in 16-row groups (simd/matrix.h), as a Model loads them where the kernel set has their loop.
Owned make_matrix(WeightType type, const Shape& s, bool rows16, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  std::vector<float> src(size_t(s.M * s.K));
  for (float& v : src) v = u(rng);
  Owned o{simd::Matrix{type, s.M, s.K, nullptr, nullptr}, {}};
  o.m.rows16 = rows16 && o.m.quantized();
  o.block = platform::aligned_alloc_zeroed(o.m.bytes());
  o.m.place(o.block.get());
  detail::convert_matrix(src.data(), o.m);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"decode's matrix-vector products alone, from DRAM and from cache, against a plain read of as many bytes"};
  std::string preset = "mamba-130m", types = "f32,bf16,f16,q8,q4", threads_list;
  int reps = 11;
  bool row_major = false;
  app.add_option("--preset", preset, "a released model's shape (mamba-130m ... mamba2-2.7b)");
  app.add_option("--types", types, "weight types, comma-separated");
  app.add_option("--threads-list", threads_list, "thread counts, comma-separated (default: 1 and all cores)");
  app.add_option("--reps", reps, "repetitions (the median is reported)")->check(CLI::Range(1, 1000));
  app.add_flag("--row-major", row_major,
               "q8/q4 in the row-major layout even where the kernel set loads 16-row groups (to compare)");
  CLI11_PARSE(app, argc, argv);

  tools::RandomCheckpoint c;
  if (!c.set_preset(preset)) {
    std::fprintf(stderr, "mamba-gemv-bench: error: --preset: unknown model shape '%s'\n", preset.c_str());
    return 1;
  }
  const auto type_list = tools::parse_weight_types(types);
  const auto thread_counts = tools::parse_thread_counts(threads_list);
  for (const Status& st : {type_list.status(), thread_counts.status()})
    if (!st.ok()) {
      std::fprintf(stderr, "mamba-gemv-bench: error: %s\n", st.message().c_str());
      return 1;
    }

  const simd::Kernels& k = simd::kernels();
  const bool rows16 = k.rows16 && !row_major;
  const std::vector<Shape> layer = layer_shapes(c);
  const Shape lm_head{"lm_head", c.vocab_size, c.d_model};
  int64_t max_k = lm_head.K, max_m = lm_head.M;
  for (const Shape& s : layer) max_k = std::max(max_k, s.K), max_m = std::max(max_m, s.M);
  // x [max_k] and y [max_m]; x quantized per block for q8/q4 (simd/matrix.h's QuantizedX).
  const int64_t kp = simd::padded_cols(max_k), nb = kp / simd::kBlock;
  std::vector<float> x(static_cast<size_t>(max_k)), y(static_cast<size_t>(max_m));
  std::vector<float> xd(static_cast<size_t>(nb)), xs(static_cast<size_t>(nb));
  std::vector<int8_t> xq(static_cast<size_t>(kp));
  std::vector<int32_t> xi(static_cast<size_t>(nb));
  std::mt19937 rng(1);
  for (float& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);

  std::printf("%s: %d layers x {", preset.c_str(), c.n_layer);
  for (const Shape& s : layer) std::printf(" %s %lldx%lld", s.name, (long long)s.M, (long long)s.K);
  std::printf(" } + lm_head %lldx%lld; %s kernels (q8/q4 %s); medians of %d\n", (long long)lm_head.M,
              (long long)lm_head.K, k.name, rows16 ? "in 16-row groups" : "row-major", reps);
  std::printf("%-5s %3s %9s %9s %9s %9s %6s  from cache, GB/s:", "type", "thr", "pass MB", "pass ms",
              "GB/s", "read GB/s", "ratio");
  for (const Shape& s : layer) std::printf(" %s", s.name);
  std::printf(" lm_head\n");
  for (WeightType type : *type_list) {
    std::vector<Owned> pass;  // the decode weight pass, in order
    size_t pass_bytes = 0;
    for (int l = 0; l < c.n_layer; ++l)
      for (const Shape& s : layer) pass.push_back(make_matrix(type, s, rows16, rng));
    pass.push_back(make_matrix(type, lm_head, rows16, rng));
    for (const Owned& o : pass) pass_bytes += o.m.bytes();
    tools::ReadProbe probe(pass_bytes);
    for (int threads : *thread_counts) {
      std::vector<detail::GemmScratch> scratch(static_cast<size_t>(threads));
      const detail::LinearCtx ctx{&k, threads, scratch.data(),
                                  {xq.data(), xd.data(), xs.data(), xi.data(), kp}, nullptr};
      const auto run = [&](const simd::Matrix& m) {
        detail::linear(ctx, y.data(), m.rows, x.data(), m.cols, m, nullptr, 1);
      };
      std::vector<double> t_pass, t_read;
      for (int r = 0; r <= reps; ++r) {  // the first: warm-up
        const auto t0 = Clock::now();
        for (const Owned& o : pass) run(o.m);
        const double t = std::chrono::duration<double>(Clock::now() - t0).count();
        const double tr = probe.seconds(threads);
        if (r > 0) t_pass.push_back(t), t_read.push_back(tr);
      }
      const double tp = median(t_pass), rate = double(pass_bytes) / tp / 1e9,
                   read = double(probe.bytes()) / median(t_read) / 1e9;
      std::printf("%-5s %3d %9.1f %9.3f %9.1f %9.1f %6.2f  ", weight_type_name(type), threads,
                  pass_bytes / 1e6, tp * 1e3, rate, read, rate / read);
      // Each kind alone: layer 0's matrix (and the lm_head), repeated, warm in the cache.
      std::vector<const simd::Matrix*> kinds;
      for (size_t i = 0; i < layer.size(); ++i) kinds.push_back(&pass[i].m);
      kinds.push_back(&pass.back().m);
      for (const simd::Matrix* m : kinds) {
        const int inner = int(std::max<size_t>(1, (size_t(64) << 20) / m->bytes()));  // ~64 MB a timing
        std::vector<double> t;
        for (int r = 0; r <= reps; ++r) {
          const auto t0 = Clock::now();
          for (int i = 0; i < inner; ++i) run(*m);
          if (r > 0) t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / inner);
        }
        std::printf(" %.1f", double(m->bytes()) / median(t) / 1e9);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  return 0;
}
