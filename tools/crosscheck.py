"""An independent cross-check of `stableode gradient`, in plain Python from SPEC §1–§3 and §9.

Writes random models (every propagator, verlet4 and custom stage lists, activation and
classifier; dense and 3×3 convolution) as stableode-model/1 JSON and data as CSV, runs the CLI,
and checks its loss and Y_N against a literal implementation of the update formulas (leapfrog in
its two-step form; verlet4 and custom schemes stage by stage from SPEC §1b) to round-off, and
its gradients against central finite differences of that implementation. Exit code 1 on any
mismatch. Run after a Release build: python3 tools/crosscheck.py
"""
import json, math, os, random, shutil, subprocess, sys, tempfile
random.seed(7)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = ["dotnet", os.path.join(ROOT, "src/StableOde.Cli/bin/Release/net10.0/stableode.dll")]
WORK = tempfile.mkdtemp(prefix="stableode-crosscheck-")
MODEL, DATA = os.path.join(WORK, "m.json"), os.path.join(WORK, "d.csv")

def act(name, x):
    return math.tanh(x) if name == "tanh" else (max(0.0, x) if name == "relu" else x)

def matmul(Y, K):  # Y s×n (list of rows), K n×m
    return [[sum(y[i] * K[i][o] for i in range(len(y))) for o in range(len(K[0]))] for y in Y]
def transpose(K): return [list(r) for r in zip(*K)]
def conv(Y, K, c, H, W, transposed=False):
    out = []
    for y in Y:
        o_ = [0.0] * (c * H * W)
        for o in range(c):
            for i in range(c):
                for u in (-1, 0, 1):
                    for v in (-1, 0, 1):
                        w = K[o][i][u + 1][v + 1]
                        for r in range(H):
                            for q in range(W):
                                rr, qq = r + u, q + v
                                if 0 <= rr < H and 0 <= qq < W:
                                    if not transposed:
                                        o_[o * H * W + r * W + q] += w * y[i * H * W + rr * W + qq]
                                    else:
                                        o_[i * H * W + rr * W + qq] += w * y[o * H * W + r * W + q]
        out.append(o_)
    return out

def apply(model, Kj, Y, transposed=False):
    op = model["operator"]
    if op["kind"] == "conv3x3":
        base = lambda X, t: conv(X, Kj, op["channels"], op["height"], op["width"], t)
    else:
        base = lambda X, t: matmul(X, transpose(Kj) if t else Kj)
    if model["propagator"] == "antisymmetric":
        g = model.get("gamma", 0.0)
        a, b = base(Y, transposed), base(Y, not transposed)
        return [[0.5 * (a[r][k] - b[r][k] - g * Y[r][k]) for k in range(len(Y[0]))] for r in range(len(Y))]
    return base(Y, transposed)

