// tokenizer.json loading: the input is written to a scratch file and loaded with
// Tokenizer::load. A tokenizer that loads must encode and decode: a fixed text, the input itself,
// and every id below 64 (ids it has no token for must fail with a message).
#include <cstdint>
#include <string>
#include <vector>

#include "mamba/mamba.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = mamba::fuzz::scratch_dir() + "/tokenizer.json";
  mamba::fuzz::write_file(path, data, size);
  auto tok = mamba::Tokenizer::load(path);
  mamba::fuzz::require_message(tok, "Tokenizer::load");
  if (!tok.ok()) return 0;
  const mamba::Tokenizer& t = **tok;
  for (std::string_view text : {std::string_view("Hello world, \xc3\xa9t\xc3\xa9 <|endoftext|> 123\n"),
                                std::string_view(reinterpret_cast<const char*>(data), size)}) {
    auto ids = t.encode(text);
    mamba::fuzz::require_message(ids, "encode");
    if (ids.ok()) {
      for (int32_t id : *ids)
        if (id < 0 || id >= t.vocab_size()) mamba::fuzz::finding("encode gave an id out of range");
      mamba::fuzz::require_message(t.decode(*ids), "decode");
    }
  }
  for (int32_t id = 0; id < 64 && id < t.vocab_size() + 1; ++id) {
    mamba::fuzz::require_message(t.decode(&id, 1), "decode");
    mamba::fuzz::require_message(t.token_to_piece(id), "token_to_piece");
  }
  return 0;
}
