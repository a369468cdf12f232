#!/bin/sh
# SPDX-License-Identifier: MIT
# A migration whose model has a phase boundary due at once (found with downtime_limit: 1s on
# this generated fleet) passes it: the twin used to queue it again at the same instant, forever,
# and plan maintenance never answered. Bounded by timeout(1): a hang fails the test.
. "$2/tests/cli/plan-lib.sh"

run 0 inventory generate --hosts 8 --vms-per-host 10 --seed 4 -o "$TMP/fleet.yaml"
printf 'schema: hvfleet.policy/v1\ndowntime_limit: 1s\n' >"$TMP/policy.yaml"
# both twins: the planner's and the naive comparison's
timeout 60 "$HVFLEET" plan maintenance --hosts all --inventory "$TMP/fleet.yaml" \
    --policy "$TMP/policy.yaml" -o "$TMP/plan.json" >"$TMP/out" 2>"$TMP/err"
got=$?
if [ "$got" -ne 0 ]; then
    echo "FAIL: plan maintenance with downtime_limit 1s: exit $got (124: it did not finish)" >&2
    sed 's/^/  stderr: /' "$TMP/err" >&2
    failures=$((failures + 1))
fi
has out "makespan:"
has out "for 8 hosts"
has out "compared with the naive schedule"
finish
