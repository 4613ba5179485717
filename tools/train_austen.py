#!/usr/bin/env python3
"""Trains the bundled default model: a small Mamba-2 on Jane Austen's six novels with the
GPT-NeoX tokenizer, and writes it as a Hugging Face Mamba2ForCausalLM directory.

  /usr/bin/python3 tools/train_austen.py --data tests/data/tokenizer --out models/mamba2-austen

Needs Debian's python3-torch (CPU). Deterministic for a given seed and thread count. The model is
the exact math the C++ library runs (HF's Mamba2Mixer with n_groups = 1, where HF's gated norm and
mamba_ssm's agree): in_proj -> (z, xBC, dt); causal conv1d + SiLU over xBC; dt = softplus(dt +
dt_bias); chunked SSD; + D x; RMSNorm(y * silu(z)); out_proj; pre-norm residual blocks; final
RMSNorm; lm_head tied to the embedding. The last 5% of the corpus is held out; its mean negative
log-likelihood is measured with the weights exactly as stored (bf16), so `mamba-perplexity` on the
same tokens must reproduce it.
"""
import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

# ------------------------------------------------------------------------------ the model


def segsum(a):
    """[..., L] -> [..., L, L]: out[t, s] = sum(a[s+1..t]) for s <= t, -inf above."""
    L = a.size(-1)
    cs = torch.cumsum(a, dim=-1)
    out = cs[..., :, None] - cs[..., None, :]
    mask = torch.tril(torch.ones(L, L, dtype=torch.bool, device=a.device))
    return out.masked_fill(~mask, float("-inf"))


def ssd(x, dt, A, B, C, chunk):
    """Chunked SSD (Mamba-2 paper, ssd_minimal). x [b, T, H, P], dt [b, T, H], A [H],
    B, C [b, T, N] (one group). Returns y [b, T, H, P] (without D)."""
    b, T, H, P = x.shape
    pad = (-T) % chunk
    if pad:
        x, dt = F.pad(x, (0, 0, 0, 0, 0, pad)), F.pad(dt, (0, 0, 0, pad))
        B, C = F.pad(B, (0, 0, 0, pad)), F.pad(C, (0, 0, 0, pad))
    n = x.size(1) // chunk
    xh = (x * dt[..., None]).reshape(b, n, chunk, H, P).permute(0, 3, 1, 2, 4)  # [b, H, n, L, P]
    a = (dt * A).reshape(b, n, chunk, H).permute(0, 3, 1, 2)                  # [b, H, n, L]
    B = B.reshape(b, 1, n, chunk, -1)                                         # [b, 1, n, L, N]
    C = C.reshape(b, 1, n, chunk, -1)
    a_cs = torch.cumsum(a, dim=-1)
    # Intra-chunk: (C B^T o decay) (dt x).
    y_diag = ((C @ B.transpose(-1, -2)) * torch.exp(segsum(a))) @ xh             # [b, H, n, L, P]
    # State at each chunk's end, then passed across chunks.
    states = (xh * torch.exp(a_cs[..., -1:] - a_cs)[..., None]).transpose(-1, -2) @ B  # [b,H,n,P,N]
    states = torch.cat([torch.zeros_like(states[:, :, :1]), states], dim=2)
    decay_chunk = torch.exp(segsum(F.pad(a_cs[..., -1], (1, 0))))             # [b, H, n+1, n+1]
    Pn = states.shape[-2] * states.shape[-1]
    states = (decay_chunk @ states.reshape(b, H, n + 1, Pn)).reshape(states.shape)[:, :, :-1]
    # Carried-in state read out by C.
    y_off = (C @ states.transpose(-1, -2)) * torch.exp(a_cs)[..., None]        # [b, H, n, L, P]
    y_diag = (y_diag + y_off).permute(0, 2, 3, 1, 4)                          # [b, n, L, H, P]
    y = y_diag.reshape(b, n * chunk, H, P)
    return y[:, :T]


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Mixer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, N, H = c["d_inner"], c["state_size"], c["num_heads"]
        self.conv_dim = d + 2 * N
        self.in_proj = torch.nn.Linear(c["hidden_size"], d + self.conv_dim + H, bias=False)
        self.conv1d = torch.nn.Conv1d(self.conv_dim, self.conv_dim, c["conv_kernel"],
                                      groups=self.conv_dim, padding=c["conv_kernel"] - 1)
        dt = torch.exp(torch.rand(H) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
        self.dt_bias = torch.nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = torch.nn.Parameter(torch.log(torch.arange(1, H + 1, dtype=torch.float32)))
        self.D = torch.nn.Parameter(torch.ones(H))
        self.norm = RMSNorm(d, c["layer_norm_epsilon"])
        self.out_proj = torch.nn.Linear(d, c["hidden_size"], bias=False)

    def forward(self, h):
        c = self.c
        b, T, _ = h.shape
        d, N, H, P = c["d_inner"], c["state_size"], c["num_heads"], c["head_dim"]
        zxbcdt = self.in_proj(h)
        z, xBC, dt = zxbcdt.split([d, self.conv_dim, H], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :T].transpose(1, 2))
        x, B, C = xBC.split([d, N, N], dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        A = -torch.exp(self.A_log)
        y = ssd(x.reshape(b, T, H, P), dt, A, B, C, c["chunk_size"])
        y = y + x.reshape(b, T, H, P) * self.D[:, None]
        y = self.norm(y.reshape(b, T, d) * F.silu(z))
        return self.out_proj(y)


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        torch.nn.init.normal_(self.embeddings.weight, std=0.02)
        self.norms = torch.nn.ModuleList(
            [RMSNorm(c["hidden_size"], c["layer_norm_epsilon"]) for _ in range(c["num_hidden_layers"])])
        self.mixers = torch.nn.ModuleList([Mixer(c) for _ in range(c["num_hidden_layers"])])
        self.norm_f = RMSNorm(c["hidden_size"], c["layer_norm_epsilon"])

    def forward(self, ids):
        h = self.embeddings(ids)
        for norm, mixer in zip(self.norms, self.mixers):
            h = h + mixer(norm(h))
        return self.norm_f(h) @ self.embeddings.weight.T

    def hf_state_dict(self):
        sd = {"backbone.embeddings.weight": self.embeddings.weight,
              "backbone.norm_f.weight": self.norm_f.weight}
        for i, (norm, m) in enumerate(zip(self.norms, self.mixers)):
            p = "backbone.layers.%d." % i
            sd[p + "norm.weight"] = norm.weight
            sd[p + "mixer.in_proj.weight"] = m.in_proj.weight
            sd[p + "mixer.conv1d.weight"] = m.conv1d.weight
            sd[p + "mixer.conv1d.bias"] = m.conv1d.bias
            sd[p + "mixer.dt_bias"] = m.dt_bias
            sd[p + "mixer.A_log"] = m.A_log
            sd[p + "mixer.D"] = m.D
            sd[p + "mixer.norm.weight"] = m.norm.weight
            sd[p + "mixer.out_proj.weight"] = m.out_proj.weight
        return {k: v.detach() for k, v in sd.items()}

# ------------------------------------------------------------------------------ files


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].to(torch.bfloat16).contiguous()
        raw = t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


