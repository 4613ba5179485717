#!/usr/bin/env python3
"""Writes the hardening test data (README "Hardening"); standard library only, deterministic.

  tests/data/bad/     the bad-input corpus: one directory or file per case, cases.tsv (what
                      tests/test_bad_corpus.cpp runs: the program, its arguments, the substring
                      the error must contain) and README.md (the same list, for people)
  tests/fuzz/corpus/  the seed corpora of the libFuzzer targets (tests/fuzz/); files named
                      regression-* (inputs that found a bug) are kept

Run from anywhere: python3 tools/make_hardening_data.py. Both trees are rewritten from scratch.
"""
import json
import math
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD = os.path.join(ROOT, "tests", "data", "bad")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


# ---------------------------------------------------------------------------------------------
# Tiny checkpoints (the shapes tests/fuzz/fuzz_safetensors.cpp's configs describe).

class Rng:  # a small LCG, so the files do not depend on Python's random module
    def __init__(self, seed):
        self.s = seed

    def uniform(self, lo, hi):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return lo + (hi - lo) * ((self.s >> 11) / float(1 << 53))


MAMBA1_CONFIG = {"model_type": "mamba", "hidden_size": 8, "expand": 2, "state_size": 4,
                 "num_hidden_layers": 1, "conv_kernel": 2, "time_step_rank": "auto",
                 "vocab_size": 16, "use_bias": False, "use_conv_bias": True,
                 "tie_word_embeddings": True, "hidden_act": "silu", "layer_norm_epsilon": 1e-5,
                 "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
MAMBA2_CONFIG = {"model_type": "mamba2", "hidden_size": 8, "expand": 2, "state_size": 4,
                 "num_hidden_layers": 1, "conv_kernel": 2, "num_heads": 4, "head_dim": 4,
                 "n_groups": 1, "chunk_size": 4, "vocab_size": 16, "use_bias": False,
                 "use_conv_bias": True, "tie_word_embeddings": False, "hidden_act": "silu",
                 "layer_norm_epsilon": 1e-5, "bos_token_id": 0, "eos_token_id": 0,
                 "pad_token_id": 0}


def tensors_of(config, seed=1):
    """[(name, shape, [floats])] of a well-conditioned random checkpoint of `config`."""
    rng = Rng(seed)
    dm, V, N, K = config["hidden_size"], config["vocab_size"], config["state_size"], config["conv_kernel"]
    d = int(config["expand"] * dm)
    out = []

    def add(name, shape, gen):
        n = 1
        for s in shape:
            n *= s
        out.append((name, shape, [gen(i) for i in range(n)]))

    add("backbone.embeddings.weight", [V, dm], lambda i: rng.uniform(-1, 1))
    p = "backbone.layers.0."
    m = p + "mixer."
    add(p + "norm.weight", [dm], lambda i: 1.0)
    if config["model_type"] == "mamba2":
        H, G = config["num_heads"], config["n_groups"]
        C = d + 2 * G * N
        add(m + "in_proj.weight", [d + C + H, dm], lambda i: rng.uniform(-0.3, 0.3))
        add(m + "conv1d.weight", [C, 1, K], lambda i: rng.uniform(-0.5, 0.5))
        add(m + "conv1d.bias", [C], lambda i: rng.uniform(-0.1, 0.1))
        add(m + "dt_bias", [H], lambda i: -2.0)
        add(m + "A_log", [H], lambda i: math.log(1 + i))
        add(m + "D", [H], lambda i: 1.0)
        add(m + "norm.weight", [d], lambda i: 1.0)
    else:
        R = (dm + 15) // 16
        add(m + "in_proj.weight", [2 * d, dm], lambda i: rng.uniform(-0.3, 0.3))
        add(m + "conv1d.weight", [d, 1, K], lambda i: rng.uniform(-0.5, 0.5))
        add(m + "conv1d.bias", [d], lambda i: rng.uniform(-0.1, 0.1))
        add(m + "x_proj.weight", [R + 2 * N, d], lambda i: rng.uniform(-0.3, 0.3))
        add(m + "dt_proj.weight", [d, R], lambda i: rng.uniform(-0.3, 0.3))
        add(m + "dt_proj.bias", [d], lambda i: -2.0)
        add(m + "A_log", [d, N], lambda i: math.log(1 + i % N))
        add(m + "D", [d], lambda i: 1.0)
    add(m + "out_proj.weight", [dm, d], lambda i: rng.uniform(-0.3, 0.3))
    add("backbone.norm_f.weight", [dm], lambda i: 1.0)
    if not config["tie_word_embeddings"]:
        add("lm_head.weight", [V, dm], lambda i: rng.uniform(-1, 1))
    return out


def encode(values, dtype):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F64":
        return struct.pack("<%dd" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    if dtype == "BF16":
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)
    if dtype == "I32":
        return struct.pack("<%di" % len(values), *[int(v) for v in values])
    raise ValueError(dtype)


def raw_safetensors(header_bytes, data):
    return struct.pack("<Q", len(header_bytes)) + header_bytes + data


def safetensors(tensors, dtype="F32", patch=None):
    """The file of `tensors` (a list of (name, shape, values)), every tensor `dtype` (or the
    dtype in a 4th tuple element). patch(header) may edit the header dict before writing."""
    header = {"__metadata__": {"format": "pt"}}
    data = b""
    for t in tensors:
        name, shape, values = t[:3]
        dt = t[3] if len(t) > 3 else dtype
        b = encode(values, dt)
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    if patch:
        patch(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # data 8-byte aligned, as safetensors writers do
    return raw_safetensors(text, data)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def config_text(config):
    return json.dumps(config, indent=1) + "\n"


# ---------------------------------------------------------------------------------------------
# The bad-input corpus.

GOOD_M1 = tensors_of(MAMBA1_CONFIG)
GOOD_M2 = tensors_of(MAMBA2_CONFIG)


def with_tensor(tensors, name, fn):
    """A copy of `tensors` with tensor `name`'s tuple replaced by fn(tuple) (None drops it)."""
    out = []
    for t in tensors:
        if t[0] == name:
            t = fn(t)
            if t is None:
                continue
        out.append(t)
    return out


def set_value(name, index, value, dtype=None):
    def fn(t):
        values = list(t[2])
        values[index] = value
        return (t[0], t[1], values) + ((dtype,) if dtype else t[3:])
    return fn


CASES = []  # (name, description, program, args, expected substring)


def case(name, description, args, expect, program="mamba-generate"):
    CASES.append((name, description, program, args, expect))


def model_case(name, description, st=None, config=None, expect="", args="--ids 1,2,3 -n 2",
               program="mamba-generate"):
    """A model directory: model.safetensors `st` (bytes; default the good tiny one) and
    config.json `config` (text or dict; default the good one)."""
    d = os.path.join(BAD, name)
    write(os.path.join(d, "model.safetensors"), st if st is not None else safetensors(GOOD_M1))
    cfg = MAMBA1_CONFIG if config is None else config
    write(os.path.join(d, "config.json"), cfg if isinstance(cfg, (str, bytes)) else config_text(cfg))
    case(name, description, "-m {bad}/" + name + " " + args, expect, program)


def header_case(name, description, header_text, data=b"", expect=""):
    model_case(name, description, st=raw_safetensors(header_text, data), expect=expect)


def patched(fn):
    return safetensors(GOOD_M1, patch=fn)


def entry(name):
    return lambda h: h[name]


def make_bad():
    good = safetensors(GOOD_M1)
    in_proj = "backbone.layers.0.mixer.in_proj.weight"
    norm = "backbone.layers.0.norm.weight"

    # The good tiny model itself: the runner checks it works, so every failure below is the defect.
    write(os.path.join(BAD, "tiny", "model.safetensors"), good)
    write(os.path.join(BAD, "tiny", "config.json"), config_text(MAMBA1_CONFIG))
    write(os.path.join(BAD, "tiny2", "model.safetensors"), safetensors(GOOD_M2))
    write(os.path.join(BAD, "tiny2", "config.json"), config_text(MAMBA2_CONFIG))

    # --- safetensors: sizes and the header ---
    model_case("st_empty", "model.safetensors is empty", st=b"", expect="0 bytes, too short")
    model_case("st_five_bytes", "5 bytes: no room for the header length", st=b"\x10\0\0\0\0",
               expect="5 bytes, too short for the 8-byte header length")
    model_case("st_header_past_eof", "header length beyond the end of the file",
               st=struct.pack("<Q", 1000) + b"{}" + b"\0" * 30, expect="header length 1000 runs past the end")
    model_case("st_header_huge", "header length 2^63",
               st=struct.pack("<Q", 1 << 63) + b"{}", expect="exceeds the limit")
    model_case("st_cut_in_header", "file cut inside the header", st=good[:60],
               expect="runs past the end of the file (60 bytes)")
    model_case("st_cut_in_data", "file cut inside the data", st=good[:len(good) - 100],
               expect="run past the data section")
    header_case("st_header_not_json", "header is not JSON", b"{\"a\": [1, 2", expect="model.safetensors (header): invalid JSON")
    header_case("st_header_array", "header is a JSON array", b"[1, 2, 3]", expect="header is not a JSON object")
    header_case("st_header_bad_utf8", "header holds invalid UTF-8 (byte 0xff in a tensor name)",
                b'{"t\xff": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4,
                expect=["model.safetensors (header): invalid JSON", "ill-formed UTF-8"])
    header_case("st_entry_not_object", "a tensor entry is a number", b'{"t": 5}',
                expect="tensor 't': entry is not an object")
    model_case("st_missing_dtype", "a tensor without dtype", st=patched(lambda h: h[norm].pop("dtype")),
               expect="tensor '" + norm + "': missing dtype")
    model_case("st_unknown_dtype", "dtype F8", st=patched(lambda h: h[norm].update(dtype="F8")),
               expect="unknown dtype 'F8'")
    model_case("st_missing_shape", "a tensor without shape", st=patched(lambda h: h[norm].pop("shape")),
               expect="tensor '" + norm + "': missing shape")
    model_case("st_negative_dim", "shape [-8]", st=patched(lambda h: h[norm].update(shape=[-8])),
               expect="non-integer or negative dimension")
    model_case("st_fractional_dim", "shape [7.5]", st=patched(lambda h: h[norm].update(shape=[7.5])),
               expect="non-integer or negative dimension")
    model_case("st_shape_huge", "shape [2^40, 2^40] (byte count overflows)",
               st=patched(lambda h: h[norm].update(shape=[1 << 40, 1 << 40])), expect="is too large")
    model_case("st_offsets_past_data", "data_offsets end beyond the data section",
               st=patched(lambda h: h[norm].update(data_offsets=[1 << 30, (1 << 30) + 32])),
               expect="run past the data section")
    model_case("st_offsets_reversed", "data_offsets [32, 0]",
               st=patched(lambda h: h[norm].update(data_offsets=[32, 0])), expect="end before they begin")
    model_case("st_offsets_not_pair", "data_offsets [0]",
               st=patched(lambda h: h[norm].update(data_offsets=[0])), expect="data_offsets must be [begin, end]")
    model_case("st_offsets_negative", "data_offsets [-4, 28]",
               st=patched(lambda h: h[norm].update(data_offsets=[-4, 28])), expect="data_offsets must be [begin, end]")
    model_case("st_byte_count", "data_offsets hold 28 bytes, dtype and shape need 32",
               st=patched(lambda h: h[norm].update(data_offsets=[h[norm]["data_offsets"][0], h[norm]["data_offsets"][0] + 28])),
               expect="hold 28 bytes but dtype F32 and shape [8] need 32")

    def overlap(h):
        h[norm]["data_offsets"] = list(h["backbone.norm_f.weight"]["data_offsets"])
    model_case("st_overlap", "two tensors share their bytes", st=patched(overlap), expect="overlap")

    # --- weights: dtype, shape, presence, values ---
    model_case("st_int_dtype", "in_proj stored as I32 (right shape)",
               st=safetensors(with_tensor(GOOD_M1, in_proj, lambda t: t + ("I32",))),
               expect="has dtype I32; weights must be F32, F16 or BF16")
    model_case("st_f64_dtype", "norm stored as F64",
               st=safetensors(with_tensor(GOOD_M1, norm, lambda t: t + ("F64",))),
               expect="has dtype F64")
    model_case("st_transposed", "in_proj transposed ([8, 32] instead of [32, 8])",
               st=safetensors(with_tensor(GOOD_M1, in_proj, lambda t: (t[0], [t[1][1], t[1][0]], t[2]))),
               expect="has shape [8, 32], expected [32, 8] from config.json")
    model_case("st_missing_tensor", "backbone.norm_f.weight absent",
               st=safetensors(with_tensor(GOOD_M1, "backbone.norm_f.weight", lambda t: None)),
               expect="missing tensor 'backbone.norm_f.weight'")
    model_case("st_nan_weight", "a NaN in in_proj (F32)",
               st=safetensors(with_tensor(GOOD_M1, in_proj, set_value(in_proj, 9, float("nan")))),
               expect="tensor '" + in_proj + "' element 9 ([1, 1]) is NaN; weights must be finite")
    model_case("st_inf_weight", "+inf in a norm (F32)",
               st=safetensors(with_tensor(GOOD_M1, norm, set_value(norm, 3, float("inf")))),
               expect="tensor '" + norm + "' element 3 ([3]) is +inf")
    model_case("st_bf16_neg_inf", "-inf in the embeddings (BF16 file)",
               st=safetensors(with_tensor(GOOD_M1, "backbone.embeddings.weight",
                                          set_value("", 17, float("-inf"))), dtype="BF16"),
               expect="tensor 'backbone.embeddings.weight' element 17 ([2, 1]) is -inf")
    model_case("st_f16_nan", "NaN in A_log (F16 file)",
               st=safetensors(with_tensor(GOOD_M1, "backbone.layers.0.mixer.A_log",
                                          set_value("", 0, float("nan"))), dtype="F16"),
               expect="'backbone.layers.0.mixer.A_log' element 0 ([0, 0]) is NaN")
    model_case("st_huge_weights", "finite weights so large the logits overflow to inf",
               st=safetensors(with_tensor(GOOD_M1, "backbone.norm_f.weight",
                                          lambda t: (t[0], t[1], [3e38] * len(t[2])))),
               expect="non-finite logits after token 3 of slot 0")

    # --- config.json ---
    def cfg(**kw):
        c = dict(MAMBA1_CONFIG)
        for k, v in kw.items():
            if v is None:
                c.pop(k)
            else:
                c[k] = v
        return c

    def cfg_case(name, description, config, expect):
        model_case(name, description, config=config, expect=expect)

    cfg_case("cfg_not_json", "config.json is not JSON", "{\"hidden_size\": 8,", "config.json: invalid JSON")
    cfg_case("cfg_empty", "config.json is empty", "", "config.json: invalid JSON")
    cfg_case("cfg_array", "config.json is an array", "[8, 1, 16]", "config.json: expected a JSON object at the top level")
    cfg_case("cfg_bad_utf8", "invalid UTF-8 in a string value",
             b'{"model_type": "mamba", "hidden_size": 8, "num_hidden_layers": 1, "vocab_size": 16, "hidden_act": "si\xc3lu"}',
             ["config.json: invalid JSON", "ill-formed UTF-8"])
    cfg_case("cfg_missing_hidden", "no hidden_size", cfg(hidden_size=None), "missing required field 'hidden_size'")
    cfg_case("cfg_zero_hidden", "hidden_size 0", cfg(hidden_size=0), "field 'hidden_size' = 0 is out of range")
    cfg_case("cfg_negative_hidden", "hidden_size -8", cfg(hidden_size=-8), "field 'hidden_size' = -8 is out of range")
    cfg_case("cfg_huge_hidden", "hidden_size 2^31", cfg(hidden_size=1 << 31), "field 'hidden_size' = 2147483648 is out of range")
    cfg_case("cfg_zero_layers", "num_hidden_layers 0", cfg(num_hidden_layers=0), "field 'num_hidden_layers' = 0 is out of range")
    cfg_case("cfg_negative_layers", "num_hidden_layers -1", cfg(num_hidden_layers=-1), "field 'num_hidden_layers' = -1 is out of range")
    cfg_case("cfg_fractional_layers", "num_hidden_layers 1.5", cfg(num_hidden_layers=1.5), "field 'num_hidden_layers' must be an integer")
    cfg_case("cfg_huge_vocab", "vocab_size 10^12", cfg(vocab_size=10 ** 12), "field 'vocab_size' = 1000000000000 is out of range")
    cfg_case("cfg_zero_vocab", "vocab_size 0", cfg(vocab_size=0), "field 'vocab_size' = 0 is out of range")
    cfg_case("cfg_zero_state", "state_size 0", cfg(state_size=0), "field 'state_size' = 0 is out of range")
    cfg_case("cfg_negative_conv", "conv_kernel -2", cfg(conv_kernel=-2), "field 'conv_kernel' = -2 is out of range")
    cfg_case("cfg_huge_conv", "conv_kernel 1000", cfg(conv_kernel=1000), "field 'conv_kernel' = 1000 is out of range")
    cfg_case("cfg_zero_expand", "expand 0", cfg(expand=0), "field 'expand' must be a positive number")
    cfg_case("cfg_expand_string", "expand \"two\"", cfg(expand="two"), "field 'expand' must be a number, got \"two\"")
    cfg_case("cfg_nan_eps", "layer_norm_epsilon NaN", cfg(layer_norm_epsilon=float("nan")),
             "field 'layer_norm_epsilon' must be a positive finite number, got nan")
    cfg_case("cfg_string_hidden", "hidden_size \"8\"", cfg(hidden_size="8"), "field 'hidden_size' must be an integer")
    cfg_case("cfg_gelu", "hidden_act gelu", cfg(hidden_act="gelu"), "field 'hidden_act' must be \"silu\"")
    cfg_case("cfg_model_type", "model_type llama", cfg(model_type="llama"), "unsupported model_type \"llama\"")
    cfg_case("cfg_eos_range", "eos_token_id 16 with vocab 16", cfg(eos_token_id=16), "field 'eos_token_id' = 16 is out of range [-1, 15]")
    cfg_case("cfg_bool_string", "use_bias \"no\"", cfg(use_bias="no"), "field 'use_bias' must be true or false")
    cfg_case("cfg_dt_rank", "time_step_rank \"big\"", cfg(time_step_rank="big"),
             "field 'time_step_rank' must be an integer or \"auto\", got \"big\"")
    cfg_case("cfg_disagrees", "hidden_size 16 while the weights are for 8", cfg(hidden_size=16),
             "expected [16, 16] from config.json")

    def cfg2(**kw):
        c = dict(MAMBA2_CONFIG)
        c.update(kw)
        return c

    def cfg2_case(name, description, config, expect):
        model_case(name, description, st=safetensors(GOOD_M2), config=config, expect=expect)

    cfg2_case("cfg2_heads", "num_heads * head_dim != expand * hidden_size", cfg2(num_heads=3),
              "num_heads * head_dim = 3 * 4 = 12 must equal expand * hidden_size = 16")
    cfg2_case("cfg2_groups", "n_groups 3 does not divide num_heads 4", cfg2(n_groups=3), "is not a multiple of n_groups = 3")
    cfg2_case("cfg2_zero_chunk", "chunk_size 0", cfg2(chunk_size=0), "field 'chunk_size' = 0 is out of range")
    cfg2_case("cfg2_time_limit", "time_step_limit [1, 0]", cfg2(time_step_limit=[1.0, 0.0]),
              "field 'time_step_limit' = [1, 0] must satisfy 0 <= min <= max")
    cfg2_case("cfg2_huge_heads", "num_heads 2^30", cfg2(num_heads=1 << 30),
              "field 'num_heads' = 1073741824 is out of range [1, 1048576]")
    model_case("cfg2_mamba1_weights", "a Mamba-2 config over Mamba-1 weights", st=good,
               config=MAMBA2_CONFIG, expect="has shape [32, 8], expected [44, 8] from config.json")

    # --- shard index ---
    shard_a = [t for t in GOOD_M1 if "layers" in t[0]]
    shard_b = [t for t in GOOD_M1 if "layers" not in t[0]]

    def index_case(name, description, index, expect, shards=None):
        d = os.path.join(BAD, name)
        write(os.path.join(d, "config.json"), config_text(MAMBA1_CONFIG))
        for f, data in (shards if shards is not None else
                        {"a.safetensors": safetensors(shard_a), "b.safetensors": safetensors(shard_b)}).items():
            write(os.path.join(d, f), data)
        write(os.path.join(d, "model.safetensors.index.json"),
              index if isinstance(index, bytes) else json.dumps(index, indent=1))
        case(name, description, "-m {bad}/" + name + " --ids 1,2,3 -n 2", expect)

    def weight_map(**override):
        wm = {t[0]: "a.safetensors" for t in shard_a}
        wm.update({t[0]: "b.safetensors" for t in shard_b})
        wm.update(override)
        return {"metadata": {}, "weight_map": wm}

    emb = "backbone.embeddings.weight"
    index_case("idx_good", "a good sharded checkpoint (must load)", weight_map(), "OK")
    index_case("idx_missing_shard", "a shard that does not exist", weight_map(**{emb: "c.safetensors"}),
               "shard \"c.safetensors\" (holding '" + emb + "') does not exist")
    index_case("idx_parent_dir", "a shard outside the directory (../)", weight_map(**{emb: "../tiny/model.safetensors"}),
               "is not a plain file name in the checkpoint directory")
    index_case("idx_absolute", "an absolute shard path", weight_map(**{emb: "/etc/passwd"}),
               "\"/etc/passwd\" is not a plain file name")
    index_case("idx_dotdot", "shard name \"..\"", weight_map(**{emb: ".."}), "is not a plain file name")
    index_case("idx_not_json", "the index is not JSON", b"{\"weight_map\": {",
               "model.safetensors.index.json: invalid JSON")
    index_case("idx_no_weight_map", "no weight_map", {"metadata": {}}, "missing object 'weight_map'")
    index_case("idx_weight_map_array", "weight_map is an array", {"weight_map": ["a.safetensors"]},
               "missing object 'weight_map'")
    index_case("idx_name_not_string", "a shard name that is a number", weight_map(**{emb: 7}), "is not a file name")
    index_case("idx_wrong_shard", "a tensor listed in a shard that does not hold it",
               weight_map(**{emb: "a.safetensors"}), "is listed in shard \"a.safetensors\" but that shard does not contain it")
    index_case("idx_twice", "one tensor in two shards", weight_map(),
               "tensor '" + emb + "' also appears in", shards={"a.safetensors": safetensors(shard_a + [t for t in shard_b if t[0] == emb]),
                                          "b.safetensors": safetensors(shard_b)})
    index_case("idx_truncated_shard", "a shard cut short", weight_map(), "run past the data section",
               shards={"a.safetensors": safetensors(shard_a)[:-64], "b.safetensors": safetensors(shard_b)})
    index_case("idx_bad_utf8", "invalid UTF-8 in the index", b'{"weight_map": {"x\xfe": "a.safetensors"}}',
               ["model.safetensors.index.json: invalid JSON", "ill-formed UTF-8"])
    index_case("idx_missing_tensor", "the shards lack a tensor the model needs",
               {"weight_map": {t[0]: "a.safetensors" for t in shard_a}}, "missing tensor",
               shards={"a.safetensors": safetensors(shard_a), "b.safetensors": safetensors(shard_b)})

    # --- directories ---
    case("dir_missing", "the model directory does not exist", "-m {bad}/no-such-dir --ids 1 -n 1",
         "model directory does not exist")
    case("dir_is_file", "-m names a file", "-m {bad}/tiny/config.json --ids 1 -n 1", "is a file, not a model directory")
    write(os.path.join(BAD, "dir_no_config", "model.safetensors"), good)
    case("dir_no_config", "no config.json", "-m {bad}/dir_no_config --ids 1 -n 1", "dir_no_config/config.json: cannot open")
    write(os.path.join(BAD, "dir_no_weights", "config.json"), config_text(MAMBA1_CONFIG))
    case("dir_no_weights", "no model.safetensors and no index", "-m {bad}/dir_no_weights --ids 1 -n 1",
         "no model.safetensors or model.safetensors.index.json")

    # --- command lines (the good tiny model) ---
    tiny = "-m {bad}/tiny "
    case("cli_good", "the good tiny model (must work)", tiny + "--ids 1,2,3 -n 4", "OK")
    case("cli_good_mamba2", "the good tiny Mamba-2 model (must work)", "-m {bad}/tiny2 --ids 1,2,3 -n 4", "OK")
    case("cli_unknown_flag", "an unknown flag", tiny + "--ids 1 --frobnicate",
         "The following argument was not expected: --frobnicate")
    case("cli_ids_letter", "a letter among the ids", tiny + "--ids 1,x,3", "--ids: \"x\" (item 2)")
    case("cli_ids_empty_item", "an empty item in the ids", tiny + "--ids 1,,3", "--ids: \"\" (item 2) is not a token id")
    case("cli_id_at_vocab", "token id 16 with a vocabulary of 16", tiny + "--ids 1,16", "token id 16 at position 1 is out of range [0, 16)")
    case("cli_id_negative", "token id -1", tiny + "--ids 1,-1", "--ids: \"-1\" (item 2)")
    case("cli_id_overflow", "token id beyond int32", tiny + "--ids 99999999999", "--ids: \"99999999999\" (item 1)")
    case("cli_threads_negative", "-t -2", tiny + "--ids 1 -t -2", "--threads: Value -2 not in range")
    case("cli_threads_text", "-t many", tiny + "--ids 1 -t many", "--threads: Value many")
    case("cli_chunk_zero", "--chunk 0", tiny + "--ids 1 --chunk 0", "--chunk: Value 0 not in range 1 to 65536")
    case("cli_temp_negative", "--temp -1", tiny + "--ids 1 --temp -1", "temperature must be a finite number >= 0, got -1")
    case("cli_temp_nan", "--temp nan", tiny + "--ids 1 --temp nan", "temperature must be a finite number >= 0, got nan")
    case("cli_top_p", "--top-p 1.5", tiny + "--ids 1 --temp 1 --top-p 1.5", "top_p must be in (0, 1], got 1.5")
    case("cli_top_k", "--top-k -3", tiny + "--ids 1 --temp 1 --top-k -3", "top_k must be >= 0, got -3")
    case("cli_repeat_penalty", "--repeat-penalty 0", tiny + "--ids 1 --repeat-penalty 0",
         "repetition_penalty must be a finite number > 0, got 0")
    case("cli_n_text", "-n ten", tiny + "--ids 1 -n ten", "--n-predict: Value ten")
    case("cli_weights", "--weights q5", tiny + "--ids 1 --weights q5", "unknown weight type 'q5'")
    case("cli_no_prompt", "no prompt at all", tiny + "-n 2", "no prompt")
    case("cli_two_prompts", "--ids and -p together", tiny + "--ids 1 -p hi", "give only one of")
    case("cli_prompt_file", "-f of a file that does not exist", tiny + "--tokenizer {tok} -f {bad}/no-such-file",
         "no-such-file: cannot open")
    case("cli_load_state_missing", "--load-state of a missing file", tiny + "--ids 1 --load-state {bad}/no-such-state",
         "no-such-state: cannot open")
    write(os.path.join(BAD, "state_garbage.bin"), b"MAMBAST\0" + bytes(range(200)))
    case("cli_load_state_garbage", "--load-state of a corrupt blob", tiny + "--ids 1 --load-state {bad}/state_garbage.bin",
         "state_garbage.bin: state blob: version")
    write(os.path.join(BAD, "state_short.bin"), b"MAMBAST\0\1\0\0\0")
    case("cli_load_state_short", "--load-state of a 12-byte blob", tiny + "--ids 1 --load-state {bad}/state_short.bin",
         "state blob: 12 bytes, too short")
    case("cli_tokenizer_missing", "--tokenizer of a missing path", tiny + "--tokenizer {bad}/no-such-tok -p hi",
         "no-such-tok: tokenizer path does not exist")
    write(os.path.join(BAD, "tok_not_json", "tokenizer.json"), "{\"model\": {\"type\": \"BPE\",")
    case("cli_tokenizer_not_json", "tokenizer.json is not JSON", tiny + "--tokenizer {bad}/tok_not_json -p hi",
         "tok_not_json/tokenizer.json: invalid JSON")
    write(os.path.join(BAD, "tok_bad_utf8", "tokenizer.json"),
          b'{"model": {"type": "BPE", "vocab": {"a\xff": 0}, "merges": []}}')
    case("cli_tokenizer_bad_utf8", "invalid UTF-8 inside tokenizer.json", tiny + "--tokenizer {bad}/tok_bad_utf8 -p hi",
         ["tok_bad_utf8/tokenizer.json: invalid JSON", "ill-formed UTF-8"])
    write(os.path.join(BAD, "tok_no_model", "tokenizer.json"), '{"version": "1.0"}')
    case("cli_tokenizer_no_model", "tokenizer.json without a model", tiny + "--tokenizer {bad}/tok_no_model -p hi",
         "tok_no_model/tokenizer.json: no \"model\"")
    case("cli_prompt_beyond_vocab", "a text prompt whose ids do not fit the 16-token model",
         tiny + "--tokenizer {tok} -p 'Hello world'",
         "prompt token id 12092 at position 0")
    case("cli_empty_prompt", "an empty text prompt", tiny + "--tokenizer {tok} -p ''", "the prompt is empty")
    case("logits_no_out", "mamba-logits without --out", tiny + "--ids 1,2", "--out is required", program="mamba-logits")
    case("logits_decode_from", "--decode-from beyond the sequence", tiny + "--ids 1,2 --decode-from 5 --out {tmp}/x.npy",
         "--decode-from 5 is beyond the sequence length 2", program="mamba-logits")
    case("logits_unwritable", "--out in a missing directory", tiny + "--ids 1,2 --out {bad}/no-such-dir/x.npy",
         "no-such-dir/x.npy: cannot write", program="mamba-logits")
    case("logits_id_range", "mamba-logits with token id 16", tiny + "--ids 3,16 --out {tmp}/x.npy",
         "token id 16 at position 1 is out of range [0, 16)", program="mamba-logits")
    case("logits_nan_weight", "mamba-logits on a model with a NaN weight",
         "-m {bad}/st_nan_weight --ids 1 --out {tmp}/x.npy", "is NaN; weights must be finite", program="mamba-logits")


def as_list(expect):
    return expect if isinstance(expect, list) else [expect]


def write_bad_index():
    with open(os.path.join(BAD, "cases.tsv"), "w") as f:
        f.write("# name\tprogram\targuments ({bad}, {tok}, {tmp} substituted)\texpected stderr substrings,"
                " one per column (OK: must succeed)\n")
        for name, _, program, args, expect in CASES:
            f.write("\t".join([name, program, args] + as_list(expect)) + "\n")
    with open(os.path.join(BAD, "README.md"), "w") as f:
        f.write("# Bad-input corpus\n\n"
                "Written by `tools/make_hardening_data.py` (do not edit by hand); run by\n"
                "`tests/test_bad_corpus.cpp` (ctest `BadCorpus/*`): each case runs the program with the\n"
                "arguments in `cases.tsv`, which must exit with status 1 and print `<program>: error:`\n"
                "followed by a message containing the expected text (cases marked OK must succeed: the\n"
                "good models the others break). `tiny/` and `tiny2/` are the good Mamba-1 and Mamba-2\n"
                "models (hidden 8, one layer, vocabulary 16).\n\n"
                "Unaligned tensors are not an error: an F32 tensor whose data is not 4-byte aligned is\n"
                "copied instead of used in place (`st_unaligned`, which must load).\n\n"
                "| case | program | what is wrong | the error contains |\n|---|---|---|---|\n")
        for name, description, program, args, expect in CASES:
            f.write("| `%s` | %s | %s | %s |\n" % (name, program, description,
                                                   "(succeeds)" if expect == "OK" else
                                                   " and ".join("`" + e.replace("|", "\\|") + "`" for e in as_list(expect))))


def make_unaligned():
    # An F32 tensor at an odd offset: header padded so data starts at 8 + len(header) with an odd
    # number of bytes before the first tensor.
    header = {"__metadata__": {"format": "pt"}}
    data = b"\0"  # one byte of padding: every tensor's data is then misaligned
    for name, shape, values in GOOD_M1:
        b = encode(values, "F32")
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    model_case("st_unaligned", "every F32 tensor 1 byte off alignment (must load)", st=raw_safetensors(text, data),
               expect="OK")


# ---------------------------------------------------------------------------------------------
# Fuzz seeds.

def make_corpus():
    def seed(target, name, data):
        write(os.path.join(CORPUS, target, name), data)

    # safetensors: byte 0 = config (bit 0) | weight type << 1; then the file.
    seed("safetensors", "mamba1_f32", b"\x00" + safetensors(GOOD_M1))
    seed("safetensors", "mamba2_f32", b"\x01" + safetensors(GOOD_M2))
    seed("safetensors", "mamba1_bf16_as_q8", b"\x06" + safetensors(GOOD_M1, dtype="BF16"))
    seed("safetensors", "mamba2_f16_as_q4", b"\x09" + safetensors(GOOD_M2, dtype="F16"))
    seed("safetensors", "one_tensor", raw_safetensors(b'{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 8))
    # config: the fixtures' configs (referenced by tools/fuzz.sh) plus a few small ones.
    seed("config", "mamba1_small", json.dumps(MAMBA1_CONFIG))
    seed("config", "mamba2_small", json.dumps(MAMBA2_CONFIG))
    seed("config", "python_literals", '{"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2, '
         '"vocab_size": 512, "num_heads": 8, "head_dim": 16, "n_groups": 1, "state_size": 16, '
         '"time_step_limit": [0.0, Infinity], "layer_norm_epsilon": NaN}')
    # shard index: the fixture's index is referenced; a few variants.
    seed("shard_index", "empty_map", '{"weight_map": {}}')
    seed("shard_index", "one_entry", '{"weight_map": {"backbone.norm_f.weight": "model-00002-of-00002.safetensors"}}')
    seed("shard_index", "escape", '{"weight_map": {"a": "../model.safetensors"}}')
    # tokenizer.json: small byte-level BPE files.
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tiny_tok = {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": [{"id": 5, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                                  "rstrip": False, "normalized": False, "special": True}],
                "normalizer": {"type": "NFC"}, "pre_tokenizer": byte_level, "post_processor": byte_level,
                "decoder": byte_level,
                "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                          "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                          "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120ab": 4}, "merges": ["a b", "\u0120 ab"]}}
    seed("tokenizer_json", "tiny_bpe", json.dumps(tiny_tok))
    tiny_tok["model"]["merges"] = [["a", "b"], ["\u0120", "ab"]]  # the newer list-of-pairs form
    tiny_tok["normalizer"] = None
    seed("tokenizer_json", "tiny_bpe_pairs", json.dumps(tiny_tok))
    seed("tokenizer_json", "not_bpe", '{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}')
    # tokenizer encode/decode: text of every kind.
    seed("tokenizer", "ascii", "Hello world! It is a truth universally acknowledged, 1234.\n")
    seed("tokenizer", "unicode", "caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 \u0645\u0631\u062d\u0628\u0627 \u00a0\u2028x".encode())
    seed("tokenizer", "special", "<|endoftext|>Hi<|padding|>  \t\n\n   spaces")
    seed("tokenizer", "invalid_utf8", b"ok \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 end")
    seed("tokenizer", "ids_le32", struct.pack("<8i", 12092, 1533, 0, 50276, 50277, -1, 1 << 30, 187))
    # state blob: byte 0 = model (bit 0) | overlay on a valid blob (bit 1) | fix the checksum (bit 2)
    # | overlay at the payload (bit 3).
    seed("state_blob", "valid_mamba1", b"\x02")
    seed("state_blob", "valid_mamba2", b"\x03")
    seed("state_blob", "fixed_header_mamba1", b"\x06" + b"MAMBAST\0\x01\0\0\0\x60\0\0\0\x01\0\0\0")
    seed("state_blob", "fixed_header_mamba2", b"\x07" + b"MAMBAST\0\x01\0\0\0\x60\0\0\0\x02\0\0\0")
    seed("state_blob", "magic_only", b"\x00MAMBAST\0")
    seed("state_blob", "nan_payload", b"\x0e" + b"\0\0\xc0\x7f" * 4)
    seed("state_blob", "inf_payload", b"\x0f" + b"\0\0\x80\x7f" * 4)


def main():
    shutil.rmtree(BAD, ignore_errors=True)
    for root, _, files in os.walk(CORPUS):  # inputs that once found a bug stay: regression-*
        for f in files:
            if not f.startswith("regression-"):
                os.remove(os.path.join(root, f))
    make_bad()
    make_unaligned()
    write_bad_index()
    make_corpus()
    print("%d bad-input cases in %s; seeds in %s" % (len(CASES), BAD, CORPUS))


if __name__ == "__main__":
    main()
