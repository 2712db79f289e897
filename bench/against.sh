#!/usr/bin/env bash
# Times the cases of docs/performance.md on this tree and on an older commit, side by side in
# one run: for every case the old build, then this one (bench/StableOde.Bench `run`, one fresh
# process each), and prints a table of the medians with new / old. The old commit is built by
# bench/build-rev.sh (exported with `git archive`, built once and kept); nothing in this tree
# changes.
# usage: bench/against.sh REV [S1] [S2] [S3]   (default cases: S1 S2 S3; SAMPLES3=s sets S3's
# batch size, for an old build whose convolution is slow)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cases.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
[ $# -ge 1 ] || { echo "usage: bench/against.sh REV [S1] [S2] [S3]" >&2; exit 1; }
rev=$1; shift
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(S1 S2 S3)
old=$(bench/build-rev.sh "$rev")
rows=$(mktemp "${TMPDIR:-/tmp}/stableode-against.XXXXXX")
trap 'rm -f "$rows"' EXIT
dotnet build bench/StableOde.Bench.fsproj -c Release -warnaserror >/dev/null
echo "old: $(git rev-parse --short "$rev"), new: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo ' + uncommitted changes')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in "${cases[@]}"; do
  case_args "$c" || exit 1
  for p in resnet verlet; do
    for m in forward gradient; do
      a=$(dotnet "$old" run --propagator $p $args --mode $m --repeat $repeat)
      la=$(cut -d' ' -f1 /proc/loadavg)
      b=$(dotnet bench/bin/Release/net10.0/StableOde.Bench.dll run --propagator $p $args --mode $m --repeat $repeat)
      lb=$(cut -d' ' -f1 /proc/loadavg)
      echo "$c $p $m $la $lb $a $b" >> "$rows"
      echo "done: $c $p $m (load $la, $lb): old $a; new $b" >&2
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rows" <<'PY'
import json, sys
print("| case | propagator | mode | old ms (min–max) | new ms (min–max) | new / old | 1-min load (old, new) |")
print("|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    c, p, m, la, lb, rest = line.split(" ", 5)
    dec = json.JSONDecoder()
    a, end = dec.raw_decode(rest)
    b, _ = dec.raw_decode(rest[end:].strip())
    print(f"| {c} | {p} | {m} | {a['medianMs']:.2f} ({a['minMs']:.2f}–{a['maxMs']:.2f}) "
          f"| {b['medianMs']:.2f} ({b['minMs']:.2f}–{b['maxMs']:.2f}) | {b['medianMs'] / a['medianMs']:.2f} | {la}, {lb} |")
PY
