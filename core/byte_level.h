// GPT-2's byte-level alphabet (bytes_to_unicode): every byte is written as one printable code
// point, so any byte string is a string of "characters" the BPE vocabulary can spell. Bytes that
// are printable on their own ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68
// take U+0100.. in byte order (space -> 'Ġ' U+0120, '\n' -> 'Ċ' U+010A).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mamba::detail::byte_level {

uint32_t code_point(uint8_t byte);
// The byte a code point stands for, or -1 if it is not in the alphabet.
int byte_of(uint32_t cp);

// Bytes -> their byte-level spelling (UTF-8).
std::string encode(std::string_view bytes);
// Byte-level spelling (valid UTF-8) -> bytes, as HF's ByteLevel decoder does per token: false
// (out untouched) if a character is not in the alphabet, in which case HF keeps the token's own
// UTF-8 bytes (that is how added tokens such as a run of spaces decode).
bool decode(std::string_view token, std::string& out);

}  // namespace mamba::detail::byte_level
