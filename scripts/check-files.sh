#!/usr/bin/env bash
# Refuses tracked files that do not belong in the repository (make lint):
#   - a program or object file anywhere (ELF, Mach-O, PE, Java class or
#     archive, a static library): `go test -c` and builds leave those, and
#     a 21 MB collector.test was committed once;
#   - a binary file (one holding a NUL byte) that is not data;
#   - a file over 1 MB that is not data.
# Data is what tests and evaluations read: files under a testdata/ folder
# (Go's own convention: golden files, fuzz seeds, saved models, labelled
# series) and the paths of the allow-list below, each with its reason.
# It reads the work tree's copy of every file git tracks or has staged.
set -euo pipefail
cd "$(dirname "$0")/.."

max_bytes=$((1024 * 1024))

# The allow-list: shell patterns of paths that are data outside testdata/.
# Add a path here with a comment saying why it must be in the repository.
allowed=(
)

is_data() {
  case "/$1" in */testdata/*) return 0 ;; esac
  local p
  for p in ${allowed[@]+"${allowed[@]}"}; do
    # shellcheck disable=SC2053
    [[ $1 == $p ]] && return 0
  done
  return 1
}

refused=0
refuse() { printf 'check-files: %s: %s\n' "$1" "$2" >&2; refused=$((refused + 1)); }

# Text files as git sees them (-I leaves out binary ones).
declare -A text=()
while IFS= read -r -d '' f; do text[$f]=1; done < <(git grep -z -I --cached -l -e '' -- . 2>/dev/null || true)

# Each tracked file's first four bytes (hex), size and path, in one pass.
n=0
while IFS=$'\t' read -r magic size f; do
  n=$((n + 1))
  case "$magic" in
    7f454c46*) refuse "$f" "an ELF program or object file (a build output: see .gitignore)"; continue ;;
    cafebabe* | feedface* | feedfacf* | cefaedfe* | cffaedfe*) refuse "$f" "a Mach-O program or a Java class file (a build output)"; continue ;;
    4d5a*) refuse "$f" "a Windows (PE) program (a build output)"; continue ;;
  esac
  case "$f" in
    *.test | *.exe | *.so | *.a | *.o | *.class | *.jar | *.pprof | *.out)
      refuse "$f" "a build or profiling output by its name (see .gitignore)"; continue ;;
  esac
  is_data "$f" && continue
  if [ "$size" -gt 0 ] && [ -z "${text[$f]+x}" ]; then
    refuse "$f" "a binary file outside testdata/ and the allow-list of scripts/check-files.sh"
  elif [ "$size" -gt "$max_bytes" ]; then
    refuse "$f" "$size bytes, over 1 MB, outside testdata/ and the allow-list of scripts/check-files.sh"
  fi
done < <(git ls-files -z --cached | perl -0ne 'chomp; next unless -f $_; open(my $fh, "<", $_) or next;
  read($fh, my $b, 4); printf "%s\t%d\t%s\n", unpack("H*", $b), -s $_, $_')

if [ "$refused" -gt 0 ]; then
  echo "check-files: $refused of $n tracked files refused" >&2
  exit 1
fi
echo "check-files: $n tracked files: no program, no binary or file over 1 MB outside data"
