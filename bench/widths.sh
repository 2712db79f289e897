#!/usr/bin/env bash
# Times the cases of docs/performance.md on one build with its 512-bit kernels and with its
# 256-bit ones (`DOTNET_EnableAVX512F=0`, as on a machine without AVX-512), side by side: ROUNDS
# rounds (default 3), each running every case once per width in turn, a fresh process each
# (bench/StableOde.Bench `run`). Prints per case the median of each width's medians and
# Vector256 / Vector512. Needs a machine with AVX-512; run it under the CPU lock.
# usage: bench/widths.sh [REV] [S1] [S2] [S3]   (REV: an older commit, built by bench/build-rev.sh;
# default this tree; default cases S1 S2; SAMPLES3=s sets S3's batch size)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cases.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dll=bench/bin/Release/net10.0/StableOde.Bench.dll
build="this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo ' + uncommitted changes'))"
if [ $# -ge 1 ] && ! case_args "$1" 2>/dev/null; then
  dll=$(bench/build-rev.sh "$1")
  build=$(git rev-parse --short "$1")
  shift
else
  dotnet build bench/StableOde.Bench.fsproj -c Release -warnaserror >/dev/null
fi
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(S1 S2)
grep -qw avx512f /proc/cpuinfo || { echo "this processor has no AVX-512: nothing to compare" >&2; exit 1; }
rows=$(mktemp "${TMPDIR:-/tmp}/stableode-widths.XXXXXX")
trap 'rm -f "$rows"' EXIT
echo "build: $build; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "${ROUNDS:-3}"); do
  for c in "${cases[@]}"; do
    case_args "$c"
    for p in resnet verlet; do
      for m in forward gradient; do
        a=$(dotnet "$dll" run --propagator $p $args --mode $m --repeat $repeat)
        b=$(DOTNET_EnableAVX512F=0 dotnet "$dll" run --propagator $p $args --mode $m --repeat $repeat)
        echo "$c $p $m $a $b" >> "$rows"
        echo "done: $c $p $m (load $(cut -d' ' -f1 /proc/loadavg)): Vector512 $a; Vector256 $b" >&2
      done
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rows" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    c, p, m, rest = line.split(" ", 3)
    dec = json.JSONDecoder()
    a, end = dec.raw_decode(rest)
    b, _ = dec.raw_decode(rest[end:].strip())
    runs.setdefault((c, p, m), []).append((a["medianMs"], b["medianMs"]))
print("| case | propagator | mode | Vector512 ms (median of medians) | Vector256 ms | Vector256 / Vector512 | rounds |")
print("|---|---|---|---|---|---|---|")
for (c, p, m), r in runs.items():
    a = statistics.median(x for x, _ in r)
    b = statistics.median(y for _, y in r)
    print(f"| {c} | {p} | {m} | {a:.2f} | {b:.2f} | {b / a:.2f} | {len(r)} |")
PY
