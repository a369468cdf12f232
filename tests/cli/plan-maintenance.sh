#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet plan maintenance | plan drain: verdicts, the naive comparison, plan files that round
# trip through approve and plan check, exit statuses and bad input.
. "$2/tests/cli/plan-lib.sh"
STORM=$SRC/scenarios/2017-maintenance-storm.yaml

run 0 inventory generate --hosts 12 --vms-per-host 6 --seed 3 --racks-per-zone 3 -o "$TMP/fleet.yaml"
INV=$TMP/fleet.yaml

# The 2017 fleet: planned without over-commitment; the naive schedule crashes VMs.
run 0 plan maintenance --scenario "$STORM" -o "$TMP/storm.json"
has out "verdict: needs-approval"
has out "the plan takes 30 hosts out of service"
has out "compared with the naive schedule of seed 000 on the same fleet"
has out "hvfleet          naive"
has out "plan written to $TMP/storm.json"
head -1 "$TMP/out" | grep -q '^verdict: ' || { echo "FAIL: output does not lead with the verdict"; failures=$((failures + 1)); }
sed -n 's/^  VMs crashed or OOM-killed *\([0-9]*\) *\([0-9]*\)$/\1 \2/p' "$TMP/out" >"$TMP/crashed"
read -r hv nv <"$TMP/crashed"
[ "$hv" = 0 ] && [ "$nv" -gt 0 ] || { echo "FAIL: crashed VMs hvfleet=$hv naive=$nv"; failures=$((failures + 1)); }

# The plan file: needs approval before it may run; approved, it passes plan check.
run 1 plan check "$TMP/storm.json" --inventory "$SRC/scenarios/2017-fleet.yaml"
has out "the plan needs an approval"
run 0 approve "$TMP/storm.json" --by ops
run 0 plan check "$TMP/storm.json" --inventory "$SRC/scenarios/2017-fleet.yaml"
has out "approved by ops"
# Against another inventory it is stale.
run 1 plan check "$TMP/storm.json" --inventory "$INV"
has out "the inventory changed since the plan was made"

# The naive strategy's own plan is refused by the seatbelt (exit 1) and says why.
run 1 plan maintenance --scenario "$STORM" --strategy naive --no-compare
has out "verdict: refused"
has out "of its usable memory at once (over-commitment)"
has out "(naive strategy)"

# A generated fleet, a rack at a time, JSON.
run 0 plan maintenance --inventory "$INV" --hosts rack:r02 --json
has out '"schema": "hvfleet.maintenance-result/v1"'
has out '"schema": "hvfleet.plan/v1"'
has out '"naive": {'
has out '"verdict": "needs-approval"'

# A policy file changes the limits.
printf 'max_parallel_hosts: 3\nmax_parallel_per_rack: 0\nseatbelt: {max_hosts_without_approval: 20, max_capacity_offline: 50%%, max_plan_duration: 24h}\n' >"$TMP/policy.yaml"
run 0 plan maintenance --inventory "$INV" --policy "$TMP/policy.yaml" --no-compare
has out "verdict: "
has out "up to 3 hosts out of service at once"

# One host drained: within the seatbelt, auto.
run 0 plan drain kvm0003 --inventory "$INV" -o "$TMP/drain.json"
has out "verdict: auto"
has out "for 1 host"
grep -q '"kind": "drain"' "$TMP/drain.json" || { echo "FAIL: drain plan kind"; failures=$((failures + 1)); }
run 0 plan check "$TMP/drain.json" --inventory "$INV"
has out "ok: plan"

# A plan that cannot be done: refused with the reason, exit 1.
run 1 plan maintenance --inventory "$SRC/examples/small.yaml"
has out "verdict: refused"
has out "fits nowhere"

# Bad input: exit 2, one line.
run 2 plan maintenance --inventory "$INV" --strategy yolo
has err "--strategy 'yolo': expected hvfleet or naive"
lines err 1
run 2 plan maintenance
has err "give one of --inventory FILE or --scenario FILE"
run 2 plan maintenance --inventory "$INV" --scenario "$STORM"
run 2 plan maintenance --inventory "$INV" --hosts nosuch
has err "--hosts 'nosuch'"
run 2 plan maintenance --inventory "$INV" extra
has err "unexpected argument 'extra'"
run 2 plan drain --inventory "$INV"
has err "name at least one HOST"
run 2 plan drain nosuch --inventory "$INV"
has err "host 'nosuch' is not in the inventory"
run 2 plan drain kvm0001 --inventory "$INV" --hosts all
run 2 plan maintenance --inventory "$TMP/missing.yaml"
has err "cannot open"
run 2 plan maintenance --scenario "$TMP/missing.yaml"
run 0 plan maintenance --help
has out "usage: hvfleet plan maintenance"
run 0 plan drain --help
has out "usage: hvfleet plan drain"
finish
