// mamba-bench: prefill and decode speed of a model at each weight type and thread count, next to
// the memory bandwidth this machine gives in the same run. Decode at batch 1 streams every weight
// once per token, so its ceiling is bandwidth / weight bytes per token; the table shows how close
// it comes. Each figure is the median of --reps runs after one warm-up.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "examples/cli.h"
#include "mamba/mamba.h"
#include "tools/bandwidth.h"
#include "tools/bench_lists.h"
#include "tools/random_checkpoint.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace mamba;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Peak resident memory since the last reset, in MiB (Linux: VmHWM, reset through clear_refs).
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }
double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

int argmax(const float* v, int n) { return int(std::max_element(v, v + n) - v); }

struct Row {
  std::string weights;
  int threads = 0;
  double load_s = 0, weight_mib = 0;
  double state_mib = 0;  // the recurrent state (conv + SSM) each decode step reads and rewrites
  std::vector<std::pair<int, double>> prefill_tps, ttft_ms;  // per prompt length
  double decode_tps = 0, peak_mib = 0, bandwidth_gbs = 0;
  double effective_gbs() const { return weight_mib * 1048576.0 * decode_tps / 1e9; }
  // Weights read plus state read and written: what a step moves (Mamba-2's state is large:
  // 18 MiB for mamba2-130m against 70 MiB of q4 weights).
  double moved_gbs() const { return (weight_mib + 2 * state_mib) * 1048576.0 * decode_tps / 1e9; }
};

struct Options {
  cli::ModelOptions model;
  std::string preset, weights = "f32", threads, prompts = "128,512";
  int decode = 128, reps = 3;
  std::string json;
};

std::vector<int> parse_ints(const std::string& s, const char* flag) {
  auto ids = cli::parse_ids(s);
  if (!ids.ok() || ids->empty()) {
    std::fprintf(stderr, "mamba-bench: error: %s: expected comma-separated integers, got \"%s\"\n",
                 flag, s.c_str());
    std::exit(1);
  }
  return std::vector<int>(ids->begin(), ids->end());
}

Result<Row> bench(const Options& o, const std::string& dir, WeightType type, int threads,
                  const std::vector<int>& prompts) {
  Row row;
  row.weights = weight_type_name(type);
  row.threads = threads;
  reset_peak_rss();
  LoadOptions lo;
  lo.weights = type;
  const auto t_load = Clock::now();
  auto model = Model::load(dir, lo);
  if (!model.ok()) return model.status();
  row.load_s = seconds_since(t_load);
  row.weight_mib = double((*model)->weight_bytes()) / 1048576.0;
  const Config& c = (*model)->config();
  row.state_mib = double(c.n_layer) * double(c.conv_state_floats() + c.ssm_state_floats()) *
                  sizeof(float) / 1048576.0;
  SessionLimits lim;
  lim.n_threads = threads;
  lim.prefill_chunk = o.model.chunk;
  auto session = Session::create(*model, lim);
  if (!session.ok()) return session.status();
  Session& s = **session;
  const int V = (*model)->config().vocab_size;
  const int longest = *std::max_element(prompts.begin(), prompts.end());
  std::vector<int32_t> ids(static_cast<size_t>(longest));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919 + 11) % size_t(V));

  for (int n : prompts) {
    std::vector<double> tps, ttft;
    for (int r = 0; r <= o.reps; ++r) {  // r == 0: warm-up
      s.reset();
      const auto t0 = Clock::now();
      auto lg = s.prefill(ids.data(), size_t(n));
      if (!lg.ok()) return lg.status();
      const double t_prefill = seconds_since(t0);
      (void)argmax(lg.value(), V);  // the first token is known here
      const double t_first = seconds_since(t0);
      if (r > 0) {
        tps.push_back(n / t_prefill);
        ttft.push_back(1e3 * t_first);
      }
    }
    row.prefill_tps.push_back({n, median(tps)});
    row.ttft_ms.push_back({n, median(ttft)});
  }
  std::vector<double> dec;
  for (int r = 0; r <= o.reps; ++r) {
    s.reset();
    auto lg = s.prefill(ids.data(), std::min<size_t>(ids.size(), 128));
    if (!lg.ok()) return lg.status();
    const float* logits = lg.value();
    const auto t0 = Clock::now();
    for (int i = 0; i < o.decode; ++i) logits = s.step(argmax(logits, V)).value();
    if (r > 0) dec.push_back(o.decode / seconds_since(t0));
  }
  row.decode_tps = median(dec);
  row.peak_mib = peak_rss_mib();
  // The rate this machine reads a buffer as large as the weights right now, with the same
  // threads (a median of several reads): what decode could at best stream them at.
  row.bandwidth_gbs = tools::read_bandwidth_gbs(threads, (*model)->weight_bytes(), 9);
  return row;
}

