// The state blob reader: Session::load_state on a session of mamba1-tiny or mamba2-tiny.
// Byte 0 of the input: bit 0 the model; bit 1 overlay the rest of the input on a valid blob of
// that session (saved after a short prompt) instead of using it as the blob, at its start or,
// with bit 3, at its payload (byte 96); bit 2 recompute the checksum after that (so mutated
// headers and payloads get past it to the checks behind it).
// A refused blob must leave the session as it was; an accepted one must step.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/state_blob.h"
#include "mamba/mamba.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

struct Target {
  std::unique_ptr<mamba::Session> session;
  std::vector<uint8_t> valid;  // the blob after the prompt
};

Target make(const char* fixture) {
  auto model = mamba::Model::load(mamba::fuzz::fixture(fixture));
  if (!model.ok()) mamba::fuzz::finding(model.message().c_str());
  mamba::SessionLimits limits;
  limits.n_threads = 1;
  auto s = mamba::Session::create(*model, limits);
  if (!s.ok()) mamba::fuzz::finding(s.message().c_str());
  const int32_t ids[4] = {3, 1, 4, 1};
  if (!(*s)->prefill(ids, 4).ok()) mamba::fuzz::finding("prefill");
  Target t{std::move(s.value()), {}};
  t.valid.resize(t.session->state_bytes());
  if (!t.session->save_state(t.valid.data(), t.valid.size()).ok()) mamba::fuzz::finding("save");
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Target targets[2] = {make("mamba1-tiny"), make("mamba2-tiny")};
  if (size < 1) return 0;
  Target& t = targets[data[0] & 1];
  std::vector<uint8_t> blob;
  if (data[0] & 2) {
    blob = t.valid;
    const size_t at = (data[0] & 8) ? mamba::detail::kStateBlobHeader : 0;
    if (at + size - 1 > blob.size()) blob.resize(at + size - 1);
    std::memcpy(blob.data() + at, data + 1, size - 1);
  } else {
    blob.assign(data + 1, data + size);
  }
  if ((data[0] & 4) && blob.size() >= mamba::detail::kStateBlobHeader) {
    const size_t payload = blob.size() - mamba::detail::kStateBlobHeader;
    const uint64_t sum = mamba::detail::hash64(blob.data() + mamba::detail::kStateBlobHeader,
                                               payload, mamba::detail::hash64(blob.data(), 88));
    std::memcpy(blob.data() + 88, &sum, 8);
  }
  // (An empty blob is passed as null, which load_state must refuse like any short blob.)
  const mamba::Status st = t.session->load_state(blob.empty() ? nullptr : blob.data(), blob.size());
  mamba::fuzz::require_message(st, "load_state");
  if (st.ok()) {
    mamba::fuzz::require_message(t.session->step(5), "step");
  } else {
    std::vector<uint8_t> now(t.valid.size());
    if (!t.session->save_state(now.data(), now.size()).ok() || now != t.valid)
      mamba::fuzz::finding("a refused blob changed the session");
  }
  // Back to the valid state for the next input.
  if (!t.session->load_state(t.valid.data(), t.valid.size()).ok()) mamba::fuzz::finding("reload");
  return 0;
}
