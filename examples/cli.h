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
  std::string weights = "f32";  // WeightType name
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

// The prompt, as token ids (--ids) or as text (-p/--prompt, -f/--file) encoded by a tokenizer
// found in --tokenizer PATH or else in the model directory.
struct PromptOptions {
  std::string ids, text, file, tokenizer;
  // The prompt continues a restored state: it may be absent, and no BOS is put first.
  bool continues = false;
  CLI::Option* ids_opt = nullptr;
  CLI::Option* text_opt = nullptr;
  CLI::Option* file_opt = nullptr;
  CLI::Option* tokenizer_opt = nullptr;
};
void add_prompt_options(CLI::App& app, PromptOptions& o);

struct Prompt {
  std::vector<int32_t> ids;
  // Set for a text prompt, and for --ids when --tokenizer is given: the output is text then.
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string warning;  // e.g. invalid UTF-8 replaced; empty if none
};
// Text prompts get the tokenizer's BOS first when it asks for one (SentencePiece models), unless
// they continue a restored state.
Result<Prompt> load_prompt(const PromptOptions& o, const std::string& model_dir);

// A text prompt whose ids do not fit the model means a tokenizer of another model: say so.
Status check_prompt_fits(const Prompt& p, const Model& model);

// Reads a whole file (or stdin for "-") as bytes.
Result<std::string> read_input(const std::string& path);
// Writes bytes to a file, replacing it.
Status write_file(const std::string& path, const void* data, size_t n);

// Prints "<program>: error: <message>" to stderr and returns the exit code 1.
int error(const char* program, const std::string& message);
// Parses the command line. --help prints the help (exit status 0); a bad flag or value prints
// "<program>: error: <what>" and the usage hint (exit status 1, as every other error). Returns
// the exit status to return with, or -1 to go on.
int parse(CLI::App& app, int argc, char** argv, const char* program);

}  // namespace mamba::cli
