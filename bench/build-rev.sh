#!/usr/bin/env bash
# Builds the bench of a commit, exported with `git archive` into a folder kept across calls
# (${TMPDIR:-/tmp}/stableode-rev-HASH), once, and prints the path of its StableOde.Bench.dll;
# exits 1 when the commit does not build. Nothing in this tree changes.
# usage: bench/build-rev.sh REV
set -euo pipefail
git rev-parse --git-dir >/dev/null  # run inside the repository
[ $# -eq 1 ] || { echo "usage: bench/build-rev.sh REV" >&2; exit 2; }
rev=$(git rev-parse --short "$1^{commit}")
dir="${TMPDIR:-/tmp}/stableode-rev-$rev"
dll="$dir/bench/bin/Release/net10.0/StableOde.Bench.dll"
if [ ! -f "$dll" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  git archive "$rev" | tar -x -C "$dir"
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet build "$dir/bench/StableOde.Bench.fsproj" -c Release >/dev/null 2>&1 \
    || { rm -rf "$dir"; echo "$rev does not build" >&2; exit 1; }
fi
echo "$dll"
