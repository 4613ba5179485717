// The safetensors header and tensor table, through Model::load_from_memory with a fixed small
// config.json. Input: byte 0 picks the config (bit 0: Mamba-1 / Mamba-2) and the weight type the
// model is converted to (bits 1-3, mod 5); the rest is the safetensors file. A model that loads
// must also run: a session is created and a short prompt prefilled and stepped.
#include <cstdint>
#include <string>

#include "mamba/mamba.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The shapes of tests/fuzz/corpus/safetensors/ (written by tests/fuzz/make_corpus.sh).
const char* const kConfigs[2] = {
    R"({"model_type": "mamba", "hidden_size": 8, "expand": 2, "state_size": 4,
        "num_hidden_layers": 1, "conv_kernel": 2, "time_step_rank": "auto", "vocab_size": 16,
        "use_bias": false, "use_conv_bias": true, "tie_word_embeddings": true})",
    R"({"model_type": "mamba2", "hidden_size": 8, "expand": 2, "state_size": 4,
        "num_hidden_layers": 1, "conv_kernel": 2, "num_heads": 4, "head_dim": 4, "n_groups": 1,
        "chunk_size": 4, "vocab_size": 16, "use_bias": false, "use_conv_bias": true,
        "tie_word_embeddings": false})"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int config = data[0] & 1;
  mamba::LoadOptions options;
  options.weights = mamba::WeightType(((data[0] >> 1) & 7) % 5);
  auto model = mamba::Model::load_from_memory(kConfigs[config], {{data + 1, size - 1}}, options);
  mamba::fuzz::require_message(model, "Model::load_from_memory");
  if (!model.ok()) return 0;
  mamba::fuzz::run_briefly(*model, 2, 3);
  return 0;
}
