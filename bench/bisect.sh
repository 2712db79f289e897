#!/usr/bin/env bash
# Decides whether one case is slower at the checked-out commit than at a good commit, for
# `git bisect run`: bench/scan.sh times both side by side and exits 0 (good) when the ratio of
# their medians is below THRESHOLD, 1 (bad) at or above it, 125 (skip) when the commit does not
# build. The environment of scan.sh applies (ROUNDS, CASE, PROPAGATOR, MODE, CORES, LOCK).
# usage: bench/bisect.sh GOOD [THRESHOLD] (default 1.08). Bisect checks out commits that lack
# these scripts: run a copy of bench/ from outside the tree, e.g.
#   cp -r bench /tmp/bisect-tools && git bisect start BAD GOOD && git bisect run /tmp/bisect-tools/bisect.sh GOOD
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/bisect.sh GOOD [THRESHOLD]" >&2; exit 128; }
THRESHOLD=${2:-1.08} ROUNDS=${ROUNDS:-7} exec "$(dirname "$0")/scan.sh" "$1" HEAD
