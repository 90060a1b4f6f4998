#!/usr/bin/env python3
"""Test fixtures for the Rust ResNet reference (models/tests/resnet_reference.rs).

1. The bundled Fashion-MNIST subset: the first 64 test images and labels as plain idx
   files in models/data/ (written from Debian's dataset-fashion-mnist when missing).
2. A narrow random ResNet-20 (widths 2/4/8, 3 blocks per stage, stride-2 projections
   in layer2.0 and layer3.0), drawn as fused float32 tensors (one quadratic per
   channel) and written as a float64 PyTorch state dict whose batch-norm folding gives
   them back (fused_to_state_dict.convert; float64 so the folding is exact to float64
   rounding): models/tests/fixtures/resnet20_narrow.safetensors.
3. The float64 torch forward of its folding (train_resnet20.fold) on the first 3
   bundled images: logits from train_resnet20.fused_forward itself, and per-layer sums /
   leading values from a line-by-line copy of it that also records intermediates (the
   two must agree exactly), under the Rust reference's layer names:
   models/tests/fixtures/resnet20_narrow.json.

The committed fixture was converted from the earlier fused-format file with
`python3 models/train/fused_to_state_dict.py --dtype float64 F F` (F the fixture),
without torch, so its json is still the one computed from the fused float32 tensors
(the folding differs from them by ~1e-15 relative).

    /root/.cache/fhe-dsl-train/bin/python models/train/make_fixture.py
"""

import gzip
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fused_to_state_dict as fz  # noqa: E402
import train_resnet20 as tr  # noqa: E402

ROOT = os.path.dirname(HERE)  # models/
DATA = os.path.join(ROOT, "data")
FIX = os.path.join(ROOT, "tests", "fixtures")
N_BUNDLED = 64
N_IMAGES = 3
WIDTHS = (2, 4, 8)
SEED = 20240611


