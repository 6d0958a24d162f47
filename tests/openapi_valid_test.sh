#!/usr/bin/env bash
# The openapi_valid test (CTest): the OpenAPI document of `evs serve` validated by swagger-parser
# (tools/openapi/validate.js, installed by scripts/setup); the validator must also refuse copies
# with a dangling $ref and with a misspelt response status, so that a pass means something.
# Usage: tests/openapi_valid_test.sh docs/openapi.json
set -euo pipefail
doc=${1:?usage: tests/openapi_valid_test.sh OPENAPI_JSON}
tools=$(cd "$(dirname "$0")/../tools/openapi" && pwd)

fail() {
  echo "openapi_valid: FAILED: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node not found (scripts/setup checks for Node >= 20)"
[ -d "$tools/node_modules/@apidevtools/swagger-parser" ] ||
  fail "swagger-parser is not installed in $tools/node_modules; run scripts/setup"

node "$tools/validate.js" "$doc" || fail "$doc is not a valid OpenAPI document (see above)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evs-openapi-valid.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# broken NAME SCRIPT: a copy of the document changed by SCRIPT (JavaScript on `d`), which the
# validator must refuse, naming what NAME says.
broken() {
  local name=$1 script=$2 file
  file=$tmp/${name//[^a-z]/_}
  node -e "
    const [doc, out] = process.argv.slice(1);
    const d = JSON.parse(require('fs').readFileSync(doc, 'utf8'));
    $script;
    require('fs').writeFileSync(out, JSON.stringify(d));" "$doc" "$file.json"
  if node "$tools/validate.js" "$file.json" >"$file.out" 2>&1; then
    fail "the validator accepted a copy with $name"
  fi
  echo "openapi_valid: a copy with $name is refused: $(head -c 300 "$file.out")"
}
broken "a dangling \$ref" "d.paths['/healthz'].get.responses['200'].content['application/json'].schema = {\$ref: '#/components/schemas/Nope'}"
broken "a misspelt status" "d.paths['/healthz'].get.responses['20x'] = {description: 'x'}"
echo "openapi_valid: ok"
