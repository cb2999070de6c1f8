#!/usr/bin/env bash
# Runs the integration tests (the Test functions of *_integration_test.go
# files, built with -tags integration) package by package against the
# running test bed. The unit tests those packages also hold ran already in
# make unit-test, so they are not run a second time here.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in $(git ls-files '*_integration_test.go' | xargs -n1 dirname | sort -u); do
  names=$(grep -ho '^func Test[A-Za-z0-9_]*' "$dir"/*_integration_test.go | sed 's/^func //' | sort -u | paste -sd'|')
  [ -n "$names" ] || continue
  echo "integration: ./$dir"
  # -v for each test's time; its log shows only when it fails.
  go test -tags integration -count=1 -p 1 -timeout 30m -v -run "^(${names})\$" "./$dir" >"/tmp/integration.$$.log" 2>&1 || {
    status=1; cat "/tmp/integration.$$.log"; }
  grep -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL)' "/tmp/integration.$$.log" || true
done
rm -f "/tmp/integration.$$.log"
exit $status
