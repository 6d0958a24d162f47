#!/usr/bin/env bash
# The terraform_check test (CTest): what can be checked of deploy/terraform without the AWS provider.
#   1. terraform fmt -check on every file (HashiCorp's own parser and formatter); the test fails
#      when there is no terraform binary ($TERRAFORM, default /usr/local/bin/terraform);
#   2. check.js: every reference resolves (variables, locals, resources, data sources, module
#      inputs and outputs; see check.js);
#   3. the check can fail: a copy with broken references must be refused, naming each of them.
# terraform init / validate / plan need the AWS provider, which cannot be downloaded here; see
# README.md in this folder for what only they check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TERRAFORM=${TERRAFORM:-/usr/local/bin/terraform}
export TF_CLI_CONFIG_FILE=/dev/null # fmt needs no CLI configuration; this silences its warning
export CHECKPOINT_DISABLE=1          # no version check over the network
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evs-terraform-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "terraform_check: FAILED: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node not found (scripts/setup checks for Node >= 20)"

echo "== terraform fmt -check -recursive deploy/terraform"
if [ -x "$TERRAFORM" ]; then
  version=$("$TERRAFORM" version) || fail "$TERRAFORM version failed"
  echo "${version%%$'\n'*}"
  "$TERRAFORM" fmt -check -recursive -diff "$here" ||
    fail "terraform fmt: the files above are not formatted; run: terraform fmt -recursive deploy/terraform"
  for example in "$here"/*.tfvars.example; do
    [ -e "$example" ] || continue
    "$TERRAFORM" fmt -check - <"$example" >/dev/null ||
      fail "terraform fmt: $example is not formatted (terraform fmt - < FILE shows how it should be)"
  done
  # fmt itself must be able to fail: a misformatted copy.
  mkdir "$tmp/fmt"
  printf 'variable "x" {\n  default    =   1\n}\n' >"$tmp/fmt/bad.tf"
  if "$TERRAFORM" fmt -check -recursive "$tmp/fmt" >/dev/null; then
    fail "terraform fmt -check accepted a misformatted file"
  fi
  echo "terraform fmt: ok"
else
  # Not a skip: a test that passes without checking anything would hide unformatted files. The
  # machines evs is built on ship terraform at /usr/local/bin; elsewhere set TERRAFORM.
  fail "no terraform binary at $TERRAFORM: install terraform or set TERRAFORM=/path/to/terraform"
fi

echo "== node deploy/terraform/check.js"
node "$here/check.js" "$here" || fail "check.js found problems (see above)"

echo "== check.js on a copy with broken references (must fail and name each)"
mkdir "$tmp/broken"
tar -C "$here" --exclude=.terraform --exclude='*.tfstate*' -cf - . | tar -C "$tmp/broken" -xf -
break_ref() { # FILE FROM TO
  local file=$tmp/broken/$1
  grep -qF -- "$2" "$file" || fail "negative test: '$2' is no longer in $1; update test.sh"
  FROM=$2 TO=$3 perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$file"
}
break_ref outputs.tf 'module.event_table.stream_arn' 'module.event_table.stream_arm'
break_ref functions.tf 'var.log_retention_days' 'var.log_retention_dayz'
break_ref main.tf 'name                   = local.table_name' 'table_name             = local.table_name'
break_ref streams.tf 'aws_sqs_queue.failures["relay"].arn' 'aws_sqs_queue.failure["relay"].arn'
set +e
out=$(node "$here/check.js" "$tmp/broken" 2>&1)
rc=$?
set -e
echo "$out" | grep '^FAIL' || true
[ "$rc" -eq 1 ] || fail "check.js exited $rc on the broken copy (expected 1)"
for expected in \
  'outputs.tf:[0-9]*: module.event_table.stream_arm: module "event_table"' \
  'functions.tf:[0-9]*: var.log_retention_dayz: no variable' \
  'main.tf:[0-9]*: module "event_table": argument "table_name" is not a variable' \
  'main.tf:[0-9]*: module "event_table": the required variable "name"' \
  'streams.tf:[0-9]*: aws_sqs_queue.failure\["relay"\].arn: no resource "aws_sqs_queue" "failure"'; do
  grep -q "^FAIL .*$expected" <<<"$out" || fail "check.js did not report: $expected"
done
echo "check.js refused the broken copy, naming each broken reference: ok"
echo "terraform_check: passed"
