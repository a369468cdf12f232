#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet simulate --plan PLAN.json --inventory F: the twin runs a plan as it stands (its
# migrations to its targets in its order at its times, its stops and maintenances), without
# re-planning, and says where what happened differs from the plan.
# usage: simulate-plan.sh HVFLEET SRCDIR
. "$2/tests/cli/plan-lib.sh"

run 0 inventory import ganeti "$SRC/examples/cluster.data" -o "$TMP/c.yaml"
run 0 plan maintenance --inventory "$TMP/c.yaml" --hosts all --no-compare -o "$TMP/p.json"

# The plan was predicted by the same twin with the same policy: run as it stands, it happens as
# planned (every migration within the tolerance of its planned end), and the twin did exactly
# the plan's moves in the plan's order, nothing else.
run 0 simulate --plan "$TMP/p.json" --inventory "$TMP/c.yaml" --out "$TMP/run1"
has out "not re-planned: "
has out "differences          none beyond"
python3 - "$TMP/run1" "$TMP/p.json" <<'PY' || failures=$((failures + 1))
import json, sys
d, plan = sys.argv[1], json.load(open(sys.argv[2]))
s = json.load(open(d + "/summary.json"))
r = s["plan_run"]
assert r["plan_hash"] == plan["summary"]["plan_hash"], r
assert r["as_planned"] and r["migrations_completed"] == len(plan["migrations"]) > 0, r
assert abs(r["largest_end_deviation_s"]) <= r["tolerance_s"], r
ev = [json.loads(l) for l in open(d + "/events.jsonl")]
starts = [(e["vm"], e["from"], e["to"]) for e in ev if e["type"] == "migration_start"]
# the same moves; the times are checked above (moves that start together may swap places)
assert sorted(starts) == sorted((m["vm"], m["from"], m["to"]) for m in plan["migrations"]), starts
stopped = sorted(e["vm"] for e in ev if e["type"] == "vm_stopped")
assert stopped == sorted(x["vm"] for x in plan["stops"]), stopped
maint = sorted(e["host"] for e in ev if e["type"] == "maintenance_start")
assert maint == sorted(h["host"] for h in plan["hosts"]), maint
times = [e["t_s"] for e in ev if e["type"] == "migration_start"]
for m, t in zip(plan["migrations"], times):
    assert t >= m["start_s"] - 0.001, (m, t)  # never before its planned time
PY
# Deterministic: the same plan, inventory and seed give the same events.
run 0 simulate --plan "$TMP/p.json" --inventory "$TMP/c.yaml" --out "$TMP/run2" --quiet
cmp -s "$TMP/run1/events.jsonl" "$TMP/run2/events.jsonl" ||
    { echo "FAIL: two runs of the same plan differ" >&2; failures=$((failures + 1)); }

# A plan made under a bandwidth cap, run without it: every migration ends earlier than planned,
# which the run reports; run with the policy it was made with, it goes as planned.
printf 'schema: hvfleet.policy/v1\nmigration_bandwidth: 40MiB/s\n' >"$TMP/slow.yaml"
run 0 plan maintenance --inventory "$TMP/c.yaml" --hosts all --no-compare --policy "$TMP/slow.yaml" \
    -o "$TMP/slow.json"
run 0 simulate --plan "$TMP/slow.json" --inventory "$TMP/c.yaml" --out "$TMP/run3" --json
python3 - "$TMP/out" "$TMP/slow.json" <<'PY' || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))["plan_run"]
n = len(json.load(open(sys.argv[2]))["migrations"])
assert not r["as_planned"] and r["migrations_ended_off_plan"] == n, r
assert r["largest_end_deviation_s"] < -r["tolerance_s"], r
PY
run 0 simulate --plan "$TMP/slow.json" --inventory "$TMP/c.yaml" --policy "$TMP/slow.yaml" \
    --out "$TMP/run4"
has out "differences          none beyond"
run 0 simulate --plan "$TMP/slow.json" --inventory "$TMP/c.yaml" --out "$TMP/run5"
has out "migrations ended off the plan, the largest -"

# Refused: a plan edited after it was made (hash), a plan for another inventory (fingerprint).
python3 - "$TMP/p.json" "$TMP/edited.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["migrations"][0]["downtime_ms"] += 1
json.dump(p, open(sys.argv[2], "w"), indent=2)
PY
run 2 simulate --plan "$TMP/edited.json" --inventory "$TMP/c.yaml" --out "$TMP/no1"
has err "does not match the plan's content"
[ ! -e "$TMP/no1" ] || { echo "FAIL: a refused plan wrote outputs" >&2; failures=$((failures + 1)); }
run 0 inventory generate --hosts 6 --vms-per-host 2 --seed 5 -o "$TMP/other.yaml"
run 2 simulate --plan "$TMP/p.json" --inventory "$TMP/other.yaml" --out "$TMP/no2"
has err "the inventory changed since the plan was made"
# Usage.
run 2 simulate --plan "$TMP/p.json"
has err "needs --inventory"
run 2 simulate --plan "$TMP/p.json" --inventory "$TMP/c.yaml" "$SRC/scenarios/2017-maintenance-storm.yaml"
run 2 simulate --plan "$TMP/nosuch.json" --inventory "$TMP/c.yaml"
finish
