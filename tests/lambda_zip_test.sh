#!/usr/bin/env bash
# The deployable Lambda zip holds everything `bootstrap` needs: unpacked into an empty folder it
# runs with an empty environment (no LD_LIBRARY_PATH, nothing from this machine's library
# folders), and its loader resolves every library inside the zip.
#
#   tests/lambda_zip_test.sh path/to/evs-lambda-x86_64.zip
set -euo pipefail
zip=$(realpath "$1")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cd "$root"
cmake -E tar xf "$zip"
fail() { echo "lambda_zip_test: FAILED: $*" >&2; exit 1; }
[[ -x bootstrap && -x bin/bootstrap ]] || fail "bootstrap and bin/bootstrap must be executable"
loader=$(ls lib/ld-linux-*.so.* 2>/dev/null | head -1)
[[ -n $loader ]] || fail "no loader in lib/"
# Every library resolves inside lib/ (linux-vdso is the kernel's).
listing=$(env -i "$loader" --library-path "$root/lib" --list bin/bootstrap)
outside=$(echo "$listing" | awk -v root="$root" '
  /linux-vdso/ { next }
  /=>/ { if (index($3, root "/lib/") != 1 && index($3, "lib/") != 1) print; next }
  { if (index($1, root "/lib/") != 1) print }')
[[ -z $outside ]] || fail "libraries from outside the zip: $outside"
echo "$listing" | grep -q "not found" && fail "unresolved: $listing"
# It starts in an empty environment and says what it misses.
set +e
out=$(env -i LAMBDA_TASK_ROOT="$root" ./bootstrap 2>&1)
rc=$?
set -e
[[ $rc == 2 ]] || fail "expected exit 2 without AWS_LAMBDA_RUNTIME_API, got $rc: $out"
[[ $out == *"AWS_LAMBDA_RUNTIME_API is not set"* ]] || fail "unexpected output: $out"
size=$(du -k "$zip" | cut -f1)
echo "lambda_zip_test: OK ($size KiB, $(ls lib | wc -l) libraries, all inside the zip)"
