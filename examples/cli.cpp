#include "examples/cli.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace mamba::cli {

void add_model_options(CLI::App& app, ModelOptions& o) {
  app.add_option("-m,--model", o.dir, "Hugging Face checkpoint directory")->required();
  app.add_option("-t,--threads", o.threads, "threads (default: OMP_NUM_THREADS, else all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--chunk", o.chunk, "prefill chunk in tokens")->check(CLI::Range(1, 65536));
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
  auto model = Model::load(o.dir);
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

int error(const char* program, const std::string& message) {
  std::fprintf(stderr, "%s: error: %s\n", program, message.c_str());
  return 1;
}

}  // namespace mamba::cli
