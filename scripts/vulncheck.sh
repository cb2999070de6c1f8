#!/usr/bin/env bash
# govulncheck on the module, offline (make lint).
#   scripts/vulncheck.sh GOVULNCHECK INDEXDB VULNDB_VERSION DB_DIR
# The Go vulnerability database's servers cannot be reached from the
# machines this project builds on, but its source can: the module
# golang.org/x/vulndb at VULNDB_VERSION, from the Go module proxy, holds
# every entry as OSV JSON (data/osv). Its own indexdb command (INDEXDB)
# writes them as a database in DB_DIR once, and govulncheck reads that with
# -db file://. The snapshot is as old as VULNDB_VERSION's date: raise it to
# learn of newer entries.
#
# A vulnerability our code reaches in a required module fails the check:
# the fix is a newer version of that module. One in the Go standard library
# is fixed only by a newer Go toolchain, which the machine provides, not
# this repository: it is printed as a warning, or fails the check too with
# VULNCHECK_STDLIB=fail.
set -euo pipefail
cd "$(dirname "$0")/.."
govulncheck=$1 indexdb=$2 version=$3 db=$4
stdlib_policy=${VULNCHECK_STDLIB:-warn}

if [ ! -s "$db/index/db.json" ]; then
  echo "vulncheck: building the vulnerability database $version into $db"
  src=$(go mod download -json "golang.org/x/vulndb@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "vulncheck: golang.org/x/vulndb@$version has no data/osv: no database, no check" >&2; exit 1; }
  rm -rf "$db.tmp"
  "$indexdb" -vulns "$src/data/osv" -out "$db.tmp"
  rm -rf "$db" && mv "$db.tmp" "$db"
fi
entries=$(find "$db/ID" -name 'GO-*.json' | wc -l)
[ "$entries" -gt 1000 ] || { echo "vulncheck: $db holds only $entries entries: not a usable database" >&2; exit 1; }
snapshot=$(printf '%s' "$version" | sed -n 's/^v0\.0\.0-\([0-9]\{4\}\)\([0-9]\{2\}\)\([0-9]\{2\}\).*/\1-\2-\3/p')
echo "vulncheck: Go vulnerability database of ${snapshot:-$version} ($entries entries), offline"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$govulncheck" -db "file://$(cd "$db" && pwd)" -format json ./... >"$out"
# The findings our code reaches (a trace down to a function), by module.
python3 - "$out" "$stdlib_policy" <<'PY'
import json, sys
path, policy = sys.argv[1], sys.argv[2]
dec, text, i = json.JSONDecoder(), open(path).read(), 0
summaries, called = {}, {}
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    if "osv" in obj:
        summaries[obj["osv"]["id"]] = obj["osv"].get("summary", "")
    f = obj.get("finding")
    if f and f.get("trace") and f["trace"][0].get("function"):
        t = f["trace"][0]
        called[f["osv"]] = (t.get("module", "?"), t.get("version", "?"), f.get("fixed_version", "none"))
stdlib = {k: v for k, v in called.items() if v[0] == "stdlib"}
modules = {k: v for k, v in called.items() if v[0] != "stdlib"}
for k in sorted(called):
    m, v, fixed = called[k]
    print(f"vulncheck: {k} in {m}@{v} (fixed in {fixed}), reached from our code: {summaries.get(k, '')}")
if modules:
    print(f"vulncheck: FAIL: {len(modules)} vulnerabilities in required modules that our code reaches: upgrade them (go get MODULE@FIXED)")
    sys.exit(1)
if stdlib:
    fixed = sorted({v[2] for v in stdlib.values()})
    msg = (f"{len(stdlib)} vulnerabilities in the Go standard library ({next(iter(stdlib.values()))[1]}) "
           f"that our code reaches, fixed in {', '.join(fixed)}: a newer Go toolchain is needed")
    if policy == "fail":
        print("vulncheck: FAIL: " + msg)
        sys.exit(1)
    print("vulncheck: WARNING: " + msg + " (VULNCHECK_STDLIB=fail makes this fail)")
    sys.exit(0)
print("vulncheck: no known vulnerability reached from our code")
PY
