#include "core/state_blob.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "mamba/weight_type.h"

namespace mamba::detail {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "state blobs store fp32 in the host's order, which must be little-endian");

namespace {

constexpr char kMagic[8] = {'M', 'A', 'M', 'B', 'A', 'S', 'T', '\0'};
constexpr size_t kChecksumAt = 88;  // the checksum covers the header up to here

constexpr uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full,
                   P3 = 0x165667B19E3779F9ull;

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t get_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t get_u64(const uint8_t* p) { return get_u32(p) | uint64_t(get_u32(p + 4)) << 32; }
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  put_u32(p, uint32_t(v));
  put_u32(p + 4, uint32_t(v >> 32));
}

// The shape fields in header order, with their names for messages.
struct Field {
  const char* name;
  uint32_t StateShape::*member;
};
constexpr Field kFields[] = {
    {"n_layer", &StateShape::n_layer},   {"d_model", &StateShape::d_model},
    {"d_inner", &StateShape::d_inner},   {"d_state", &StateShape::d_state},
    {"d_conv", &StateShape::d_conv},     {"conv_dim", &StateShape::conv_dim},
    {"n_heads", &StateShape::n_heads},   {"head_dim", &StateShape::head_dim},
    {"n_groups", &StateShape::n_groups}, {"vocab_size", &StateShape::vocab_size}};

const char* arch_name(uint32_t a) { return a == 1 ? "Mamba-1" : a == 2 ? "Mamba-2" : "unknown"; }

std::string type_name(uint32_t t) {
  return t >= 1 && t <= 5 ? weight_type_name(WeightType(t - 1)) : "unknown (" + std::to_string(t) + ")";
}

std::string hex(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

uint64_t blob_checksum(const uint8_t* blob, size_t payload) {
  return hash64(blob + kStateBlobHeader, payload, hash64(blob, kChecksumAt));
}

Status blob_error(const std::string& what) { return Status::error("state blob: " + what); }

}  // namespace

uint64_t hash64(const void* data, size_t n, uint64_t seed) {
  // Four independent lanes (xxHash64's round), so the multiplies overlap: GB/s, not MB/s.
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t lane[4] = {seed + P1 + P2, seed + P2, seed, seed - P1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) lane[k] = rotl(lane[k] + load64(p + i + 8 * k) * P2, 31) * P1;
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18) + n;
  for (; i + 8 <= n; i += 8) h = rotl(h ^ (rotl(load64(p + i) * P2, 31) * P1), 27) * P1 + P3;
  for (; i < n; ++i) h = rotl(h ^ (p[i] * P3), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  return h ^ (h >> 32);
}

StateShape state_shape(const Weights& w) {
  const Config& c = w.config;
  StateShape s;
  const bool m2 = c.arch == Architecture::mamba2;
  s.arch = m2 ? 2 : 1;
  s.n_layer = uint32_t(c.n_layer);
  s.d_model = uint32_t(c.d_model);
  s.d_inner = uint32_t(c.d_inner);
  s.d_state = uint32_t(c.d_state);
  s.d_conv = uint32_t(c.d_conv);
  s.conv_dim = uint32_t(c.conv_dim());
  s.n_heads = m2 ? uint32_t(c.n_heads) : 0;
  s.head_dim = m2 ? uint32_t(c.head_dim) : 0;
  s.n_groups = m2 ? uint32_t(c.n_groups) : 0;
  s.vocab_size = uint32_t(c.vocab_size);
  s.weight_type = 1 + uint32_t(w.type);
  // Cheap and enough to tell models apart: the fp32 vectors every layer has (norms, D, dt_bias),
  // a few hundred kB even for the largest models, never the big projection matrices.
  const size_t dm = sizeof(float) * size_t(c.d_model);
  uint64_t h = hash64(w.norm_f, dm);
  for (const Mamba1Layer& L : w.mamba1_layers) {
    const size_t d = sizeof(float) * size_t(c.d_inner);
    h = hash64(L.D, d, hash64(L.dt_bias, d, hash64(L.norm, dm, h)));
  }
  for (const Mamba2Layer& L : w.mamba2_layers) {
    const size_t H = sizeof(float) * size_t(c.n_heads), d = sizeof(float) * size_t(c.d_inner);
    h = hash64(L.gate_norm, d, hash64(L.D, H, hash64(L.dt_bias, H, hash64(L.norm, dm, h))));
  }
  s.fingerprint = h;
  return s;
}

void write_state_blob(const StateShape& s, const LayerState* layers, const float* logits,
                      int64_t n_past, uint8_t* dst) {
  std::memset(dst, 0, kStateBlobHeader);
  std::memcpy(dst, kMagic, 8);
  put_u32(dst + 8, kStateBlobVersion);
  put_u32(dst + 12, uint32_t(kStateBlobHeader));
  put_u32(dst + 16, s.arch);
  for (size_t i = 0; i < std::size(kFields); ++i) put_u32(dst + 20 + 4 * i, s.*kFields[i].member);
  put_u32(dst + 60, s.weight_type);
  put_u64(dst + 64, s.fingerprint);
  put_u64(dst + 72, uint64_t(n_past));
  put_u64(dst + 80, s.payload_bytes());
  uint8_t* p = dst + kStateBlobHeader;
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    std::memcpy(p, layers[l].conv, s.conv_floats() * sizeof(float));
    p += s.conv_floats() * sizeof(float);
    std::memcpy(p, layers[l].ssm, s.ssm_floats() * sizeof(float));
    p += s.ssm_floats() * sizeof(float);
  }
  std::memcpy(p, logits, size_t(s.vocab_size) * sizeof(float));
  put_u64(dst + kChecksumAt, blob_checksum(dst, s.payload_bytes()));
}

