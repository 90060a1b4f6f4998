#!/usr/bin/env python3
"""Train an AESPA ResNet-20 (or -32, -44, -56, -110) on Fashion-MNIST, export its state dict.

The network is the CIFAR-10 ResNet of He et al. (3x32x32 input, 16/32/64 channels,
n = (depth - 2)/6 blocks per stage, 1x1 stride-2 projection shortcuts) with every
"BN + ReLU" replaced by AESPA's HerPN: Hermite basis up to degree 2, each basis term
batch-normalised on its own, summed with ReLU's Hermite coefficients. Modules are named
as in torchvision (conv1, act1, layer1.0.conv1, layer2.0.downsample.0, fc, ...).

The export is the eval-mode state dict as float32 safetensors under those PyTorch names
(without `num_batches_tracked`); models/src/resnet/weights.rs reads it and folds each
HerPN into one quadratic per channel, y = a x^2 + b x + c, and each shortcut's batch
norm into its conv. `fold` below is that folding in float64: the exported file is
reloaded, folded and scored to check it is the network just trained.

Fashion-MNIST images (28x28 grey) are zero-padded to 32x32 and the grey channel is
repeated three times. Reproducible: seeded, single-threaded data order, hyper-parameters
written next to the weights.

    python3 models/train/train_resnet20.py --epochs 8 --out models/weights
"""

import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics (of x/255)
# Hermite coefficients of ReLU in the probabilists' normalised basis
# h0 = 1, h1 = x, h2 = (x^2 - 1)/sqrt(2)
HERMITE_RELU = (1.0 / math.sqrt(2 * math.pi), 0.5, 1.0 / math.sqrt(4 * math.pi))
# nn.BatchNorm2d's default eps, which every batch norm here keeps (the loader assumes it)
BN_EPS = 1e-5
DEPTHS = (20, 32, 44, 56, 110)


def load_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic == 2051:
        n, h, w = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, h, w)
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, np.uint8, offset=8).reshape(n)


def to_input(images_u8):
    """uint8 N x 28 x 28 -> float32 N x 3 x 32 x 32, normalised, zero padding."""
    x = (images_u8.astype(np.float32) / 255.0 - MEAN) / STD
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(x[:, None], 3, axis=1)


class HerPN(nn.Module):
    """AESPA activation: sum_i f_i * BN_i(h_i(x)), i = 1, 2 (h_0's BN is a constant)."""

    def __init__(self, c):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        f0, f1, f2 = HERMITE_RELU
        h2 = (x * x - 1.0) / math.sqrt(2.0)
        return f0 + f1 * self.bn1(x) + f2 * self.bn2(h2)

    def fused(self):
        """Coefficients (a, b, c) per channel of the eval-mode quadratic."""
        f0, f1, f2 = HERMITE_RELU
        s1 = self.bn1.weight / torch.sqrt(self.bn1.running_var + self.bn1.eps)
        s2 = self.bn2.weight / torch.sqrt(self.bn2.running_var + self.bn2.eps)
        r2 = math.sqrt(2.0)
        a = f2 * s2 / r2
        b = f1 * s1
        c = (
            f0
            + f1 * (self.bn1.bias - s1 * self.bn1.running_mean)
            + f2 * (self.bn2.bias - s2 * (self.bn2.running_mean + 1.0 / r2))
        )
        return a.detach(), b.detach(), c.detach()


