#!/usr/bin/env bash
# The installed package, as a user meets it (run by scripts/test on the release build):
#  1. the core configures without the test, CLI, HTTP or AWS dependencies;
#  2. `cmake --install` into a temporary prefix: headers, libraries, CMake package, pkg-config;
#  3. a project outside the tree builds against it with find_package and runs (core and aws);
#  4. the same program builds with pkg-config alone and runs;
#  5. cpack makes evs_<version>_amd64.deb whose Depends names runtime libraries only; extracted
#     with dpkg-deb -x, its evs runs from there (--version, cart open).
# Usage: tests/package/package_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/evs-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "package_test: $*" >&2; exit 1; }
version=$(sed -n 's/^#define EVS_VERSION_STRING "\(.*\)"/\1/p' "$source_dir/include/evs/version.h")
[ -n "$version" ] || fail "no EVS_VERSION_STRING in include/evs/version.h"

echo "-- 1. the core alone configures without GoogleTest, CLI11, libcurl, pugixml, cpp-httplib or Boost"
cmake -S "$source_dir" -B "$work/core-only" -G Ninja -DEVS_BUILD_HTTP=OFF -DEVS_BUILD_AWS=OFF \
  -DEVS_BUILD_CLI=OFF -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_CURL=ON --no-warn-unused-cli >"$work/core-only.log" 2>&1 ||
  { cat "$work/core-only.log"; fail "the core alone does not configure"; }
if grep -Eiq 'gtest|libcurl|pugixml|httplib|boost|brotli|CLI11' "$work/core-only/build.ninja"; then
  fail "the core-only build refers to a dependency of another component"
fi
rm -rf "$work/core-only"

echo "-- 2. cmake --install"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
libdir=$(cd "$prefix" && ls -d lib*/cmake/evs | head -1 | xargs dirname | xargs dirname)
for f in include/evs/event_store.h include/evs/version.h "$libdir/libevs.a" "$libdir/libevs_aws.a" \
  "$libdir/cmake/evs/evsConfig.cmake" "$libdir/cmake/evs/evsConfigVersion.cmake" \
  "$libdir/libevs_http.a" include/evs/http/api.h "$libdir/pkgconfig/evs.pc" \
  "$libdir/pkgconfig/evs-aws.pc" "$libdir/pkgconfig/evs-http.pc" bin/evs; do
  [ -e "$prefix/$f" ] || fail "cmake --install left no $f"
done
if grep -rlE '#include "(store|common|feed|http|aws|cli|cart)/' "$prefix/include/evs" >/dev/null; then
  fail "an installed header includes an internal one: $(grep -rlE '#include "(store|common|feed|http|aws|cli|cart)/' "$prefix/include/evs")"
fi
if grep -rlE '#include <(sqlite3\.h|curl/|httplib\.h|boost/|CLI/|gtest/)' "$prefix/include/evs" >/dev/null; then
  fail "an installed header includes a library that is not part of the API: $(grep -rlE '#include <(sqlite3\.h|curl/|httplib\.h|boost/|CLI/|gtest/)' "$prefix/include/evs")"
fi
[ "$("$prefix/bin/evs" --version)" = "evs $version" ] || fail "evs --version: $("$prefix/bin/evs" --version)"

echo "-- 3. a project outside the tree: find_package(evs CONFIG REQUIRED)"
cmake -S "$here/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  >"$work/consumer.log" || { cat "$work/consumer.log"; fail "the consumer does not configure"; }
cmake --build "$work/consumer" >"$work/consumer-build.log" ||
  { cat "$work/consumer-build.log"; fail "the consumer does not build"; }
"$work/consumer/counter" "$work/data-cmake"
"$work/consumer/archive_location" "$work/objects"
"$work/consumer/hello_route"
if ldd "$work/consumer/counter" | grep -q curl; then fail "evs::evs alone linked libcurl"; fi
# A component that was not installed is refused by name, and a newer version than installed is
# not found.
refused() { # NAME FIND_PACKAGE_ARGUMENTS...: a project whose find_package must fail
  mkdir -p "$work/$1"
  printf 'cmake_minimum_required(VERSION 3.25)\nproject(x LANGUAGES CXX)\nfind_package(%s)\n' \
    "${*:2}" >"$work/$1/CMakeLists.txt"
  if cmake -S "$work/$1" -B "$work/$1/build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/$1.log" 2>&1; then
    fail "find_package(${*:2}) succeeded"
  fi
}
refused bad-component evs CONFIG REQUIRED COMPONENTS nosuch
grep -q 'no component "nosuch"' "$work/bad-component.log" ||
  { cat "$work/bad-component.log"; fail "find_package(evs COMPONENTS nosuch) did not name it"; }
refused newer-version evs 99.0 CONFIG REQUIRED

echo "-- 4. the same program with pkg-config"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
[ "$(pkg-config --modversion evs)" = "$version" ] || fail "pkg-config --modversion evs"
# shellcheck disable=SC2046
g++ -o "$work/counter-pc" "$here/consumer/counter.cc" $(pkg-config --cflags --libs evs)
"$work/counter-pc" "$work/data-pc"
# shellcheck disable=SC2046
g++ -o "$work/archive-pc" "$here/consumer/archive_location.cc" $(pkg-config --cflags --libs evs-aws)
"$work/archive-pc" "$work/objects-pc"
# shellcheck disable=SC2046
g++ -o "$work/hello-pc" "$here/consumer/hello_route.cc" $(pkg-config --cflags --libs evs-http)
"$work/hello-pc"

echo "-- 5. the Debian package"
(cd "$build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log") ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb="$work/deb/evs_${version}_amd64.deb"
[ -f "$deb" ] || fail "cpack made no $(basename "$deb"): $(ls "$work/deb")"
depends=$(dpkg-deb -f "$deb" Depends)
echo "   Depends: $depends"
case "$depends" in *-dev*) fail "the package depends on a -dev package" ;; esac
for lib in libsqlite3 libcurl libzstd libssl libstdc++; do
  echo "$depends" | grep -q "$lib" || fail "Depends lacks $lib"
done
dpkg-deb -x "$deb" "$work/extracted"
evs="$work/extracted/usr/bin/evs"
[ "$("$evs" --version)" = "evs $version" ] || fail "the packaged evs --version: $("$evs" --version)"
"$evs" --data "$work/deb-data" --json cart open >"$work/open.json"
grep -q '"cart_id"' "$work/open.json" || fail "the packaged evs cart open: $(cat "$work/open.json")"
[ -f "$work/extracted/usr/include/evs/event_store.h" ] || fail "the package has no headers"
echo "package_test: ok (evs $version)"
