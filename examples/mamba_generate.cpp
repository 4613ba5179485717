// mamba-generate: continues a prompt. A text prompt (-p / -f, encoded by the model directory's
// tokenizer or --tokenizer) streams the continuation as text, token by token, through TextStream
// (so no partial UTF-8 character is ever printed); --ids prints the new ids instead (or text, if
// --tokenizer is given).
#include <chrono>
#include <cstdio>

#include "examples/cli.h"

int main(int argc, char** argv) {
  const char* prog = "mamba-generate";
  CLI::App app{"Generates text (or token ids) from a Mamba checkpoint"};
  mamba::cli::ModelOptions mo;
  mamba::cli::add_model_options(app, mo);
  mamba::cli::PromptOptions po;
  mamba::cli::add_prompt_options(app, po);
  int64_t n_new = 16;
  bool ignore_eos = false;
  mamba::SamplerParams sp;
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

  auto prompt = mamba::cli::load_prompt(po, mo.dir);
  if (!prompt.ok()) return mamba::cli::error(prog, prompt.message());
  if (!prompt->warning.empty()) std::fprintf(stderr, "%s: warning: %s\n", prog, prompt->warning.c_str());
  const std::vector<int32_t>& ids = prompt->ids;
  auto loaded = mamba::cli::load(mo);
  if (!loaded.ok()) return mamba::cli::error(prog, loaded.message());
  if (auto fits = mamba::cli::check_prompt_fits(*prompt, *loaded->model); !fits.ok())
    return mamba::cli::error(prog, fits.message());
  const mamba::Config& c = loaded->model->config();
  auto sampler = mamba::Sampler::create(c.vocab_size, sp);
  if (!sampler.ok()) return mamba::cli::error(prog, sampler.message());
  mamba::Session& s = *loaded->session;

  // Text out: special tokens (EOS under --ignore-eos, padding) are not printed.
  mamba::TextStream text;
  const bool as_text = prompt->tokenizer != nullptr;
  if (as_text) {
    mamba::DecodeOptions o;
    o.skip_special_tokens = true;
    auto t = mamba::TextStream::create(prompt->tokenizer, o);
    if (!t.ok()) return mamba::cli::error(prog, t.message());
    text = std::move(t.value());
  }
  int64_t untokenized = 0;  // generated ids the tokenizer has no text for (model vocab > its)
  auto emit = [&](int64_t i, int32_t id) {
    if (!as_text) {
      std::printf(i ? ",%d" : "%d", id);
    } else if (auto chunk = text.push(id); chunk.ok()) {
      std::fwrite(chunk->data(), 1, chunk->size(), stdout);
    } else {
      ++untokenized;
    }
    std::fflush(stdout);
  };

  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto logits = s.prefill(ids.data(), ids.size());
  if (!logits.ok()) return mamba::cli::error(prog, logits.message());
  const auto t1 = clock::now();
  int64_t steps = 0;
  for (int64_t i = 0; i < n_new; ++i) {
    const int32_t id = sampler->sample(logits.value());
    if (id == c.eos_token_id && !ignore_eos) {  // like HF generate: EOS ends the sequence
      if (!as_text) emit(i, id);                // (the id list shows it; text does not)
      break;
    }
    emit(i, id);
    if (i + 1 < n_new) {
      logits = s.step(id);
      ++steps;
    }
  }
  if (as_text) {
    const std::string_view tail = text.finish();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
  }
  std::printf("\n");
  if (untokenized)
    std::fprintf(stderr, "%s: warning: %lld generated ids are outside the tokenizer's vocabulary [0, %d) and were not printed\n",
                 prog, (long long)untokenized, prompt->tokenizer->vocab_size());
  if (stats) {
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(clock::now() - t1).count();
    std::fprintf(stderr, "prefill: %zu tokens in %.3f s (%.1f tokens/s); decode: %lld steps in %.3f s (%.1f tokens/s)\n",
                 ids.size(), prefill_s, double(ids.size()) / prefill_s, (long long)steps, decode_s,
                 steps ? double(steps) / decode_s : 0.0);
  }
  return 0;
}
