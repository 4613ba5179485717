// Where everything the GPU prefill uses lives in its one device allocation: weights, the per-layer
// conv and SSM state, the scratch of one pass of max_T tokens and the cuBLAS workspace, as byte
// offsets. Planned from the Model alone (no GPU needed), so GpuPrefill::plan() reports the bytes
// before anything is allocated and create() allocates exactly that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "gpu/device_math.h"
#include "mamba/gpu.h"
#include "mamba/model.h"

namespace mamba::gpu {

constexpr size_t kAbsent = SIZE_MAX;  // offset of an optional tensor the model does not have

struct PlanOptions {
  int scan_segment = 64;          // Mamba-1: tokens per scan segment (segments run in parallel)
  size_t guard_bytes = 0;         // gap after every buffer (the CPU emulation poisons and checks it)
  size_t workspace_bytes = size_t(32) << 20;  // cuBLAS's recommendation for Hopper; ample elsewhere
};

// Largest d_state the Mamba-1 scan keeps in registers (gpu/bodies.h instantiates 16, 64, 256).
constexpr int kMaxScanState = 256;

struct LayerOffsets {
  size_t norm;        // f32 [d_model]
  size_t in_proj;     // wt [W, d_model]   (Mamba-1 W = 2 d_inner)
  size_t in_bias;     // f32 [W] or kAbsent
  size_t conv_w;      // f32 [d_conv, C]
  size_t conv_b;      // f32 [C] or kAbsent
  size_t x_proj;      // Mamba-1: wt [R + 2N, d_inner]
  size_t dt_proj;     // Mamba-1: wt [d_inner, R]
  size_t dt_bias;     // f32 Mamba-1 [d_inner], Mamba-2 [H]
  size_t A;           // f32 Mamba-1 [N, d_inner] = -exp(A_log)^T, Mamba-2 [H]
  size_t D;           // f32 Mamba-1 [d_inner], Mamba-2 [H]
  size_t gate_norm;   // Mamba-2: f32 [d_inner]
  size_t out_proj;    // wt [d_model, d_mlp + d_inner]
  size_t out_bias;    // f32 [d_model] or kAbsent
  size_t conv_state;  // f32 [d_conv - 1, C]
  size_t ssm_state;   // f32 Mamba-1 [N, d_inner], Mamba-2 [H, P, N]
};

struct Plan {
  DType wt = DType::bf16;  // projection weights and GEMM inputs
  bool mamba2 = false;
  // Sizes (names from core/weights.h): C = conv_dim, W = in_proj rows, ldy = d_mlp + d_inner.
  int64_t max_T = 0, dm = 0, d = 0, N = 0, K = 0, C = 0, V = 0, R = 0;
  int64_t H = 0, P = 0, G = 0, hpg = 0, W = 0, d_mlp = 0, ldy = 0;
  int64_t act_cols = 0;   // widest GEMM input (columns of the `act` staging buffer)
  int64_t logit_rows = 0; // max_T with all_logits, else 1
  int64_t L = 0, nc_max = 0;         // Mamba-2: SSD chunk length and chunks per pass
  int64_t seg = 0, nseg_max = 0;     // Mamba-1: scan segment length and segments per pass

  // Weights.
  size_t emb = 0;      // wt [V, dm]
  size_t lm_head = 0;  // wt [V, dm]; == emb when tied
  size_t norm_f = 0;   // f32 [dm]
  std::vector<LayerOffsets> layers;

  // Scratch of one pass of T <= max_T tokens (Tp = nc_max * L rows where padded).
  size_t ids = 0;        // i32 [max_T]
  size_t resid = 0;      // f32 [max_T, dm] residual stream
  size_t xn = 0;         // f32 [max_T, dm] RMSNorm output
  size_t act = 0;        // wt  [max_T, act_cols] a GEMM input rounded to wt (unused for f32)
  size_t out = 0;        // f32 [max_T, dm] mixer output
  size_t logits = 0;     // f32 [logit_rows, V]
  size_t conv_next = 0;  // f32 [d_conv - 1, C] the next conv state, before it replaces the old
  size_t u = 0;          // f32 [max_T, C] conv output
  size_t y = 0;          // f32 [max_T, ldy] out_proj input
  size_t dt = 0;         // f32 Mamba-1 [max_T, d]; Mamba-2 [Tp, H] (0 in padded rows)
  // Mamba-1.
  size_t xz = 0;         // f32 [max_T, 2d] in_proj output: x | z
  size_t dbc = 0;        // f32 [max_T, R + 2N] x_proj output: dt_low | B | C
  size_t hloc = 0;       // f32 [nseg_max, N, d] each segment's final state from a zero start
  size_t hin = 0;        // f32 [nseg_max, N, d] each segment's true starting state
  size_t dsum = 0;       // f32 [nseg_max, d] sum of dt over each segment
  // Mamba-2 (chunked SSD; c < nc chunks of L tokens, heads h, groups g).
  size_t zx = 0;         // f32 [max_T, W] in_proj output: z0 | x0 | z | xBC | dt
  size_t xh = 0;         // f32 [nc_max, H, L, P] x by chunk and head
  size_t bg = 0;         // f32 [nc_max, G, L, N] B by chunk and group
  size_t cg = 0;         // f32 [nc_max, G, L, N] C by chunk and group
  size_t cs = 0;         // f32 [nc_max, H, L] cumulative sum of dt * A within each chunk
  size_t gm = 0;         // f32 [nc_max, G, L, L] C B^T
  size_t mw = 0;         // f32 [nc_max, H, L, max(L, N)] decay-masked G, later decay-weighted B
  size_t yd = 0;         // f32 [nc_max, H, L, P] intra-chunk output
  size_t sc = 0;         // f32 [nc_max, H, P, N] each chunk's state contribution
  size_t hc = 0;         // f32 [nc_max, H, P, N] state entering each chunk
  size_t yo = 0;         // f32 [nc_max, G, L, hpg * P] C h^T (carried-in state), heads of a group
  size_t workspace = 0;  // cuBLAS workspace
  size_t workspace_bytes = 0;

  GpuMemory memory;      // bytes by purpose
  size_t total = 0;      // the one allocation
  // With PlanOptions::guard_bytes: each buffer's unused tail and guard, as (offset, bytes).
  std::vector<std::pair<size_t, size_t>> guards;
};

// The plan, or what makes this model/limits impossible (named).
Result<Plan> make_plan(const Model& model, const GpuLimits& limits, const PlanOptions& options = {});

}  // namespace mamba::gpu
