#!/usr/bin/env python3
"""Rewrite a fused ResNet export as a PyTorch-named state dict (numpy + safetensors only).

Earlier versions of train_resnet20.py exported the network already folded: one quadratic
(a, b, c) per channel for every HerPN and the shortcut batch norms folded into their 1x1
convs, under the names `conv0.weight`, `act0.{a,b,c}`, `block{i}.conv1.weight`,
`block{i}.act{1,2}.{a,b,c}`, `block{i}.down.{weight,bias}`, `fc.{weight,bias}`. The
PyTorch checkpoint behind the committed weights was not kept, so this script builds a
state dict under the names the training script now exports (`conv1.weight`,
`act1.bn1.running_var`, `layer2.0.downsample.1.bias`, ... see
models/src/resnet/weights.rs) whose batch-norm folding gives back the fused tensors:

- every batch norm gets running_mean = 0 and running_var = 1, so its scale is
  s = weight / sqrt(1 + eps), and weight = s_needed * sqrt(1 + eps) in float64;
- HerPN (f0 + f1 bn1(x) + f2 bn2((x^2 - 1)/sqrt 2)) folds to a = f2 s2 / sqrt 2,
  b = f1 s1, c = f0 + f1 (beta1 - s1 mean1) + f2 (beta2 - s2 (mean2 + 1/sqrt 2)):
  s2 = a sqrt 2 / f2, s1 = b / f1, beta2 = 0 and beta1 solves c with the s2 actually
  stored;
- a downsample's conv keeps the fused weight and its batch norm gets weight
  sqrt(1 + eps) (s = 1), bias = the fused bias;
- convs and the classifier are copied unchanged.

In exact arithmetic the folding reproduces every fused value. Stored as float32 the
batch-norm weights and biases are rounded, so the fold differs from the fused tensors
by a few 1e-8 relative (printed below); --dtype float64 keeps the error at float64
rounding (the test fixture uses that). The fused file has block{i} with n blocks per
stage; a block with a `down` projection starts stages 2 and 3.

    python3 models/train/fused_to_state_dict.py models/weights/resnet20_fmnist.safetensors \
        models/weights/resnet20_fmnist.safetensors
"""

import argparse
import math
import re

import numpy as np
from safetensors.numpy import load_file, save_file

# Same constants as train_resnet20.py: ReLU's Hermite coefficients in the normalised
# basis h0 = 1, h1 = x, h2 = (x^2 - 1)/sqrt(2), and nn.BatchNorm2d's default eps.
HERMITE_RELU = (1.0 / math.sqrt(2 * math.pi), 0.5, 1.0 / math.sqrt(4 * math.pi))
EPS = 1e-5
R2 = math.sqrt(2.0)


def stages(fused):
    """n (blocks per stage) from the block{i} names; checks the projections' places."""
    count = 1 + max(int(m.group(1)) for k in fused if (m := re.match(r"block(\d+)\.", k)))
    if count % 3:
        raise SystemExit(f"{count} blocks is not 3 stages of equal length")
    n = count // 3
    down = [i for i in range(count) if f"block{i}.down.weight" in fused]
    if down != [n, 2 * n]:
        raise SystemExit(f"projections at blocks {down}, expected [{n}, {2 * n}]")
    return n


