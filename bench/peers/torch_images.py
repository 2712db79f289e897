#!/usr/bin/env python3
"""The image network of docs/images.md trained the way most PyTorch users would: Adam, batches of 100.

The same network as `stableode train --images ... --propagator verlet` (SPEC §1, §6.4): the 28×28
image scaled to [0, 1] and repeated into every one of the 6 channels, Verlet layers
Z ← Z − h tanh(conv(Y, K_j) + c_j), Y ← Y + h tanh(convᵀ(Z, K_j) + b_j) with 3×3
convolutions coupling all channels, zero padding, a bias per channel, h = T/N, T = 6 (or the ResNet
Y ← Y + h tanh(conv(Y, K_j) + b_j)), and a linear softmax classifier on all c·28·28 features.
float32, --threads threads (default 2). The split is the library's: the images and labels are read
from the IDX files (gzip or raw) here, and the same seeded permutation as `Dataset.splitCounts`
(.NET's seeded System.Random, ported below) takes the validation images first, then the training
images. After every --eval-every batches it prints one JSON line
{"epoch", "batch", "seconds", "trainLoss", "validationAccuracy"}, seconds of training wall time
(the evaluation excluded), and at the end the best validation accuracy and when it was reached.
Before it imports torch it installs python3-torch and OpenBLAS when missing and puts torch on
OpenBLAS's best kernel for this processor (peer_blas.py, as torch_bench.py; the first JSON line
names the core). Run with Debian's python3-torch:
  /usr/bin/python3 bench/peers/torch_images.py IMAGES LABELS --train-size 8000 --validation-size 2000
"""
import argparse
import gzip
import json
import math
import os
import time

import peer_blas


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images")
    p.add_argument("labels")
    p.add_argument("--train-size", type=int, default=8000)
    p.add_argument("--validation-size", type=int, default=2000)
    p.add_argument("--propagator", choices=["resnet", "verlet"], default="verlet")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--channels", type=int, default=6)
    p.add_argument("--final-time", type=float, default=6.0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=20, help="batches between validation evaluations")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def read_idx(path):
    """An IDX array of unsigned bytes (type 0x08), gzip or raw: (dimensions, bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SystemExit(f"torch_images.py: {path}: not an IDX file of unsigned bytes")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    offset = 4 + 4 * rank
    if len(raw) - offset != math.prod(dims):
        raise SystemExit(f"torch_images.py: {path}: {len(raw) - offset} values, the header promises {math.prod(dims)}")
    return dims, raw[offset:]


class NetRandom:
    """.NET's System.Random(seed) (the seeded, Knuth subtractive generator), for Next(maxValue)."""

    MBIG = 2147483647
    MSEED = 161803398

    def __init__(self, seed):
        a = [0] * 56
        mj = self.MSEED - (self.MBIG if seed == -2147483648 else abs(seed))
        a[55] = mj
        mk, ii = 1, 0
        for _ in range(1, 55):
            ii += 21
            if ii >= 55:
                ii -= 55
            a[ii] = mk
            mk = mj - mk
            if mk < 0:
                mk += self.MBIG
            mj = a[ii]
        for _ in range(1, 5):
            for i in range(1, 56):
                n = i + 30
                if n >= 55:
                    n -= 55
                a[i] -= a[1 + n]
                if a[i] < 0:
                    a[i] += self.MBIG
        self.a, self.inext, self.inextp = a, 0, 21

    def next(self, max_value):
        self.inext = 1 if self.inext + 1 >= 56 else self.inext + 1
        self.inextp = 1 if self.inextp + 1 >= 56 else self.inextp + 1
        v = self.a[self.inext] - self.a[self.inextp]
        if v == self.MBIG:
            v -= 1
        if v < 0:
            v += self.MBIG
        self.a[self.inext] = v
        return int(v * (1.0 / self.MBIG) * max_value)


