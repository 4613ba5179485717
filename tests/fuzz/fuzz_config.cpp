// config.json parsing (Config::parse), and a config that parses bound to a fixture's weights
// (Model::load_from_memory with mamba1-tiny's or mamba2-tiny's model.safetensors): every shape a
// config can imply is checked against the tensors before anything is sized from it. A model that
// loads must run a prefill and a step.
#include <cstdint>
#include <string>

#include "mamba/mamba.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string weights[2] = {
      mamba::fuzz::read_file(mamba::fuzz::fixture("mamba1-tiny") + "/model.safetensors"),
      mamba::fuzz::read_file(mamba::fuzz::fixture("mamba2-tiny") + "/model.safetensors")};
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = mamba::Config::parse(text, "config.json");
  mamba::fuzz::require_message(config, "Config::parse");
  if (!config.ok()) return 0;
  if (config->d_model <= 0 || config->n_layer <= 0 || config->vocab_size <= 0 ||
      config->d_inner <= 0 || config->d_state <= 0 || config->d_conv <= 0)
    mamba::fuzz::finding("Config::parse accepted a non-positive dimension");
  const std::string& st = weights[config->arch == mamba::Architecture::mamba2];
  auto model = mamba::Model::load_from_memory(text, {{st.data(), st.size()}});
  mamba::fuzz::require_message(model, "Model::load_from_memory");
  if (!model.ok()) return 0;
  mamba::fuzz::run_briefly(*model, 4, 5);
  return 0;
}
