#!/usr/bin/env bash
# Runs every fuzz test of the module for a bounded time each.
#   scripts/fuzz.sh [FUZZTIME]    default 5s (make test); make fuzz runs longer
# A target that finds a failing input stops the run; the input is saved
# under that package's testdata/fuzz/ as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-5s}
n=0
while IFS=: read -r file target; do
  pkg="./$(dirname "$file")"
  echo "fuzz: $pkg $target for $fuzztime"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1 || {
    cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1; }
  grep -h "^ok\|elapsed" /tmp/fuzz.$$.log | tail -1
  n=$((n + 1))
done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's|^\./||; s|:func |:|' | sort -u)
rm -f /tmp/fuzz.$$.log
echo "fuzz: $n targets, $fuzztime each"
