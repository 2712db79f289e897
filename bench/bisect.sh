#!/usr/bin/env bash
# Decides whether one case is slower at the checked-out commit than at a good commit, for
# `git bisect run`: both builds (exported with `git archive`, the good one built once and kept)
# run the case in alternating fresh processes for ROUNDS rounds, under the shared CPU lock, and
# the ratio of the medians of their medians decides: exit 0 (good) below THRESHOLD, 1 (bad) at
# or above it, 125 (skip) when the commit does not build.
# usage: bench/bisect.sh GOOD [THRESHOLD] (default 1.08); ROUNDS=r (default 7), CASE (default
# S1), PROPAGATOR (default resnet), MODE (default gradient), LOCK (default
# /tmp/stableode-cpu.lock). Run it from a copy outside the tree: bisect checks out commits that
# do not have it, e.g.
#   cp bench/bisect.sh /tmp/ && git bisect start BAD GOOD && git bisect run /tmp/bisect.sh GOOD
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
[ $# -ge 1 ] || { echo "usage: bench/bisect.sh GOOD [THRESHOLD]" >&2; exit 128; }
good=$(git rev-parse --short "$1")
threshold=${2:-1.08}
rounds=${ROUNDS:-7}
lock=${LOCK:-/tmp/stableode-cpu.lock}
here=$(git rev-parse --short HEAD)
args="--propagator ${PROPAGATOR:-resnet} $(case ${CASE:-S1} in
  S1) echo "--width 2 --samples 1000 --layers 1024 --final-time 20 --repeat 15" ;;
  S2) echo "--width 8 --samples 4000 --layers 1024 --final-time 5 --repeat 7" ;;
  *) echo "unknown case ${CASE}" >&2; exit 128 ;;
esac) --mode ${MODE:-gradient}"

# Builds a commit's bench into a folder kept across calls (the good one is reused).
build() {
  local dir="${TMPDIR:-/tmp}/stableode-bisect-$1"
  if [ ! -f "$dir/bench/bin/Release/net10.0/StableOde.Bench.dll" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    git archive "$1" | tar -x -C "$dir"
    dotnet build "$dir/bench/StableOde.Bench.fsproj" -c Release >/dev/null 2>&1 || return 1
  fi
  echo "$dir/bench/bin/Release/net10.0/StableOde.Bench.dll"
}
old=$(build "$good") || { echo "the good commit $good does not build" >&2; exit 128; }
new=$(build "$here") || { echo "$here does not build: skip" >&2; exit 125; }

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
      f"(old {', '.join(f'{x:.1f}' for x in med['old'])}; new {', '.join(f'{x:.1f}' for x in med['new'])}; load {load})")
sys.exit(0 if ratio < float(threshold) else 1)
PY
