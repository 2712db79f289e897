"""An independent PyTorch attack against `stableode robustness` (SPEC §10).

Loads a stableode-model/1 JSON model (SPEC §9: every propagator, verlet4 and custom stage lists of
§1b, dense, antisymmetric, negative-semidefinite and 3×3 convolution operators, softmax, logistic
and least-squares classifiers), runs its forward pass in torch (float64) stage by stage, and
attacks it exactly as SPEC §10 says with torch autograd for each example's input gradient:
FGSM y' = y + ε·sign(∇ℓ_i), PGD k steps y ← Π_ε(y + α·sign(∇ℓ_i(y))) with α = 2.5ε/k, every
iterate clipped to [0, 1] where asked, perturbing the data as given and widening afterwards
(column j of the network's input is feature j mod d). It then runs `stableode robustness --json`
on the same model and data and compares, per ε: the accuracy (at most one example apart), and the
mean and maximum amplification ‖Y_N(y') − Y_N(y)‖ / ‖y' − y‖, which must agree to 1e-6 relative
when the accuracies agree exactly with --strict and in --random (on trained models a gradient
component at round-off level, counted and printed, can take another sign in either
implementation and move an example elsewhere; the accuracy is the criterion there). Exit code 1
on any mismatch.

Needs torch: run with /usr/bin/python3 (python3-torch). After a Release build:
  /usr/bin/python3 tools/robustness_torch.py --model M.json --data D.csv --attack pgd --epsilon 0,0.05,0.1
  /usr/bin/python3 tools/robustness_torch.py --model M.json --images I.gz --labels L.gz --count 500 --attack pgd
  /usr/bin/python3 tools/robustness_torch.py --random   # small random models of every kind
"""
import argparse, gzip, json, math, os, random, shutil, struct, subprocess, sys, tempfile
import torch
from concurrent.futures import ThreadPoolExecutor

torch.set_default_dtype(torch.float64)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The CLI of this checkout's Release build, or the stableode.dll that STABLEODE_CLI names.
CLI = ["dotnet", os.environ.get("STABLEODE_CLI", os.path.join(ROOT, "src/StableOde.Cli/bin/Release/net10.0/stableode.dll"))]

THETA = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
# Gradient components this small are round-off in both implementations (a confidently classified
# example's p_k − c_k cancels): their signs, and so the perturbations, may differ.
TINY = 1e-14


def kick(target, source, bias, a, a_first=None):
    st = {"stage": "kick", "target": target, "source": source, "bias": bias, "a": a}
    if a_first is not None:
        st["aFirst"] = a_first
    return st


# SPEC §1b: every built-in propagator as its stage list.
SCHEMES = {
    "resnet": [kick("Y", "Y", "b", 1.0)],
    "antisymmetric": [kick("Y", "Y", "b", 1.0)],
    "leapfrog": [kick("Z", "Y", "b", 1.0, 0.5), {"stage": "drift", "target": "Y", "source": "Z", "a": 1.0}],
    "verlet": [kick("Z", "Y", "c", -1.0), kick("Y", "Z", "b", 1.0)],
    "verlet4": [kick("Y", "Z", "b", THETA / 2), kick("Z", "Y", "c", -THETA), kick("Y", "Z", "b", (1 - THETA) / 2),
                kick("Z", "Y", "c", -(1 - 2 * THETA)), kick("Y", "Z", "b", (1 - THETA) / 2), kick("Z", "Y", "c", -THETA),
                kick("Y", "Z", "b", THETA / 2)],
}

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x}


