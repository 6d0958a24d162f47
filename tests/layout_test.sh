#!/usr/bin/env bash
# The tree's dependency rules (docs/architecture.md, "Layout"), checked on the #include lines:
#  * public headers (include/evs) include only public headers and the libraries the core links
#    (no SQLite, libcurl, cpp-httplib, Boost, zlib, brotli, CLI11, GoogleTest, pugixml, simdjson, zstd, xxHash or
#    OpenSSL types in the API);
#  * the core (src/common, store, snapshot, personal, feed, archive) knows neither the AWS, HTTP,
#    Lambda or CLI components nor any application;
#  * src/aws and src/http know only the core and themselves (the library knows no cart; only the
#    programs in src/cli and src/lambda wire it in);
#  * app/ and examples/ are users of the public API (include/evs) only.
# Usage: tests/layout_test.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
problems=0
# forbid FOLDER... -- PATTERN WHY: no #include in the folders' files matches PATTERN.
forbid() {
  local folders=() pattern why hits
  while [ "$1" != "--" ]; do folders+=("$1"); shift; done
  pattern=$2 why=$3
  hits=$(grep -rnE "^#include [<\"]($pattern)" "${folders[@]}" --include='*.h' --include='*.cc' || true)
  if [ -n "$hits" ]; then
    echo "layout_test: $why:" >&2
    echo "$hits" | sed 's/^/  /' >&2
    problems=$((problems + 1))
  fi
}
core=(src/common src/store src/snapshot src/personal src/feed src/archive)
forbid include/evs -- 'sqlite3\.h|curl/|httplib\.h|boost/|brotli/|zlib\.h|CLI/|gtest/|gmock/|pugixml|simdjson|zstd|xxhash|openssl/|libpq' \
  "a public header includes a library that is not part of the API"
forbid include/evs -- '(common|store|snapshot|personal|feed|archive|aws|http|postgres|lambda|cli|cart)/' \
  "a public header includes an internal one"
forbid "${core[@]}" -- '(aws|http|postgres|lambda|cli|cart)/' "the core includes a component or the application"
forbid src/aws -- '(http|lambda|cli|cart)/' "the AWS component includes another component"
forbid src/http -- '(aws|lambda|cli|cart)/' "the HTTP component includes another component"
forbid src/postgres -- '(aws|http|lambda|cli|cart)/' "the PostgreSQL component includes another component"
forbid "${core[@]}" src/aws src/http src/postgres -- 'cart/' "the library includes the cart (it adds its routes from app/cart)"
forbid app examples -- '(common|store|snapshot|personal|feed|archive|aws|http|postgres|lambda|cli)/' \
  "an application includes evs internals instead of include/evs"
if [ "$problems" -ne 0 ]; then exit 1; fi
echo "layout_test: ok"