class BasicBlock(nn.Module):
    """torchvision's BasicBlock with HerPN for "BN + ReLU": act2(conv2(act1(conv1(x))) + shortcut)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.act1 = HerPN(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.act2 = HerPN(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = self.conv2(self.act1(self.conv1(x)))
        s = x if self.downsample is None else self.downsample(x)
        return self.act2(y + s)


class ResNet(nn.Module):
    """CIFAR ResNet-`depth` (He et al. 2016), depth = 6n + 2, torchvision module names:
    conv1 + act1, layer1..layer3 of n blocks each (16/32/64 channels; the first block of
    layer2 and layer3 has stride 2 and a 1x1 `downsample`), global average pool, fc."""

    def __init__(self, depth=20, classes=10):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth {depth} is not one of {DEPTHS}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.act1 = HerPN(16)
        cin = 16
        for k, (cout, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(cin, cout, stride if j == 0 else 1))
                cin = cout
            setattr(self, f"layer{k}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.act1(self.conv1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def export(model, path):
    """The eval-mode state dict as float32 safetensors under its PyTorch names (read by
    models/src/resnet/weights.rs), without the `num_batches_tracked` counters."""
    from safetensors.numpy import save_file

    t = {
        # C order: training runs channels_last, and safetensors writes the raw buffer
        name: np.ascontiguousarray(v.detach().cpu().contiguous().numpy(), dtype=np.float32)
        for name, v in model.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }
    save_file(t, path)


def fold(sd):
    """The Rust loader's folding (models/src/resnet/weights.rs), float64 numpy: per stage
    a list of blocks (conv1, (a, b, c), conv2, (a, b, c), (down_w, down_b) or None, stride)
    after the stem (conv, (a, b, c)), then (fc_w, fc_b)."""
    f0, f1, f2 = HERMITE_RELU
    r2 = math.sqrt(2.0)
    d = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}

    def scale(p):
        return d[p + ".weight"] / np.sqrt(d[p + ".running_var"] + BN_EPS)

    def herpn(p):
        s1, s2 = scale(p + ".bn1"), scale(p + ".bn2")
        a = f2 * s2 / r2
        b = f1 * s1
        c = (
            f0
            + f1 * (d[p + ".bn1.bias"] - s1 * d[p + ".bn1.running_mean"])
            + f2 * (d[p + ".bn2.bias"] - s2 * (d[p + ".bn2.running_mean"] + 1.0 / r2))
        )
        return a, b, c

    n = 1 + max(int(k.split(".")[1]) for k in d if k.startswith("layer"))
    blocks = []
    for k in (1, 2, 3):
        for j in range(n):
            p = f"layer{k}.{j}"
            down = None
            if p + ".downsample.0.weight" in d:
                s = scale(p + ".downsample.1")
                down = (
                    d[p + ".downsample.0.weight"] * s[:, None, None, None],
                    d[p + ".downsample.1.bias"] - s * d[p + ".downsample.1.running_mean"],
                )
            stride = 2 if k > 1 and j == 0 else 1
            blocks.append((d[p + ".conv1.weight"], herpn(p + ".act1"),
                           d[p + ".conv2.weight"], herpn(p + ".act2"), down, stride))
    return (d["conv1.weight"], herpn("act1")), blocks, (d["fc.weight"], d["fc.bias"])


def fused_forward(folded, x):
    """The folded network (`fold`) in float64 torch ops: checks the folding."""
    (conv0, act0), blocks, (fc_w, fc_b) = folded
    t = torch.from_numpy

    def act(abc, z):
        a, b, c = (t(v)[None, :, None, None] for v in abc)
        return a * z * z + b * z + c

    x = act(act0, F.conv2d(x, t(conv0), padding=1))
    for conv1, act1, conv2, act2, down, stride in blocks:
        y = act(act1, F.conv2d(x, t(conv1), stride=stride, padding=1))
        y = F.conv2d(y, t(conv2), padding=1)
        s = x if down is None else F.conv2d(x, t(down[0]), t(down[1]), stride=stride)
        x = act(act2, y + s)
    return F.linear(x.mean(dim=(2, 3)), t(fc_w), t(fc_b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=20, choices=DEPTHS,
                    help="6n + 2: n residual blocks per stage")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="models/weights")
    ap.add_argument("--init", default=None,
                    help="continue from a state dict (.safetensors) exported by an earlier run of "
                    "the same depth; that run's metadata (the .json beside it) is kept under "
                    "'continued_from'")
    ap.add_argument("--pct-start", type=float, default=0.15)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = "cuda" if torch.cuda.is_available() else "cpu"

    xtr = torch.from_numpy(to_input(load_idx("train-images-idx3-ubyte.gz")))
    ytr = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(to_input(load_idx("t10k-images-idx3-ubyte.gz")))
    yte = torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))

    model = ResNet(args.depth)
    previous = None
    if args.init:
        from safetensors.torch import load_file as load_torch

        missing, unexpected = model.load_state_dict(load_torch(args.init), strict=False)
        # the export leaves out the batch counters, which eval mode does not use
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            raise SystemExit(f"{args.init}: missing {missing}, unexpected {unexpected}")
        meta_path = os.path.splitext(args.init)[0] + ".json"
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                previous = json.load(f)
    model = model.to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.wd, nesterov=True)
    steps = args.epochs * math.ceil(len(xtr) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps, pct_start=args.pct_start)
    gen = torch.Generator().manual_seed(args.seed)

    def recalibrate(m, n=10000):
        """Re-estimates every batch norm's statistics as a plain average over n training
        images with the final weights: running averages lag behind training, and 19
        quadratic activations amplify the lag until the eval-mode network diverges."""
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.reset_running_stats()
                mod.momentum = None
        m.train()
        with torch.no_grad():
            for i in range(0, n, 500):
                m(xtr[i : i + 500].to(dev).contiguous(memory_format=torch.channels_last))

    def evaluate(m):
        recalibrate(m)
        m.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(xte), 1000):
                out = m(xte[i : i + 1000].to(dev))
                correct += (out.argmax(1).cpu() == yte[i : i + 1000]).sum().item()
        return correct / len(xte)

    log = []
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(xtr), args.batch):
            idx = perm[i : i + args.batch]
            xb = xtr[idx]
            # augmentation: random shifts of up to 2 pixels and horizontal flips
            sh = torch.randint(-2, 3, (2,), generator=gen).tolist()
            xb = torch.roll(xb, shifts=sh, dims=(2, 3))
            if torch.rand(1, generator=gen).item() < 0.5:
                xb = xb.flip(3)
            xb = xb.to(dev).contiguous(memory_format=torch.channels_last)
            yb = ytr[idx].to(dev)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
        acc = evaluate(model)
        log.append({"epoch": epoch + 1, "loss": total / n, "test_acc": acc, "elapsed_s": time.time() - t0})
        print(json.dumps(log[-1]), flush=True)

    os.makedirs(args.out, exist_ok=True)
    stem = f"resnet{args.depth}_fmnist"
    path = os.path.join(args.out, stem + ".safetensors")
    model.cpu().eval()
    export(model, path)
    from safetensors.numpy import load_file

    folded = fold(load_file(path))
    with torch.no_grad():
        correct = 0
        for i in range(0, len(xte), 1000):
            out = fused_forward(folded, xte[i : i + 1000].double())
            correct += (out.argmax(1) == yte[i : i + 1000]).sum().item()
    fused_acc = correct / len(xte)
    meta = {
        "command": "python3 models/train/train_resnet20.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out" and v is not None),
        "hyper_parameters": vars(args),
        "torch": torch.__version__,
        "device": dev,
        "normalisation": {"mean": MEAN, "std": STD, "pad": 2},
        "test_accuracy_torch": log[-1]["test_acc"],
        "test_accuracy_fused_float64": fused_acc,
        "log": log,
        "continued_from": previous,
    }
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({"fused_test_acc": fused_acc}))
    # the exported file is what the Rust side runs: it must be the network just trained
    if abs(fused_acc - log[-1]["test_acc"]) > 0.005:
        raise SystemExit(
            f"exported network scores {fused_acc:.4f}, torch {log[-1]['test_acc']:.4f}: export is broken")


if __name__ == "__main__":
    main()