void print_table(const std::vector<Row>& rows, const std::vector<int>& prompts) {
  std::printf("%-7s %3s %9s %8s", "weights", "thr", "MiB/tok", "load s");
  for (int n : prompts) std::printf(" %11s %9s", ("pp" + std::to_string(n) + " t/s").c_str(),
                                    ("ttft" + std::to_string(n)).c_str());
  std::printf(" %9s %9s %9s %6s %8s %8s\n", "tg t/s", "eff GB/s", "mem GB/s", "%bw", "+state", "peak MiB");
  for (const Row& r : rows) {
    std::printf("%-7s %3d %9.1f %8.2f", r.weights.c_str(), r.threads, r.weight_mib, r.load_s);
    for (size_t i = 0; i < prompts.size(); ++i)
      std::printf(" %11.1f %7.1fms", r.prefill_tps[i].second, r.ttft_ms[i].second);
    std::printf(" %9.1f %9.1f %9.1f %5.0f%% %7.0f%% %8.0f\n", r.decode_tps, r.effective_gbs(),
                r.bandwidth_gbs, 100.0 * r.effective_gbs() / r.bandwidth_gbs,
                100.0 * r.moved_gbs() / r.bandwidth_gbs, r.peak_mib);
  }
}

nlohmann::json to_json(const std::vector<Row>& rows, const std::string& model) {
  nlohmann::json j;
  j["model"] = model;
  for (const Row& r : rows) {
    nlohmann::json e = {{"weights", r.weights},     {"threads", r.threads},
                        {"weight_mib_per_token", r.weight_mib}, {"load_s", r.load_s},
                        {"decode_tokens_per_s", r.decode_tps},  {"effective_weight_gbs", r.effective_gbs()},
                        {"measured_bandwidth_gbs", r.bandwidth_gbs}, {"peak_rss_mib", r.peak_mib},
                        {"state_mib", r.state_mib}, {"moved_gbs", r.moved_gbs()}};
    for (size_t i = 0; i < r.prefill_tps.size(); ++i) {
      const std::string n = std::to_string(r.prefill_tps[i].first);
      e["prefill_tokens_per_s"][n] = r.prefill_tps[i].second;
      e["ttft_ms"][n] = r.ttft_ms[i].second;
    }
    j["runs"].push_back(e);
  }
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Prefill/decode speed per weight type and thread count, with this machine's memory "
               "bandwidth measured in the same run"};
  Options o;
  cli::add_model_options(app, o.model);
  app.add_option("--preset", o.preset,
                 "instead of -m: a random checkpoint at a real model's shape (mamba-130m ... "
                 "mamba2-2.7b, see mamba-random-checkpoint), written to a temporary directory");
  app.add_option("--types", o.weights, "weight types to run, comma-separated (f32,bf16,f16,q8,q4)");
  app.add_option("--threads-list", o.threads, "thread counts, comma-separated (default: 1 and all cores)");
  app.add_option("--prompts", o.prompts, "prompt lengths for prefill, comma-separated");
  app.add_option("--decode", o.decode, "tokens to decode")->check(CLI::Range(1, 1 << 20));
  app.add_option("--reps", o.reps, "repetitions (the median is reported)")->check(CLI::Range(1, 100));
  app.add_option("--json", o.json, "also write the results as JSON to this file");
  if (const int rc = cli::parse(app, argc, argv, "mamba-bench"); rc >= 0) return rc;

  std::string dir = o.model.dir;
  std::string tmp;
  if (!o.preset.empty()) {
    tools::RandomCheckpoint rc;
    if (!rc.set_preset(o.preset)) return cli::error("mamba-bench", "unknown preset \"" + o.preset + "\"");
    tmp = (std::filesystem::temp_directory_path() / ("mamba-bench-" + o.preset + "-" +
                                                      std::to_string(::getpid()))).string();
    if (std::string err = rc.write_to(tmp); !err.empty()) return cli::error("mamba-bench", err);
    dir = tmp;
  }
  const auto types = tools::parse_weight_types(o.weights);
  if (!types.ok()) return cli::error("mamba-bench", types.message());
  const auto threads = tools::parse_thread_counts(o.threads);
  if (!threads.ok()) return cli::error("mamba-bench", threads.message());
  const std::vector<int> prompts = parse_ints(o.prompts, "--prompts");
  for (int n : prompts)
    if (n < 1) return cli::error("mamba-bench", "--prompts: lengths must be >= 1");

  std::vector<Row> rows;
  int status = 0;
  for (WeightType t : *types)
    for (int th : *threads) {
      auto r = bench(o, dir, t, th, prompts);
      if (!r.ok()) {
        status = cli::error("mamba-bench", r.message());
        break;
      }
      rows.push_back(*r);
    }
  if (!tmp.empty()) std::filesystem::remove_all(tmp);
  if (status) return status;
  std::printf("model: %s\n", o.preset.empty() ? dir.c_str() : ("preset " + o.preset).c_str());
  print_table(rows, prompts);
  if (!o.json.empty()) {
    std::ofstream f(o.json);
    f << to_json(rows, o.preset.empty() ? dir : o.preset).dump(2) << "\n";
    if (!f) return cli::error("mamba-bench", o.json + ": cannot write");
  }
  return 0;
}