Status read_state_blob(const uint8_t* b, size_t size, const StateShape& want,
                       const LayerState* layers, float* logits, int64_t* n_past) {
  if (!b && size) return blob_error("null data");
  if (size < kStateBlobHeader)
    return blob_error(std::to_string(size) + " bytes, too short for the " +
                      std::to_string(kStateBlobHeader) + "-byte header");
  if (std::memcmp(b, kMagic, 8) != 0)
    return blob_error("not a mamba-cpp state blob (its first 8 bytes are not \"MAMBAST\\0\")");
  if (const uint32_t v = get_u32(b + 8); v != kStateBlobVersion)
    return blob_error("version " + std::to_string(v) + "; this build reads version " +
                      std::to_string(kStateBlobVersion));
  if (const uint32_t h = get_u32(b + 12); h != kStateBlobHeader)
    return blob_error("header of " + std::to_string(h) + " bytes; version 1 has " +
                      std::to_string(kStateBlobHeader));
  const uint64_t payload = get_u64(b + 80);
  if (payload != size - kStateBlobHeader)
    return blob_error("truncated or padded: the header announces " + std::to_string(payload) +
                      " bytes of state after it, the blob has " +
                      std::to_string(size - kStateBlobHeader));
  if (const uint64_t sum = blob_checksum(b, payload); sum != get_u64(b + kChecksumAt))
    return blob_error("corrupt: checksum " + hex(sum) + " does not match the stored " +
                      hex(get_u64(b + kChecksumAt)));
  // Intact: now whether it belongs to this model.
  const uint32_t arch = get_u32(b + 16);
  if (arch != want.arch)
    return blob_error("from a " + std::string(arch_name(arch)) + " model; this model is " +
                      arch_name(want.arch));
  for (size_t i = 0; i < std::size(kFields); ++i)
    if (const uint32_t v = get_u32(b + 20 + 4 * i); v != want.*kFields[i].member)
      return blob_error("from another model: " + std::string(kFields[i].name) + " is " +
                        std::to_string(v) + " in the blob, " +
                        std::to_string(want.*kFields[i].member) + " in this model");
  if (const uint32_t t = get_u32(b + 60); t != want.weight_type)
    return blob_error("made with " + type_name(t) + " weights; this model holds " +
                      type_name(want.weight_type) + " weights (load it with the same type)");
  if (const uint64_t f = get_u64(b + 64); f != want.fingerprint)
    return blob_error("from another model of the same shape: weight fingerprint " + hex(f) +
                      ", this model's is " + hex(want.fingerprint));
  if (payload != want.payload_bytes())  // implied by the shape; checked so no read can overrun
    return blob_error("payload of " + std::to_string(payload) + " bytes, expected " +
                      std::to_string(want.payload_bytes()));
  const int64_t past = int64_t(get_u64(b + 72));
  if (past < 0) return blob_error("n_past " + std::to_string(past) + " is negative");

  // Non-finite state never enters a session (README "Hardening"): a saved state is finite, since
  // a session whose logits turn non-finite reports it, so one here was written by something else.
  const size_t n_floats = size_t(payload / sizeof(float));
  const uint8_t* payload_bytes = b + kStateBlobHeader;
  const size_t per_layer = want.conv_floats() + want.ssm_floats();
  for (size_t i = 0; i < n_floats; ++i) {
    uint32_t bits;
    std::memcpy(&bits, payload_bytes + i * sizeof(float), sizeof bits);
    if ((bits & 0x7f800000u) != 0x7f800000u) continue;
    const size_t layer = i / per_layer, k = i % per_layer;
    const std::string where =
        layer >= want.n_layer ? "logit " + std::to_string(i - size_t(want.n_layer) * per_layer)
        : k < want.conv_floats() ? "layer " + std::to_string(layer) + " conv_state[" + std::to_string(k) + "]"
        : "layer " + std::to_string(layer) + " ssm_state[" + std::to_string(k - want.conv_floats()) + "]";
    return blob_error("holds a non-finite value (" + std::string(bits & 0x007fffffu ? "nan" : "inf") +
                      ") at " + where);
  }

  const uint8_t* p = b + kStateBlobHeader;
  for (uint32_t l = 0; l < want.n_layer; ++l) {
    std::memcpy(layers[l].conv, p, want.conv_floats() * sizeof(float));
    p += want.conv_floats() * sizeof(float);
    std::memcpy(layers[l].ssm, p, want.ssm_floats() * sizeof(float));
    p += want.ssm_floats() * sizeof(float);
  }
  std::memcpy(logits, p, size_t(want.vocab_size) * sizeof(float));
  *n_past = past;
  return Status();
}

}  // namespace mamba::detail