def permutation(seed, count):
    """`Dataset.permutation`: Fisher–Yates driven by NetRandom(seed)."""
    rng = NetRandom(seed)
    p = list(range(count))
    for i in range(count - 1, 0, -1):
        j = rng.next(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def blas_libraries():
    """The BLAS libraries mapped into this process (after a matrix product has loaded them)."""
    with open("/proc/self/maps") as f:
        return sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})


def main():
    a = parse()
    core = peer_blas.prepare()
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.ones(256, 256) @ torch.ones(256, 256)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(),
                      "blas": blas_libraries(), "openblasCore": core,
                      "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}))
    dims, pixels = read_idx(a.images)
    ldims, labels = read_idx(a.labels)
    count, height, width = dims
    if ldims != [count]:
        raise SystemExit(f"torch_images.py: {ldims[0]} labels for the {count} images")
    if a.train_size + a.validation_size > count:
        raise SystemExit(f"torch_images.py: {a.train_size} training and {a.validation_size} validation images are more than the {count} there are")
    x = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).reshape(count, 1, height, width).float() / 255.0
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
    p = torch.tensor(permutation(a.seed, count))
    validation, training = p[:a.validation_size], p[a.validation_size:a.validation_size + a.train_size]
    c, n = a.channels, a.channels * height * width
    xt, yt = x[training].repeat(1, c, 1, 1), y[training]
    xv, yv = x[validation].repeat(1, c, 1, 1), y[validation]

    h = a.final_time / a.layers
    scale = 0.1  # θ ~ N(0, 0.1²) and a zero classifier, as `Training.initialModel`
    K = [(scale * torch.randn(c, c, 3, 3)).requires_grad_() for _ in range(a.layers)]
    b = [(scale * torch.randn(c)).requires_grad_() for _ in range(a.layers)]
    cb = [(scale * torch.randn(c)).requires_grad_() for _ in range(a.layers)]
    W = torch.zeros(n, 10, requires_grad=True)
    mu = torch.zeros(10, requires_grad=True)
    params = K + b + (cb if a.propagator == "verlet" else []) + [W, mu]

    def transposed(k):
        """The kernel of the transposed convolution: conv2d with it equals conv_transpose2d with k
        (stride 1, padding 1), and runs several times faster on this CPU build."""
        return k.transpose(0, 1).flip(2, 3)

    def forward(y0):
        yj = y0
        if a.propagator == "resnet":
            for j in range(a.layers):
                yj = yj + h * torch.tanh(F.conv2d(yj, K[j], padding=1) + b[j][None, :, None, None])
        else:
            z = torch.zeros_like(y0)
            for j in range(a.layers):
                z = z - h * torch.tanh(F.conv2d(yj, K[j], padding=1) + cb[j][None, :, None, None])
                yj = yj + h * torch.tanh(F.conv2d(z, transposed(K[j]), padding=1) + b[j][None, :, None, None])
        return yj.reshape(y0.shape[0], n) @ W + mu

    def accuracy():
        with torch.no_grad():
            correct = sum(int((forward(xv[i:i + 500]).argmax(1) == yv[i:i + 500]).sum()) for i in range(0, len(yv), 500))
        return correct / len(yv)

    optimiser = torch.optim.Adam(params, lr=a.learning_rate)
    generator = torch.Generator().manual_seed(a.seed)
    seconds, best, best_at, step, running = 0.0, 0.0, 0.0, 0, []
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(len(yt), generator=generator)
        for start in range(0, len(yt), a.batch_size):
            clock = time.perf_counter()
            batch = order[start:start + a.batch_size]
            loss = F.cross_entropy(forward(xt[batch]), yt[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            seconds += time.perf_counter() - clock
            running.append(float(loss))
            step += 1
            last = start + a.batch_size >= len(yt)
            if step % a.eval_every == 0 or last:
                v = accuracy()
                if v > best:
                    best, best_at = v, seconds
                print(json.dumps({"epoch": epoch, "batch": step, "seconds": round(seconds, 2),
                                  "trainLoss": round(sum(running) / len(running), 5), "validationAccuracy": v}), flush=True)
                running = []
    print(json.dumps({"bestValidationAccuracy": best, "secondsToBest": round(best_at, 2), "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main()
