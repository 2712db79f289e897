#!/usr/bin/env python3
"""The cases of docs/performance.md in PyTorch, timed like `Bench.run`.

Same arguments as `StableOde.Bench run` (see bench/compare.sh); prints one JSON object
{"medianMs", "minMs", "maxMs", "gflops", "peakMB", "blas"} (blas: OpenBLAS's core type).
Before it imports torch it installs python3-torch and OpenBLAS when missing and puts torch on
OpenBLAS's best kernel for this processor (peer_blas.py; bench/compare.sh chooses once per run). float64, tanh, two threads, a softmax
cross-entropy loss; "gradient" is the forward pass plus backward() for every K_j, b_j (c_j), W,
mu and Y_0, as in Model.gradient. Warm-up runs first (at least one, more until one second has
passed, at most 20); the median of --repeat timed runs. peakMB is the growth of the process's
peak resident set over one run (Linux, /proc/self/status VmHWM reset via clear_refs).
Run with Debian's python3-torch: /usr/bin/python3 bench/peers/torch_bench.py --help
"""
import argparse
import json
import statistics
import time

import peer_blas


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--propagator", choices=["resnet", "verlet"], required=True)
    p.add_argument("--width", type=int, default=2)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--layers", type=int, default=1024)
    p.add_argument("--final-time", type=float, default=20.0)
    p.add_argument("--conv", type=str, default=None, help="c,H,W")
    p.add_argument("--mode", choices=["forward", "gradient"], required=True)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def flops(a):
    """Matrix-product flops, counted as in Bench.flops."""
    if a.conv:
        c, h, w = a.conv
        per = 2.0 * a.samples * c * c * (3 * h - 2) * (3 * w - 2)
    else:
        per = 2.0 * a.samples * a.width * a.width
    products = 2.0 if a.propagator == "verlet" else 1.0
    passes = 3.0 if a.mode == "gradient" else 1.0
    return a.layers * products * passes * per


def resident_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return float("nan")


def main():
    a = parse()
    blas = peer_blas.prepare()
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dt = torch.float64
    a.conv = tuple(int(v) for v in a.conv.split(",")) if a.conv else None
    h = a.final_time / a.layers
    grad = a.mode == "gradient"
    if a.conv:
        c, hh, ww = a.conv
        shape, fan_in, classes, n = (a.samples, c, hh, ww), 9 * c, 10, c * hh * ww
        K = [(torch.randn(c, c, 3, 3, dtype=dt) / fan_in ** 0.5).requires_grad_(grad) for _ in range(a.layers)]
        b = [(torch.randn(c, dtype=dt) / fan_in ** 0.5).requires_grad_(grad) for _ in range(a.layers)]
        cb = [(torch.randn(c, dtype=dt) / fan_in ** 0.5).requires_grad_(grad) for _ in range(a.layers)]
        apply = lambda y, k, bias: F.conv2d(y, k, padding=1) + bias[None, :, None, None]
        apply_t = lambda z, k, bias: F.conv_transpose2d(z, k, padding=1) + bias[None, :, None, None]
    else:
        n = a.width
        shape, fan_in, classes = (a.samples, n), n, 2
        K = [(torch.randn(n, n, dtype=dt) / fan_in ** 0.5).requires_grad_(grad) for _ in range(a.layers)]
        b = [(torch.randn(n, dtype=dt) / fan_in ** 0.5).requires_grad_(grad) for _ in range(a.layers)]
        cb = [(torch.randn(n, dtype=dt) / fan_in ** 0.5).requires_grad_(grad) for _ in range(a.layers)]
        apply = lambda y, k, bias: y @ k + bias
        apply_t = lambda z, k, bias: z @ k.T + bias
    y0 = torch.randn(*shape, dtype=dt).requires_grad_(grad)
    W = (torch.randn(n, classes, dtype=dt) / n ** 0.5).requires_grad_(grad)
    mu = torch.zeros(classes, dtype=dt).requires_grad_(grad)
    labels = torch.randint(0, classes, (a.samples,))

    def forward():
        y = y0
        if a.propagator == "resnet":
            for j in range(a.layers):
                y = y + h * torch.tanh(apply(y, K[j], b[j]))
        else:
            z = torch.zeros_like(y0)
            for j in range(a.layers):
                z = z - h * torch.tanh(apply(y, K[j], cb[j]))
                y = y + h * torch.tanh(apply_t(z, K[j], b[j]))
        return y

    def once():
        if grad:
            y = forward().reshape(a.samples, n)
            loss = F.cross_entropy(y @ W + mu, labels)
            for p in [y0, W, mu] + K + b + (cb if a.propagator == "verlet" else []):
                p.grad = None
            loss.backward()
        else:
            with torch.no_grad():
                forward()

    start = time.perf_counter()
    warmups = 0
    while warmups == 0 or (time.perf_counter() - start < 1.0 and warmups < 20):
        once()
        warmups += 1
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = resident_kib("VmRSS")
        once()
        peak = (resident_kib("VmHWM") - before) / 1024.0
    except OSError:
        once()
        peak = float("nan")
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        once()
        times.append(1000.0 * (time.perf_counter() - t))
    median = statistics.median(times)
    print(json.dumps({"medianMs": median, "minMs": min(times), "maxMs": max(times),
                      "gflops": flops(a) / (median * 1e6), "peakMB": peak, "blas": blas}))


if __name__ == "__main__":
    main()
