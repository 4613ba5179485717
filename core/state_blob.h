// One sequence's recurrent state as a small versioned blob: what Session::save_state writes and
// load_state reads (a prompt cache, a checkpoint of a conversation, a fork across processes).
//
// Layout, version 1 (integers little-endian, floats IEEE fp32 in the host's order -- every
// supported target is little-endian):
//   offset  size  field
//        0     8  magic "MAMBAST\0"
//        8     4  version (1)
//       12     4  header bytes (96)
//       16     4  architecture (1 = Mamba-1, 2 = Mamba-2)
//       20    40  n_layer, d_model, d_inner, d_state, d_conv, conv_dim, n_heads, head_dim,
//                 n_groups, vocab_size (u32 each; the Mamba-2 fields are 0 for Mamba-1)
//       60     4  weight type the model holds (1 + WeightType: 1 f32, 2 bf16, 3 f16, 4 q8, 5 q4)
//       64     8  fingerprint of the weights (a hash of every fp32 norm, D and dt_bias vector)
//       72     8  n_past (i64, tokens consumed)
//       80     8  payload bytes
//       88     8  checksum of bytes [0, 88) and of the payload (64-bit, not cryptographic: it
//                 catches truncation and corruption, not tampering)
//       96        payload: per layer, conv_state [d_conv - 1, conv_dim] then ssm_state
//                 (Mamba-1 [d_state, d_inner], Mamba-2 [n_heads, head_dim, d_state]); then the
//                 logits [vocab_size] after the last token, so the next sample is exactly what it
//                 would have been.
// A blob is refused, with a message saying which, if it is short, truncated, of another version,
// corrupt (checksum), or from a model of another architecture, shape, weight type or weights (the
// same checkpoint at another weight type computes other states, so a blob would not continue
// exactly).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/mamba1.h"
#include "core/weights.h"
#include "mamba/status.h"

namespace mamba::detail {

constexpr uint32_t kStateBlobVersion = 1;
constexpr size_t kStateBlobHeader = 96;

// What a blob must match to be loaded into a model's session.
struct StateShape {
  uint32_t arch = 0, n_layer = 0, d_model = 0, d_inner = 0, d_state = 0, d_conv = 0, conv_dim = 0,
           n_heads = 0, head_dim = 0, n_groups = 0, vocab_size = 0;
  uint32_t weight_type = 0;  // 1 + WeightType
  uint64_t fingerprint = 0;

  size_t conv_floats() const { return size_t(d_conv - 1) * conv_dim; }  // per layer
  size_t ssm_floats() const { return size_t(d_state) * d_inner; }        // per layer
  size_t payload_bytes() const {
    return (n_layer * (conv_floats() + ssm_floats()) + vocab_size) * sizeof(float);
  }
  size_t blob_bytes() const { return kStateBlobHeader + payload_bytes(); }
  bool operator==(const StateShape& o) const {
    return arch == o.arch && n_layer == o.n_layer && d_model == o.d_model &&
           d_inner == o.d_inner && d_state == o.d_state && d_conv == o.d_conv &&
           conv_dim == o.conv_dim && n_heads == o.n_heads && head_dim == o.head_dim &&
           n_groups == o.n_groups && vocab_size == o.vocab_size &&
           weight_type == o.weight_type && fingerprint == o.fingerprint;
  }
};

StateShape state_shape(const Weights& w);

// A 64-bit hash of `n` bytes (the blob's checksum and the weights' fingerprint).
uint64_t hash64(const void* data, size_t n, uint64_t seed = 0);

// Writes the blob of one sequence (layers [n_layer], logits [vocab_size]) to dst, which holds
// shape.blob_bytes() bytes.
void write_state_blob(const StateShape& shape, const LayerState* layers, const float* logits,
                      int64_t n_past, uint8_t* dst);

// Checks the whole blob against `want` and only then copies it into layers/logits/n_past; on any
// error nothing is written. Reads no byte outside [bytes, bytes + size).
Status read_state_blob(const uint8_t* bytes, size_t size, const StateShape& want,
                       const LayerState* layers, float* logits, int64_t* n_past);

}  // namespace mamba::detail