class Net:
    """The model's network and classifier as torch tensors."""

    def __init__(self, m):
        self.m = m
        self.stages = m["scheme"] if m["propagator"] == "custom" else SCHEMES[m["propagator"]]
        self.h = m["finalTime"] / m["layers"]
        self.sigma = ACTIVATIONS[m["activation"]]
        op = m["operator"]
        self.conv = op["kind"] == "conv3x3"
        if self.conv:
            self.shape = (op["channels"], op["height"], op["width"])
            self.n = op["channels"] * op["height"] * op["width"]
        else:
            self.n = m["width"]
        self.param = "antisymmetric" if m["propagator"] == "antisymmetric" else m.get("parametrisation")
        self.gamma = m.get("gamma", 0.0)
        # float64 whatever the JSON's numbers look like (a 0 is written as an integer).
        real = lambda v: torch.tensor(v, dtype=torch.float64)
        self.K = [real(k) for k in m["K"]]
        self.b = [real(v) for v in m["b"]]
        self.c = [real(v) for v in m["c"]] if "c" in m else None
        cl = m["classifier"]
        self.hypothesis = cl["hypothesis"]
        self.W, self.mu = real(cl["W"]), real(cl["mu"])

    def base(self, K, x, transposed):
        """x B or x Bᵀ for the base operator B: a dense matrix K (n×m) or a 3×3 cross-correlation
        with zero padding, K[o][i][u][v] (its transpose the adjoint convolution)."""
        if not self.conv:
            return x @ (K.T if transposed else K)
        img = x.reshape(x.shape[0], *self.shape)
        f = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
        return f(img, K, padding=1).reshape(x.shape[0], -1)

    def apply(self, j, x, transposed):
        """x K_j or x K_jᵀ for the operator's parametrisation."""
        K = self.K[j]
        if self.param == "antisymmetric":  # A(K) = ½(K − Kᵀ − γI)
            return 0.5 * (self.base(K, x, transposed) - self.base(K, x, not transposed) - self.gamma * x)
        if self.param == "negativeSemidefinite":  # −B Bᵀ, symmetric
            return -self.base(K, self.base(K, x, False), True)
        return self.base(K, x, transposed)

    def bias(self, v, width):
        return v.repeat_interleave(width // v.numel())

    def forward(self, y0):
        """SPEC §1b: each layer applies its stages in order to (Y, Z), Z = 0 at the start."""
        state = {"Y": y0, "Z": None}
        for j in range(self.m["layers"]):
            for st in self.stages:
                a = st["aFirst"] if j == 0 and "aFirst" in st else st["a"]
                src = state[st["source"]]
                if src is None:
                    src = torch.zeros(y0.shape[0], self.zwidth(), dtype=y0.dtype)
                    state[st["source"]] = src
                if st["stage"] == "kick":
                    u = self.apply(j, src, st["source"] == "Z")
                    beta = (self.b if st["bias"] == "b" else self.c)[j]
                    f = self.sigma(u + self.bias(beta, u.shape[1]))
                else:
                    f = src
                t = state[st["target"]]
                state[st["target"]] = (t if t is not None else torch.zeros_like(f)) + a * self.h * f
        return state["Y"]

    def zwidth(self):
        if self.conv or self.param == "negativeSemidefinite" or self.param == "antisymmetric":
            return self.n
        return self.K[0].shape[1]

    def widen(self, y):
        d = y.shape[1]
        return y if d == self.n else y[:, [j % d for j in range(self.n)]]

    def scores(self, yN):
        return yN @ self.W + self.mu

    def losses(self, yN, labels):
        """Each example's own loss ℓ_i (SPEC §3)."""
        z = self.scores(yN)
        if self.hypothesis == "softmax":
            return torch.nn.functional.cross_entropy(z, labels, reduction="none")
        if self.hypothesis == "logistic":
            c = labels.to(z.dtype)
            return torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], c, reduction="none")
        onehot = torch.nn.functional.one_hot(labels, z.shape[1]).to(z.dtype)
        return 0.5 * ((z - onehot) ** 2).sum(dim=1)

    def predict(self, yN):
        z = self.scores(yN)
        if self.hypothesis == "logistic":
            return (z[:, 0] > 0).long()
        return z.argmax(dim=1)


def gradient(net, y, labels):
    x = y.clone().requires_grad_(True)
    total = net.losses(net.forward(net.widen(x)), labels).sum()
    (g,) = torch.autograd.grad(total, x)
    return g


def attack(net, y, labels, kind, eps, steps, clip):
    def clipped(v): return v.clamp(0.0, 1.0) if clip else v
    if eps == 0.0:
        return y
    if kind == "fgsm":
        return clipped(y + eps * torch.sign(gradient(net, y, labels)))
    alpha = 2.5 * eps / steps
    x = y
    for _ in range(steps):
        g = gradient(net, x, labels)
        x = clipped(torch.minimum(torch.maximum(x + alpha * torch.sign(g), y - eps), y + eps))
    return x


