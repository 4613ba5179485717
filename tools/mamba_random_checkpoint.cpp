// mamba-random-checkpoint: writes an HF-format Mamba-1 or Mamba-2 checkpoint with random, well-conditioned
// weights, at a named real shape or any shape, for benchmarks and tests.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "tools/random_checkpoint.h"

int main(int argc, char** argv) {
  CLI::App app{"Writes a random Mamba-1 or Mamba-2 checkpoint directory (config.json + model.safetensors)"};
  mamba::tools::RandomCheckpoint rc;
  std::string out, preset;
  app.add_option("--out", out, "output directory")->required();
  app.add_option("--preset", preset,
                 "mamba-130m|370m|790m|1.4b|2.8b, mamba2-130m|370m|780m|1.3b|2.7b (set first; "
                 "other flags are ignored)");
  app.add_flag("--mamba2", rc.mamba2, "write a Mamba-2 checkpoint");
  app.add_option("--head-dim", rc.head_dim, "Mamba-2 head_dim")->check(CLI::Range(1, 4096));
  app.add_option("--groups", rc.n_groups, "Mamba-2 n_groups")->check(CLI::Range(1, 4096));
  app.add_option("--chunk-size", rc.chunk_size, "Mamba-2 chunk_size")->check(CLI::Range(1, 65536));
  app.add_option("--hidden", rc.d_model, "hidden_size")->check(CLI::Range(1, 1 << 16));
  app.add_option("--layers", rc.n_layer, "num_hidden_layers")->check(CLI::Range(1, 4096));
  app.add_option("--vocab", rc.vocab_size, "vocab_size")->check(CLI::Range(1, 1 << 24));
  app.add_option("--state", rc.d_state, "state_size")->check(CLI::Range(1, 4096));
  app.add_option("--conv", rc.d_conv, "conv_kernel")->check(CLI::Range(1, 64));
  app.add_option("--dtype", rc.dtype, "F32, F16 or BF16")->check(CLI::IsMember({"F32", "F16", "BF16"}));
  app.add_option("--seed", rc.seed, "random seed");
  app.add_flag("--use-bias", rc.use_bias, "in_proj/out_proj biases");
  CLI11_PARSE(app, argc, argv);
  if (!preset.empty() && !rc.set_preset(preset)) {
    std::fprintf(stderr, "mamba-random-checkpoint: error: unknown preset \"%s\"\n", preset.c_str());
    return 1;
  }
  const std::string err = rc.write_to(out);
  if (!err.empty()) {
    std::fprintf(stderr, "mamba-random-checkpoint: error: %s\n", err.c_str());
    return 1;
  }
  return 0;
}
