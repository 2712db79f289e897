"""An independent cross-check of `stableode robustness` (SPEC §10), in plain Python.

Small random models (ResNet on data narrower than the network, antisymmetric ResNet, leapfrog,
Verlet, a 3×3 convolution) are written as stableode-model/1 JSON, with data labelled by the
model's own clean prediction, so that the clean accuracy is 100 % and the attacks have something
to overturn. FGSM and PGD are then implemented literally: the forward pass and the loss of
tools/crosscheck.py, each example's own cross-entropy, its input gradient by central finite
differences through the widening (column j of the network's input is feature j mod d),
y' = y + ε·sign(∇ℓ_i) and y ← clamp(y + α·sign(∇ℓ_i(y)), y_i − ε, y_i + ε) with α = 2.5ε/k,
clipped to [0, 1] where asked. The accuracies must agree with the CLI's to within one example per
ε, and the mean amplification to 1e-6 where every perturbed input agrees. Exit code 1 on any
mismatch. Run after a Release build: python3 tools/robustness_crosscheck.py
"""
import json, math, os, random, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crosscheck import CLI, addbias, forward, loss, matmul, rnd

random.seed(11)
EPSILONS = [0.0, 0.05, 0.2, 0.5]
FD_STEP = 1e-6

def widen(model, y):
    return [y[j % len(y)] for j in range(model["width"])]

def scores(model, y):
    cl = model["classifier"]
    return addbias(matmul(forward(model, [widen(model, y)]), cl["W"]), cl["mu"])[0]

def predict(model, y):
    z = scores(model, y)
    return max(range(len(z)), key=lambda k: z[k])

def example_loss(model, y, label):
    return loss(model, [widen(model, y)], [label])

def gradient(model, y, label):
    g = []
    for k in range(len(y)):
        up, down = list(y), list(y)
        up[k] += FD_STEP; down[k] -= FD_STEP
        g.append((example_loss(model, up, label) - example_loss(model, down, label)) / (2 * FD_STEP))
    return g

def sign(x): return (x > 0) - (x < 0)

def clip(v, on): return min(max(v, 0.0), 1.0) if on else v

def fgsm(model, y, label, eps, on):
    g = gradient(model, y, label)
    return [clip(v + eps * sign(d), on) for v, d in zip(y, g)]

def pgd(model, y, label, eps, steps, on):
    alpha = 2.5 * eps / steps
    x = list(y)
    for _ in range(steps):
        g = gradient(model, x, label)
        x = [clip(min(max(v + alpha * sign(d), o - eps), o + eps), on) for v, d, o in zip(x, g, y)]
    return x

def amplification(model, y, y2):
    a, b = widen(model, y), widen(model, y2)
    din = math.sqrt(sum((u - v) ** 2 for u, v in zip(a, b)))
    if din == 0.0: return 0.0
    ya, yb = forward(model, [a])[0], forward(model, [b])[0]
    return math.sqrt(sum((u - v) ** 2 for u, v in zip(ya, yb))) / din

def make(prop, d, n, conv=None, unit=False, s=30):
    N, m, classes = 4, 3, 3
    if conv:
        c, H, W = conv; n = c * H * W
        K = [rnd(c, c, 3, 3, scale=0.4) for _ in range(N)]; b = [rnd(c) for _ in range(N)]; cb = [rnd(c) for _ in range(N)]
        op = {"kind": "conv3x3", "channels": c, "height": H, "width": W}
    else:
        K = [rnd(n, m if prop == "verlet" else n, scale=0.8) for _ in range(N)]; b = [rnd(n) for _ in range(N)]; cb = [rnd(m) for _ in range(N)]
        op = {"kind": "dense"}
    model = {"format": "stableode-model/1", "propagator": prop, "activation": "tanh", "finalTime": 2.0, "layers": N,
             "gamma": 0.1 if prop == "antisymmetric" else 0.0, "width": n, "auxWidth": m, "operator": op, "K": K, "b": b,
             "classifier": {"hypothesis": "softmax", "W": rnd(n, classes, scale=2.0), "mu": rnd(classes)}}
    if prop == "verlet": model["c"] = cb
    data = [[random.random() if unit else random.gauss(0, 1) for _ in range(d)] for _ in range(s)]
    return model, data, [predict(model, y) for y in data]

def main():
    work = tempfile.mkdtemp(prefix="stableode-robustness-")
    model_path, data_path = os.path.join(work, "m.json"), os.path.join(work, "d.csv")
    cases = [
        ("resnet (n = 3, data d = 2)", make("resnet", 2, 3), "fgsm", 10, False),
        ("resnet (n = 3, data d = 2)", make("resnet", 2, 3), "pgd", 10, False),
        ("antisymmetric", make("antisymmetric", 2, 2), "pgd", 10, False),
        ("leapfrog", make("leapfrog", 3, 3), "fgsm", 10, False),
        ("verlet (m = 3)", make("verlet", 2, 2), "pgd", 10, False),
        ("verlet, [0, 1] clipped", make("verlet", 2, 2, unit=True), "pgd", 3, True),
        ("conv 2×2×2, data d = 4", make("resnet", 4, 0, conv=(2, 2, 2), unit=True, s=16), "pgd", 5, True),
    ]
    failures = 0
    for name, (model, data, labels), attack, steps, on in cases:
        json.dump(model, open(model_path, "w"))
        with open(data_path, "w") as f:
            for y, l in zip(data, labels): f.write(",".join(repr(v) for v in y) + f",{l}\n")
        args = ["robustness", "--model", model_path, "--data", data_path, "--attack", attack,
                "--epsilon", ",".join(repr(e) for e in EPSILONS), "--json"]
        if attack == "pgd": args += ["--steps", str(steps)]
        if on: args += ["--clip"]
        out = subprocess.run(CLI + args, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: CLI failed: {out.stderr.strip()}"); failures += 1; continue
        cli = json.loads(out.stdout)
        s = len(data)
        for eps, r in zip(EPSILONS, cli["results"]):
            if eps == 0.0:
                perturbed = [list(y) for y in data]
            elif attack == "fgsm":
                perturbed = [fgsm(model, y, l, eps, on) for y, l in zip(data, labels)]
            else:
                perturbed = [pgd(model, y, l, eps, steps, on) for y, l in zip(data, labels)]
            correct = sum(predict(model, y) == l for y, l in zip(perturbed, labels))
            amps = [amplification(model, y, y2) for y, y2 in zip(data, perturbed)]
            amp = sum(amps) / s
            count_diff = abs(round(r["accuracy"] * s) - correct)
            amp_diff = abs(amp - r["amplificationMean"]) / max(amp, 1e-12) if amp > 0 else abs(r["amplificationMean"])
            ok = count_diff <= 1 and (count_diff > 0 or amp_diff <= 1e-6)
            failures += 0 if ok else 1
            print(f"{name:28s} {attack} k={steps if attack == 'pgd' else 1:<2d} clip={str(on):5s} ε={eps:<4}: "
                  f"CLI {r['accuracy'] * s:4.0f}/{s}, Python {correct:2d}/{s}; amplification mean {r['amplificationMean']:.6g} vs {amp:.6g}  "
                  f"{'ok' if ok else 'MISMATCH'}")
    shutil.rmtree(work)
    print(f"robustness crosscheck: {'all' if failures == 0 else failures} {'agree' if failures == 0 else 'MISMATCHES'}")
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
