#!/usr/bin/env python3
"""Train the AESPA ResNet-20 on Fashion-MNIST and export fused weights.

The network is the CIFAR-10 ResNet-20 (3x32x32 input, 16/32/64 channels, 3 blocks per
stage, 1x1 stride-2 projection shortcuts) with every "BN + ReLU" replaced by AESPA's
HerPN: Hermite basis up to degree 2, each basis term batch-normalised on its own,
summed with ReLU's Hermite coefficients. At export each HerPN fuses into one quadratic
per channel, y = a x^2 + b x + c, and the shortcut's batch norm folds into its conv.

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


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.act1 = HerPN(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.act2 = HerPN(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = self.conv2(self.act1(self.conv1(x)))
        s = x if self.down is None else self.down(x)
        return self.act2(y + s)


class ResNet20(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.act0 = HerPN(16)
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(Block(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.act0(self.conv0(x))
        for b in self.blocks:
            x = b(x)
        return self.fc(x.mean(dim=(2, 3)))


def export(model, path):
    """Fused float32 tensors in safetensors layout (see models/src/resnet/weights.rs)."""
    from safetensors.numpy import save_file

    t = {}

    def put(name, v):
        # C order: training runs channels_last, and safetensors writes the raw buffer
        t[name] = np.ascontiguousarray(v.detach().cpu().contiguous().numpy(), dtype=np.float32)

    def act(prefix, m):
        a, b, c = m.fused()
        put(prefix + ".a", a)
        put(prefix + ".b", b)
        put(prefix + ".c", c)

    put("conv0.weight", model.conv0.weight)
    act("act0", model.act0)
    for i, blk in enumerate(model.blocks):
        p = f"block{i}"
        put(p + ".conv1.weight", blk.conv1.weight)
        act(p + ".act1", blk.act1)
        put(p + ".conv2.weight", blk.conv2.weight)
        act(p + ".act2", blk.act2)
        if blk.down is not None:
            conv, bn = blk.down
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            put(p + ".down.weight", conv.weight * s[:, None, None, None])
            put(p + ".down.bias", bn.bias - s * bn.running_mean)
    put("fc.weight", model.fc.weight)
    put("fc.bias", model.fc.bias)
    save_file(t, path)


def fused_forward(tensors, x):
    """The exported network in float64 numpy-free torch ops: checks the fusion."""
    d = {k: torch.from_numpy(v).double() for k, v in tensors.items()}

    def act(p, z):
        a, b, c = (d[p + s][None, :, None, None] for s in (".a", ".b", ".c"))
        return a * z * z + b * z + c

    x = act("act0", F.conv2d(x, d["conv0.weight"], padding=1))
    for i in range(9):
        p = f"block{i}"
        stride = 2 if i in (3, 6) else 1
        y = act(p + ".act1", F.conv2d(x, d[p + ".conv1.weight"], stride=stride, padding=1))
        y = F.conv2d(y, d[p + ".conv2.weight"], padding=1)
        if p + ".down.weight" in d:
            s = F.conv2d(x, d[p + ".down.weight"], d[p + ".down.bias"], stride=stride)
        else:
            s = x
        x = act(p + ".act2", y + s)
    return F.linear(x.mean(dim=(2, 3)), d["fc.weight"], d["fc.bias"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="models/weights")
    ap.add_argument("--init", default=None,
                    help="continue from a state dict (.pt) written by an earlier run; that run's "
                    "metadata (the .json beside it) is kept under 'continued_from'")
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

    model = ResNet20()
    previous = None
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location="cpu"))
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
    path = os.path.join(args.out, "resnet20_fmnist.safetensors")
    model.cpu().eval()
    torch.save(model.state_dict(), os.path.join(args.out, "resnet20_fmnist.pt"))
    export(model, path)
    from safetensors.numpy import load_file

    tensors = load_file(path)
    with torch.no_grad():
        correct = 0
        for i in range(0, len(xte), 1000):
            out = fused_forward(tensors, xte[i : i + 1000].double())
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
    with open(os.path.join(args.out, "resnet20_fmnist.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({"fused_test_acc": fused_acc}))
    # the exported file is what the Rust side runs: it must be the network just trained
    if abs(fused_acc - log[-1]["test_acc"]) > 0.005:
        raise SystemExit(
            f"exported network scores {fused_acc:.4f}, torch {log[-1]['test_acc']:.4f}: export is broken")


if __name__ == "__main__":
    main()