def write_bundled():
    img_path = os.path.join(DATA, "fashion-mnist-test-64.idx3")
    lab_path = os.path.join(DATA, "fashion-mnist-test-64.idx1")
    if os.path.exists(img_path) and os.path.exists(lab_path):
        return
    os.makedirs(DATA, exist_ok=True)
    with gzip.open(os.path.join(tr.DATA, "t10k-images-idx3-ubyte.gz")) as f:
        images = f.read()
    with gzip.open(os.path.join(tr.DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = f.read()
    n = N_BUNDLED.to_bytes(4, "big")
    with open(img_path, "wb") as f:
        f.write(images[0:4] + n + images[8:16] + images[16 : 16 + N_BUNDLED * 784])
    with open(lab_path, "wb") as f:
        f.write(labels[0:4] + n + labels[8 : 8 + N_BUNDLED])


def read_bundled():
    with open(os.path.join(DATA, "fashion-mnist-test-64.idx3"), "rb") as f:
        images = f.read()
    with open(os.path.join(DATA, "fashion-mnist-test-64.idx1"), "rb") as f:
        labels = f.read()
    x = np.frombuffer(images, np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(labels, np.uint8, offset=8)
    return x, y


def to_input64(images_u8):
    """tr.to_input in float64 (the Rust side normalises in f64)."""
    x = (images_u8.astype(np.float64) / 255.0 - tr.MEAN) / tr.STD
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(x[:, None], 3, axis=1)


def random_weights(rng):
    """Fused tensors scaled so that every intermediate stays O(1) through 19 quadratics."""
    t = {}

    def conv(name, co, ci, k, gain):
        std = gain / math.sqrt(ci * k * k)
        t[name] = (rng.standard_normal((co, ci, k, k)) * std).astype(np.float32)

    def act(prefix, c):
        t[prefix + ".a"] = rng.uniform(0.05, 0.15, c).astype(np.float32)
        t[prefix + ".b"] = rng.uniform(0.4, 0.8, c).astype(np.float32)
        t[prefix + ".c"] = rng.uniform(-0.2, 0.2, c).astype(np.float32)

    w0 = WIDTHS[0]
    conv("conv0.weight", w0, 3, 3, 1.0)
    act("act0", w0)
    cin, i = w0, 0
    for stage, cout in enumerate(WIDTHS):
        for j in range(3):
            p = f"block{i}"
            stride = 2 if stage > 0 and j == 0 else 1
            conv(p + ".conv1.weight", cout, cin, 3, 1.0)
            act(p + ".act1", cout)
            conv(p + ".conv2.weight", cout, cout, 3, 0.5)
            act(p + ".act2", cout)
            if stride != 1 or cin != cout:
                conv(p + ".down.weight", cout, cin, 1, 1.0)
                t[p + ".down.bias"] = rng.uniform(-0.1, 0.1, cout).astype(np.float32)
            cin, i = cout, i + 1
    t["fc.weight"] = (rng.standard_normal((10, cin)) / math.sqrt(cin)).astype(np.float32)
    t["fc.bias"] = rng.uniform(-0.1, 0.1, 10).astype(np.float32)
    return t


def traced_forward(tensors, x):
    """tr.fused_forward on fused names (fz.fold), recording every intermediate under the
    Rust reference's names."""
    d = {k: torch.from_numpy(v).double() for k, v in tensors.items()}
    layers = []

    def act(p, z):
        a, b, c = (d[p + s][None, :, None, None] for s in (".a", ".b", ".c"))
        return a * z * z + b * z + c

    y = F.conv2d(x, d["conv0.weight"], padding=1)
    layers.append(("conv0", y))
    x = act("act0", y)
    layers.append(("act0", x))
    for i in range(9):
        p = f"block{i}"
        stride = 2 if i in (3, 6) else 1
        y = F.conv2d(x, d[p + ".conv1.weight"], stride=stride, padding=1)
        layers.append((p + ".conv1", y))
        y = act(p + ".act1", y)
        layers.append((p + ".act1", y))
        y = F.conv2d(y, d[p + ".conv2.weight"], padding=1)
        layers.append((p + ".conv2", y))
        if p + ".down.weight" in d:
            s = F.conv2d(x, d[p + ".down.weight"], d[p + ".down.bias"], stride=stride)
        else:
            s = x
        layers.append((p + ".shortcut", s))
        y = y + s
        layers.append((p + ".add", y))
        x = act(p + ".act2", y)
        layers.append((p + ".act2", x))
    pool = x.mean(dim=(2, 3))
    layers.append(("pool", pool[:, :, None, None]))
    return F.linear(pool, d["fc.weight"], d["fc.bias"]), layers


def main():
    write_bundled()
    images, labels = read_bundled()
    rng = np.random.default_rng(SEED)
    fused = random_weights(rng)
    os.makedirs(FIX, exist_ok=True)
    st_path = os.path.join(FIX, "resnet20_narrow.safetensors")
    save_file(fz.convert(fused, np.float64), st_path)
    sd = load_file(st_path)

    x = torch.from_numpy(to_input64(images[:N_IMAGES]))
    with torch.no_grad():
        logits = tr.fused_forward(tr.fold(sd), x)
        traced, layers = traced_forward(fz.fold(sd, 3), x)
    assert torch.equal(logits, traced), "traced copy drifted from fused_forward"

    out = {
        "generator": "models/train/make_fixture.py",
        "seed": SEED,
        "widths": list(WIDTHS),
        "images": [],
    }
    for n in range(N_IMAGES):
        rec = {
            "index": n,
            "label": int(labels[n]),
            "logits": logits[n].tolist(),
            "layers": [],
        }
        for name, t in layers:
            v = t[n]
            rec["layers"].append(
                {
                    "name": name,
                    "shape": list(v.shape),
                    "sum": v.sum().item(),
                    "abs_sum": v.abs().sum().item(),
                    "first": v.flatten()[:4].tolist(),
                }
            )
        out["images"].append(rec)
        peak = max(t[n].abs().max().item() for _, t in layers)
        print(f"image {n}: label {int(labels[n])}, peak |activation| {peak:.3f}, "
              f"logits {[round(v, 4) for v in logits[n].tolist()]}")
    with open(os.path.join(FIX, "resnet20_narrow.json"), "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
