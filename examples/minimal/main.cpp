// The smallest use of the library: load a model, prefill a prompt of ids, decode greedily.
// Usage: mamba-minimal MODEL_DIR ID,ID,... [N_NEW]   prints the N_NEW (default 16) new ids,
// comma-separated, on one line.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mamba/mamba.h"

static int fail(const char* what) {
  std::fprintf(stderr, "mamba-minimal: error: %s\n", what);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage: mamba-minimal MODEL_DIR ID,ID,... [N_NEW]");
  std::vector<int32_t> ids;
  for (const char* p = argv[2]; *p;) {
    char* end = nullptr;
    ids.push_back(int32_t(std::strtol(p, &end, 10)));
    if (end == p || (*end && *end != ',')) return fail("the prompt must be ids like 1,2,3");
    p = *end ? end + 1 : end;
  }
  const int n_new = argc > 3 ? std::atoi(argv[3]) : 16;

  auto model = mamba::Model::load(argv[1]);
  if (!model.ok()) return fail(model.message().c_str());
  auto session = mamba::Session::create(*model);
  if (!session.ok()) return fail(session.message().c_str());
  // Default parameters: temperature 0, greedy.
  auto sampler = mamba::Sampler::create((*model)->config().vocab_size, {});
  if (!sampler.ok()) return fail(sampler.message().c_str());

  auto logits = (*session)->prefill(ids.data(), ids.size());
  for (int i = 0; i < n_new; ++i) {
    if (!logits.ok()) return fail(logits.message().c_str());
    const int32_t next = sampler->sample(logits.value());
    std::printf(i ? ",%d" : "%d", int(next));
    logits = (*session)->step(next);
  }
  std::printf("\n");
  return 0;
}
