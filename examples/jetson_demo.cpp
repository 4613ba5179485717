// mamba-jetson-demo: an interactive streaming generator for edge devices. Reads prompts from stdin,
// one per line; for each, prefills it on the GPU (GpuPrefill, when this build has CUDA and a
// device is there) or on the CPU, then decodes on the CPU, streaming the text as it is generated.
// At start it prints the memory budget (host weights + session + GPU plan) and refuses to start
// if --budget-mib is given and exceeded; after each turn, time to first token, prefill and decode
// speed and peak memory. Everything is allocated before the first prompt: the decode loop
// (sample, step, stream) allocates nothing.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "examples/cli.h"
#include "mamba/gpu.h"

namespace {

using clock_type = std::chrono::steady_clock;

double mib(size_t bytes) { return double(bytes) / (1 << 20); }

double peak_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

double seconds(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Bytes of weights the model keeps in host memory: what decode reads per token, plus the rest of
// an untied embedding table, of which decode reads one row (q8/q4 rows are padded a little more).
size_t host_weight_bytes(const mamba::Model& m) {
  const mamba::Config& c = m.config();
  if (c.tie_word_embeddings) return m.weight_bytes();
  const mamba::WeightType t = m.weight_type();
  const double per_weight = t == mamba::WeightType::f32   ? 4.0
                            : t == mamba::WeightType::q8  ? 34.0 / 32
                            : t == mamba::WeightType::q4  ? 18.0 / 32
                                                          : 2.0;
  const double row = per_weight * c.d_model;
  return m.weight_bytes() + size_t(row * (c.vocab_size - 1));
}

}  // namespace

int main(int argc, char** argv) {
  const char* prog = "mamba-jetson-demo";
  CLI::App app{"Interactive streaming generation: prompts from stdin, one per line; GPU prefill "
               "(when built with CUDA and a device is present), CPU decode"};
  mamba::cli::ModelOptions mo;
  mamba::cli::add_model_options(app, mo);
  std::string tokenizer_path;
  app.add_option("--tokenizer", tokenizer_path, "tokenizer directory or file (default: the model's)");
  int64_t n_new = 200;
  app.add_option("-n,--n-predict", n_new, "most tokens to generate per prompt")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  mamba::SamplerParams sp;
  app.add_option("--temp", sp.temperature, "sampling temperature; 0 = greedy (default)");
  app.add_option("--top-k", sp.top_k, "keep the k most likely tokens (0 = all)");
  app.add_option("--top-p", sp.top_p, "keep the smallest set of tokens with this much mass");
  app.add_option("--min-p", sp.min_p, "drop tokens less likely than this times the most likely");
  app.add_option("--repeat-penalty", sp.repetition_penalty, "penalise recent tokens (1 = off)");
  app.add_option("--repeat-last-n", sp.repeat_last_n, "tokens the repetition penalty looks back");
  app.add_option("--seed", sp.seed, "random seed for sampling");
  bool ignore_eos = false, keep_context = false, cpu_only = false;
  app.add_flag("--ignore-eos", ignore_eos, "keep going after the end-of-sequence token");
  app.add_flag("--keep-context", keep_context,
               "each prompt continues the conversation so far (default: each starts afresh)");
  mamba::GpuLimits gl;
  std::string precision = "bf16";
  int gpu_min_tokens = 32;
  double budget_mib = 0;
  app.add_flag("--cpu", cpu_only, "prefill on the CPU even when a GPU is available");
  app.add_option("--precision", precision, "GPU projection precision: bf16 (default), f16, fp32")
      ->check(CLI::IsMember({"bf16", "f16", "fp32"}));
  app.add_option("--gpu-chunk", gl.max_chunk, "tokens per GPU pass (sizes the GPU scratch)")
      ->check(CLI::Range(1, 65536));
  app.add_option("--gpu-device", gl.device, "CUDA device ordinal")->check(CLI::Range(0, 1023));
  app.add_option("--gpu-min-tokens", gpu_min_tokens,
                 "shorter prompts are prefilled on the CPU (a GPU pass has a fixed cost)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--budget-mib", budget_mib,
                 "refuse to start if weights + session + GPU plan exceed this many MiB (0 = no limit)")
      ->check(CLI::Range(0.0, 1e9));
  if (const int rc = mamba::cli::parse(app, argc, argv, prog); rc >= 0) return rc;
  gl.precision = precision == "fp32"  ? mamba::GpuPrecision::fp32
                 : precision == "f16" ? mamba::GpuPrecision::f16
                                      : mamba::GpuPrecision::bf16;

  // ---- everything is set up (and every byte allocated) before the first prompt ----------------
  auto tok = mamba::Tokenizer::load(tokenizer_path.empty() ? mo.dir : tokenizer_path);
  if (!tok.ok())
    return mamba::cli::error(prog, tok.message() + (tokenizer_path.empty() ? "; give --tokenizer PATH" : ""));
  auto loaded = mamba::cli::load(mo);
  if (!loaded.ok()) return mamba::cli::error(prog, loaded.message());
  const mamba::Model& model = *loaded->model;
  const mamba::Config& c = model.config();
  mamba::Session& s = *loaded->session;
  mamba::DecodeOptions dopt;
  dopt.skip_special_tokens = true;
  auto text = mamba::TextStream::create(tok.value(), dopt);
  if (!text.ok()) return mamba::cli::error(prog, text.message());
  auto sampler = mamba::Sampler::create(c.vocab_size, sp);
  if (!sampler.ok()) return mamba::cli::error(prog, sampler.message());

  std::unique_ptr<mamba::GpuPrefill> gpu;
  std::string prefill_where = "CPU";
  if (cpu_only) {
    prefill_where += " (--cpu)";
  } else if (!mamba::GpuPrefill::built()) {
    prefill_where += " (this build has no GPU support: configure with -DMAMBA_CUDA=ON)";
  } else if (mamba::GpuPrefill::device_count() == 0) {
    prefill_where += " (no CUDA device found)";
  } else {
    auto plan = mamba::GpuPrefill::plan(model, gl);
    if (!plan.ok()) return mamba::cli::error(prog, plan.message());
    auto g = mamba::GpuPrefill::create(loaded->model, gl);
    if (!g.ok()) {
      std::fprintf(stderr, "%s: warning: GPU prefill unavailable, using the CPU: %s\n", prog,
                   g.message().c_str());
      prefill_where += " (GPU unavailable)";
    } else {
      gpu = std::move(g.value());
      prefill_where = "GPU " + gpu->device_name() + ", " + mamba::to_string(gl.precision) +
                      ", passes of " + std::to_string(gl.max_chunk) + " tokens; prompts under " +
                      std::to_string(gpu_min_tokens) + " tokens on the CPU";
    }
  }
  const size_t weights = host_weight_bytes(model), session = s.bytes(), stream = text->capacity();
  const size_t gpu_bytes = gpu ? gpu->memory().total() : 0;
  const double total_mib = mib(weights + session + stream + gpu_bytes);
  std::fprintf(stderr, "%s: model %s (%s, %d layers, d_model %d), decode on the CPU\n", prog,
               mo.dir.c_str(), c.model_type.c_str(), c.n_layer, c.d_model);
  std::fprintf(stderr, "%s: prefill on the %s\n", prog, prefill_where.c_str());
  if (gpu) {
    const mamba::GpuMemory& g = gpu->memory();
    std::fprintf(stderr,
                 "%s: memory budget %.1f MiB = host weights %.1f + session %.1f + text stream %.2f "
                 "+ GPU plan %.1f (weights %.1f, state %.1f, scratch %.1f, cuBLAS workspace %.1f)\n",
                 prog, total_mib, mib(weights), mib(session), mib(stream), mib(gpu_bytes),
                 mib(g.weights), mib(g.state), mib(g.scratch), mib(g.workspace));
  } else {
    std::fprintf(stderr, "%s: memory budget %.1f MiB = host weights %.1f + session %.1f + text "
                 "stream %.2f\n", prog, total_mib, mib(weights), mib(session), mib(stream));
  }
  if (budget_mib > 0 && total_mib > budget_mib)
    return mamba::cli::error(prog, "the memory budget " + std::to_string(total_mib) +
                                       " MiB exceeds --budget-mib " + std::to_string(budget_mib) +
                                       " (try a smaller --chunk or --gpu-chunk, or --cpu)");
  std::fprintf(stderr, "%s: ready: one prompt per line, end with EOF (Ctrl-D)\n", prog);

  // ---- the turns ---------------------------------------------------------------------------
  const mamba::SpecialTokens& sp_tok = (*tok)->special();
  std::string line;
  std::vector<int32_t> ids;
  int turn = 0;
  int32_t pending = -1;  // --keep-context: the last sampled token, not yet fed to the session
  bool failed = false;   // a turn failed: reported, skipped, and the exit status is 1
  auto turn_error = [&](const std::string& message) {
    mamba::cli::error(prog, "turn " + std::to_string(turn) + ": " + message);
    failed = true;
  };
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    ++turn;
    const auto t_read = clock_type::now();
    auto enc = (*tok)->encode(line);
    if (!enc.ok()) {
      turn_error(enc.message());
      continue;
    }
    size_t bad = enc->size();
    for (size_t i = 0; i < enc->size() && bad == enc->size(); ++i)
      if ((*enc)[i] >= c.vocab_size) bad = i;
    if (bad < enc->size()) {
      turn_error("prompt token id " + std::to_string((*enc)[bad]) + " at position " +
                 std::to_string(bad) + " is outside the model's vocabulary [0, " +
                 std::to_string(c.vocab_size) + "): is this the model's tokenizer?");
      continue;
    }
    ids.clear();
    if (keep_context && pending >= 0) ids.push_back(pending);
    if ((!keep_context || s.n_past() == 0) && sp_tok.add_bos && sp_tok.bos >= 0)
      ids.push_back(sp_tok.bos);
    ids.insert(ids.end(), enc->begin(), enc->end());
    if (ids.empty()) continue;
    if (!keep_context) s.reset();
    pending = -1;

    const bool on_gpu = gpu && int64_t(ids.size()) >= gpu_min_tokens;
    const auto t0 = clock_type::now();
    auto logits = on_gpu ? gpu->prefill(s, ids.data(), ids.size()) : s.prefill(ids.data(), ids.size());
    if (!logits.ok()) return mamba::cli::error(prog, logits.message());
    const auto t1 = clock_type::now();
    for (int32_t id : ids) sampler->accept(id);

    clock_type::time_point t_first = t1;
    int64_t generated = 0, steps = 0;
    for (int64_t i = 0; i < n_new; ++i) {
      const int32_t id = sampler->sample(logits.value());
      if (id == sp_tok.eos && id >= 0 && !ignore_eos) break;
      sampler->accept(id);
      ++generated;
      if (auto chunk = text->push(id); chunk.ok()) {
        std::fwrite(chunk->data(), 1, chunk->size(), stdout);
        std::fflush(stdout);
      }
      if (i == 0) t_first = clock_type::now();
      if (i + 1 < n_new) {
        logits = s.step(id);
        if (!logits.ok()) return mamba::cli::error(prog, logits.message());
        ++steps;
      } else {
        pending = id;
      }
    }
    const std::string_view tail = text->finish();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    const auto t2 = clock_type::now();
    const double prefill_s = seconds(t0, t1), decode_s = seconds(t1, t2);
    std::fprintf(stderr,
                 "%s: turn %d: prompt %zu tokens, prefill on the %s %.1f ms (%.1f tokens/s); time "
                 "to first token %.1f ms; decode %lld tokens in %.3f s (%.1f tokens/s); peak "
                 "memory %.1f MiB (host RSS)%s\n",
                 prog, turn, ids.size(), on_gpu ? "GPU" : "CPU", prefill_s * 1e3,
                 double(ids.size()) / prefill_s, seconds(t_read, generated ? t_first : t1) * 1e3,
                 (long long)generated, decode_s, steps ? double(steps) / decode_s : 0.0,
                 peak_rss_mib(),
                 gpu ? (" + " + std::to_string(int(mib(gpu_bytes) + 0.5)) + " MiB GPU plan").c_str()
                     : "");
  }
  return failed ? 1 : 0;
}
