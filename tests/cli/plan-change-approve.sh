#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet approve / plan check on change plans: bound to plan_hash, voided by edits, stale plans.
. "$2/tests/cli/plan-lib.sh"
INV=$SRC/scenarios/2019-fleet.yaml
CHANGE=$SRC/scenarios/2019-firewall-limit.change.yaml

run 0 plan change --inventory "$INV" --change "$CHANGE" -o "$TMP/plan.json"

# Needs approval and has none: check says no (exit 1).
run 1 plan check "$TMP/plan.json" --inventory "$INV"
has out "the plan needs an approval"

run 0 approve "$TMP/plan.json" --by alice
has out "approved change plan"
has out "by alice"
run 0 plan check "$TMP/plan.json" --inventory "$INV"
has out "approved by alice"
run 0 plan check "$TMP/plan.json" --inventory "$INV" --json
has out '"approved": true'
has out '"result": "ok"'

# A host's kernel changed since planning: stale.
sed 's/name: st13, \(.*\)kernel: "4.15"/name: st13, \1kernel: "4.4"/' "$INV" >"$TMP/inv2.yaml"
run 1 plan check "$TMP/plan.json" --inventory "$TMP/inv2.yaml"
has out "variant kernel=4.15 is on"
has out "(canary) covers"
# A target gone.
grep -v 'name: st20,' "$INV" >"$TMP/inv3.yaml"
run 1 plan check "$TMP/plan.json" --inventory "$TMP/inv3.yaml"
has out "host 'st20'"

# An edited plan voids the approval and cannot be approved.
sed 's/"bake_s": [0-9.]*/"bake_s": 1.0/' "$TMP/plan.json" >"$TMP/edited.json"
run 1 approve "$TMP/edited.json"
has err "does not match the change plan's content"
run 1 plan check "$TMP/edited.json" --inventory "$INV"
has out "does not match the plan's content"

# Frozen: may not run even when approved.
run 0 freeze --reason test
run 1 plan check "$TMP/plan.json" --inventory "$INV"
run 0 unfreeze

# Malformed plans: one FILE:LINE line per problem, exit 2.
sed 's/"wave": 2,/"wave": 7,/' "$TMP/plan.json" >"$TMP/bad.json"
run 2 approve "$TMP/bad.json"
has err "bad.json:"
has err "waves[1].wave"
printf '{"schema": "hvfleet.change-plan/v1", "change": 1}\n' >"$TMP/bad2.json"
run 2 plan check "$TMP/bad2.json" --inventory "$INV"
has err "bad2.json:1:"
printf '{"schema": "hvfleet.change-plan/v1",\n' >"$TMP/bad3.json"
run 2 approve "$TMP/bad3.json"
has err "bad3.json:2: syntax"

# Refused plans cannot be approved.
run 1 plan change --inventory "$INV" --change "$SRC/scenarios/2019-firewall-limit-as-it-happened.change.yaml" -o "$TMP/refused.json" --write-refused
run 1 approve "$TMP/refused.json"
has err "refused by the seatbelt"
finish
