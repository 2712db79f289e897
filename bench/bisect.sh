#!/usr/bin/env bash
# Decides whether one case is slower at the checked-out commit than at a good commit, for
# `git bisect run`: both builds (bench/build-rev.sh: exported with `git archive`, built once and
# kept) run the case in alternating fresh processes for ROUNDS rounds under the shared CPU lock,
# and the ratio of the medians of their medians decides: exit 0 (good) below THRESHOLD, 1 (bad)
# at or above it, 125 (skip) when the commit does not build.
# usage: bench/bisect.sh GOOD [THRESHOLD] (default 1.08); ROUNDS=r (default 7), CASE (S1, S2 or
# S3 of bench/cases.sh; default S1), PROPAGATOR (default resnet), MODE (default gradient), LOCK
# (default /tmp/stableode-cpu.lock). Bisect checks out commits that lack these scripts: run a
# copy of bench/ from outside the tree, e.g.
#   cp -r bench /tmp/bisect-tools && git bisect start BAD GOOD && git bisect run /tmp/bisect-tools/bisect.sh GOOD
set -euo pipefail
tools=$(cd "$(dirname "$0")" && pwd)
source "$tools/cases.sh"
[ $# -ge 1 ] || { echo "usage: bench/bisect.sh GOOD [THRESHOLD]" >&2; exit 128; }
good=$(git rev-parse --short "$1")
threshold=${2:-1.08}
rounds=${ROUNDS:-7}
lock=${LOCK:-/tmp/stableode-cpu.lock}
here=$(git rev-parse --short HEAD)
case_args "${CASE:-S1}" || exit 128
args="--propagator ${PROPAGATOR:-resnet} $args --mode ${MODE:-gradient} --repeat $repeat"
old=$("$tools/build-rev.sh" "$good") || { echo "the good commit $good does not build" >&2; exit 128; }
new=$("$tools/build-rev.sh" "$here") || { echo "$here does not build: skip" >&2; exit 125; }

rows=$(mktemp "${TMPDIR:-/tmp}/stableode-bisect.XXXXXX")
trap 'rm -f "$rows"' EXIT
flock "$lock" bash -c '
  for r in $(seq "$1"); do
    echo "old $(dotnet "$2" run $4)" >> "$5"
    echo "new $(dotnet "$3" run $4)" >> "$5"
  done' _ "$rounds" "$old" "$new" "$args" "$rows"
python3 - "$rows" "$good" "$here" "$threshold" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys
rows, good, here, threshold, load = sys.argv[1:]
med = {"old": [], "new": []}
for line in open(rows):
    side, js = line.split(" ", 1)
    med[side].append(json.loads(js)["medianMs"])
o, n = statistics.median(med["old"]), statistics.median(med["new"])
ratio = n / o
print(f"{here} against {good}: medians {o:.2f} → {n:.2f} ms, ratio {ratio:.3f} "
      f"(old {', '.join(f'{x:.1f}' for x in med['old'])}; new {', '.join(f'{x:.1f}' for x in med['new'])}; load after {load})")
sys.exit(0 if ratio < float(threshold) else 1)
PY
