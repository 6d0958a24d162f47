#!/usr/bin/env bash
# shellcheck disable=SC2162  # "run read ..." runs `evs read`, not the read builtin
# End-to-end test of the evs command-line tool: runs the real binary against a fresh data folder
# and checks what it prints and how it exits.
#
#   tests/cli_test.sh path/to/evs
set -euo pipefail

if [[ $# -ne 1 || ! -x $1 ]]; then
  echo "usage: $0 path/to/evs" >&2
  exit 2
fi
EVS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# A folder that does not exist yet: evs must create it.
export EVS_DATA=$TMP/data/nested

UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
TIME_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z'
CHECKS=0
CURRENT="(setup)"

fail() {
  {
    echo "cli_test: FAILED: $CURRENT"
    echo "  $*"
    echo "  last command: evs ${LAST_ARGS:-}"
    echo "  exit code: ${RC:-}"
    echo "  stdout: ${OUT:-}"
    echo "  stderr: ${ERR:-}"
  } >&2
  exit 1
}

step() { CURRENT=$*; }

# run ARGS...: runs evs, keeping its stdout in OUT, stderr in ERR and exit code in RC.
run() {
  LAST_ARGS="$*"
  set +e
  OUT=$("$EVS" "$@" 2>"$TMP/stderr")
  RC=$?
  set -e
  ERR=$(<"$TMP/stderr")
}

expect_rc() {
  CHECKS=$((CHECKS + 1))
  [[ $RC == "$1" ]] || fail "expected exit code $1, got $RC"
}
expect_out() {
  CHECKS=$((CHECKS + 1))
  [[ $OUT == "$1" ]] || fail "expected stdout to be exactly: $1"
}
expect_out_has() {
  CHECKS=$((CHECKS + 1))
  [[ $OUT == *"$1"* ]] || fail "expected stdout to contain: $1"
}
expect_out_matches() {
  CHECKS=$((CHECKS + 1))
  [[ $OUT =~ $1 ]] || fail "expected stdout to match the regex: $(printf '%q' "$1")"
}
expect_err_has() {
  CHECKS=$((CHECKS + 1))
  [[ $ERR == *"$1"* ]] || fail "expected stderr to contain: $1"
}
expect_err_empty() {
  CHECKS=$((CHECKS + 1))
  [[ -z $ERR ]] || fail "expected nothing on stderr"
}
expect_lines() {
  CHECKS=$((CHECKS + 1))
  local n=0
  [[ -n $OUT ]] && n=$(printf '%s\n' "$OUT" | wc -l)
  [[ $n == "$1" ]] || fail "expected $1 lines on stdout, got $n"
}
# Line N (1-based) of stdout.
line() { printf '%s\n' "$OUT" | sed -n "${1}p"; }
# Checks that stdout is one JSON document, when jq is there to tell.
expect_json() {
  CHECKS=$((CHECKS + 1))
  if command -v jq >/dev/null; then
    printf '%s' "$OUT" | jq -e . >/dev/null 2>&1 || fail "stdout is not one valid JSON document"
  fi
}

# --- help and usage errors ---------------------------------------------------------------------

step "evs --help lists the commands"
run --help
expect_rc 0
for command in cart append streams read log --data --json; do expect_out_has "$command"; done

for command in "cart" "cart open" "cart add" "cart remove" "cart checkout" "cart show" "append" \
  "streams" "read" "log" "snapshots" "snapshots list" "snapshots drop"; do
  step "evs $command --help"
  # shellcheck disable=SC2086  # split the command into its words
  run $command --help
  expect_rc 0
  expect_out_has "Usage: evs $command"
done
run cart add --help
expect_out_has "--quantity"
expect_out_has "--price"
run append --help
expect_out_has "--expected"
expect_out_has "--metadata"

step "usage errors exit 1 with a message on stderr"
run
expect_rc 1
expect_err_has "evs: error:"
run frobnicate
expect_rc 1
expect_err_has "evs: error:"
run streams --no-such-option
expect_rc 1
expect_err_has "--no-such-option"
run cart add
expect_rc 1
expect_err_has "evs: error:"
run read
expect_rc 1
[[ ! -e $EVS_DATA ]] || fail "a usage error created the data folder"

# --- the cart ----------------------------------------------------------------------------------

step "cart open prints a new cart id and creates the data folder"
run cart open
expect_rc 0
expect_out_matches "$UUID_RE"
CART=$OUT
[[ -f $EVS_DATA/log/00000001.log && ! -e $EVS_DATA/events.sqlite ]] ||
  fail "a new data folder did not get the log engine at $EVS_DATA/log"
run cart open
expect_rc 0
[[ $OUT != "$CART" ]] || fail "two carts got the same id"
OTHER_CART=$OUT

step "cart add prints the cart"
run cart add "$CART" apple --quantity 2 --price 150
expect_rc 0
expect_err_empty
expect_out_has "status: open"
expect_out_matches $'\napple +2 +1\.50 +3\.00\n'
expect_out_has "total: 3.00"

step "cart add without a price keeps the price of an item in the cart"
run cart add "$CART" apple
expect_rc 0
expect_out_matches $'\napple +3 +1\.50 +4\.50\n'

step "cart add -q/-p short options, a UTF-8 name and a name with spaces"
run cart add "$CART" "crème brûlée" -q 1 -p 1999
expect_rc 0
run cart add "$CART" "free sample"
expect_rc 0

step "cart show: status, items with quantity, unit price and line total, total"
run cart show "$CART"
expect_rc 0
expect_out_has "cart $CART"
expect_out_has "status: open"
expect_out_has "version: 5"
expect_out_matches $'\nitem +quantity +unit price +line total\n'
expect_out_matches $'\napple +3 +1\.50 +4\.50\n'
expect_out_matches $'\ncrème brûlée +1 +19\.99 +19\.99\n'
expect_out_matches $'\nfree sample +1 +0\.00 +0\.00\n'
expect_out_has "total: 24.49"

step "cart show --json prints cart.ToJson()"
run --json cart show "$CART"
expect_rc 0
expect_json
expect_out "{\"cart_id\":\"$CART\",\"currency\":\"USD\",\"items\":[{\"line_total_cents\":450,\"name\":\"apple\",\"quantity\":3,\"unit_price_cents\":150},{\"line_total_cents\":1999,\"name\":\"crème brûlée\",\"quantity\":1,\"unit_price_cents\":1999},{\"line_total_cents\":0,\"name\":\"free sample\",\"quantity\":1,\"unit_price_cents\":0}],\"status\":\"open\",\"total_cents\":2449,\"version\":5}"

step "--json may also follow the command, and ids are accepted in upper case"
run cart show "${CART^^}" --json
expect_rc 0
expect_out_has "\"cart_id\":\"$CART\""

step "cart remove"
run cart remove "$CART" apple --quantity 2
expect_rc 0
expect_out_matches $'\napple +1 +1\.50 +1\.50\n'
run cart remove "$CART" "free sample"
expect_rc 0
[[ $OUT != *"free sample"* ]] || fail "a removed item is still shown"
expect_out_has "total: 21.49"

step "domain rules exit 1 with the rule on stderr"
run cart remove "$CART" apple --quantity 5
expect_rc 1
expect_err_has "evs: error: cannot remove 5 of 'apple': the cart has 1"
[[ -z $OUT ]] || fail "a refused command printed on stdout"
run cart add "$CART" apple --price 99
expect_rc 1
expect_err_has "remove it first to change its price"
run cart add "$CART" fig --price 99 --currency EUR
expect_rc 1
expect_err_has "is priced in USD, not EUR"
run cart add "$CART" fig --price 99 --currency euro
expect_rc 1
expect_err_has "not an ISO 4217 code"
run cart add "$CART" pear --quantity 0
expect_rc 1
expect_err_has "quantity must be at least 1"
run cart add "$CART" pear --price -1
expect_rc 1
expect_err_has "unit price"
run cart add "$CART" "$(printf 'bad\xff')"
expect_rc 1
expect_err_has "not valid UTF-8"
run cart checkout "$OTHER_CART"
expect_rc 1
expect_err_has "empty cart cannot be checked out"
run cart add "$CART" pear --quantity many
expect_rc 1
expect_err_has "evs: error:"

step "cart checkout, then the cart cannot change"
run cart checkout "$CART"
expect_rc 0
expect_out_has "status: checked_out"
run --json cart checkout "$CART"
expect_rc 1
expect_err_has '"code":"domain_rule"'
run cart add "$CART" pear
expect_rc 1
expect_err_has "checked out"
run cart show "$CART" --json
expect_out_has '"status":"checked_out"'
expect_out_has '"version":8'

step "cart ids must be UUIDs; unknown carts are not found"
run cart show not-a-uuid
expect_rc 1
expect_err_has "'not-a-uuid' is not a cart id"
run cart add not-a-uuid apple
expect_rc 1
expect_err_has "not a cart id"
MISSING=00000000-0000-4000-8000-000000000000
for command in show checkout; do
  run cart $command $MISSING
  expect_rc 1
  expect_err_has "evs: error: cart '$MISSING' not found"
done
run cart add $MISSING apple
expect_rc 1
expect_err_has "cart '$MISSING' not found"
run --json cart show $MISSING
expect_rc 1
expect_err_has '{"error":{"code":"not_found","message":"cart '"'$MISSING'"' not found"}}'

step "commands that run side by side wait for the store and all succeed"
run cart open
PARALLEL_CART=$OUT
pids=()
for _ in 1 2 3 4 5; do
  "$EVS" cart add "$PARALLEL_CART" plum -p 10 >/dev/null 2>>"$TMP/parallel.err" &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || { ERR=$(<"$TMP/parallel.err"); fail "a parallel cart add failed"; }
done
run cart show "$PARALLEL_CART"
expect_out_matches $'\nplum +5 +0\.10 +0\.50\n'

# --- append ------------------------------------------------------------------------------------

step "append prints first/last version and position"
run log --json
HEAD=$(printf '%s\n' "$OUT" | grep -c '"position"')
run append orders-1 --type OrderPlaced --data '{"sku": "a-1",
  "qty": [1, 2]}' --metadata '{"correlation_id":"c-1"}'
expect_rc 0
expect_out "appended to stream 'orders-1': first_version=1 last_version=1 first_position=$((HEAD + 1)) last_position=$((HEAD + 1))"

step "append --json"
run --json append orders-1 --type OrderShipped --data '"by sea"' --expected 1
expect_rc 0
expect_json
expect_out "{\"first_position\":$((HEAD + 2)),\"first_version\":2,\"last_position\":$((HEAD + 2)),\"last_version\":2}"

step "append --expected: no-stream, exists, a version"
run append orders-2 --type OrderPlaced --data '{}' --expected no-stream
expect_rc 0
run append orders-2 --type OrderPaid --data '{}' --expected exists
expect_rc 0
run append orders-2 --type OrderShipped --data '{}' --expected 2
expect_rc 0
expect_out_has "first_version=3"

step "a version conflict exits 3 and names the expected and actual version"
run append orders-1 --type OrderShipped --data '{}' --expected 1
expect_rc 3
expect_err_has "evs: error:"
expect_err_has "expected version 1"
expect_err_has "actual version 2"
[[ -z $OUT ]] || fail "a conflict printed on stdout"
run append orders-1 --type OrderPlaced --data '{}' --expected no-stream
expect_rc 3
expect_err_has "expected no-stream, actual version 2"
run append orders-9 --type OrderPlaced --data '{}' --expected exists
expect_rc 3
expect_err_has "actual version 0"
run --json append orders-1 --type OrderShipped --data '{}' --expected 5
expect_rc 3
expect_err_has '"code":"wrong_expected_version"'
expect_err_has '"expected":"5"'
expect_err_has '"actual":2'

step "append rejects bad input with exit 1"
run append orders-1 --type T --data '{}' --expected sometimes
expect_rc 1
expect_err_has "--expected 'sometimes' is not an expected version"
run append orders-1 --type T --data '{}' --expected -3
expect_rc 1
expect_err_has "is not an expected version"
run append orders-1 --type T --data '{"unterminated": '
expect_rc 1
expect_err_has "--data is not valid JSON"
run append orders-1 --type T --data '{}' --metadata 'nope'
expect_rc 1
expect_err_has "--metadata is not valid JSON"
run append orders-1 --type T --data '{}' --id 1234
expect_rc 1
expect_err_has "--id '1234' is not a UUID"
run append orders-1 --data '{}'
expect_rc 1
expect_err_has "--type"
run append "" --type T --data '{}'
expect_rc 1
expect_err_has "stream id is empty"
run append orders-1 --type "" --data '{}'
expect_rc 1
expect_err_has "type is empty"

step "append with the same --id is an idempotent retry"
EVENT_ID=11111111-2222-4333-8444-555555555555
run append retried --type T --data '{"n":1}' --id $EVENT_ID
expect_rc 0
FIRST=$OUT
run append retried --type T --data '{"n":1}' --id $EVENT_ID
expect_rc 0
expect_out "$FIRST"
run read retried --json
expect_out_has "\"id\":\"$EVENT_ID\""
expect_lines 3 # "[", one event, "]"

# --- read --------------------------------------------------------------------------------------

step "read prints one line per event: version, position, type, time, data"
run read orders-1
expect_rc 0
expect_lines 2
[[ $(line 1) =~ ^version=1\ position=$((HEAD + 1))\ type=OrderPlaced\ time=$TIME_RE\ data=\{\"qty\":\[1,2\],\"sku\":\"a-1\"\}$ ]] ||
  fail "unexpected first line: $(line 1)"
[[ $(line 2) =~ ^version=2\ position=$((HEAD + 2))\ type=OrderShipped\ time=$TIME_RE\ data=\"by\ sea\"$ ]] ||
  fail "unexpected second line: $(line 2)"

step "read --json prints every field, data and metadata as JSON values"
run --json read orders-1
expect_rc 0
expect_json
expect_lines 4
[[ $(line 2) =~ ^\{\"data\":\{\"qty\":\[1,2\],\"sku\":\"a-1\"\},\"id\":\"[0-9a-f-]{36}\",\"metadata\":\{\"correlation_id\":\"c-1\"\},\"position\":$((HEAD + 1)),\"recorded_at\":\"$TIME_RE\",\"stream_id\":\"orders-1\",\"type\":\"OrderPlaced\",\"version\":1\},$ ]] ||
  fail "unexpected first event: $(line 2)"
[[ $(line 3) =~ \"data\":\"by\ sea\" ]] || fail "unexpected second event: $(line 3)"
if command -v jq >/dev/null; then
  [[ $(printf '%s' "$OUT" | jq -r '.[0].recorded_at') =~ ^$TIME_RE$ ]] || fail "bad recorded_at"
  [[ $(printf '%s' "$OUT" | jq -r '.[1].metadata | type') == object ]] || fail "bad metadata"
  [[ $(printf '%s' "$OUT" | jq -r '[.[].version] | join(",")') == 1,2 ]] || fail "bad versions"
fi

step "read --backward, --from, --limit"
run read orders-2 --backward
expect_lines 3
[[ $(line 1) == version=3\ * && $(line 3) == version=1\ * ]] || fail "not newest first"
run read orders-2 --from 2
expect_lines 2
[[ $(line 1) == version=2\ * ]] || fail "--from 2 did not start at version 2"
run read orders-2 --from 2 --backward
expect_lines 2
[[ $(line 1) == version=2\ * && $(line 2) == version=1\ * ]] || fail "backward --from 2"
run read orders-2 --limit 2
expect_lines 2
[[ $(line 2) == version=2\ * ]] || fail "--limit 2"
run read orders-2 --backward --limit 1
expect_lines 1
[[ $(line 1) == version=3\ * ]] || fail "--backward --limit 1"
run read orders-2 --from 9
expect_rc 0
expect_out "(no events)"
run --json read orders-2 --from 9
expect_rc 0
expect_out "[]"

step "read: errors"
run read no-such-stream
expect_rc 1
expect_err_has "evs: error: stream 'no-such-stream' not found"
run read orders-2 --limit 0
expect_rc 1
expect_err_has "--limit must be at least 1"
run read orders-2 --from -1
expect_rc 1
expect_err_has "--from must be 0 or more"

# --- streams -----------------------------------------------------------------------------------

step "streams lists every stream with its version"
run streams
expect_rc 0
expect_lines 6
expect_out_has "stream=cart-$CART version=8"
expect_out_has "stream=orders-1 version=2"
expect_out_has "stream=orders-2 version=3"
expect_out_has "stream=retried version=1"
run --json streams
expect_json
expect_out_has '{"stream_id":"orders-2","version":3}'
expect_lines 8

step "streams --after and --limit"
run streams --after orders-1
expect_out $'stream=orders-2 version=3\nstream=retried version=1'
run streams --after orders-1 --limit 1
expect_out "stream=orders-2 version=3"
run streams --after zzz
expect_out "(no streams)"
run --json streams --after zzz
expect_out "[]"

# --- log ---------------------------------------------------------------------------------------

step "log prints the global log in position order, with stream ids"
run log
expect_rc 0
TOTAL=$(printf '%s\n' "$OUT" | wc -l)
[[ $TOTAL == $((HEAD + 6)) ]] || fail "expected $((HEAD + 6)) events in the log, got $TOTAL"
[[ $(line 1) =~ ^stream=cart-$CART\ version=1\ position=1\ type=CartOpened\ time=$TIME_RE\ data=\{\}$ ]] ||
  fail "unexpected first line: $(line 1)"
printf '%s\n' "$OUT" | sed -E 's/.* position=([0-9]+) .*/\1/' >"$TMP/positions"
seq 1 "$TOTAL" | cmp -s - "$TMP/positions" || fail "positions are not 1..$TOTAL in order"

step "log --from and --limit"
run log --from "$HEAD" --limit 2
expect_lines 2
[[ $(line 1) == "stream=orders-1 version=1 position=$((HEAD + 1)) "* ]] || fail "--from $HEAD"
run --json log --from $((HEAD + 5))
expect_json
expect_lines 3
expect_out_has '"stream_id":"retried"'
run log --from 100000
expect_out "(no events)"
run log --limit -1
expect_rc 1
expect_err_has "--limit must be at least 1"

# --- the data folder ---------------------------------------------------------------------------

step "--data DIR before the command, --data-dir anywhere, ./evs-data by default"
run --data "$TMP/other" append s --type T --data '{}'
expect_rc 0
[[ -d $TMP/other/log ]] || fail "--data did not pick the folder"
run append s --type T --data '{}' --data-dir "$TMP/other"
expect_rc 0
expect_out_has "first_version=2"
run streams --data "$TMP/other"
expect_out "stream=s version=2"
mkdir "$TMP/cwd"
(cd "$TMP/cwd" && unset EVS_DATA && "$EVS" cart open >/dev/null) || fail "cart open in ./evs-data failed"
[[ -d $TMP/cwd/evs-data/log ]] || fail "the default data folder is not ./evs-data"

step "a data folder that cannot be made is an error"
touch "$TMP/a-file"
run --data "$TMP/a-file" streams
expect_rc 1
expect_err_has "evs: error:"
expect_err_has "$TMP/a-file"

# --- paging past one page (needs the sqlite3 shell to seed many events quickly) ----------------

if command -v sqlite3 >/dev/null; then
  step "read, log and streams page through more than one page"
  # Seeded in a SQLite store, then migrated: the pages are read from the log engine.
  export EVS_DATA=$TMP/big
  run --store sqlite append seed --type T --data '{}'
  expect_rc 0
  sqlite3 "$EVS_DATA/events.sqlite" <<'SQL'
UPDATE events SET recorded_at_us = 1700000000000000 WHERE position = 1;
INSERT INTO streams(stream_no, stream_id) VALUES (2, 'big');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
INSERT INTO events(position, stream_no, version, event_id, type, data, metadata, recorded_at_us)
SELECT i + 1, 2, i, printf('00000000-0000-4000-8000-%012x', i), 'T', printf('{"i":%d}', i),
       '{}', 1700000000000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
INSERT INTO streams(stream_no, stream_id) SELECT 2 + i, printf('many-%04d', i) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
INSERT INTO events(position, stream_no, version, event_id, type, data, metadata, recorded_at_us)
SELECT 2501 + i, 2 + i, 1, printf('00000000-0000-4000-9000-%012x', i), 'T',
       '{}', '{}', 1700000000002500 FROM n;
SQL
  run migrate --to log --quiet
  expect_rc 0
  run read big
  expect_rc 0
  expect_lines 2500
  [[ $(line 2500) == "version=2500 position=2501 type=T time=2023-11-14T22:13:20.002500Z data={\"i\":2500}" ]] ||
    fail "unexpected last line: $(line 2500)"
  run read big --backward
  expect_lines 2500
  [[ $(line 1) == version=2500\ * && $(line 2500) == version=1\ * ]] || fail "backward paging"
  run read big --from 1000 --limit 1500
  expect_lines 1500
  [[ $(line 1500) == version=2499\ * ]] || fail "forward paging with a limit"
  run --json read big
  expect_json
  expect_lines 2502
  run log
  expect_lines 4001
  run log --from 10 --limit 2000
  expect_lines 2000
  [[ $(line 2000) == *" position=2010 "* ]] || fail "log paging with a limit"
  run streams
  expect_lines 1502
  run streams --after many-0100 --limit 1200
  expect_lines 1200
  [[ $(line 1200) == "stream=many-1300 version=1" ]] || fail "streams paging: $(line 1200)"
  step "the seeded stream takes appends at the right version"
  run append big --type T --data '{}' --expected 2500
  expect_rc 0
  expect_out_has "first_version=2501 last_version=2501 first_position=4002"
else
  echo "cli_test: sqlite3 shell not found; skipping the paging checks" >&2
fi

# --- snapshots (the sqlite3 shell writes them as the library would) ------------------------------

# Lists and drops the snapshots of a store that has none.
expect_no_snapshots() {
  run snapshots list
  expect_rc 0
  expect_out "(no snapshots)"
  run snapshots list --json
  expect_rc 0
  expect_out "[]"
  run snapshots drop --all
  expect_rc 0
  expect_out "dropped 0 snapshots"
}

step "snapshots list and drop: nothing there, and nothing created"
export EVS_DATA=$TMP/snap
expect_no_snapshots
[[ ! -e $EVS_DATA ]] || fail "listing or dropping snapshots made $EVS_DATA"
run snapshots drop
expect_rc 1
expect_err_has "--all to drop every snapshot"
run snapshots drop s --all
expect_rc 1
expect_err_has "not both"
run snapshots
expect_rc 1

if command -v sqlite3 >/dev/null; then
  step "snapshots list shows stream, version, schema version, state bytes and time taken"
  run cart open
  expect_rc 0
  SNAP_CART=$OUT
  # The file and table as OpenSqliteSnapshotStore makes them (src/snapshot/sqlite_snapshot_store.cc).
  sqlite3 "$EVS_DATA/events.sqlite-snapshots" <<'SQL'
CREATE TABLE snapshots (
  stream_id      TEXT PRIMARY KEY,
  version        INTEGER NOT NULL,
  last_event_id  TEXT    NOT NULL,
  schema_version INTEGER NOT NULL,
  state          TEXT    NOT NULL,
  taken_at_us    INTEGER NOT NULL
);
INSERT INTO snapshots VALUES
  ('cart-b', 12, '00000000-0000-4000-8000-000000000012', 2, '{"items":[1,2]}', 1764100001000000),
  ('cart-a', 3, '00000000-0000-4000-8000-000000000003', 1, '{}', 1764100000000000),
  ('order-1', 7, '00000000-0000-4000-8000-000000000007', 1, '[1]', 1764100002500000);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)
INSERT INTO snapshots SELECT printf('many-%03d', i), i, '00000000-0000-4000-8000-000000000001',
  1, '{}', 1764100000000000 FROM n;
SQL
  run snapshots list cart
  expect_rc 0
  expect_out "stream=cart-a version=3 schema_version=1 state_bytes=2 taken_at=2025-11-25T19:46:40.000000Z
stream=cart-b version=12 schema_version=2 state_bytes=15 taken_at=2025-11-25T19:46:41.000000Z"
  run snapshots list order --json
  expect_rc 0
  expect_json
  expect_out_has '{"last_event_id":"00000000-0000-4000-8000-000000000007","schema_version":1,"state_bytes":3,"stream_id":"order-1","taken_at":"2025-11-25T19:46:42.500000Z","version":7}'
  step "snapshots list pages through more than one page"
  run snapshots list
  expect_rc 0
  expect_lines 253
  [[ $(line 253) == "stream=order-1 version=7 "* ]] || fail "last line: $(line 253)"

  step "snapshots drop one, then all; a damaged snapshot is named and can be dropped"
  run snapshots drop cart-a
  expect_rc 0
  expect_out "dropped the snapshot of 'cart-a'"
  run snapshots drop cart-a --json
  expect_rc 0
  expect_out '{"dropped":0,"stream_id":"cart-a"}'
  run snapshots list cart
  expect_out_has "stream=cart-b version=12"
  expect_lines 1
  sqlite3 "$EVS_DATA/events.sqlite-snapshots" \
    "INSERT INTO snapshots VALUES ('cart-x', 1, 'not-a-uuid', 1, '{}', 0)"
  run snapshots list cart
  expect_rc 1
  expect_err_has "the snapshot of 'cart-x' is damaged"
  run snapshots drop cart-x
  expect_rc 0
  run snapshots drop --all
  expect_rc 0
  expect_out "dropped 252 snapshots"
  run snapshots list
  expect_out "(no snapshots)"
  run cart show "$SNAP_CART"  # the store is untouched
  expect_rc 0
else
  echo "cli_test: sqlite3 shell not found; skipping the snapshot listing checks" >&2
fi

# --- the change feed's commands ------------------------------------------------------------------

step "subscriptions, parked and projections rebuild"
export EVS_DATA=$TMP/feed
run cart open
expect_rc 0
FEED_CART=$OUT
run cart add "$FEED_CART" apple --quantity 2 --price 50
expect_rc 0
run subscriptions
expect_rc 0
expect_out_has "no subscriptions"
run projections rebuild nope
expect_rc 1
expect_err_has "unknown projection 'nope'"
run projections rebuild cart_summary
expect_rc 0
expect_out_has "rebuilt cart_summary (projection:cart_summary_g2)"
run subscriptions
expect_rc 0
expect_out "projection:cart_summary_g2 checkpoint=2 head=2 lag=0 parked=0"
run --json subscriptions
expect_rc 0
expect_json
expect_out_has '"name":"projection:cart_summary_g2"'
run parked
expect_rc 0
expect_out_has "no parked events"
run parked --retry 7
expect_rc 1
expect_err_has "no parked event with id 7"

step "log --follow prints events as they are committed, beside a writer"
export EVS_DATA=$TMP/follow
run append first --type T --data '{"n":1}'
expect_rc 0
timeout 20 "$EVS" log --follow > "$TMP/follow.out" 2>&1 &
FOLLOW_PID=$!
for _ in $(seq 1 100); do  # the first event is printed: the follower is now waiting live
  [[ $(wc -l < "$TMP/follow.out") -ge 1 ]] && break
  sleep 0.05
done
run append second --type T --data '{"n":2}'
expect_rc 0
for _ in $(seq 1 100); do
  [[ $(wc -l < "$TMP/follow.out") -ge 2 ]] && break
  sleep 0.05
done
kill "$FOLLOW_PID" 2>/dev/null || true
wait "$FOLLOW_PID" 2>/dev/null || true
[[ $(sed -n 1p "$TMP/follow.out") == "stream=first version=1 position=1 "* ]] ||
  fail "follow: first line: $(sed -n 1p "$TMP/follow.out")"
[[ $(sed -n 2p "$TMP/follow.out") == "stream=second version=1 position=2 "* ]] ||
  fail "follow: second line: $(sed -n 2p "$TMP/follow.out")"
CHECKS=$((CHECKS + 2))
run log --follow --limit 3
expect_rc 1
expect_err_has "--follow and --limit"

step "archive --once, archive status, verify, replay --print / --restore / --into"
export EVS_DATA=$TMP/archived
unset EVS_ARCHIVE
for i in 1 2 3 4 5; do
  run append "s$((i % 2))" --type T --data "{\"n\": $i}"
  expect_rc 0
done
run archive --once
expect_rc 1
expect_err_has "no archive given"
run archive --once --archive "$TMP/arch" --segment-events 2
expect_rc 0
expect_out_has "archived up to position 5 (3 segments written"
[[ -f $TMP/arch/segments/00000000000000000001-00000000000000000002.jsonl.zst ]] ||
  fail "no first segment in $TMP/arch/segments"
CHECKS=$((CHECKS + 1))
# A segment is plain zstd-compressed JSON lines: header, events, trailer.
if command -v zstdcat >/dev/null && command -v jq >/dev/null; then
  READ_BACK=$(zstdcat "$TMP/arch/segments/00000000000000000003-00000000000000000004.jsonl.zst" |
    jq -c 'select(.position) | [.position, .stream_id, .data.n]' | tr -d '\n')
  [[ $READ_BACK == '[3,"s1",3][4,"s0",4]' ]] || fail "zstdcat | jq does not read the segment"
  CHECKS=$((CHECKS + 1))
fi
export EVS_ARCHIVE=$TMP/arch
run archive status --json
expect_rc 0
expect_out_has '{"archive":"'"$TMP"'/arch","archived_up_to":5,"bytes":'
expect_out_has '"head":5,"lag":0,"segments":3}'
run append s9 --type T --data '{}'
run archive status
expect_out_has "lag 1 events"
run verify
expect_rc 0
expect_out_has "compared 5 events held by both"
expect_out_has "verify: OK"
run replay --print --from 2 --to 3
expect_rc 0
expect_lines 2
expect_out_has '"position":2'
expect_err_has "replay: 2 events (positions 2..3) from 2 segments"
run replay --print --until nonsense
expect_rc 1
expect_err_has "--until 'nonsense' is not a time"
run replay --from 1
expect_rc 1
run replay --restore "$TMP/restored"
expect_rc 0
expect_out_has "restored into $TMP/restored: 5 events (positions 1..5) from 3 segments"
run --data "$TMP/restored" read s1 --json
expect_rc 0
expect_out_has '"data":{"n":3}'
run replay --restore "$TMP/restored"
expect_rc 1
expect_err_has "needs an empty folder"
run --store log replay --restore "$TMP/restored-log"
expect_rc 0
expect_out_has "restored into $TMP/restored-log: 5 events (positions 1..5) from 3 segments"
CHECKS=$((CHECKS + 1))
[[ -f $TMP/restored-log/log/00000001.log && ! -e $TMP/restored-log/events.sqlite ]] ||
  fail "the restore did not write a log store in $TMP/restored-log/log"
CHECKS=$((CHECKS + 1))
RESTORED_LOG=$("$EVS" --data "$TMP/restored" log --json)
[[ $("$EVS" --data "$TMP/restored-log" log --json) == "$RESTORED_LOG" ]] ||
  fail "the log store restored differs from the SQLite store restored"
run replay --into cart_summary
expect_rc 0
expect_out_has "replayed into cart_summary: 5 events"
run replay --into cart_summary --from 2
expect_rc 1
expect_err_has "--from must be 1"
run replay --into nope
expect_rc 1
expect_err_has "unknown projection 'nope'"

step "export --sqlite copies the log and the lifecycle into a new SQLite file"
run export --sqlite "$TMP/exported/events.sqlite" --quiet
expect_rc 0
expect_out_matches '^exported [0-9]+ events \(positions 1\.\.[0-9]+\) of [0-9]+ streams into '
EXPORTED_LOG=$("$EVS" --data "$TMP/exported" log --json)
ORIGINAL_LOG=$("$EVS" log --json)
CHECKS=$((CHECKS + 1))
[[ -n $ORIGINAL_LOG && $EXPORTED_LOG == "$ORIGINAL_LOG" ]] || fail "the exported log differs from the original"
CHECKS=$((CHECKS + 1))
[[ $(sqlite3 "$TMP/exported/events.sqlite" "SELECT count(*) FROM events") -ge 5 ]] ||
  fail "sqlite3 does not read the exported events"
run export --sqlite "$TMP/exported/events.sqlite"
expect_rc 1
expect_err_has "already exists; export writes a new file and never overwrites one"
run export --sqlite "$TMP/exported2.sqlite" --json
expect_rc 0
expect_out_has '"exported":"'"$TMP"'/exported2.sqlite"'

step "migrate --to log moves a data folder's SQLite store to the log engine, which opens by itself"
run --data "$TMP/exported" migrate --to log --quiet
expect_rc 0
expect_out_matches '^migrated [0-9]+ events \(positions 1\.\.[0-9]+\) of [0-9]+ streams into .* and checked them'
expect_out_has "commands on this data folder now open the log store"
CHECKS=$((CHECKS + 1))
[[ -f $TMP/exported/log/00000001.log ]] || fail "no log store in $TMP/exported/log"
CHECKS=$((CHECKS + 1))
[[ $("$EVS" --data "$TMP/exported" log --json) == "$ORIGINAL_LOG" ]] ||
  fail "the migrated log differs from the original"
CHECKS=$((CHECKS + 1))
[[ $("$EVS" --data "$TMP/exported" --store sqlite log --json) == "$ORIGINAL_LOG" ]] ||
  fail "the SQLite store changed in the migration"
run --data "$TMP/exported" append after-migration -t Noted --data '{}'
expect_rc 0
run --data "$TMP/exported" --store log read after-migration
expect_rc 0
expect_lines 1
run --data "$TMP/exported" migrate --to log
expect_rc 1
expect_err_has "has a log store already"
run --data "$TMP/empty-folder" migrate --to log
expect_rc 1
expect_err_has "has no SQLite store to migrate"
run --data "$TMP/exported" migrate --to sqlite
expect_rc 1
expect_err_has "evs export --sqlite FILE"

step "the first release's data folder opens as it is (SQLite) with the same commands, then migrates"
cp -r "$(cd "$(dirname "$0")" && pwd)/data/wave1" "$TMP/wave1"
WAVE1_CART=$(grep -m1 '"cart_id"' "$TMP/wave1/expected.json" | sed 's/.*"cart_id": "\([^"]*\)".*/\1/')
[[ $WAVE1_CART =~ $UUID_RE ]] || fail "no cart id in tests/data/wave1/expected.json"
run --data "$TMP/wave1" --json cart show "$WAVE1_CART"
expect_rc 0
expect_out_has '"total_cents":240'
WAVE1_CART_JSON=$OUT
WAVE1_LOG=$("$EVS" --data "$TMP/wave1" log --json)
CHECKS=$((CHECKS + 1))
[[ ! -e $TMP/wave1/log ]] || fail "opening the first release's folder made a log store in it"
run --data "$TMP/wave1" migrate --to log --quiet
expect_rc 0
CHECKS=$((CHECKS + 1))
[[ $("$EVS" --data "$TMP/wave1" log --json) == "$WAVE1_LOG" ]] ||
  fail "the first release's log differs once migrated"
run --data "$TMP/wave1" --json cart show "$WAVE1_CART"
expect_rc 0
expect_out "$WAVE1_CART_JSON"

step "verify names a damaged segment and exits 1"
printf 'garbage' > "$TMP/arch/segments/00000000000000000003-00000000000000000004.jsonl.zst"
run verify
expect_rc 1
expect_out_has "PROBLEM: archive: archive object 'segments/00000000000000000003-00000000000000000004.jsonl.zst': not a zstd segment"
expect_out_has "verify: FAILED with 1 problems"
run replay --print
expect_rc 1
expect_err_has "segments/00000000000000000003-00000000000000000004.jsonl.zst"
rm "$TMP/arch/segments/00000000000000000003-00000000000000000004.jsonl.zst"
run verify --json
expect_rc 1
expect_out_has '"ok":false'
expect_out_has "gap: positions 3..4 are in no segment"
unset EVS_ARCHIVE

step "cart open --customer --email, forget: the email shows, then reads [redacted], and is in no file"
export EVS_DATA=$TMP/personal
EMAIL=carol.cli-test@example.com
run cart open --customer c-carol --email "$EMAIL"
expect_rc 0
expect_out_matches "$UUID_RE"
CAROL=$OUT
run cart open --customer c-dave
expect_rc 0
run cart show "$CAROL"
expect_rc 0
expect_out_has "customer: c-carol"
expect_out_has "email: $EMAIL"
run archive --once --archive "$TMP/parch"
expect_rc 0
run forget c-carol
expect_rc 0
expect_out "forgot subject c-carol: its personal data now reads as [redacted]"
run cart show "$CAROL" --json
expect_rc 0
expect_out_has '"customer_id":"c-carol","email":"[redacted]"'
run forget c-carol --json
expect_rc 0
expect_out '{"already_forgotten":true,"forgotten":true,"subject":"c-carol"}'
# Never written in clear: not in the data folder, not in the (decompressed) archive.
CHECKS=$((CHECKS + 1))
if grep -rl "$EMAIL" "$EVS_DATA" "$TMP/parch"; then fail "the email is in a file"; fi
if command -v zstdcat >/dev/null; then
  CHECKS=$((CHECKS + 1))
  if find "$TMP/parch" -name '*.zst' -exec zstdcat {} + | grep -q "$EMAIL"; then
    fail "the email is in an archive segment"
  fi
fi
run verify --archive "$TMP/parch"
expect_rc 0
expect_out_has "verify: OK"
run forget c-nobody
expect_rc 1
expect_err_has "subject 'c-nobody' is unknown"
run forget ""
expect_rc 1
expect_err_has "the subject id is empty"
run cart open --email "$EMAIL"
expect_rc 1
expect_err_has "an email needs a customer id"
mv "$EVS_DATA/events.sqlite-keys" "$TMP/keys-aside"
run cart show "$CAROL"
expect_rc 1
expect_err_has "holds personal data sealed with keys of key store"
mv "$TMP/keys-aside" "$EVS_DATA/events.sqlite-keys"

step "stream lifecycle: metadata, deletes, scavenging"
for i in 1 2 3 4 5; do
  run append meter --type Reading --data "{\"i\":$i}"
  expect_rc 0
done
run stream meta meter --max-count 2 --max-age 30d --custom '{"owner":"ops"}'
expect_rc 0
expect_out_has "max_count: 2"
expect_out_has "max_age_seconds: 2592000"
expect_out_has 'custom: {"owner":"ops"}'
run read meter
expect_rc 0
expect_lines 2
expect_out_has '"i":4'
run --json stream meta meter --truncate-before 5
expect_rc 0
expect_json
expect_out_has '"truncate_before":5'
expect_out_has '"max_count":2'
run --json stream meta meter --clear
expect_rc 0
expect_out_has '"metadata":{}'
run stream meta meter --max-count -1
expect_rc 1
expect_err_has "max_count is -1"
run stream meta meter --max-age 3x
expect_rc 1
expect_err_has "--max-age '3x' is not a duration"
run stream meta meter --custom 'not json'
expect_rc 1
expect_err_has "must be a JSON object"
run stream meta no-such-stream
expect_rc 1
expect_err_has "stream 'no-such-stream' not found"
run stream delete meter
expect_rc 0
expect_out_has "deleted (an append starts it again"
run read meter
expect_rc 1
expect_err_has "not found"
run stream delete meter
expect_rc 1
expect_err_has "deleted already"
run append meter --type Reading --data '{"i":6}' --expected no-stream
expect_rc 0
expect_out_has "first_version=6"
run stream delete meter --hard
expect_rc 0
expect_out_has "for good"
run read meter
expect_rc 1
expect_err_has "deleted for good"
run append meter --type Reading --data '{}'
expect_rc 1
expect_err_has "deleted for good"
run --json scavenge
expect_rc 0
expect_json
expect_out_has '"events_scavenged":6'
run log
expect_rc 0
expect_out_has 'type=$scavenged'
run scavenge --server 'not a url'
expect_rc 1
run scavenge --step 0
expect_rc 1
expect_err_has "--step must be from 1"
run stream
expect_rc 1

# --- the log engine (--store log) --------------------------------------------------------------

step "--store log keeps its own store in <data>/log, and the commands work on it"
  SAVED_EVS_DATA=$EVS_DATA
  export EVS_DATA=$TMP/log-data
  LOG_ID=$(cat /proc/sys/kernel/random/uuid)
  run --store log append logged -t Noted --data '{"n":1}' --id "$LOG_ID"
  expect_rc 0
  expect_out_has "first_position=1"
  run --store log append logged -t Noted --data '{"n":1}' --id "$LOG_ID"
  expect_rc 0
  expect_out_has "first_position=1"
  run --store log append other -t Noted --data '{"n":2}'
  expect_rc 0
  expect_out_has "first_position=2"
  [[ -f $EVS_DATA/log/00000001.log && ! -e $EVS_DATA/events.sqlite ]] ||
    fail "the log store's files are not in $EVS_DATA/log"
  run --store log read logged
  expect_rc 0
  expect_lines 1
  run --store log log
  expect_rc 0
  expect_lines 2
  run --store log verify
  expect_rc 0
  expect_out_has "2 events in 2 streams"
  # Without --store the folder's engine is found: the log store.
  run log
  expect_rc 0
  expect_lines 2
  run --store sqlite log
  expect_rc 0
  expect_out_has "no events"
  # Scavenge: the hidden events become markers, the rest stays (and the store reopens).
  run --store log append gone -t Noted --data '{"n":3}'
  expect_rc 0
  run --store log stream delete gone
  expect_rc 0
  run --store log --json scavenge
  expect_rc 0
  expect_json
  expect_out_has '"events_scavenged":1'
  run --store log log
  expect_rc 0
  expect_lines 3
  expect_out_has 'type=$scavenged'
  run --store log read logged
  expect_rc 0
  expect_lines 1
  run --store log scavenge
  expect_rc 0
  expect_out_has "scavenged 0 events"
  run --store log verify
  expect_rc 0
  export EVS_DATA=$SAVED_EVS_DATA

if [[ ${EVS_TEST_AWS:-} == 1 ]]; then
  step "the same commands on DynamoDB (the dynalite stand-in)"
  TABLE="cli-$$-$RANDOM"
  run aws init --table "$TABLE"
  expect_rc 0
  expect_out_has "table $TABLE is ready"
  run aws init --table "$TABLE"  # idempotent
  expect_rc 0
  export EVS_STORE="dynamodb:$TABLE"
  run cart open
  expect_rc 0
  CART=$OUT
  run cart add "$CART" pear --quantity 2 --price 120
  expect_rc 0
  run cart show "$CART" --json
  expect_rc 0
  expect_out_has '"version":2'
  run append "s-$TABLE" --type T --data '{"x":1}' --expected no-stream
  expect_rc 0
  run append "s-$TABLE" --type T --data '{"x":2}' --expected no-stream
  expect_rc 3
  run read "s-$TABLE" --json
  expect_rc 0
  expect_out_has '"data":{"x":1}'
  run log
  expect_rc 1
  expect_err_has "DynamoDB has no global log"
  run --store nosuch cart open
  expect_rc 1
  expect_err_has "--store 'nosuch' is not a store"
  expect_no_snapshots  # no snapshot table yet
  run aws init --table "$TABLE" --snapshots
  expect_rc 0
  expect_out_has "snapshot table $TABLE-snapshots is ready"
  expect_no_snapshots
  unset EVS_STORE

  step "change capture: a DynamoDB Streams event relayed to Kinesis, consumed into the read model and an archive"
  KINESIS="cli-$$-$RANDOM"
  run aws init --kinesis "$KINESIS" --shards 2
  expect_rc 0
  expect_out_has "Kinesis stream $KINESIS is ready (2 shards)"
  run aws init
  expect_rc 1
  expect_err_has "nothing to create"
  run relay --kinesis "$KINESIS" <"$(dirname "$0")/data/dynamodb_stream_event.json"
  expect_rc 0
  expect_out "published 2 commits (3 events), ignored 1, failed 0"
  run relay --kinesis "$KINESIS" <<<"not json"
  expect_rc 1
  expect_err_has "stdin is not JSON"
  run consume --kinesis "$KINESIS" --once --into cart_summary --archive "$TMP/karch" \
    --segment-events 2
  expect_rc 0
  expect_lines 3
  expect_out_has '"type":"CartOpened"'
  expect_err_has "(event log, projection cart_summary, archiver) until every shard is read to its tip"
  run consume --kinesis "$KINESIS" --once --quiet --into cart_summary --archive "$TMP/karch"
  expect_rc 0
  expect_out ""
  run replay --archive "$TMP/karch" --print
  expect_rc 0
  expect_lines 3
  expect_out_has '"position":3,"recorded_at":"2025-11-25T19:46:41.000000Z","stream_id":"cart-5f0c2a4e-1b7d-4c39-9a61-0d8e4b2f7c13","type":"ItemAdded","version":3'
  run verify --archive "$TMP/karch"
  expect_rc 0
  expect_out_has "checked on its own, each stream once and in order"
  expect_out_has "verify: OK"
  run consume --kinesis "$KINESIS" --quiet
  expect_rc 1
  expect_err_has "--quiet leaves nothing to do"
  run consume --kinesis "no-such-$KINESIS" --once
  expect_rc 1
  expect_err_has "no-such-$KINESIS"

  step "replay --to-kinesis: carts archived on S3, re-published to Kinesis, consumed into the read model built live; interrupted and resumed"
  export EVS_DATA=$TMP/replay-source
  for c in 1 2 3 4; do
    run cart open
    expect_rc 0
    REPLAY_CART=$OUT
    for i in $(seq 1 $((c + 2))); do
      run cart add "$REPLAY_CART" "item-$((i % 3))" --quantity "$i" --price 100
      expect_rc 0
    done
  done
  run cart checkout "$REPLAY_CART"
  expect_rc 0
  run projections rebuild cart_summary  # the read model built live from the store
  expect_rc 0
  REPLAY_ARCHIVE="s3://evs-test/cli-replay-$$-$RANDOM"
  run archive --once --archive "$REPLAY_ARCHIVE" --segment-events 5
  expect_rc 0
  expect_out_has "archived up to position 23"
  KINESIS_REPLAY="cli-replay-$$-$RANDOM"
  run aws init --kinesis "$KINESIS_REPLAY" --shards 2
  expect_rc 0
  run replay --archive "$REPLAY_ARCHIVE" --to-kinesis "$KINESIS_REPLAY" --resume
  expect_rc 1
  expect_err_has "--resume: there is no replay state"
  run replay --archive "$REPLAY_ARCHIVE" --to-kinesis "$KINESIS_REPLAY" --max-events 10
  expect_rc 4
  expect_out_has "published 10 events"
  expect_out_has "stopped (max_events) after position 10; rerun the same command (or add --resume) to continue from position 11"
  expect_err_has "replaying positions 1..23 of $REPLAY_ARCHIVE"
  expect_err_has "to Kinesis stream $KINESIS_REPLAY"
  run replay --archive "$REPLAY_ARCHIVE" --to-kinesis "$KINESIS_REPLAY" --to 20
  expect_rc 1
  expect_err_has "is of another replay"
  run replay --archive "$REPLAY_ARCHIVE" --to-kinesis "$KINESIS_REPLAY" --resume --json
  expect_rc 0
  expect_json
  expect_out_has '"done":true'
  expect_out_has '"events":13'
  expect_out_has '"resumed_from":11'
  expect_err_has "resuming after position 10"
  run replay --archive "$REPLAY_ARCHIVE" --to-kinesis "$KINESIS_REPLAY"
  expect_rc 0
  expect_out_has "already finished (published through position 23"
  run replay --archive "$REPLAY_ARCHIVE" --to-kinesis "no-such-$KINESIS_REPLAY" --quiet
  expect_rc 1
  expect_err_has "no-such-$KINESIS_REPLAY"
  run replay --archive "$REPLAY_ARCHIVE" --print --resume
  expect_rc 1
  expect_err_has "go with --to-kinesis"
  export EVS_DATA=$TMP/replay-consumer
  run consume --kinesis "$KINESIS_REPLAY" --once --quiet --into cart_summary
  expect_rc 0
  CHECKS=$((CHECKS + 1))
  read_model() {
    sqlite3 "$1" "SELECT cart_id, status, item_count, total_cents, version FROM cart_summaries ORDER BY 1;
                  SELECT cart_id, name, quantity, unit_price_cents FROM cart_lines ORDER BY 1, 2;
                  SELECT name, quantity_added, quantity_removed, times_added FROM item_totals ORDER BY 1"
  }
  LIVE_MODEL=$(read_model "$TMP/replay-source/cart_summary.sqlite")
  REPLAYED_MODEL=$(read_model "$TMP/replay-consumer/cart_summary.sqlite")
  [[ -n $LIVE_MODEL && $LIVE_MODEL == "$REPLAYED_MODEL" ]] ||
    fail "the read model consumed from the replay differs from the live one: $LIVE_MODEL vs $REPLAYED_MODEL"
  [[ $(printf '%s\n' "$LIVE_MODEL" | grep -c '|') -ge 8 ]] || fail "the read model is too small: $LIVE_MODEL"
else
  echo "cli_test: EVS_TEST_AWS is not 1: the DynamoDB part is skipped (scripts/test runs it)"
fi

echo "cli_test: all $CHECKS checks passed"
