// mamba-logits: the logits of every position of a token sequence, as float32 .npy [T, vocab].
// Positions before --decode-from come from one prefill, the rest from one step() each, so the
// two paths can be compared against a reference. The sequence is --ids, or text (-p / -f) encoded
// by the model directory's tokenizer or --tokenizer.
#include <cstdio>
#include <vector>

#include "examples/cli.h"

namespace {

// NumPy .npy v1.0: magic, header length, a Python dict literal padded to 64 bytes, raw data.
bool write_npy(const std::string& path, const float* data, size_t rows, size_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  const size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                 (unsigned char)(header.size() & 0xff),
                                 (unsigned char)(header.size() >> 8)};
  bool ok = std::fwrite(pre, 1, 10, f) == 10 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(data, sizeof(float), rows * cols, f) == rows * cols;
  ok = (std::fclose(f) == 0) && ok;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const char* prog = "mamba-logits";
  CLI::App app{"Writes the logits of every position of a token sequence as float32 .npy [T, vocab]"};
  mamba::cli::ModelOptions mo;
  mamba::cli::add_model_options(app, mo);
  mamba::cli::PromptOptions po;
  mamba::cli::add_prompt_options(app, po);
  std::string out;
  int64_t decode_from = -1;
  CLI::Option* decode_opt = app.add_option("--decode-from", decode_from,
                 "positions >= K are fed one at a time through step() (default: T, all prefill)");
  app.add_option("--out", out, "output .npy file")->required();
  if (const int rc = mamba::cli::parse(app, argc, argv, prog); rc >= 0) return rc;

  if (decode_opt->count() > 0 && decode_from < 0)
    return mamba::cli::error(prog, "--decode-from " + std::to_string(decode_from) + " must be >= 0");
  auto prompt = mamba::cli::load_prompt(po, mo.dir);
  if (!prompt.ok()) return mamba::cli::error(prog, prompt.message());
  if (!prompt->warning.empty()) std::fprintf(stderr, "%s: warning: %s\n", prog, prompt->warning.c_str());
  const std::vector<int32_t>* ids = &prompt->ids;
  const int64_t T = int64_t(ids->size());
  const int64_t K = decode_from < 0 ? T : decode_from;
  if (K > T)
    return mamba::cli::error(prog, "--decode-from " + std::to_string(K) +
                                       " is beyond the sequence length " + std::to_string(T));
  auto loaded = mamba::cli::load(mo);
  if (!loaded.ok()) return mamba::cli::error(prog, loaded.message());
  if (auto fits = mamba::cli::check_prompt_fits(*prompt, *loaded->model); !fits.ok())
    return mamba::cli::error(prog, fits.message());
  mamba::Session& s = *loaded->session;
  const size_t V = size_t(loaded->model->config().vocab_size);

  std::vector<float> logits(size_t(T) * V);
  if (K > 0) {
    auto r = s.prefill(ids->data(), size_t(K), logits.data());
    if (!r.ok()) return mamba::cli::error(prog, r.message());
  }
  for (int64_t t = K; t < T; ++t) {
    auto r = s.step((*ids)[size_t(t)]);
    if (!r.ok()) return mamba::cli::error(prog, r.message() + " (position " + std::to_string(t) + ")");
    std::copy(r.value(), r.value() + V, logits.begin() + t * V);
  }
  if (!write_npy(out, logits.data(), size_t(T), V))
    return mamba::cli::error(prog, out + ": cannot write");
  return 0;
}
