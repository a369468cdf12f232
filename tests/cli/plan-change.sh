#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet plan change: waves, canary coverage, the seatbelt and the freeze; bad input exits 2.
. "$2/tests/cli/plan-lib.sh"
INV=$SRC/scenarios/2019-fleet.yaml
CHANGE=$SRC/scenarios/2019-firewall-limit.change.yaml

run 0 plan change --help
has out "usage: hvfleet plan change"

# Seed 004 with hvfleet: the canary covers both kernels; 20 hosts need an approval.
run 0 plan change --inventory "$INV" --change "$CHANGE"
has out "1 c   2"
has out "st01, st13"
has out "canary: st13 covers kernel=4.15, hw=nvme-g2"
has out "seatbelt: needs-approval"
has out "plan hash: "
lines err 0

# JSON on stdout, and the same plan written to a file.
run 0 plan change --inventory "$INV" --change "$CHANGE" --json -o "$TMP/plan.json"
has out '"schema": "hvfleet.change-plan/v1"'
has out '"verdict": "needs-approval"'
grep -q '"chosen_for_coverage"' "$TMP/plan.json" || { echo "FAIL: -o wrote no plan"; failures=$((failures + 1)); }
cmp -s "$TMP/out" "$TMP/plan.json" || { echo "FAIL: --json and -o differ"; failures=$((failures + 1)); }

# A policy allowing more at once makes bigger waves.
printf 'max_parallel_hosts: 4\nmax_parallel_per_rack: 1\n' >"$TMP/policy.yaml"
run 0 plan change --inventory "$INV" --change "$CHANGE" --policy "$TMP/policy.yaml"
has out "waves hold at most 4 units"

# Seed 004 as it was done: every node at once is refused (exit 1).
run 1 plan change --inventory "$INV" --change "$SRC/scenarios/2019-firewall-limit-as-it-happened.change.yaml"
has out "seatbelt: refused"
has out "all_at_once changes 20 units at once"

# Seed 003 as it was done: a liveness-only gate needs an approval and is flagged weak.
run 0 plan change --inventory "$SRC/scenarios/2024-fleet.yaml" --change "$SRC/scenarios/2024-pulsar-upgrade-as-it-happened.change.yaml"
has out "(weak: liveness only)"
has out "only liveness gates"

# The freeze refuses every plan.
run 0 freeze --reason "incident" --by test
run 1 plan change --inventory "$INV" --change "$CHANGE"
has out "refused: the fleet is frozen"
run 0 unfreeze

# Bad input: one line naming the file, the field and what was expected; exit 2.
run 2 plan change --inventory "$INV"
has err "expected --inventory FILE and --change FILE"
run 2 plan change --inventory "$INV" --change "$CHANGE" --bogus
has err "bad option '--bogus'"
printf 'name: t\nkind: reboot\ntargets: {hosts: all}\n' >"$TMP/bad.yaml"
run 2 plan change --inventory "$INV" --change "$TMP/bad.yaml"
has err "bad.yaml:2: kind: 'reboot': expected one of package | kernel | config_reload | firewall_rule"
printf 'name: t\nkind: kernel\ntargets: {service: nope}\n' >"$TMP/nosvc.yaml"
run 2 plan change --inventory "$INV" --change "$TMP/nosvc.yaml"
has err "targets.service: 'nope': expected a service of the inventory"
lines err 1
run 2 plan change --inventory "$INV" --change "$TMP/missing.yaml"
has err "missing.yaml"
run 2 plan change --inventory "$INV" --change "$CHANGE" --policy "$TMP/missing-policy.yaml"
test -f "$TMP/plan-refused.json" && { echo "FAIL: a file was written"; failures=$((failures + 1)); }
finish
