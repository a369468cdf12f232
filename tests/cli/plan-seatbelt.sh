#!/bin/sh
# SPDX-License-Identifier: MIT
# approve, plan check, freeze/unfreeze: approvals bound to the plan hash, stale plans, the switch.
. "$2/tests/cli/plan-lib.sh"
INV=$SRC/examples/small.yaml
PLAN=$SRC/tests/fuzz/corpus/plan/sample.json

# The freeze switch.
run 0 freeze --status
has out "not frozen"
run 0 freeze --reason "storm in progress" --by carol
run 0 freeze --status
has out "by carol: storm in progress"
run 0 freeze --status --json
has out '"frozen": true'
test -f "$TMP/state/freeze.json" || { echo "FAIL: no freeze.json"; failures=$((failures + 1)); }
run 0 unfreeze
run 0 freeze --status
has out "not frozen"
run 2 freeze extra
run 0 freeze --state-dir "$TMP/other" --reason x
test -f "$TMP/other/freeze.json" || { echo "FAIL: --state-dir ignored"; failures=$((failures + 1)); }

# Approving exactly this plan.
run 0 approve "$PLAN" --by alice
has out "approved plan 932238f22530 (needs-approval, 2 hosts, 1 migrations) by alice"
test -f "$TMP/state/approvals/932238f22530a1833e92ed48d7f86b7438896fd0faa3d79422962b032266a33a.json" ||
    { echo "FAIL: no approval file"; failures=$((failures + 1)); }

# An edited plan (hash left as it was) cannot be approved and is not approved.
sed 's/"to": "kvm02"/"to": "kvm03"/' "$PLAN" >"$TMP/edited.json"
run 1 approve "$TMP/edited.json"
has err "does not match the plan's content"

# plan check: this sample was made for another inventory, so it is stale.
run 1 plan check "$PLAN" --inventory "$INV"
has out "refused: plan 932238f22530 cannot run now"
has out "the inventory changed since the plan was made"
has out "host 'kvm02' has 516096 MiB usable now, 262144 MiB when planned"
has out "VM 'db1' is on 'kvm02' now; the plan moves it from 'kvm01'"
run 1 plan check "$TMP/edited.json" --inventory "$INV" --json
has out '"result": "refused"'
has out "does not match the plan's content"

# Frozen: plan check names the freeze.
run 0 freeze --reason "network change"
run 1 plan check "$PLAN" --inventory "$INV"
has out "running this plan refused: the fleet is frozen"
run 0 unfreeze

# Bad plan files: one line per problem with FILE:LINE, exit 2.
printf '{"schema": "hvfleet.plan/v1"}\n' >"$TMP/short.json"
run 2 approve "$TMP/short.json"
has err "short.json:1: kind: (missing): a value is required"
printf '%%s\376' >"$TMP/binary.json"
run 2 plan check "$TMP/binary.json" --inventory "$INV"
has err "binary.json:1: syntax: "
has err "expected a JSON plan"
run 2 approve
run 2 plan check "$PLAN"
run 2 plan frobnicate
run 0 plan --help
has out "check"
finish
