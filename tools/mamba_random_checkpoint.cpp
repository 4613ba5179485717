// mamba-random-checkpoint: writes an HF-format Mamba-1 checkpoint with random, well-conditioned
// weights, at a named real shape or any shape, for benchmarks and tests.
#include <cstdio>
#include <map>

#include <CLI/CLI.hpp>

#include "tools/random_checkpoint.h"

int main(int argc, char** argv) {
  CLI::App app{"Writes a random Mamba-1 checkpoint directory (config.json + model.safetensors)"};
  mamba::tools::RandomCheckpoint rc;
  std::string out, preset;
  // d_model and layer count of the state-spaces/mamba-*-hf models (vocab 50280, d_state 16).
  const std::map<std::string, std::pair<int, int>> presets = {
      {"mamba-130m", {768, 24}}, {"mamba-370m", {1024, 48}}, {"mamba-790m", {1536, 48}},
      {"mamba-1.4b", {2048, 48}}, {"mamba-2.8b", {2560, 64}}};
  app.add_option("--out", out, "output directory")->required();
  app.add_option("--preset", preset, "mamba-130m, mamba-370m, mamba-790m, mamba-1.4b, mamba-2.8b");
  app.add_option("--hidden", rc.d_model, "hidden_size")->check(CLI::Range(1, 1 << 16));
  app.add_option("--layers", rc.n_layer, "num_hidden_layers")->check(CLI::Range(1, 4096));
  app.add_option("--vocab", rc.vocab_size, "vocab_size")->check(CLI::Range(1, 1 << 24));
  app.add_option("--state", rc.d_state, "state_size")->check(CLI::Range(1, 4096));
  app.add_option("--conv", rc.d_conv, "conv_kernel")->check(CLI::Range(1, 64));
  app.add_option("--dtype", rc.dtype, "F32, F16 or BF16")->check(CLI::IsMember({"F32", "F16", "BF16"}));
  app.add_option("--seed", rc.seed, "random seed");
  app.add_flag("--use-bias", rc.use_bias, "in_proj/out_proj biases");
  CLI11_PARSE(app, argc, argv);
  if (!preset.empty()) {
    const auto it = presets.find(preset);
    if (it == presets.end()) {
      std::fprintf(stderr, "mamba-random-checkpoint: error: unknown preset \"%s\"\n", preset.c_str());
      return 1;
    }
    rc.d_model = it->second.first;
    rc.n_layer = it->second.second;
    rc.vocab_size = 50280;
    rc.d_state = 16;
    rc.d_conv = 4;
  }
  const std::string err = rc.write_to(out);
  if (!err.empty()) {
    std::fprintf(stderr, "mamba-random-checkpoint: error: %s\n", err.c_str());
    return 1;
  }
  return 0;
}
