#!/usr/bin/env bash
# Runs every fuzz test of the module for a bounded time each (make fuzz).
#   scripts/fuzz.sh [FUZZTIME]    default 5s; make fuzz passes its FUZZTIME
# make test does not fuzz: go test runs every target's seed corpus (f.Add
# and testdata/fuzz/) as ordinary tests, without the instrumented build
# each fuzzing target costs.
# A target that finds a failing input stops the run; the input is saved
# under that package's testdata/fuzz/ as a regression seed. A target cut
# short by Go's own fuzz-deadline race, with no failing input, runs once
# more.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-5s}
n=0
while IFS=: read -r file target; do
  pkg="./$(dirname "$file")"
  echo "fuzz: $pkg $target for $fuzztime"
  fuzz() { go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1; }
  if ! fuzz; then
    # Go before 1.27 can fail a target with a bare "context deadline
    # exceeded" as -fuzztime ends (golang/go#75804): no input failed and
    # none was written. That, and only that, is run once more.
    if grep -q 'context deadline exceeded' /tmp/fuzz.$$.log &&
       ! grep -q -e 'Failing input written' -e '^panic:' -e '_test.go:[0-9]*:' /tmp/fuzz.$$.log; then
      echo "fuzz: $target stopped with Go's fuzz-deadline race (golang/go#75804), no failing input; running it again"
      fuzz || { cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1; }
    else
      cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1
    fi
  fi
  grep -h "^ok\|elapsed" /tmp/fuzz.$$.log | tail -1
  n=$((n + 1))
done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's|^\./||; s|:func |:|' | sort -u)
rm -f /tmp/fuzz.$$.log
echo "fuzz: $n targets, $fuzztime each"
