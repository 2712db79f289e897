#!/usr/bin/env bash
# Runs the cases of docs/performance.md on both sides, one after the other in one go, and
# prints the table: StableOde (bench/StableOde.Bench `run`) against PyTorch
# (bench/peers/torch_bench.py with Debian's python3-torch on OpenBLAS), medians in ms, the ratio
# PyTorch / StableOde, StableOde's GFLOP/s, its percentage of the machine's FMA peak (measured
# first, `StableOde.Bench peak`) and µs per layer. The peer's BLAS is installed when missing,
# checked and put on its best kernel for this processor once, before the runs
# (bench/peers/peer_blas.py, which prints what it tried and what it chose).
# usage: bench/compare.sh [S1] [S2] [S3]   (default: S1 S2; SAMPLES3=s sets S3's batch size)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cases.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
python=${PYTHON:-/usr/bin/python3}
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(S1 S2)

dotnet build bench/StableOde.Bench.fsproj -c Release -warnaserror >/dev/null
ours="dotnet bench/bin/Release/net10.0/StableOde.Bench.dll run"
theirs="$python bench/peers/torch_bench.py"

# The choice is one of a fixed set of lines (export/unset of OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE).
blas=$("$python" bench/peers/peer_blas.py choose)
eval "$blas"
echo "libblas.so.3 alternative: $(update-alternatives --query libblas.so.3-x86_64-linux-gnu | sed -n 's/^Value: //p'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
peak=$(dotnet bench/bin/Release/net10.0/StableOde.Bench.dll peak)
echo "FMA peak: $peak"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
rows=$(mktemp "${TMPDIR:-/tmp}/stableode-compare.XXXXXX")
trap 'rm -f "$rows"' EXIT
for c in "${cases[@]}"; do
  case_args "$c" || exit 1
  layers=$(echo "$args" | sed -E 's/.*--layers ([0-9]+).*/\1/')
  for p in resnet verlet; do
    for m in forward gradient; do
      a=$($ours --propagator $p $args --mode $m --repeat $repeat)
      b=$($theirs --propagator $p $args --mode $m --repeat $repeat)
      echo "$c $p $m $layers $a $b" >> "$rows"
      echo "done: $c $p $m (load $(cut -d' ' -f1 /proc/loadavg)): ours $a; peer $b" >&2
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" - "$rows" "$peak" <<'PY'
import json, sys
peak = json.loads(sys.argv[2])["allCoresGflops"]
print("| case | propagator | mode | StableOde ms (min–max) | PyTorch ms (min–max) | ratio | StableOde GFLOP/s | % of FMA peak | µs/layer | peak MB (ours / torch) | peer's OpenBLAS core |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    c, p, m, layers, a, b = line.split(" ", 5)
    a, b = json.loads(a), json.loads(b.strip())
    print(f"| {c} | {p} | {m} | {a['medianMs']:.2f} ({a['minMs']:.2f}–{a['maxMs']:.2f}) "
          f"| {b['medianMs']:.2f} ({b['minMs']:.2f}–{b['maxMs']:.2f}) | {b['medianMs'] / a['medianMs']:.1f}× "
          f"| {a['gflops']:.2f} | {100 * a['gflops'] / peak:.1f} | {1000 * a['medianMs'] / int(layers):.2f} "
          f"| {a['peakMB']:.1f} / {b['peakMB']:.1f} | {b['blas']} |")
PY