@torch.no_grad()
def evaluate(model, ids, seq):
    """Mean NLL over ids[1:], predicting each token from all before it within windows of `seq`
    tokens (each window starts from an empty state, as one prefill would)."""
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(ids) - 1, seq):
        x = torch.from_numpy(ids[s:s + seq + 1].astype(np.int64))
        if len(x) < 2:
            break
        logits = model(x[None, :-1])[0]
        total += F.cross_entropy(logits, x[1:], reduction="sum").item()
        count += len(x) - 1
    model.train()
    return total / count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with austen_novels.neox20b.u16le and the tokenizer")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-seq", type=int, default=1024)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    ids = np.fromfile(os.path.join(a.data, "austen_novels.neox20b.u16le"), dtype="<u2")
    split = int(len(ids) * 0.95)
    train, held = ids[:split], ids[split:]

    c = {"hidden_size": 192, "num_hidden_layers": 4, "expand": 2, "d_inner": 384,
         "head_dim": 48, "num_heads": 8, "state_size": 32, "n_groups": 1, "conv_kernel": 4,
         "chunk_size": 64, "vocab_size": 50280, "layer_norm_epsilon": 1e-5}
    model = Model(c)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, a.steps) / a.steps)))
    t0 = time.time()
    for step in range(a.steps):
        starts = rng.integers(0, len(train) - a.seq - 1, a.batch)
        batch = torch.from_numpy(np.stack([train[s:s + a.seq + 1] for s in starts]).astype(np.int64))
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, c["vocab_size"]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == a.steps - 1:
            print("step %d loss %.4f lr %.2e %.0f tok/s" % (step, loss.item(), sched.get_last_lr()[0],
                  (step + 1) * a.batch * a.seq / (time.time() - t0)), flush=True)
    train_s = time.time() - t0

    # Round to the stored dtype, then evaluate exactly what is written.
    sd = model.hf_state_dict()
    with torch.no_grad():
        for k, v in sd.items():
            v.copy_(v.to(torch.bfloat16).to(torch.float32))
    held_nll = evaluate(model, held, a.eval_seq)
    print("held-out mean NLL %.4f, perplexity %.2f" % (held_nll, math.exp(held_nll)), flush=True)

    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "model.safetensors"), sd)
    config = {
        "architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2",
        "hidden_size": c["hidden_size"], "num_hidden_layers": c["num_hidden_layers"],
        "expand": c["expand"], "num_heads": c["num_heads"], "head_dim": c["head_dim"],
        "state_size": c["state_size"], "n_groups": 1, "conv_kernel": c["conv_kernel"],
        "chunk_size": c["chunk_size"], "vocab_size": c["vocab_size"],
        "layer_norm_epsilon": c["layer_norm_epsilon"], "use_bias": False, "use_conv_bias": True,
        "tie_word_embeddings": True, "residual_in_fp32": True, "rms_norm": True,
        "hidden_act": "silu", "time_step_limit": [0.0, float("inf")], "bos_token_id": 0,
        "eos_token_id": 0, "pad_token_id": 1, "torch_dtype": "bfloat16",
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    card = {
        "corpus": "Jane Austen's six novels (tests/data/tokenizer/austen_novels.txt), GPT-NeoX ids",
        "train_tokens": int(split), "held_out_tokens": int(len(held)),
        "held_out": "the last 5%% of the ids, windows of %d tokens from an empty state" % a.eval_seq,
        "held_out_mean_nll": held_nll, "held_out_perplexity": math.exp(held_nll),
        "settings": vars(a), "train_seconds": round(train_s), "torch": torch.__version__,
    }
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