def addbias(A, b):
    g = len(A[0]) // len(b)
    return [[a[f] + b[f // g] for f in range(len(a))] for a in A]

def sig(model, A): return [[act(model["activation"], x) for x in row] for row in A]

THETA = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
def kick(t, s, bias, a): return {"stage": "kick", "target": t, "source": s, "bias": bias, "a": a}
# verlet4 as SPEC §1b lists it (Forest–Ruth).
VERLET4 = [kick("Y", "Z", "b", THETA / 2), kick("Z", "Y", "c", -THETA), kick("Y", "Z", "b", (1 - THETA) / 2),
           kick("Z", "Y", "c", -(1 - 2 * THETA)), kick("Y", "Z", "b", (1 - THETA) / 2), kick("Z", "Y", "c", -THETA),
           kick("Y", "Z", "b", THETA / 2)]

def stages_forward(model, stages, Y, h):
    """SPEC §1b: each layer applies its stages in order; kick T += a h σ(S K̂ + β), drift T += a h S."""
    state = {"Y": Y, "Z": None}
    zcols = model["auxWidth"] if model["operator"]["kind"] == "dense" else len(Y[0])
    state["Z"] = [[0.0] * zcols for _ in Y]
    for j in range(model["layers"]):
        for st in stages:
            a = st["aFirst"] if j == 0 and "aFirst" in st else st["a"]
            S, T = state[st["source"]], state[st["target"]]
            if st["stage"] == "kick":
                F = sig(model, addbias(apply(model, model["K"][j], S, transposed=(st["source"] == "Z")), model[st["bias"]][j]))
            else:
                F = S
            state[st["target"]] = [[T[r][k] + a * h * F[r][k] for k in range(len(T[0]))] for r in range(len(T))]
    return state["Y"]

def forward(model, Y0):
    N, T = model["layers"], model["finalTime"]; h = T / N
    p = model["propagator"]
    Y = [list(r) for r in Y0]
    if p in ("verlet4", "custom"):
        return stages_forward(model, VERLET4 if p == "verlet4" else model["scheme"], Y, h)
    if p in ("resnet", "antisymmetric"):
        for j in range(N):
            F = sig(model, addbias(apply(model, model["K"][j], Y), model["b"][j]))
            Y = [[Y[r][k] + h * F[r][k] for k in range(len(Y[0]))] for r in range(len(Y))]
    elif p == "leapfrog":
        F = sig(model, addbias(apply(model, model["K"][0], Y), model["b"][0]))
        Yprev, Y = Y, [[Y[r][k] + 0.5 * h * h * F[r][k] for k in range(len(Y[0]))] for r in range(len(Y))]
        for j in range(1, N):
            F = sig(model, addbias(apply(model, model["K"][j], Y), model["b"][j]))
            Yprev, Y = Y, [[2 * Y[r][k] - Yprev[r][k] + h * h * F[r][k] for k in range(len(Y[0]))] for r in range(len(Y))]
    else:
        Z = None
        for j in range(N):
            E = sig(model, addbias(apply(model, model["K"][j], Y), model["c"][j]))
            Z = [[(Z[r][k] if Z else 0.0) - h * E[r][k] for k in range(len(E[0]))] for r in range(len(E))]
            A = sig(model, addbias(apply(model, model["K"][j], Z, transposed=True), model["b"][j]))
            Y = [[Y[r][k] + h * A[r][k] for k in range(len(Y[0]))] for r in range(len(Y))]
    return Y

def loss(model, Y0, labels):
    YN = forward(model, Y0)
    cl = model["classifier"]
    Z = addbias(matmul(YN, cl["W"]), cl["mu"])
    s = len(Z); total = 0.0
    for r in range(s):
        if cl["hypothesis"] == "logistic":
            z = Z[r][0]; c = labels[r]
            sp = lambda x: max(x, 0) + math.log1p(math.exp(-abs(x)))
            total += c * sp(-z) + (1 - c) * sp(z)
        else:
            mx = max(Z[r]); lse = mx + math.log(sum(math.exp(v - mx) for v in Z[r]))
            total -= Z[r][labels[r]] - lse
    return total / s

def leaves(obj, path=()):
    if isinstance(obj, list):
        for i, v in enumerate(obj): yield from leaves(v, path + (i,))
    else: yield path
def get(obj, path):
    for p in path: obj = obj[p]
    return obj
def setv(obj, path, v):
    for p in path[:-1]: obj = obj[p]
    obj[path[-1]] = v

def rnd(*shape, scale=0.5):
    if len(shape) == 1: return [random.gauss(0, scale) for _ in range(shape[0])]
    return [rnd(*shape[1:], scale=scale) for _ in range(shape[0])]

def make(prop, act_, hyp, conv_=False):
    n, m, N, s = 3, 2, 4, 5
    classes = 2 if hyp == "logistic" else 3
    if conv_:
        c, H, W = 2, 3, 3; n = c * H * W
        K = [rnd(c, c, 3, 3, scale=0.3) for _ in range(N)]; b = [rnd(c) for _ in range(N)]; op = {"kind": "conv3x3", "channels": c, "height": H, "width": W}
        cb = [rnd(c) for _ in range(N)]; m = c
    else:
        K = [rnd(n, m if prop in ("verlet", "verlet4", "custom") else n) for _ in range(N)]; b = [rnd(n) for _ in range(N)]; op = {"kind": "dense"}
        cb = [rnd(m) for _ in range(N)]
    model = {"format": "stableode-model/1", "propagator": prop, "activation": act_, "finalTime": 1.3, "layers": N,
             "gamma": 0.2 if prop == "antisymmetric" else 0.0, "width": n, "auxWidth": m, "operator": op, "K": K, "b": b,
             "classifier": {"hypothesis": hyp, "W": rnd(n, 1 if hyp == "logistic" else classes), "mu": rnd(1 if hyp == "logistic" else classes)}}
    if prop == "custom":
        # dense (n ≠ m): kicks between Y and Z; convolution (Z has Y's shape): every kind of stage
        model["scheme"] = ([dict(kick("Z", "Y", "c", -0.5), aFirst=-0.3), kick("Y", "Z", "b", 1.0), kick("Z", "Y", "c", -0.5)] if not conv_ else
                           [kick("Z", "Y", "c", -0.5), {"stage": "drift", "target": "Y", "source": "Z", "a": 1.0, "aFirst": 0.5},
                            kick("Y", "Y", "b", 0.3), kick("Z", "Z", "c", 0.7)])
    if prop in ("verlet", "verlet4", "custom"): model["c"] = cb
    Y0 = rnd(s, n); labels = [random.randrange(classes) for _ in range(s)]
    return model, Y0, labels

failures = 0
cases = [(p, a, hy, cv) for p in ["resnet", "antisymmetric", "leapfrog", "verlet"] for a in ["tanh", "relu", "identity"] for hy in ["softmax", "logistic"] for cv in [False]]
cases += [(p, a, hy, False) for p in ["verlet4", "custom"] for a in ["tanh", "relu"] for hy in ["softmax", "logistic"]]
cases += [(p, "tanh", "softmax", True) for p in ["resnet", "antisymmetric", "leapfrog", "verlet", "verlet4", "custom"]]
for (p, a, hy, cv) in cases:
    model, Y0, labels = make(p, a, hy, cv)
    json.dump(model, open(MODEL, "w"))
    with open(DATA, "w") as f:
        for y, l in zip(Y0, labels): f.write(",".join(repr(v) for v in y) + f",{l}\n")
    out = subprocess.run(CLI + ["gradient", "--model", MODEL, "--data", DATA], capture_output=True, text=True)
    if out.returncode != 0:
        print(p, a, hy, "CLI failed:", out.stderr.strip()); failures += 1; continue
    g = json.loads(out.stdout)
    L = loss(model, Y0, labels)
    err = abs(g["loss"] - L) / abs(L)
    # finite differences on a sample of leaves
    checks = [("K", "gradK", model), ("b", "gradB", model), ("W", "gradW", model["classifier"]), ("mu", "gradMu", model["classifier"])]
    if "c" in model: checks.append(("c", "gradC", model))
    gerr = 0.0
    for key, gkey, holder in checks:
        paths = list(leaves(holder[key])); random.shuffle(paths)
        for path in paths[:6]:
            v = get(holder[key], path); eps = 1e-5 * max(1.0, abs(v))
            setv(holder[key], path, v + eps); lp = loss(model, Y0, labels)
            setv(holder[key], path, v - eps); lm = loss(model, Y0, labels)
            setv(holder[key], path, v)
            fd = (lp - lm) / (2 * eps); an = get(g[gkey], path)
            gerr = max(gerr, abs(fd - an) / max(abs(fd), 1e-3))
    for (r, k) in [(0, 0), (2, 1), (4, 2)]:
        v = Y0[r][k]; eps = 1e-5
        Y0[r][k] = v + eps; lp = loss(model, Y0, labels); Y0[r][k] = v - eps; lm = loss(model, Y0, labels); Y0[r][k] = v
        fd = (lp - lm) / (2 * eps); gerr = max(gerr, abs(fd - g["gradY0"][r][k]) / max(abs(fd), 1e-3))
    yn = forward(model, Y0); yerr = max(abs(yn[r][k] - g["YN"][r][k]) for r in range(len(yn)) for k in range(len(yn[0])))
    ok = err <= 1e-12 and yerr <= 1e-12 and gerr <= 1e-6
    failures += 0 if ok else 1
    print(f"{p:14s} {a:8s} {hy:9s} conv={cv}: loss rel {err:.1e}  YN abs {yerr:.1e}  grad vs FD {gerr:.1e}  {'ok' if ok else 'MISMATCH'}")
shutil.rmtree(WORK)
print(f"crosscheck: {len(cases) - failures} of {len(cases)} cases agree")
sys.exit(1 if failures else 0)
