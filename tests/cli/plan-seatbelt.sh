#!/bin/sh
# SPDX-License-Identifier: MIT
# approve, plan check, freeze/unfreeze: approvals bound to the plan hash, stale plans, the switch.
. "$2/tests/cli/plan-lib.sh"
INV=$SRC/examples/small.yaml
PLAN=$SRC/tests/fuzz/corpus/plan/sample.json

# The freeze switch.
run 1 freeze --status
has out "not frozen"
run 0 freeze --reason "storm in progress" --by carol
run 0 freeze --status
has out "by carol: storm in progress"
run 0 freeze --status --json
has out '"frozen": true'
has out "\"state_dir\": \"$TMP/state\""
test -f "$TMP/state/hvfleet.db" || { echo "FAIL: no store"; failures=$((failures + 1)); }
run 0 unfreeze
run 1 freeze --status
has out "not frozen"
run 2 freeze extra
run 0 freeze --state-dir "$TMP/other" --reason x
test -f "$TMP/other/hvfleet.db" || { echo "FAIL: --state-dir ignored"; failures=$((failures + 1)); }
run 1 freeze --status
has out "not frozen"
run 0 freeze --status --state-dir "$TMP/other"

# Approving exactly this plan.
run 0 approve "$PLAN" --by alice
has out "approved plan 932238f22530 (needs-approval, 2 hosts, 1 migrations) by alice"
# Every approval is kept; the same person twice is refused.
run 1 approve "$PLAN" --by alice
has err "already approved by 'alice'"
run 0 approve "$PLAN" --by bob
has out "2 approvals"

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

# The two-person rule: the author of a plan that needs approval cannot approve it.
USER=carol run 0 plan maintenance --inventory "$SRC/scenarios/2017-fleet.yaml" --hosts all \
    --no-compare -o "$TMP/big.json"
has out "approve it with"
run 1 approve "$TMP/big.json" --by carol
has err "was made by 'carol', who cannot approve it"
run 0 approve "$TMP/big.json" --by dave
has out "1 approval"
run 0 plan --help
has out "check"
finish
