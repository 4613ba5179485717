// Encode and decode on arbitrary bytes with the bundled GPT-NeoX tokenizer
// (tests/data/tokenizer/mamba-130m-hf). Checks, besides "no crash": every id encode gives is in
// range; decode(encode(text)) == text for ASCII text without control characters (the byte-level
// BPE is lossless and NFC leaves ASCII alone); the input read as little-endian int32 ids decodes
// or fails naming an id, and streaming those ids through a TextStream gives exactly what decode
// gives.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mamba/mamba.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const mamba::Tokenizer> tok = [] {
    auto t = mamba::Tokenizer::load(mamba::fuzz::source_dir() +
                                    "/tests/data/tokenizer/mamba-130m-hf");
    if (!t.ok()) mamba::fuzz::finding(t.message().c_str());
    return t.value();
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ids = tok->encode(text);
  if (!ids.ok()) mamba::fuzz::finding(("encode failed: " + ids.message()).c_str());
  for (int32_t id : *ids)
    if (id < 0 || id >= tok->vocab_size()) mamba::fuzz::finding("encode gave an id out of range");
  auto back = tok->decode(*ids);
  if (!back.ok()) mamba::fuzz::finding(("decode(encode) failed: " + back.message()).c_str());
  bool plain_ascii = true;
  for (char c : text) plain_ascii &= (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t';
  if (plain_ascii && *back != text) mamba::fuzz::finding("decode(encode(ascii)) != ascii");

  // The bytes as ids: mostly out of range (the errors), low bytes select real tokens.
  std::vector<int32_t> raw(size / 4);
  if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * 4);
  for (int32_t& id : raw)
    if (id >= 0 && (id & 0x40000000)) id &= 0xffff;  // keep a share of the ids in range
  for (bool skip : {false, true}) {
    mamba::DecodeOptions o;
    o.skip_special_tokens = skip;
    auto d = tok->decode(raw, o);
    mamba::fuzz::require_message(d, "decode");
    auto stream = mamba::TextStream::create(tok, o);
    if (!stream.ok()) mamba::fuzz::finding(stream.message().c_str());
    std::string streamed;
    bool failed = false;
    for (int32_t id : raw) {
      auto piece = stream->push(id);
      mamba::fuzz::require_message(piece, "TextStream::push");
      if (!piece.ok()) { failed = true; break; }
      streamed += *piece;
    }
    if (failed != !d.ok()) mamba::fuzz::finding("TextStream and decode disagree on an id");
    if (!failed) {
      streamed += stream->finish();
      if (streamed != *d) mamba::fuzz::finding("TextStream text != decode text");
    }
  }
  return 0;
}
