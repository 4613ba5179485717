#!/usr/bin/env python3
"""Writes a test fixture: an HF-format checkpoint with random weights plus expected.safetensors
computed by an independent float64 NumPy implementation of HF's MambaForCausalLM (slow_forward +
the cached decode step) or Mamba2ForCausalLM (the plain recurrence, gated RMSNorm per group as
mamba_ssm trains it, dt clamped to time_step_limit everywhere), in the layout of
tests/data/fixtures/README.md. Development tool only (needs numpy); the library never runs it.

  python3 tools/make_fixture.py OUT_DIR --hidden 48 --layers 3 --state 5 --conv 3 \
      --vocab 301 --use-bias --untied --seed 7
  python3 tools/make_fixture.py OUT_DIR --mamba2 --hidden 64 --head-dim 8 --groups 4 \
      --dt-max 0.05 --vocab 257 --seed 1
"""
import argparse
import json
import math
import os
import struct

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        dtype = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def softplus(x):
    return np.where(x > 20.0, x, np.log1p(np.exp(np.minimum(x, 20.0))))


class Model:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w

    def new_cache(self):
        c = self.c
        d = c["expand"] * c["hidden_size"]
        return [
            {"conv": np.zeros((d, c["conv_kernel"])), "ssm": np.zeros((d, c["state_size"]))}
            for _ in range(c["num_hidden_layers"])
        ]

    def mixer(self, l, h, cache, debug):
        """h [T, hidden] -> [T, hidden], advancing cache (HF layouts) token by token."""
        c, w = self.c, self.w
        p = "backbone.layers.%d.mixer." % l
        d, N, K = c["expand"] * c["hidden_size"], c["state_size"], c["conv_kernel"]
        R = c["_dt_rank"]
        xz = h @ w[p + "in_proj.weight"].T
        if c["use_bias"]:
            xz = xz + w[p + "in_proj.bias"]
        x, z = xz[:, :d], xz[:, d:]
        convw = w[p + "conv1d.weight"][:, 0, :]  # [d, K]
        convb = w[p + "conv1d.bias"] if c["use_conv_bias"] else np.zeros(d)
        A = -np.exp(w[p + "A_log"])
        T = h.shape[0]
        u = np.zeros((T, d)); dts = np.zeros((T, d)); ys = np.zeros((T, d)); xps = []
        for t in range(T):
            cache["conv"] = np.roll(cache["conv"], -1, axis=1)
            cache["conv"][:, -1] = x[t]
            u[t] = silu(np.sum(cache["conv"] * convw, axis=1) + convb)
            xp = w[p + "x_proj.weight"] @ u[t]
            xps.append(xp)
            dt_low, B, C = xp[:R], xp[R:R + N], xp[R + N:]
            dt = softplus(w[p + "dt_proj.weight"] @ dt_low + w[p + "dt_proj.bias"])
            dts[t] = dt
            cache["ssm"] = np.exp(dt[:, None] * A) * cache["ssm"] + (dt * u[t])[:, None] * B[None, :]
            ys[t] = cache["ssm"] @ C + w[p + "D"] * u[t]
        gated = ys * silu(z)
        out = gated @ w[p + "out_proj.weight"].T
        if c["use_bias"]:
            out = out + w[p + "out_proj.bias"]
        if debug is not None:
            q = "debug.layers.%d." % l
            debug[q + "in_proj_out"] = xz; debug[q + "conv_out"] = u
            debug[q + "x_proj_out"] = np.array(xps); debug[q + "dt"] = dts
            debug[q + "scan_out"] = ys; debug[q + "gated_out"] = gated; debug[q + "mixer_out"] = out
        return out

    def forward(self, ids, cache, debug=None):
        c, w = self.c, self.w
        eps = c["layer_norm_epsilon"]
        h = w["backbone.embeddings.weight"][ids]
        if debug is not None:
            debug["embeddings_out"] = h
        for l in range(c["num_hidden_layers"]):
            n = rmsnorm(h, w["backbone.layers.%d.norm.weight" % l], eps)
            if debug is not None:
                debug["debug.layers.%d.norm_out" % l] = n
            h = h + self.mixer(l, n, cache[l], debug)
            if debug is not None:
                debug["hidden.%d" % l] = h
        n = rmsnorm(h, w["backbone.norm_f.weight"], eps)
        if debug is not None:
            debug["norm_f_out"] = n
        head = w["backbone.embeddings.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
        return n @ head.T


class Model2(Model):
    def new_cache(self):
        c = self.c
        d = c["expand"] * c["hidden_size"]
        H, P, N, G = c["num_heads"], c["head_dim"], c["state_size"], c["n_groups"]
        return [
            {"conv": np.zeros((d + 2 * G * N, c["conv_kernel"])), "ssm": np.zeros((H, P, N))}
            for _ in range(c["num_hidden_layers"])
        ]

    def mixer(self, l, h, cache, debug):
        c, w = self.c, self.w
        p = "backbone.layers.%d.mixer." % l
        d, N, K = c["expand"] * c["hidden_size"], c["state_size"], c["conv_kernel"]
        H, P, G = c["num_heads"], c["head_dim"], c["n_groups"]
        Cd = d + 2 * G * N
        lo, hi = c["time_step_limit"]
        zx = h @ w[p + "in_proj.weight"].T
        if c["use_bias"]:
            zx = zx + w[p + "in_proj.bias"]
        # mamba_ssm's optional gated MLP: in_proj rows (z0, x0, z, xBC, dt), d_mlp = extra / 2.
        m = (zx.shape[1] - d - Cd - H) // 2
        z0, x0, zx_ssm = zx[:, :m], zx[:, m:2 * m], zx[:, 2 * m:]
        z, xBC, dt_raw = zx_ssm[:, :d], zx_ssm[:, d:d + Cd], zx_ssm[:, d + Cd:]
        convw = w[p + "conv1d.weight"][:, 0, :]
        convb = w[p + "conv1d.bias"] if c["use_conv_bias"] else np.zeros(Cd)
        A = -np.exp(w[p + "A_log"])
        T = h.shape[0]
        u = np.zeros((T, Cd)); dts = np.zeros((T, H)); ys = np.zeros((T, d))
        for t in range(T):
            cache["conv"] = np.roll(cache["conv"], -1, axis=1)
            cache["conv"][:, -1] = xBC[t]
            u[t] = silu(np.sum(cache["conv"] * convw, axis=1) + convb)
            x = u[t, :d].reshape(H, P)
            B = u[t, d:d + G * N].reshape(G, N)
            C = u[t, d + G * N:].reshape(G, N)
            dt = np.clip(softplus(dt_raw[t] + w[p + "dt_bias"]), lo, hi)
            dts[t] = dt
            grp = np.arange(H) // (H // G)
            Bh, Ch = B[grp], C[grp]  # [H, N]
            cache["ssm"] = (np.exp(dt * A)[:, None, None] * cache["ssm"]
                            + (dt[:, None] * x)[:, :, None] * Bh[:, None, :])
            y = np.einsum("hpn,hn->hp", cache["ssm"], Ch) + w[p + "D"][:, None] * x
            ys[t] = y.reshape(d)
        g = ys * silu(z)
        gs = g.reshape(T, G, d // G)
        gs = gs / np.sqrt(np.mean(gs * gs, axis=-1, keepdims=True) + c["layer_norm_epsilon"])
        gated = gs.reshape(T, d) * w[p + "norm.weight"]
        out = np.concatenate([silu(z0) * x0, gated], axis=1) @ w[p + "out_proj.weight"].T
        if c["use_bias"]:
            out = out + w[p + "out_proj.bias"]
        if debug is not None:
            q = "debug.layers.%d." % l
            debug[q + "in_proj_out"] = zx; debug[q + "conv_out"] = u; debug[q + "dt"] = dts
            debug[q + "scan_out"] = ys; debug[q + "gated_out"] = gated; debug[q + "mixer_out"] = out
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--expand", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--conv", type=int, default=4)
    ap.add_argument("--dt-rank", default="auto")
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--use-bias", action="store_true")
    ap.add_argument("--no-conv-bias", action="store_true")
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--prompt", type=int, default=21)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mamba2", action="store_true")
    ap.add_argument("--head-dim", type=int, default=16)
    ap.add_argument("--groups", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--dt-max", type=float, default=float("inf"))
    ap.add_argument("--dt-min", type=float, default=0.0)
    ap.add_argument("--d-mlp", type=int, default=0, help="mamba_ssm's gated MLP width in in_proj")
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    H, d, N, K, V = a.hidden, a.expand * a.hidden, a.state, a.conv, a.vocab
    R = math.ceil(H / 16) if a.dt_rank == "auto" else int(a.dt_rank)
    cfg = {
        "architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": H,
        "intermediate_size": d, "expand": a.expand, "state_size": N, "conv_kernel": K,
        "num_hidden_layers": a.layers, "vocab_size": V,
        "time_step_rank": a.dt_rank if a.dt_rank == "auto" else R,
        "use_bias": a.use_bias, "use_conv_bias": not a.no_conv_bias,
        "tie_word_embeddings": not a.untied, "layer_norm_epsilon": 1e-5,
        "residual_in_fp32": True, "hidden_act": "silu", "bos_token_id": 0, "eos_token_id": 0,
        "pad_token_id": 0, "torch_dtype": "float32",
    }
    w = {"backbone.embeddings.weight": rng.normal(0, 0.5, (V, H))}
    if a.mamba2:
        nh, G = d // a.head_dim, a.groups
        Cd = d + 2 * G * N
        cfg.update({"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2",
                    "num_heads": nh, "head_dim": a.head_dim, "n_groups": G,
                    "chunk_size": a.chunk, "rms_norm": True,
                    "time_step_limit": [a.dt_min, a.dt_max]})
        del cfg["time_step_rank"]
        for l in range(a.layers):
            p = "backbone.layers.%d." % l
            m = p + "mixer."
            w[p + "norm.weight"] = 1 + rng.normal(0, 0.1, H)
            e = 2 * a.d_mlp  # rows of the optional MLP come first
            ip = rng.normal(0, 1 / math.sqrt(H), (e + d + Cd + nh, H))
            ip[e + d + d:e + d + Cd] *= 3.0   # B/C gain
            ip[e + d + Cd:] *= 1.5            # dt gain
            w[m + "in_proj.weight"] = ip
            if a.use_bias:
                w[m + "in_proj.bias"] = rng.normal(0, 0.1, e + d + Cd + nh)
                w[m + "out_proj.bias"] = rng.normal(0, 0.1, H)
            w[m + "conv1d.weight"] = rng.uniform(-1, 1, (Cd, 1, K)) / math.sqrt(K)
            if not a.no_conv_bias:
                w[m + "conv1d.bias"] = rng.normal(0, 0.1, Cd)
            dt = np.exp(rng.uniform(math.log(0.001), math.log(0.1), nh))
            w[m + "dt_bias"] = dt + np.log(-np.expm1(-dt))
            w[m + "A_log"] = np.log(np.arange(1, nh + 1, dtype=np.float64))
            w[m + "D"] = rng.uniform(0.5, 1.5, nh)
            w[m + "norm.weight"] = 1 + rng.normal(0, 0.1, d)
            w[m + "out_proj.weight"] = rng.normal(0, 1 / math.sqrt(d), (H, a.d_mlp + d))
    for l in range(0 if a.mamba2 else a.layers):
        p = "backbone.layers.%d." % l
        m = p + "mixer."
        w[p + "norm.weight"] = 1 + rng.normal(0, 0.1, H)
        w[m + "in_proj.weight"] = rng.normal(0, 1 / math.sqrt(H), (2 * d, H))
        if a.use_bias:
            w[m + "in_proj.bias"] = rng.normal(0, 0.1, 2 * d)
            w[m + "out_proj.bias"] = rng.normal(0, 0.1, H)
        w[m + "conv1d.weight"] = rng.uniform(-1, 1, (d, 1, K)) / math.sqrt(K)
        if not a.no_conv_bias:
            w[m + "conv1d.bias"] = rng.normal(0, 0.1, d)
        xp = rng.normal(0, 1 / math.sqrt(d), (R + 2 * N, d))
        xp[R:] *= 3.0  # B/C gain, as the shared fixtures
        w[m + "x_proj.weight"] = xp
        w[m + "dt_proj.weight"] = rng.normal(0, 1 / math.sqrt(R), (d, R))
        dt = np.exp(rng.uniform(math.log(0.01), math.log(0.3), d))
        w[m + "dt_proj.bias"] = dt + np.log(-np.expm1(-dt))
        w[m + "A_log"] = np.log(np.tile(np.arange(1, N + 1), (d, 1))) + rng.normal(0, 0.05, (d, N))
        w[m + "D"] = rng.uniform(0.5, 1.5, d)
        w[m + "out_proj.weight"] = rng.normal(0, 8 / math.sqrt(d), (H, d))
    w["backbone.norm_f.weight"] = 1 + rng.normal(0, 0.1, H)
    if a.untied:
        w["lm_head.weight"] = rng.normal(0, 0.5, (V, H))
    # Round to float32 first: the expected values are the float64 forward of the stored weights.
    w = {k: v.astype(np.float32).astype(np.float64) for k, v in w.items()}
    cfg["_dt_rank"] = R
    model = (Model2 if a.mamba2 else Model)(cfg, w)

    ex = {}
    ids = rng.integers(1, V, a.prompt)
    cache = model.new_cache()
    debug = {}
    ex["prefill_logits"] = model.forward(ids, cache, debug)
    ex.update(debug)
    for l, c in enumerate(cache):
        ex["layers.%d.conv_state" % l] = c["conv"][None]
        ex["layers.%d.ssm_state" % l] = c["ssm"][None]
    dec = rng.integers(1, V, 8)
    ex["decode_logits"] = np.concatenate([model.forward(dec[j:j + 1], cache) for j in range(8)])
    for l, c in enumerate(cache):
        ex["decode.layers.%d.conv_state" % l] = c["conv"][None]
        ex["decode.layers.%d.ssm_state" % l] = c["ssm"][None]
    cache = model.new_cache()
    logits = model.forward(ids, cache)[-1]
    greedy, greedy_logits = [], []
    for _ in range(16):
        greedy_logits.append(logits)
        top2 = np.sort(logits)[-2:]
        assert top2[1] - top2[0] > 0.05, "greedy margin too small; pick another seed"
        greedy.append(int(np.argmax(logits)))
        logits = model.forward(np.array([greedy[-1]]), cache)[-1]
    ex["greedy_logits"] = np.array(greedy_logits)
    short = rng.integers(1, V, 2)
    cache = model.new_cache()
    ex["short_prefill_logits"] = model.forward(short, cache)
    for l, c in enumerate(cache):
        ex["short.layers.%d.conv_state" % l] = c["conv"][None]
        ex["short.layers.%d.ssm_state" % l] = c["ssm"][None]

    tensors = {k: v.astype(np.float32) for k, v in ex.items()}
    for k, v in (("input_ids", ids), ("decode_ids", dec), ("greedy_ids", np.array(greedy)),
                 ("short_input_ids", short)):
        tensors[k] = np.asarray(v, dtype=np.int64)
    os.makedirs(a.out, exist_ok=True)
    del cfg["_dt_rank"]
    with open(os.path.join(a.out, "config.json"), "w") as f:
        # json writes inf as Infinity, as real Mamba-2 configs have it.
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(a.out, "model.safetensors"),
                      {k: v.astype(np.float32) for k, v in w.items()}, {"format": "pt"})
    write_safetensors(os.path.join(a.out, "expected.safetensors"), tensors,
                      {"generator": "tools/make_fixture.py", "seed": str(a.seed)})


if __name__ == "__main__":
    main()
