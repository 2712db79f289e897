#!/usr/bin/env python3
"""The PyTorch peer's BLAS: installed, checked and at its best kernel.

Debian's python3-torch links libblas.so.3, which is the reference BLAS (a few GFLOP/s) unless
libopenblas0-pthread is installed; and OpenBLAS 0.3.21 takes some AVX-512 processors for an
older core ("Prescott") unless OPENBLAS_CORETYPE names one. This module
- installs python3-torch and libopenblas0-pthread when either is missing (apt-get, as root);
- runs candidate settings each in a fresh process (`probe`): the settings found in the
  environment; with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, if either is preset; and
  OPENBLAS_CORETYPE=SKYLAKEX, if the processor has the AVX-512 subsets that kernel needs and
  OpenBLAS chose a kernel without AVX-512. Each reports the library torch loaded, OpenBLAS's core
  type, whether an integer-valued product came out exact, and GFLOP/s of a 2048² float64 product;
- chooses the fastest exact candidate on OpenBLAS, and fails if torch runs on no OpenBLAS.

  /usr/bin/python3 bench/peers/peer_blas.py choose   # prints the shell lines that apply the choice
  /usr/bin/python3 bench/peers/peer_blas.py probe    # one candidate: one JSON object
"""
import ctypes
import json
import os
import subprocess
import sys

PACKAGES = ["python3-torch", "libopenblas0-pthread"]
CORETYPE, L2_SIZE = "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"
# OpenBLAS core types with AVX-512 kernels, and the processor flags SKYLAKEX's kernels use.
AVX512_CORES = {"SKYLAKEX", "COOPERLAKE", "SAPPHIRERAPIDS"}
SKYLAKEX_FLAGS = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}
# Set by `choose` in the environment of the runs it prepared, so that they do not choose again.
CHOSEN = "STABLEODE_PEER_BLAS"


def ensure_installed():
    """Installs the packages that are missing (apt-get update first); needs root."""
    def installed(package):
        query = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        return query.returncode == 0 and query.stdout.strip() == "install ok installed"

    missing = [p for p in PACKAGES if not installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"peer_blas: {' '.join(missing)} missing; install as root: apt-get install -y {' '.join(missing)}")
    print(f"peer_blas: installing {' '.join(missing)}", file=sys.stderr)
    subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", *missing], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def loaded_blas():
    """The real path of the BLAS library this process has loaded (after importing torch)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line and "/" in line}
    real = sorted({os.path.realpath(p) for p in paths})
    return real[0] if real else "none"


def openblas(library):
    """OpenBLAS's core type and configuration of a loaded library, or None for another BLAS."""
    try:
        lib = ctypes.CDLL(library)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
    except (OSError, AttributeError):
        return None
    return {"corename": lib.openblas_get_corename().decode().upper(),
            "config": lib.openblas_get_config().decode(), "threads": lib.openblas_get_num_threads()}


def probe(threads=2):
    """One candidate, in this process: the library, the core type, exactness and GFLOP/s."""
    import time
    import torch
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1)
    # Integer entries in [-8, 8] and length 600: every product and partial sum is an integer below
    # 2^53, so a correct BLAS returns the int64 product exactly.
    a = torch.randint(-8, 9, (600, 600), generator=g)
    b = torch.randint(-8, 9, (600, 600), generator=g)
    exact = bool(torch.equal(a.double() @ b.double(), (a @ b).double()))
    x = torch.randn(2048, 2048, dtype=torch.float64, generator=g)
    y = torch.randn(2048, 2048, dtype=torch.float64, generator=g)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        x @ y
        best = min(best, time.perf_counter() - t)
    library = loaded_blas()
    return {"library": library, "openblas": openblas(library), "exact": exact,
            "gflops": 2.0 * 2048 ** 3 / best / 1e9}


def describe(result):
    """One line: library, core type, exactness and rate."""
    o = result["openblas"]
    kind = f"OpenBLAS core {o['corename']} ({o['config'].strip()}, {o['threads']} threads)" if o else "not OpenBLAS (reference BLAS?)"
    return f"{result['library']}: {kind}, exact {result['exact']}, {result['gflops']:.1f} GFLOP/s (2048² float64 product)"


def candidates():
    """The settings to try: (name, changes to the environment; None unsets)."""
    preset = {k: os.environ[k] for k in (CORETYPE, L2_SIZE) if k in os.environ}
    found = [("as found" + (f" ({', '.join(f'{k}={v}' for k, v in preset.items())})" if preset else ""), {})]
    if preset:
        found.append((f"{CORETYPE} and {L2_SIZE} unset", {CORETYPE: None, L2_SIZE: None}))
    return found


def run_probe(changes):
    """`probe` in a fresh process with the environment changed; None if it failed or crashed
    (its last line of error output is printed)."""
    env = {k: v for k, v in os.environ.items() if changes.get(k, "") is not None}
    env.update({k: v for k, v in changes.items() if v is not None})
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "probe"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        print(f"peer_blas: a probe failed: {last}", file=sys.stderr)
        return None
    return json.loads(done.stdout)


def choose():
    """Probes the candidates and returns the changes of the fastest exact one on OpenBLAS."""
    with open("/proc/cpuinfo") as f:
        flags = set(next((line for line in f if line.startswith("flags")), "").split(":")[-1].split())
    results = []
    for name, changes in candidates():
        results.append((name, changes, run_probe(changes)))
    if SKYLAKEX_FLAGS <= flags:
        chosen_cores = {r["openblas"]["corename"] for _, _, r in results if r and r["openblas"]}
        if chosen_cores and not chosen_cores & AVX512_CORES:
            changes = {CORETYPE: "SKYLAKEX"}
            results.append((f"{CORETYPE}=SKYLAKEX (the processor has AVX-512; OpenBLAS chose {', '.join(sorted(chosen_cores))})",
                            changes, run_probe(changes)))
    for name, _, result in results:
        print(f"peer BLAS, {name}: {describe(result) if result else 'the probe failed'}", file=sys.stderr)
    fit = [(r["gflops"], name, changes) for name, changes, r in results if r and r["exact"] and r["openblas"]]
    if not fit:
        sys.exit("peer_blas: torch runs on no OpenBLAS here (see the lines above); "
                 "check: update-alternatives --display libblas.so.3-x86_64-linux-gnu")
    _, name, changes = max(fit, key=lambda f: f[0])
    print(f"peer BLAS chosen: {name}", file=sys.stderr)
    return changes


def apply(changes):
    """Applies the chosen changes to this process's environment (before torch is imported)."""
    for k, v in changes.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    os.environ[CHOSEN] = "1"


def prepare():
    """For a peer script, before it imports torch: installs what is missing, applies the choice
    (unless `choose` already made it for this run), imports torch and checks that it runs on
    OpenBLAS. Returns OpenBLAS's core type."""
    ensure_installed()
    if CHOSEN not in os.environ:
        apply(choose())
    import torch  # noqa: F401  (loads the BLAS)
    core = openblas(loaded_blas())
    if core is None:
        sys.exit(f"peer_blas: torch runs on {loaded_blas()}, not on OpenBLAS")
    return core["corename"]


def main():
    if sys.argv[1:] == ["probe"]:
        print(json.dumps(probe()))
    elif sys.argv[1:] == ["choose"]:
        ensure_installed()
        for k, v in choose().items():
            print(f"unset {k}" if v is None else f"export {k}={v}")
        print(f"export {CHOSEN}=1")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
