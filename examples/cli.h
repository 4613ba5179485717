// What the command-line programs share: model/thread flags, id lists, error reporting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "mamba/mamba.h"

namespace mamba::cli {

struct ModelOptions {
  std::string dir;
  int threads = 0;  // 0: OMP_NUM_THREADS, else all cores
  int chunk = 128;  // prefill chunk
};
void add_model_options(CLI::App& app, ModelOptions& o);

// "1,2,3" -> ids. Fails on anything but comma-separated integers in int32 range.
Result<std::vector<int32_t>> parse_ids(const std::string& text);

// Model + Session from the flags, or a message.
struct Loaded {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Session> session;
};
Result<Loaded> load(const ModelOptions& o);

// Prints "<program>: error: <message>" to stderr and returns the exit code 1.
int error(const char* program, const std::string& message);

}  // namespace mamba::cli