def evaluate(net, y, labels, kind, epsilons, steps, clip, chunk=500):
    """Per ε: correct count, and per-example amplifications (0 where y' = y)."""
    out = []
    for eps in epsilons:
        correct, amps = 0, []
        for r0 in range(0, y.shape[0], chunk):
            yc, lc = y[r0:r0 + chunk], labels[r0:r0 + chunk]
            yp = attack(net, yc, lc, kind, eps, steps, clip)
            with torch.no_grad():
                a, b = net.widen(yc), net.widen(yp)
                ya, yb = net.forward(a), net.forward(b)
                correct += int((net.predict(yb) == lc).sum())
                din = (a - b).norm(dim=1)
                dout = (ya - yb).norm(dim=1)
                amps.append(torch.where(din == 0, torch.zeros_like(din), dout / torch.where(din == 0, torch.ones_like(din), din)))
        amps = torch.cat(amps)
        out.append((correct, float(amps.mean()), float(amps.max())))
    return out


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def write_idx(path, shape, payload):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape) + payload)


def run_cli(args):
    out = subprocess.run(CLI + ["robustness"] + args + ["--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"stableode robustness failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def compare(name, model, y, labels, kind, epsilons, steps, clip, cli_args, strict, cli=None):
    """Attacks in torch and compares with the CLI's report (`cli`, or one `stableode robustness`
    run); prints one line per ε; returns the number of mismatches: a clean accuracy or an
    accuracy more than one example apart, an ε = 0 result other than the clean accuracy with zero
    amplification, or (when `strict`) amplifications more than 1e-6 apart where the accuracies
    agree exactly."""
    net = Net(model)
    tiny = int((gradient(net, y, labels).abs() < TINY).sum())
    print(f"{name}: {tiny} components of the clean input gradients below {TINY:g} in magnitude, "
          "whose sign round-off decides", flush=True)
    with torch.no_grad():
        clean = int((net.predict(net.forward(net.widen(y))) == labels).sum())
    mine = evaluate(net, y, labels, kind, epsilons, steps, clip)
    if cli is None:
        cli = run_cli(cli_args + attack_args(kind, epsilons, steps, clip))
    s = y.shape[0]
    cli_clean = round(cli["cleanAccuracy"] * s)
    failures = 0 if abs(cli_clean - clean) <= 1 else 1
    print(f"{name:38s} clean: CLI {cli_clean}/{s}, torch {clean}/{s}  {'ok' if failures == 0 else 'MISMATCH'}", flush=True)
    for eps, (correct, amp_mean, amp_max), r in zip(epsilons, mine, cli["results"]):
        cli_correct = round(r["accuracy"] * s)
        diff = abs(cli_correct - correct)
        rel = lambda a, b: abs(a - b) / max(abs(b), 1e-300) if b != 0 else abs(a)
        amp_ok = diff > 0 or eps == 0.0 or (rel(r["amplificationMean"], amp_mean) <= 1e-6 and rel(r["amplificationMax"], amp_max) <= 1e-6)
        zero_ok = eps != 0.0 or (r["accuracy"] == cli["cleanAccuracy"] and r["amplificationMean"] == 0 and r["amplificationMax"] == 0)
        ok = diff <= 1 and zero_ok and (amp_ok or not strict)
        failures += 0 if ok else 1
        print(f"{name:38s} {kind}{'-' + str(steps) if kind == 'pgd' else ''} clip={str(clip):5s} ε={eps:<6g}: "
              f"CLI {cli_correct}/{s}, torch {correct}/{s}; amplification mean {r['amplificationMean']:.8g} vs {amp_mean:.8g}, "
              f"max {r['amplificationMax']:.8g} vs {amp_max:.8g}  {'ok' if ok else 'MISMATCH'}"
              f"{'' if amp_ok else ' (the amplifications differ)'}{'' if zero_ok else ' (ε = 0 is not the clean result)'}", flush=True)
    return failures


def attack_args(kind, epsilons, steps, clip):
    args = ["--attack", kind, "--epsilon", ",".join(repr(e) for e in epsilons)]
    if kind == "pgd":
        args += ["--steps", str(steps)]
    return args + (["--clip"] if clip else ["--no-clip"])


def write_csv(path, y, labels):
    with open(path, "w") as f:
        for row, l in zip(y.tolist(), labels.tolist()):
            f.write(",".join(repr(v) for v in row) + f",{l}\n")


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).tolist()


def random_model(prop, n, m=None, conv=None, param=None, scheme=None, hypothesis="softmax", classes=3, layers=4, activation="tanh", w_scale=2.0):
    """A small random model of a kind, as stableode-model/1 JSON."""
    if conv:
        c, H, W = conv
        n = c * H * W
        K = [rnd(c, c, 3, 3, scale=0.4) for _ in range(layers)]
        op, bw, cw = {"kind": "conv3x3", "channels": c, "height": H, "width": W}, c, c
    else:
        r = m if (m is not None and param != "antisymmetric") else n
        K = [rnd(n, r, scale=0.6) for _ in range(layers)]
        op, bw, cw = {"kind": "dense"}, n, (n if param == "negativeSemidefinite" else r)
    model = {"format": "stableode-model/1", "propagator": prop, "activation": activation, "finalTime": 2.0, "layers": layers,
             "width": n, "operator": op, "K": K, "b": [rnd(bw) for _ in range(layers)],
             "classifier": {"hypothesis": hypothesis, "W": rnd(n, 1 if hypothesis == "logistic" else classes, scale=w_scale),
                            "mu": rnd(1 if hypothesis == "logistic" else classes)}}
    if prop == "custom":
        model["scheme"] = scheme
    if param:
        model["parametrisation"] = param
    if prop == "antisymmetric":
        model["gamma"] = 0.1
    stages = scheme if prop == "custom" else SCHEMES[prop]
    if any(st["source"] == "Z" or st["target"] == "Z" for st in stages) and prop != "leapfrog":
        model["auxWidth"] = n if (conv or param) else (m or n)
    if any(st.get("bias") == "c" for st in stages):
        model["c"] = [rnd(cw) for _ in range(layers)]
    return model


def drift(target, source, a):
    return {"stage": "drift", "target": target, "source": source, "a": a}


def tied(model):
    """The model with classes 0 and 1 tied on every example: their columns of W zero, their μ equal."""
    W = torch.tensor(model["classifier"]["W"])
    W[:, :2] = 0.0
    mu = model["classifier"]["mu"]
    model["classifier"]["W"], model["classifier"]["mu"] = W.tolist(), [mu[0], mu[0]] + mu[2:]
    return model


def zero_logistic(model):
    """The model with W = 0 and μ = 0: z = 0, P = ½ on every example, and a zero input gradient."""
    model["classifier"]["W"] = [[0.0] for _ in model["classifier"]["W"]]
    model["classifier"]["mu"] = [0.0]
    return model


RANDOM_EPSILONS = [0.0, 0.01, 0.05, 0.2, 0.5]
RANDOM_STEPS = 5


def random_cases():
    """Seeded small random models of every propagator, dense and convolutional, as (name, model,
    data width d, examples s): data narrower than the network among them, one example, more
    examples than one chunk of the attack (4,096), and classes tied on every example."""
    torch.manual_seed(5)
    symmetric = [kick("Z", "Y", "c", -0.5), kick("Y", "Z", "b", 1.0), kick("Z", "Y", "c", -0.5)]
    kick_drift = [kick("Z", "Y", "b", 1.0), drift("Y", "Z", 1.0)]
    conv = (2, 4, 4)
    return [
        ("resnet, d = 2 < n = 3", random_model("resnet", 3), 2, 24),
        ("antisymmetric, d = 3 < n = 4", random_model("antisymmetric", 4), 3, 24),
        ("leapfrog", random_model("leapfrog", 3), 3, 24),
        ("leapfrog · −BBᵀ", random_model("leapfrog", 3, m=2, param="negativeSemidefinite"), 3, 24),
        ("verlet n = 3, m = 2", random_model("verlet", 3, m=2), 3, 24),
        ("verlet4 n = 2, m = 3, relu", random_model("verlet4", 2, m=3, activation="relu"), 2, 24),
        ("custom symmetric Verlet, logistic", random_model("custom", 3, m=3, scheme=symmetric, hypothesis="logistic"), 3, 24),
        ("custom kick-drift, d = 2 < n = 3", random_model("custom", 3, m=3, scheme=kick_drift), 2, 24),
        ("resnet, least squares", random_model("resnet", 3, hypothesis="leastsquares"), 3, 24),
        ("resnet, one example", random_model("resnet", 3), 3, 1),
        ("resnet, 4,500 examples (two chunks)", random_model("resnet", 3, w_scale=8.0), 3, 4500),
        ("resnet, classes 0 and 1 tied", tied(random_model("resnet", 3)), 3, 24),
        ("verlet, logistic with z = 0", zero_logistic(random_model("verlet", 3, m=3, hypothesis="logistic")), 3, 24),
        ("conv resnet 2×4×4, d = 16", random_model("resnet", 0, conv=conv), 16, 24),
        ("conv antisymmetric 2×4×4", random_model("antisymmetric", 0, conv=conv), 32, 24),
        ("conv leapfrog 2×4×4", random_model("leapfrog", 0, conv=conv, w_scale=0.5), 32, 24),
        ("conv verlet 2×4×4, d = 16", random_model("verlet", 0, conv=conv), 16, 24),
        ("conv verlet4 2×4×4", random_model("verlet4", 0, conv=conv), 32, 24),
        ("conv custom symmetric Verlet, d = 16", random_model("custom", 0, conv=conv, scheme=symmetric), 16, 24),
    ]


def random_labels(net, y, classes):
    """Every even example labelled by the model's own prediction, every odd one at random, with
    the boundary classes 0 and classes − 1 among them."""
    with torch.no_grad():
        labels = net.predict(net.forward(net.widen(y)))
    odd = torch.randint(0, classes, (labels[1::2].numel(),))
    labels[1::2] = odd
    if odd.numel() >= 2:
        labels[1], labels[3] = 0, classes - 1
    return labels


def run_random(work):
    """Every random case × FGSM and PGD × clipping on and off; the CLI runs two at a time in the
    background while torch attacks. Returns the number of mismatches."""
    jobs, cases = [], []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for i, (name, model, d, s) in enumerate(random_cases()):
            net = Net(model)
            y = torch.rand(s, d)
            classes = 2 if model["classifier"]["hypothesis"] == "logistic" else len(model["classifier"]["mu"])
            labels = random_labels(net, y, classes)
            mp, dp = os.path.join(work, f"m{i}.json"), os.path.join(work, f"d{i}.csv")
            json.dump(model, open(mp, "w"))
            write_csv(dp, y, labels)
            for kind in ("fgsm", "pgd"):
                for clip in (False, True):
                    args = ["--model", mp, "--data", dp] + attack_args(kind, RANDOM_EPSILONS, RANDOM_STEPS, clip)
                    jobs.append((name, model, y, labels, kind, clip, pool.submit(run_cli, args)))
        return sum(compare(name, model, y, labels, kind, RANDOM_EPSILONS, RANDOM_STEPS, clip, None, True, cli.result())
                   for name, model, y, labels, kind, clip, cli in jobs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--data")
    ap.add_argument("--images")
    ap.add_argument("--labels")
    ap.add_argument("--count", type=int, help="the first COUNT images (after --skip) only")
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--attack", default="pgd", choices=["fgsm", "pgd"])
    ap.add_argument("--epsilon", default="0,0.01,0.05,0.1")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--clip", action="store_true")
    ap.add_argument("--random", action="store_true", help="seeded small random models of every kind × FGSM and PGD × clipping on and off")
    ap.add_argument("--strict", action="store_true", help="require the amplifications to agree to 1e-6 too")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    epsilons = [float(e) for e in a.epsilon.split(",")]
    work = tempfile.mkdtemp(prefix="stableode-torch-")
    failures = 0
    try:
        if a.random:
            failures += run_random(work)
        else:
            model = json.load(open(a.model))
            if a.data:
                rows = [list(map(float, line.split(","))) for line in open(a.data) if line.strip() and not line[0].isalpha()]
                y = torch.tensor([r[:-1] for r in rows])
                labels = torch.tensor([int(r[-1]) for r in rows])
                clip, args = a.clip, ["--model", a.model, "--data", a.data]
            else:
                (count, *dims), pixels = read_idx(a.images)
                (lcount,), lbytes = read_idx(a.labels)
                size = dims[0] * dims[1]
                take = min(a.count or count, count - a.skip)
                px = pixels[a.skip * size:(a.skip + take) * size]
                lb = lbytes[a.skip:a.skip + take]
                ip, lp = os.path.join(work, "images-idx3-ubyte"), os.path.join(work, "labels-idx1-ubyte")
                write_idx(ip, (take, *dims), px)
                write_idx(lp, (take,), lb)
                y = torch.tensor(list(px), dtype=torch.float64).reshape(take, size) / 255.0
                labels = torch.tensor(list(lb), dtype=torch.long)
                clip, args = True, ["--model", a.model, "--images", ip, "--labels", lp]
            failures += compare(os.path.basename(a.model), model, y, labels, a.attack, epsilons, a.steps, clip, args, a.strict)
    finally:
        shutil.rmtree(work)
    print(f"torch robustness crosscheck: {'all agree' if failures == 0 else f'{failures} MISMATCHES'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
