// mamba-generate: continues a prompt of token ids, printing each new id as it is produced.
#include <chrono>
#include <cstdio>

#include "examples/cli.h"

int main(int argc, char** argv) {
  const char* prog = "mamba-generate";
  CLI::App app{"Generates token ids from a Mamba checkpoint"};
  mamba::cli::ModelOptions mo;
  mamba::cli::add_model_options(app, mo);
  std::string ids_text;
  int64_t n_new = 16;
  bool ignore_eos = false;
  mamba::SamplerParams sp;
  app.add_option("--ids", ids_text, "prompt: comma-separated token ids")->required();
  app.add_option("-n,--n-predict", n_new, "tokens to generate")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 50));
  app.add_option("--temp", sp.temperature, "sampling temperature; 0 = greedy (default)");
  app.add_option("--top-k", sp.top_k, "keep the k most likely tokens (0 = all)");
  app.add_option("--top-p", sp.top_p, "keep the smallest set of tokens with this much mass");
  app.add_option("--seed", sp.seed, "random seed for sampling");
  app.add_flag("--ignore-eos", ignore_eos, "keep going after the end-of-sequence token");
  bool stats = false;
  app.add_flag("--stats", stats, "print prefill and decode speed to stderr");
  CLI11_PARSE(app, argc, argv);

  auto ids = mamba::cli::parse_ids(ids_text);
  if (!ids.ok()) return mamba::cli::error(prog, ids.message());
  auto loaded = mamba::cli::load(mo);
  if (!loaded.ok()) return mamba::cli::error(prog, loaded.message());
  const mamba::Config& c = loaded->model->config();
  auto sampler = mamba::Sampler::create(c.vocab_size, sp);
  if (!sampler.ok()) return mamba::cli::error(prog, sampler.message());
  mamba::Session& s = *loaded->session;

  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto logits = s.prefill(ids->data(), ids->size());
  if (!logits.ok()) return mamba::cli::error(prog, logits.message());
  const auto t1 = clock::now();
  int64_t steps = 0;
  for (int64_t i = 0; i < n_new; ++i) {
    const int32_t id = sampler->sample(logits.value());
    std::printf(i ? ",%d" : "%d", id);
    std::fflush(stdout);
    if (id == c.eos_token_id && !ignore_eos) break;  // like HF generate: EOS ends the sequence
    if (i + 1 < n_new) {
      logits = s.step(id);
      ++steps;
    }
  }
  std::printf("\n");
  if (stats) {
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(clock::now() - t1).count();
    std::fprintf(stderr, "prefill: %zu tokens in %.3f s (%.1f tokens/s); decode: %lld steps in %.3f s (%.1f tokens/s)\n",
                 ids->size(), prefill_s, double(ids->size()) / prefill_s, (long long)steps, decode_s,
                 steps ? double(steps) / decode_s : 0.0);
  }
  return 0;
}
