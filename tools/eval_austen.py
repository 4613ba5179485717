#!/usr/bin/env python3
"""Evaluates a checkpoint written by tools/train_austen.py the way training did: mean NLL over
the last 5% of the corpus (or its first --count ids), windows of --window tokens each from an
empty state. The C++ cross-check `mamba-perplexity --ids-u16 ... --begin-fraction 0.95 --window
1024` must agree within 1%.

  /usr/bin/python3 tools/eval_austen.py models/mamba2-austen tests/data/tokenizer/austen_novels.neox20b.u16le
"""
import argparse
import importlib.util
import json
import math
import os
import struct

import numpy as np
import torch

spec = importlib.util.spec_from_file_location(
    "train_austen", os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_austen.py"))
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    c = dict(cfg)
    c["d_inner"] = cfg["expand"] * cfg["hidden_size"]
    model = train.Model(c)
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        raw = np.frombuffer(data[b:en], dtype=np.uint16).astype(np.uint32) << 16
        tensors[name] = torch.from_numpy(raw.view(np.float32).reshape(e["shape"]).copy())
    sd = model.hf_state_dict()
    with torch.no_grad():
        for k, v in sd.items():
            v.copy_(tensors[k])
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("ids")
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--count", type=int, default=0, help="only the first COUNT held-out ids")
    ap.add_argument("--record", action="store_true",
                    help="store the result as 'excerpt' in the model's training.json (the C++ test reads it)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ids = np.fromfile(a.ids, dtype="<u2")
    held = ids[int(len(ids) * 0.95):]
    if a.count:
        held = held[:a.count]
    nll = train.evaluate(load(a.model), held, a.window)
    print("tokens scored: %d\nmean NLL: %.6f\nperplexity: %.4f" % (len(held) - 1, nll, math.exp(nll)))
    if a.record:
        path = os.path.join(a.model, "training.json")
        with open(path) as f:
            card = json.load(f)
        card["excerpt"] = {"ids": len(held), "window": a.window, "mean_nll": nll,
                           "by": "tools/eval_austen.py --count %d --window %d" % (len(held), a.window)}
        with open(path, "w") as f:
            json.dump(card, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
