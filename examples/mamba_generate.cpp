// mamba-generate: continues a prompt. A text prompt (-p / -f, encoded by the model directory's
// tokenizer or --tokenizer) streams the continuation as text, token by token, through TextStream
// (so no partial UTF-8 character is ever printed); --ids prints the new ids instead (or text, if
// --tokenizer is given). -n -1 generates until the end-of-sequence token (never, with --ignore-eos)
// or Ctrl-C: SIGINT ends generation cleanly, flushing the text and printing the timings.
// --save-state F writes the recurrent state after the run (the prompt and every generated token
// fed in); --load-state F starts from one, the prompt (optional then) continuing it: a prompt cache.
#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "examples/cli.h"

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_sigint(int) { g_interrupted = 1; }
}  // namespace

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
  app.add_option("-n,--n-predict", n_new, "tokens to generate; -1 = until EOS or Ctrl-C")
      ->check(CLI::Range(int64_t(-1), int64_t(1) << 50));
  app.add_option("--temp", sp.temperature, "sampling temperature; 0 = greedy (default)");
  app.add_option("--top-k", sp.top_k, "keep the k most likely tokens (0 = all)");
  app.add_option("--top-p", sp.top_p, "keep the smallest set of tokens with this much mass");
  app.add_option("--min-p", sp.min_p, "drop tokens less likely than this times the most likely");
  app.add_option("--repeat-penalty", sp.repetition_penalty,
                 "penalise tokens among the last --repeat-last-n (1 = off)");
  app.add_option("--repeat-last-n", sp.repeat_last_n, "tokens the repetition penalty looks back");
  app.add_option("--seed", sp.seed, "random seed for sampling");
  app.add_flag("--ignore-eos", ignore_eos, "keep going after the end-of-sequence token");
  std::vector<std::string> stops;
  app.add_option("--stop", stops, "stop when the text contains this string (repeatable)");
  std::string save_state, load_state;
  app.add_option("--save-state", save_state,
                 "after the run, write the state (prompt + generated tokens) to this file");
  app.add_option("--load-state", load_state,
                 "start from a state written by --save-state; the prompt, optional, continues it");
  bool stats = false;
  app.add_flag("--stats", stats, "(kept for scripts: timings are always printed to stderr)");
  if (const int rc = mamba::cli::parse(app, argc, argv, prog); rc >= 0) return rc;
  for (const std::string& st : stops)
    if (st.empty()) return mamba::cli::error(prog, "--stop: empty stop string");

  using clock = std::chrono::steady_clock;
  const auto t_load = clock::now();

  po.continues = !load_state.empty();
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
  if (!stops.empty() && !prompt->tokenizer)
    return mamba::cli::error(prog, "--stop needs text output (a tokenizer)");

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
  // Stop strings: text that could still become one is held back until it cannot.
  std::string pending;
  pending.reserve(1 << 16);  // far beyond any token's text plus a stop string: no reallocation
  bool stopped = false;
  auto flush_text = [&](bool at_end) {
    size_t keep = 0;  // longest suffix of pending that starts a stop string
    for (const std::string& st : stops) {
      if (const size_t at = pending.find(st); at != std::string::npos) {
        std::fwrite(pending.data(), 1, at, stdout);
        pending.clear();
        stopped = true;
        return;
      }
      for (size_t n = std::min(st.size() - 1, pending.size()); n > keep; --n)
        if (pending.compare(pending.size() - n, n, st, 0, n) == 0) { keep = n; break; }
    }
    if (at_end) keep = 0;
    std::fwrite(pending.data(), 1, pending.size() - keep, stdout);
    pending.erase(0, pending.size() - keep);
  };
  auto emit = [&](int64_t i, int32_t id) {
    if (!as_text) {
      std::printf(i ? ",%d" : "%d", id);
    } else if (auto chunk = text.push(id); chunk.ok()) {
      pending.append(chunk->data(), chunk->size());
      flush_text(false);
    } else {
      ++untokenized;
    }
    std::fflush(stdout);
  };

  // Ctrl-C ends generation after the current token, like the end of -n.
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  const bool forever = n_new < 0;

  double state_ms = 0;  // loading and saving the state
  auto ms_since = [](clock::time_point t) {
    return std::chrono::duration<double, std::milli>(clock::now() - t).count();
  };
  if (!load_state.empty()) {
    const auto t = clock::now();
    auto blob = mamba::cli::read_input(load_state);
    if (!blob.ok()) return mamba::cli::error(prog, blob.message());
    if (auto st = s.load_state(blob->data(), blob->size()); !st.ok())
      return mamba::cli::error(prog, load_state + ": " + st.message());
    state_ms += ms_since(t);
  }

  for (int32_t id : ids) sampler->accept(id);
  const auto t0 = clock::now();
  mamba::Result<const float*> logits = s.logits();  // a restored state's, if no prompt follows
  if (!ids.empty()) logits = s.prefill(ids.data(), ids.size());
  if (!logits.ok()) return mamba::cli::error(prog, logits.message());
  const auto t1 = clock::now();
  int64_t steps = 0;
  int32_t unfed = -1;  // the last generated token, printed but not yet run through the model
  for (int64_t i = 0; (forever || i < n_new) && !g_interrupted; ++i) {
    const int32_t id = sampler->sample(logits.value());
    if (id == c.eos_token_id && !ignore_eos) {  // like HF generate: EOS ends the sequence
      if (!as_text) emit(i, id);                // (the id list shows it; text does not)
      break;
    }
    emit(i, id);
    sampler->accept(id);
    unfed = id;
    if (stopped) break;
    if (forever || i + 1 < n_new) {
      logits = s.step(id);
      unfed = -1;
      ++steps;
    }
  }
  const auto t2 = clock::now();
  if (!save_state.empty()) {  // the state after everything printed (not an EOS that ended it)
    if (unfed >= 0) s.step(unfed);
    const auto t = clock::now();
    std::vector<uint8_t> blob(s.state_bytes());
    if (auto st = s.save_state(blob.data(), blob.size()); !st.ok())
      return mamba::cli::error(prog, st.message());
    if (auto st = mamba::cli::write_file(save_state, blob.data(), blob.size()); !st.ok())
      return mamba::cli::error(prog, st.message());
    state_ms += ms_since(t);
  }
  if (as_text && !stopped) {
    const std::string_view tail = text.finish();
    pending.append(tail.data(), tail.size());
    flush_text(true);
  }
  std::printf("\n");
  if (untokenized)
    std::fprintf(stderr, "%s: warning: %lld generated ids are outside the tokenizer's vocabulary [0, %d) and were not printed\n",
                 prog, (long long)untokenized, prompt->tokenizer->vocab_size());
  (void)stats;
  const double load_ms = std::chrono::duration<double, std::milli>(t0 - t_load).count();
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
  const double decode_s = std::chrono::duration<double>(t2 - t1).count();
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  char state[96] = "";
  if (!load_state.empty() || !save_state.empty())
    std::snprintf(state, sizeof state, "; state %zu bytes, %s%s%s in %.1f ms", s.state_bytes(),
                  load_state.empty() ? "" : "loaded",
                  load_state.empty() || save_state.empty() ? "" : " and ",
                  save_state.empty() ? "" : "saved", state_ms);
  std::fprintf(stderr,
               "%sload: %.0f ms; prefill: %zu tokens in %.3f s (%.1f tokens/s); decode: %lld steps "
               "in %.3f s (%.1f tokens/s); peak memory %.1f MiB; session %.1f MiB%s\n",
               g_interrupted ? "interrupted; " : "", load_ms, ids.size(), prefill_s,
               ids.empty() ? 0.0 : double(ids.size()) / prefill_s, (long long)steps, decode_s,
               steps ? double(steps) / decode_s : 0.0, double(ru.ru_maxrss) / 1024.0,
               double(s.bytes()) / (1 << 20), state);
  return 0;
}
