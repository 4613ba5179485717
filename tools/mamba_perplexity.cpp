// mamba-perplexity: mean negative log-likelihood and perplexity of a text file (-f, through the
// model's tokenizer), of --ids, or of a uint16 id file (--ids-u16), in fixed memory: tokens go through prefill in chunks, each chunk's logits are scored and dropped.
// With --window W the state is reset every W tokens (each window scored from an empty state, the
// way tools/train_austen.py evaluates), otherwise the whole stream is one sequence.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "examples/cli.h"

namespace {

// Little-endian uint16 ids, the format of the bundled corpus encoding.
mamba::Result<std::vector<int32_t>> read_u16le(const std::string& path, size_t begin, size_t count) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return mamba::Status::error(path + ": cannot open");
  const size_t n = size_t(f.tellg()) / 2;
  if (begin > n) return mamba::Status::error(path + ": --begin " + std::to_string(begin) +
                                             " is past its " + std::to_string(n) + " ids");
  count = std::min(count, n - begin);
  std::vector<unsigned char> raw(count * 2);
  f.seekg(std::streamoff(begin * 2));
  f.read(reinterpret_cast<char*>(raw.data()), std::streamsize(raw.size()));
  std::vector<int32_t> ids(count);
  for (size_t i = 0; i < count; ++i) ids[i] = raw[2 * i] | (raw[2 * i + 1] << 8);
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  const char* prog = "mamba-perplexity";
  CLI::App app{"Mean negative log-likelihood and perplexity of a token sequence"};
  mamba::cli::ModelOptions mo;
  mamba::cli::add_model_options(app, mo);
  std::string u16_path;
  size_t begin = 0, count = size_t(-1) / 4, window = 0;
  double begin_frac = -1;
  mamba::cli::PromptOptions po;  // the text (-f FILE, -p TEXT) or --ids to score
  mamba::cli::add_prompt_options(app, po);
  app.add_option("--ids-u16", u16_path, "file of little-endian uint16 token ids");
  app.add_option("--begin", begin, "first id of --ids-u16 to use");
  app.add_option("--begin-fraction", begin_frac, "start at this fraction of --ids-u16 (0.95: the last 5%)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--count", count, "number of ids to use");
  app.add_option("--window", window, "reset the state every W tokens (0: one sequence)");
  if (const int rc = mamba::cli::parse(app, argc, argv, prog); rc >= 0) return rc;

  std::vector<int32_t> ids;
  if (!u16_path.empty()) {
    if (begin_frac >= 0) {
      std::ifstream f(u16_path, std::ios::binary | std::ios::ate);
      if (!f) return mamba::cli::error(prog, u16_path + ": cannot open");
      // int(n * fraction), as the training script splits.
      begin = size_t(double(size_t(f.tellg()) / 2) * begin_frac);
    }
    auto r = read_u16le(u16_path, begin, count);
    if (!r.ok()) return mamba::cli::error(prog, r.message());
    ids = std::move(r.value());
  } else {
    auto r = mamba::cli::load_prompt(po, mo.dir);
    if (!r.ok()) return mamba::cli::error(prog, r.message());
    if (!r->warning.empty()) std::fprintf(stderr, "%s: warning: %s\n", prog, r->warning.c_str());
    ids = std::move(r->ids);
  }
  if (ids.size() < 2) return mamba::cli::error(prog, "need at least 2 tokens");
  auto loaded = mamba::cli::load(mo);
  if (!loaded.ok()) return mamba::cli::error(prog, loaded.message());
  mamba::Session& s = *loaded->session;
  const size_t V = size_t(loaded->model->config().vocab_size), chunk = size_t(mo.chunk);
  std::vector<float> logits(chunk * V);  // the only buffer: one prefill chunk's logits

  double nll = 0;
  size_t scored = 0;
  const size_t W = window ? window : ids.size();
  for (size_t w0 = 0; w0 + 1 < ids.size(); w0 += W) {
    const size_t w1 = std::min(ids.size(), w0 + W + 1);  // the window predicts ids (w0, w1)
    s.reset();
    for (size_t c0 = w0; c0 + 1 < w1; c0 += chunk) {
      const size_t n = std::min(chunk, w1 - 1 - c0);
      auto r = s.prefill(ids.data() + c0, n, logits.data());
      if (!r.ok()) return mamba::cli::error(prog, r.message());
      for (size_t i = 0; i < n; ++i) {
        const float* row = logits.data() + i * V;
        double mx = row[0], z = 0;
        for (size_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
        for (size_t v = 0; v < V; ++v) z += std::exp(double(row[v]) - mx);
        nll += mx + std::log(z) - row[size_t(ids[c0 + i + 1])];
        ++scored;
      }
    }
  }
  const double mean = nll / double(scored);
  std::printf("tokens scored: %zu\nmean NLL: %.6f\nperplexity: %.4f\n", scored, mean, std::exp(mean));
  return 0;
}
