#include "examples/cli.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <sstream>

namespace mamba::cli {

void add_model_options(CLI::App& app, ModelOptions& o) {
  // The bundled model (models/mamba2-austen in the source tree this was built from) unless -m.
  o.dir = MAMBA_DEFAULT_MODEL;
  app.add_option("-m,--model", o.dir, "Hugging Face checkpoint directory (default: the bundled "
                                      "model, " MAMBA_DEFAULT_MODEL ")");
  app.add_option("-t,--threads", o.threads, "threads (default: OMP_NUM_THREADS, else all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--chunk", o.chunk, "prefill chunk in tokens")->check(CLI::Range(1, 65536));
  app.add_option("--weights", o.weights,
                 "weight type of the projections, embedding and lm_head: f32, bf16, f16, q8, q4 "
                 "(converted at load; default f32)");
}

Result<std::vector<int32_t>> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || end != item.c_str() + item.size() || errno == ERANGE || v < 0 ||
        v > std::numeric_limits<int32_t>::max())
      return Status::error("--ids: \"" + item + "\" (item " + std::to_string(ids.size() + 1) +
                           ") is not a token id (expected comma-separated integers >= 0)");
    ids.push_back(int32_t(v));
    pos = comma + 1;
  }
  return ids;
}

Result<Loaded> load(const ModelOptions& o) {
  Loaded l;
  LoadOptions options;
  if (Result<WeightType> t = parse_weight_type(o.weights); t.ok()) options.weights = *t;
  else return Status::error("--weights: " + t.message());
  auto model = Model::load(o.dir, options);
  if (!model.ok()) return model.status();
  l.model = model.value();
  SessionLimits limits;
  limits.prefill_chunk = o.chunk;
  limits.n_threads = o.threads;
  auto session = Session::create(l.model, limits);
  if (!session.ok()) return session.status();
  l.session = std::move(session.value());
  return l;
}

void add_prompt_options(CLI::App& app, PromptOptions& o) {
  o.ids_opt = app.add_option("--ids", o.ids, "prompt: comma-separated token ids");
  o.text_opt = app.add_option("-p,--prompt", o.text, "prompt: text (needs a tokenizer)");
  o.file_opt = app.add_option("-f,--file", o.file, "prompt: the text of this file (\"-\": stdin)");
  o.tokenizer_opt = app.add_option("--tokenizer", o.tokenizer,
                                   "tokenizer directory or file (default: the model directory)");
}

Result<std::string> read_input(const std::string& path) {
  std::ostringstream os;
  if (path == "-") {
    os << std::cin.rdbuf();
    if (std::cin.bad()) return Status::error("stdin: read error");
    return os.str();
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::error(path + ": cannot open: " + std::strerror(errno));
  std::string data;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) data.append(buf, n);
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) return Status::error(path + ": read error");
  return data;
}

Status write_file(const std::string& path, const void* data, size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::error(path + ": cannot create: " + std::strerror(errno));
  const bool wrote = std::fwrite(data, 1, n, f) == n;
  if (std::fclose(f) != 0 || !wrote) return Status::error(path + ": write error");
  return {};
}

Result<Prompt> load_prompt(const PromptOptions& o, const std::string& model_dir) {
  const size_t given = o.ids_opt->count() + o.text_opt->count() + o.file_opt->count();
  if (given == 0 && !o.continues)
    return Status::error("no prompt: give --ids, -p/--prompt or -f/--file");
  if (given > 1) return Status::error("give only one of --ids, -p/--prompt and -f/--file");
  Prompt p;
  const bool explicit_tokenizer = o.tokenizer_opt->count() > 0;
  if (given == 0 && !explicit_tokenizer) return p;  // ids out, no tokenizer needed
  if (o.ids_opt->count()) {
    auto ids = parse_ids(o.ids);
    if (!ids.ok()) return ids.status();
    p.ids = std::move(ids.value());
    if (!explicit_tokenizer) return p;
  }
  auto tok = Tokenizer::load(explicit_tokenizer ? o.tokenizer : model_dir);
  if (!tok.ok())
    return Status::error(tok.message() + (explicit_tokenizer ? std::string()
                                                             : "; give --tokenizer PATH, or the prompt as --ids"));
  p.tokenizer = tok.value();
  if (o.ids_opt->count() || given == 0) return p;

  std::string text = o.text;
  const char* what = "-p";
  if (o.file_opt->count()) {
    auto data = read_input(o.file);
    if (!data.ok()) return data.status();
    text = std::move(data.value());
    what = "-f";
  }
  if (const size_t bad = utf8_valid_prefix(text); bad != text.size())
    p.warning = std::string(what) + ": the prompt is not valid UTF-8 (first bad byte at offset " +
                std::to_string(bad) + "); invalid bytes were replaced with U+FFFD";
  auto ids = p.tokenizer->encode(text);
  if (!ids.ok()) return ids.status();
  const SpecialTokens& sp = p.tokenizer->special();
  if (sp.add_bos && sp.bos >= 0 && !o.continues) p.ids.push_back(sp.bos);
  p.ids.insert(p.ids.end(), ids->begin(), ids->end());
  if (p.ids.empty()) return Status::error(std::string(what) + ": the prompt is empty (no tokens)");
  return p;
}

Status check_prompt_fits(const Prompt& p, const Model& model) {
  if (!p.tokenizer) return {};
  const int V = model.config().vocab_size;
  for (size_t i = 0; i < p.ids.size(); ++i)
    if (p.ids[i] >= V)
      return Status::error("prompt token id " + std::to_string(p.ids[i]) + " at position " +
                           std::to_string(i) + " (from the tokenizer " + p.tokenizer->source() +
                           ", vocabulary " + std::to_string(p.tokenizer->vocab_size()) +
                           ") is outside the model's vocabulary [0, " + std::to_string(V) +
                           "): is this the model's tokenizer?");
  return {};
}

int error(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: error: %s\n", program, message.c_str());
  return 1;
}

int parse(CLI::App& app, int argc, char** argv, const char* program) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    error(program, e.what());
    std::fprintf(stderr, "run with --help for the flags\n");
    return 1;
  }
}

}  // namespace mamba::cli
