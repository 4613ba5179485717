// model.safetensors.index.json: the input is written as the index of a scratch checkpoint
// directory that holds mamba1-tiny-sharded's config.json and both shards, then Model::load reads
// the directory (file names that leave it, missing shards, tensors listed in the wrong shard or
// twice, ...).
#include <cstdint>
#include <filesystem>
#include <string>

#include "mamba/mamba.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const std::string d = mamba::fuzz::scratch_dir() + "/ckpt";
    fs::create_directories(d);
    const std::string src = mamba::fuzz::fixture("mamba1-tiny-sharded");
    for (const char* f : {"config.json", "model-00001-of-00002.safetensors",
                          "model-00002-of-00002.safetensors"})
      fs::copy_file(src + "/" + f, d + "/" + f, fs::copy_options::overwrite_existing);
    return d;
  }();
  mamba::fuzz::write_file(dir + "/model.safetensors.index.json", data, size);
  auto model = mamba::Model::load(dir);
  mamba::fuzz::require_message(model, "Model::load");
  return 0;
}
