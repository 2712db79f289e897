#!/usr/bin/env bash
# Runs every test: the xunit suite (API, bad input, CLI end to end) and the property suite
# (the mathematics), then prints one summary line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Open MPI, for the data-parallel training tests (SPEC §11, `mpirun -np R stableode train`): installed
# from Debian when missing, so that a fresh machine needs nothing by hand. Without it those tests fail.
if ! command -v mpirun >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q 'libmpi\.so\.40'; then
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && $as_root true 2>/dev/null; then
    { $as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null; } \
      || echo "test.sh: could not install Open MPI (openmpi-bin libopenmpi-dev): the distributed training tests will fail" >&2
  else
    echo "test.sh: Open MPI is missing and cannot be installed here (needs apt-get as root): install openmpi-bin libopenmpi-dev; the distributed training tests will fail" >&2
  fi
fi

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

dotnet build StableOde.sln -c Release -warnaserror || { echo "0 passed, 1 failed"; exit 1; }

dotnet test tests/StableOde.Tests -c Release --no-build 2>&1 | tee "$log/xunit.txt"
xunit_rc=${PIPESTATUS[0]}

dotnet run --project property-tests -c Release --no-build -- --colours 0 --summary 2>&1 | tee "$log/property.txt"
property_rc=${PIPESTATUS[0]}

# The examples run too, so they never rot.
examples_rc=0
dotnet run --project examples/QuickStart -c Release --no-build || examples_rc=1
dotnet fsi examples/taylor.fsx || examples_rc=1
# The README's F# quick start, run from another folder (its #r paths are relative to the script).
(cd "$log" && dotnet fsi "$OLDPWD/examples/fsharp-quickstart.fsx") || examples_rc=1
dotnet fsi examples/stability.fsx 8 || examples_rc=1
dotnet fsi examples/swissroll.fsx --fast || examples_rc=1
dotnet fsi examples/peaks.fsx --fast || examples_rc=1
dotnet fsi examples/schemes.fsx --fast || examples_rc=1
# The packages a C# user installs: pack the core and the facade into a local folder and build
# and run a sample that consumes them from there, restored into its own package folder.
{ dotnet pack src/StableOde.Core -c Release --no-build -o "$log/packages" \
  && dotnet pack src/StableOde -c Release --no-build -o "$log/packages" \
  && dotnet build examples/PackageConsumer -c Release -p:RestoreAdditionalProjectSources="$log/packages" -p:RestorePackagesPath="$log/restore" \
  && dotnet run --project examples/PackageConsumer -c Release --no-build; } || examples_rc=1
# An independent implementation of SPEC §1–§3 in plain Python checks `stableode gradient`.
python3 tools/crosscheck.py || examples_rc=1
# The same for `stableode robustness`: FGSM and PGD implemented literally on small models.
python3 tools/robustness_crosscheck.py || examples_rc=1

count() { grep -oE "$1" "$2" | tail -n 1 | grep -oE '[0-9]+' | head -n 1; }
xp=$(count 'Passed: +[0-9]+' "$log/xunit.txt"); xf=$(count 'Failed: +[0-9]+' "$log/xunit.txt")
pp=$(count '[0-9]+ passed' "$log/property.txt"); pf=$(count '[0-9]+ failed' "$log/property.txt")
pe=$(count '[0-9]+ errored' "$log/property.txt")
passed=$(( ${xp:-0} + ${pp:-0} ))
failed=$(( ${xf:-0} + ${pf:-0} + ${pe:-0} ))
failed=$(( failed + examples_rc ))
if [ "$xunit_rc" -ne 0 ] || [ "$property_rc" -ne 0 ]; then
  [ "$failed" -gt 0 ] || failed=1
fi
echo "xunit: ${xp:-0} passed, ${xf:-0} failed; properties: ${pp:-0} passed, $(( ${pf:-0} + ${pe:-0} )) failed; examples and crosscheck: $([ "$examples_rc" -eq 0 ] && echo ok || echo FAILED)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
