// The Mamba-2 mixer (HF Mamba2Mixer, with the gated RMSNorm per group as mamba_ssm trains it) over
// a chunk of T tokens: T = 1 runs the recurrence, T > 1 the chunked state-space-duality (SSD)
// form, whose cost is GEMMs.
#pragma once

#include <cstdint>

#include "core/linear.h"
#include "core/mamba1.h"
#include "core/tap.h"
#include "core/weights.h"

namespace mamba::detail {

// Scratch for one chunk of up to max_T tokens, shared by all layers. W = in_proj rows,
// C = conv_dim, L = SSD chunk = min(chunk_size, max_T).
struct Mamba2Scratch {
  float* zx;    // [max_T, W]   in_proj output: z0 | x0 | z | xBC | dt
  float* xpad;  // [d_conv - 1 + max_T, C]  conv window: previous inputs, then this chunk's xBC
  float* u;     // [max_T, C]   conv output: x [H, P] | B [G, N] | C [G, N]
  float* dt;    // [max_T, H]   time step after softplus and clamp
  float* y;     // [max_T, d_mlp + d_inner]  out_proj input: silu(z0) x0 | gated SSD output
  float* G;     // [ceil(max_T / L), n_groups, L, L]  C B^T of each SSD chunk and group
  int L;
  // Per thread t (each [n_threads] entries, stride as noted):
  float* M;     // [n_threads][L, L]  decay-masked G of one head
  float* wB;    // [n_threads][L, N]  B weighted by the decay to the chunk's end and dt
  float* cs;    // [n_threads][L]     cumulative sum of dt * A within the chunk
  float* dth;   // [n_threads][L]     dt of one head, contiguous
};

// The packing-buffer shapes the SSD's products need, for the session's plan.
void mamba2_gemm_shapes(const Config& c, int L, std::vector<GemmShape>* shapes);

// out[T, d_model] = mixer(xn[T, d_model]), advancing each sequence's state by its rows.
void mamba2_mixer(const Config& c, const Mamba2Layer& L, const LinearCtx& ctx,
                  const Mamba2Scratch& s, const Sequences& seq, const float* xn, float* out,
                  const Tap& tap);

}  // namespace mamba::detail
