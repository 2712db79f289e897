#!/usr/bin/env bash
# Times one case on several commits side by side: every commit's bench is built once
# (bench/build-rev.sh, outside the lock), then ROUNDS rounds run the case once per commit in
# turn, each a fresh process, all under the shared CPU lock. Prints per commit the median of
# its runs' medians, their least minimum, every median and the ratio to the first commit.
# With THRESHOLD set it exits 1 when the last commit's ratio is at or above it (`git bisect
# run` through bench/bisect.sh), 125 when a commit does not build.
# usage: bench/scan.sh REV... ; ROUNDS=r (default 5), CASE (S1, S2 or S3 of bench/cases.sh;
# default S1), PROPAGATOR (default resnet), MODE (default gradient), CORES (a taskset list
# such as 0 for one core; default all), LOCK (default /tmp/stableode-cpu.lock; `none` when the
# caller holds it).
set -euo pipefail
tools=$(cd "$(dirname "$0")" && pwd)
source "$tools/cases.sh"
[ $# -ge 1 ] || { echo "usage: bench/scan.sh REV..." >&2; exit 128; }
case_args "${CASE:-S1}" || exit 128
args="--propagator ${PROPAGATOR:-resnet} $args --mode ${MODE:-gradient} --repeat $repeat"
revs=() dlls=()
for r in "$@"; do
  revs+=("$(git rev-parse --short "$r^{commit}")")
  dlls+=("$("$tools/build-rev.sh" "$r")") || exit 125
done
pin=()
[ -z "${CORES:-}" ] || pin=(taskset -c "$CORES")
rows=$(mktemp "${TMPDIR:-/tmp}/stableode-scan.XXXXXX")
trap 'rm -f "$rows"' EXIT
run_rounds() {
  for _ in $(seq "${ROUNDS:-5}"); do
    for i in "${!dlls[@]}"; do
      echo "$i $("${pin[@]}" dotnet "${dlls[$i]}" run $args)" >> "$rows"
    done
  done
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${LOCK:-/tmp/stableode-cpu.lock}" = none ]; then run_rounds
else
  exec 9> "${LOCK:-/tmp/stableode-cpu.lock}"
  flock 9
  run_rounds
  flock -u 9
fi
echo "${CASE:-S1} ${PROPAGATOR:-resnet} ${MODE:-gradient}, ${ROUNDS:-5} rounds, cores ${CORES:-all of $(nproc)}; load before ${load_before}, after $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$rows" "${THRESHOLD:-}" "${revs[@]}" <<'PY'
import json, statistics, sys
rows, threshold, revs = sys.argv[1], sys.argv[2], sys.argv[3:]
med = [[] for _ in revs]
mins = [[] for _ in revs]
for line in open(rows):
    i, js = line.split(" ", 1)
    r = json.loads(js)
    med[int(i)].append(r["medianMs"])
    mins[int(i)].append(r["minMs"])
base = statistics.median(med[0])
ratio = 1.0
for rev, m, lo in zip(revs, med, mins):
    ratio = statistics.median(m) / base
    print(f"{rev}: median {statistics.median(m):.2f} ms, min {min(lo):.2f}, ratio {ratio:.3f} "
          f"(medians {', '.join(f'{x:.1f}' for x in m)})")
sys.exit(1 if threshold and ratio >= float(threshold) else 0)
PY