def convert(fused, dtype=np.float32):
    """The state dict (name -> array of `dtype`) whose folding gives back `fused`."""
    f0, f1, f2 = HERMITE_RELU
    root = math.sqrt(1.0 + EPS)
    sd = {}

    def put(name, v):
        sd[name] = np.ascontiguousarray(v, dtype=dtype)

    def bn(prefix, weight, bias):
        c = len(weight)
        put(prefix + ".weight", weight)
        put(prefix + ".bias", bias)
        put(prefix + ".running_mean", np.zeros(c))
        put(prefix + ".running_var", np.ones(c))

    def herpn(prefix, old):
        a, b, c = (fused[f"{old}.{s}"].astype(np.float64) for s in "abc")
        bn(prefix + ".bn2", a * R2 / f2 * root, np.zeros_like(a))
        s2 = sd[prefix + ".bn2.weight"].astype(np.float64) / root  # as stored
        # c = f0 + f1 beta1 + f2 (0 - s2 / sqrt 2)
        beta1 = (c - f0 + f2 * s2 / R2) / f1
        bn(prefix + ".bn1", b / f1 * root, beta1)

    n = stages(fused)
    put("conv1.weight", fused["conv0.weight"])
    herpn("act1", "act0")
    for i in range(3 * n):
        old, new = f"block{i}", f"layer{i // n + 1}.{i % n}"
        put(new + ".conv1.weight", fused[old + ".conv1.weight"])
        herpn(new + ".act1", old + ".act1")
        put(new + ".conv2.weight", fused[old + ".conv2.weight"])
        herpn(new + ".act2", old + ".act2")
        if old + ".down.weight" in fused:
            put(new + ".downsample.0.weight", fused[old + ".down.weight"])
            co = len(fused[old + ".down.bias"])
            bn(new + ".downsample.1", np.full(co, root), fused[old + ".down.bias"])
    put("fc.weight", fused["fc.weight"])
    put("fc.bias", fused["fc.bias"])
    return sd


def fold(sd, n):
    """The loader's folding (models/src/resnet/weights.rs) in float64, under fused names."""
    f0, f1, f2 = HERMITE_RELU
    d = {k: v.astype(np.float64) for k, v in sd.items()}
    out = {}

    def scale(p):
        return d[p + ".weight"] / np.sqrt(d[p + ".running_var"] + EPS)

    def herpn(prefix, old):
        s1, s2 = scale(prefix + ".bn1"), scale(prefix + ".bn2")
        out[old + ".a"] = f2 * s2 / R2
        out[old + ".b"] = f1 * s1
        out[old + ".c"] = (
            f0
            + f1 * (d[prefix + ".bn1.bias"] - s1 * d[prefix + ".bn1.running_mean"])
            + f2 * (d[prefix + ".bn2.bias"] - s2 * (d[prefix + ".bn2.running_mean"] + 1 / R2))
        )

    out["conv0.weight"] = d["conv1.weight"]
    herpn("act1", "act0")
    for i in range(3 * n):
        old, new = f"block{i}", f"layer{i // n + 1}.{i % n}"
        out[old + ".conv1.weight"] = d[new + ".conv1.weight"]
        herpn(new + ".act1", old + ".act1")
        out[old + ".conv2.weight"] = d[new + ".conv2.weight"]
        herpn(new + ".act2", old + ".act2")
        if new + ".downsample.0.weight" in d:
            p = new + ".downsample.1"
            s = scale(p)
            out[old + ".down.weight"] = d[new + ".downsample.0.weight"] * s[:, None, None, None]
            out[old + ".down.bias"] = d[p + ".bias"] - s * d[p + ".running_mean"]
    out["fc.weight"] = d["fc.weight"]
    out["fc.bias"] = d["fc.bias"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fused", help="fused safetensors file (block{i} names)")
    ap.add_argument("out", help="state-dict safetensors file to write (may be the input)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = ap.parse_args()

    fused = load_file(args.fused)
    n = stages(fused)
    sd = convert(fused, np.dtype(args.dtype))
    save_file(sd, args.out)

    back = fold(load_file(args.out), n)
    assert sorted(back) == sorted(fused), "folded names differ from the fused file"
    worst = max(
        (np.max(np.abs(back[k] - fused[k].astype(np.float64)))
         / max(np.max(np.abs(fused[k].astype(np.float64))), 1e-300), k)
        for k in fused
    )
    print(f"depth {6 * n + 2}: {len(fused)} fused tensors -> {len(sd)} state-dict tensors "
          f"({args.dtype}) in {args.out}; folding back differs by at most {worst[0]:.3g} "
          f"of a tensor's largest value (`{worst[1]}`)")


if __name__ == "__main__":
    main()
